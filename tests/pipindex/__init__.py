"""A package index for the %pip tests, built and served on 127.0.0.1.

Real wheels are made by repackaging Debian's own pure-Python packages
(python3-six, -idna, -attr, -dateutil, -tabulate, -tomli,
-typing-extensions: tests/deps.sh installs them) from
/usr/lib/python3/dist-packages; tiny test projects exercise extras,
markers, conflicting constraints and a platform-only wheel. The index is
served both as PEP 503 HTML (/simple/) and PEP 691 JSON (/json/), with
sha256 hashes; a project can be listed with a wrong hash on purpose.
"""

import base64
import csv
import hashlib
import http.server
import io
import json
import os
import re
import threading
import time
import zipfile

DIST_PACKAGES = "/usr/lib/python3/dist-packages"

# (project, Debian's metadata folder, top-level names to pack[, requirements
# when Debian's metadata dropped them: its egg-info requires.txt is empty,
# the dependency lives in the Debian package's Depends instead])
DEBIAN = [
    ("six", "six-1.16.0.egg-info", ["six.py"]),
    ("idna", "idna-3.3.egg-info", ["idna"]),
    ("attrs", "attrs-22.2.0.dist-info", ["attr", "attrs"]),
    ("python-dateutil", "python_dateutil-2.8.2.egg-info", ["dateutil"], ["six>=1.5"]),
    ("tabulate", "tabulate-0.8.9.egg-info", ["tabulate.py"]),
    ("tomli", "tomli-2.0.1.dist-info", ["tomli"]),
    ("typing-extensions", "typing_extensions-4.4.0.dist-info", ["typing_extensions.py"]),
]


def _escape(name):
    return re.sub(r"[-_.]+", "_", name)


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(name, version, files, requires=(), extras=(), tag="py3-none-any", requires_python=None):
    """A wheel (filename, bytes) with files {path: bytes}, METADATA, WHEEL, RECORD."""
    di = f"{_escape(name)}-{version}.dist-info"
    meta = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {name} for wasipy's tests"]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Provides-Extra: {e}" for e in extras]
    meta += [f"Requires-Dist: {r}" for r in requires]
    files = dict(files)
    files[f"{di}/METADATA"] = ("\n".join(meta) + "\n").encode()
    files[f"{di}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: wasipy-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    rows = [[p, _record_hash(d), str(len(d))] for p, d in files.items()] + [[f"{di}/RECORD", "", ""]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    files[f"{di}/RECORD"] = out.getvalue().encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files.items():
            z.writestr(p, d)
    return f"{_escape(name)}-{version}-{tag}.whl", buf.getvalue()


def _egg_requires(path):
    """requires.txt of an egg-info as Requires-Dist lines."""
    out, marker = [], None
    if not os.path.exists(path):
        return out
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        if line.startswith("["):
            sec = line.strip("[]")
            extra, _, cond = sec.partition(":")
            parts = [f'extra == "{extra}"'] if extra else []
            if cond:
                parts.append(f"({cond})")
            marker = " and ".join(parts) or None
            continue
        out.append(f"{line}; {marker}" if marker else line)
    return out


def debian_wheel(project, meta_dir, tops, depends=None):
    files = {}
    for top in tops:
        src = os.path.join(DIST_PACKAGES, top)
        if os.path.isfile(src):
            files[top] = open(src, "rb").read()
            continue
        for dirpath, dirs, names in os.walk(src):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for n in names:
                if n.endswith((".pyc", ".pyi")) and n != "py.typed":
                    continue
                p = os.path.join(dirpath, n)
                files[os.path.relpath(p, DIST_PACKAGES)] = open(p, "rb").read()
    md = os.path.join(DIST_PACKAGES, meta_dir)
    if meta_dir.endswith(".egg-info"):
        version = re.search(r"^Version: (.*)$", open(os.path.join(md, "PKG-INFO")).read(), re.M).group(1).strip()
        requires = _egg_requires(os.path.join(md, "requires.txt"))
    else:
        text = open(os.path.join(md, "METADATA")).read().split("\n\n")[0]
        version = re.search(r"^Version: (.*)$", text, re.M).group(1).strip()
        requires = [m.strip() for m in re.findall(r"^Requires-Dist: (.*)$", text, re.M)]
    if depends is not None:
        requires = requires or list(depends)
    extras = sorted({m for r in requires for m in re.findall(r'extra == "([^"]+)"', r)})
    return make_wheel(project, version, files, requires, extras)


def test_projects():
    """Tiny projects: extras, markers, conflicts, platform-only, Python version."""
    mod = lambda n: {f"{n}.py": f"NAME = {n!r}\n".encode()}  # noqa: E731
    return [
        make_wheel("extrapkg", "1.0", mod("extrapkg"), ['tabulate; extra == "table"'], ["table"]),
        make_wheel("markerpkg", "1.0", mod("markerpkg"),
                   ['six; sys_platform == "wasi" and platform_machine == "wasm32"',
                    'nosuchpkg; sys_platform == "linux"']),
        make_wheel("conflict-a", "1.0", mod("conflict_a"), ["tomli>=2"]),
        make_wheel("conflict-b", "1.0", mod("conflict_b"), ["tomli<2"]),
        make_wheel("nativepkg", "1.0", mod("nativepkg"), tag="cp313-cp313-manylinux_2_17_x86_64"),
        make_wheel("newpy", "1.0", mod("newpy"), requires_python=">=4"),
        make_wheel("badhash", "1.0", mod("badhash")),
        make_wheel("evolving", "1.0", mod("evolving")),
        make_wheel("evolving", "2.0", {"evolving.py": b"NAME = 'evolving'\nVERSION = 2\n"}),
        # Big enough to be throttled into many pieces (Index's slow=):
        # 200 kB that do not compress.
        # The resolver must reject pickme 2.0 (no tomli<2 exists) and take
        # 1.0; with PEP 658 it never downloads 2.0's wheel.
        make_wheel("pickme", "1.0", mod("pickme")),
        make_wheel("pickme", "2.0", mod("pickme"), ["tomli<2"]),
        # Index(lying_metadata=...) serves a METADATA for it that differs
        # from its wheel's.
        make_wheel("liar", "1.0", mod("liar")),
        make_wheel("slowpkg", "1.0", {"slowpkg.py": b"VERSION = 1\n", "slowpkg_data.bin": _noise(200_000, b"1")}),
        make_wheel("slowpkg", "2.0", {"slowpkg.py": b"VERSION = 2\n", "slowpkg_data.bin": _noise(200_000, b"2")}),
    ]


def _noise(n, seed):
    """n bytes that deflate cannot shrink, the same for the same seed."""
    out, block = bytearray(), seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def build(folder):
    """Writes every wheel into folder; returns {filename: sha256}."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    wheels = [debian_wheel(*d) for d in DEBIAN] + test_projects()
    for fn, data in wheels:
        with open(os.path.join(folder, fn), "wb") as f:
            f.write(data)
        out[fn] = hashlib.sha256(data).hexdigest()
    # An sdist beside the platform-only wheel: neither can be installed.
    with open(os.path.join(folder, "nativepkg-1.0.tar.gz"), "wb") as f:
        f.write(b"not really an sdist")
    out["nativepkg-1.0.tar.gz"] = hashlib.sha256(b"not really an sdist").hexdigest()
    return out


def _project_of(filename):
    if filename.endswith(".tar.gz"):
        return normalize(filename[: -len(".tar.gz")].rsplit("-", 1)[0])
    return normalize(filename.split("-")[0])


class Index:
    """Serves folder's files as /simple/ (HTML) and /json/ (PEP 691) on
    127.0.0.1; wrong_hash lists files whose advertised hash is wrong; slow
    maps files to the seconds their download is spread over (a throttled
    server: 20 pieces, announced with Content-Length). With metadata=True
    each wheel's METADATA is also served alone at its URL + ".metadata"
    and announced (PEP 658 data-core-metadata, PEP 691/714 core-metadata)
    with its sha256; lying_metadata lists wheels whose served METADATA
    differs from theirs (with a hash that matches what is served)."""

    def __init__(self, folder, hashes, wrong_hash=("badhash-1.0-py3-none-any.whl",), slow=None,
                 metadata=False, lying_metadata=("liar-1.0-py3-none-any.whl",)):
        self.folder, self.hashes, self.wrong = folder, hashes, set(wrong_hash)
        self.slow = dict(slow or {})
        self.metadata, self.lying = metadata, set(lying_metadata)
        self.requests = []
        index = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                index.requests.append(self.path)
                parts = [p for p in self.path.split("?")[0].split("/") if p]
                if len(parts) == 2 and parts[0] == "files" and parts[1].endswith(".whl.metadata") and index.metadata:
                    meta = index.metadata_of(parts[1][: -len(".metadata")])
                    if meta is not None:
                        return self._send(200, "application/octet-stream", meta)
                if len(parts) == 2 and parts[0] == "files":
                    path = os.path.join(index.folder, os.path.basename(parts[1]))
                    if os.path.isfile(path):
                        return self._send(200, "application/octet-stream", open(path, "rb").read(),
                                          index.slow.get(os.path.basename(path), 0))
                if len(parts) == 2 and parts[0] in ("simple", "json"):
                    files = sorted(f for f in index.hashes if _project_of(f) == parts[1])
                    if files:
                        return self._project(parts[0], parts[1], files)
                self._send(404, "text/plain", b"not found")

            def _project(self, kind, name, files):
                def sha(f):
                    return "0" * 64 if f in index.wrong else index.hashes[f]
                def meta_sha(f):
                    meta = index.metadata_of(f) if index.metadata else None
                    return None if meta is None else hashlib.sha256(meta).hexdigest()
                if kind == "json":
                    entries = []
                    for f in files:
                        e = {"filename": f, "url": f"/files/{f}", "hashes": {"sha256": sha(f)}}
                        if meta_sha(f):
                            e["core-metadata"] = {"sha256": meta_sha(f)}
                        entries.append(e)
                    doc = {"meta": {"api-version": "1.1"}, "name": name, "files": entries}
                    return self._send(200, "application/vnd.pypi.simple.v1+json", json.dumps(doc).encode())
                links = "".join(
                    f'<a href="/files/{f}#sha256={sha(f)}"'
                    + (f' data-core-metadata="sha256={meta_sha(f)}" data-dist-info-metadata="sha256={meta_sha(f)}"' if meta_sha(f) else "")
                    + f'>{f}</a><br>\n' for f in files)
                self._send(200, "text/html", f"<!DOCTYPE html><html><body>{links}</body></html>".encode())

            def _send(self, code, ctype, body, seconds=0):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not seconds:
                    self.wfile.write(body)
                    return
                step = -(-len(body) // 20)
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                    time.sleep(seconds / 20)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def metadata_of(self, filename):
        """A wheel's METADATA bytes as served alone (None: not a wheel here)."""
        path = os.path.join(self.folder, os.path.basename(filename))
        if not filename.endswith(".whl") or not os.path.isfile(path):
            return None
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith(".dist-info/METADATA")), None)
            meta = z.read(name) if name else None
        if meta is not None and os.path.basename(filename) in self.lying:
            meta += b"Requires-Dist: six\n"
        return meta

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    import sys
    import time
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/wasipy-pipindex"
    with Index(folder, build(folder)) as ix:
        print(ix.url, flush=True)
        time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 3600)
