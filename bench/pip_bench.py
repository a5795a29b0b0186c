"""Time to install 10 small pure-Python packages from a local index
(tests/pipindex, served on 127.0.0.1): wasipy's %pip cold (empty site
folder and download cache) and cached (empty site folder, warm cache),
beside the host's pip (Debian's python3-pip) `pip install --target` cold
(--no-cache-dir) and with its cache. Each figure is the best of --runs.

    env -u WASIPY_KERNEL WASIPY_PYTHON_WASM=... /usr/bin/python3 bench/pip_bench.py [--runs 3]

The kernel is built from this tree (as the tests do); the %pip figure is
the cell's wall time seen by jupyter_client, kernel start excluded."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import harness  # noqa: E402
import pipindex  # noqa: E402

PACKAGES = ["six", "idna", "attrs", "python-dateutil", "tabulate", "tomli", "typing-extensions",
            "extrapkg", "conflict-a", "evolving"]  # markerpkg would fail on the host (a linux-only dependency)


def wasipy_install(ix, site, cache, awaited=False):
    """%pip install, or with awaited `await wasipy.pip.install(...)` (which
    resolves again after each awaited fetch)."""
    k = harness.Kernel.start(extra_arguments=["--allow-net", f"127.0.0.1:{ix.port}", "--index-url", ix.url + "/simple",
                                              "--site-dir", site, "--cache-dir", cache])
    try:
        code = "%pip install -q " + " ".join(PACKAGES)
        if awaited:
            code = f"import wasipy.pip\nawait wasipy.pip.install({PACKAGES!r}, quiet=True)"
        t = time.perf_counter()
        r = k.execute(code, timeout=600)
        took = time.perf_counter() - t
        assert r.status == "ok", r.summary()
        assert k.value("import dateutil, tabulate, attr, tomli, idna, six\n'ok'") == "'ok'"
        return took
    finally:
        k.shutdown()


def host_pip(ix, target, cache):
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", target,
           "--index-url", ix.url + "/simple", "--trusted-host", "127.0.0.1"]
    cmd += ["--cache-dir", cache] if cache else ["--no-cache-dir"]
    t = time.perf_counter()
    subprocess.run(cmd + PACKAGES, check=True, env={**os.environ, "PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_ROOT_USER_ACTION": "ignore"})
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    harness.setup_env()
    root = tempfile.mkdtemp(prefix="wasipy-pipbench-")
    try:
        folder = os.path.join(root, "wheels")
        with pipindex.Index(folder, pipindex.build(folder)) as ix:
            res = {"wasipy cold": [], "wasipy cached": [], "wasipy await cold": [],
                   "pip --target cold": [], "pip --target cached": []}
            for i in range(a.runs):
                cache = os.path.join(root, f"cache{i}")
                res["wasipy cold"].append(wasipy_install(ix, os.path.join(root, f"site{i}a"), cache))
                res["wasipy cached"].append(wasipy_install(ix, os.path.join(root, f"site{i}b"), cache))
                res["wasipy await cold"].append(wasipy_install(ix, os.path.join(root, f"site{i}c"),
                                                               os.path.join(root, f"cache{i}c"), awaited=True))
                pcache = os.path.join(root, f"pipcache{i}")
                res["pip --target cold"].append(host_pip(ix, os.path.join(root, f"t{i}a"), None))
                host_pip(ix, os.path.join(root, f"t{i}w"), pcache)  # fills pip's cache
                res["pip --target cached"].append(host_pip(ix, os.path.join(root, f"t{i}b"), pcache))
        print(f"{len(PACKAGES)} packages from a local index, best of {a.runs}:")
        for name, times in res.items():
            print(f"  {name:22s} {min(times):6.2f} s   (all: {', '.join(f'{t:.2f}' for t in times)})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
