"""%pip and wasipy.pip: installing pure-Python wheels into the kernel.

The guest resolves; the host downloads, checks and writes. Resolution uses
packaging (PEP 440/508/425) and resolvelib, Debian's copies mounted
read-only at /.wasipy/lib and loaded here under private names, so that a
user's own `%pip install packaging` is a package like any other. Markers
are evaluated for this interpreter (sys_platform "wasi", platform_machine
"wasm32", its Python version); only wheels tagged for any platform and no
ABI are candidates. The Go module _wasipy_pip_host (pip/ in the kernel)
fetches index pages and wheels under --allow-net, verifies hashes, keeps
the download cache and installs into the site folder, which this
interpreter sees read-only at /.wasipy/site: code in the sandbox cannot
change an installed file.
"""

import importlib
import importlib.util
import os
import sys

LIB_DIR = "/.wasipy/lib"
SITE = os.environ.get("WASIPY_SITE", "")
INDEX_ENV = "WASIPY_PIP_INDEX_URL"
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class PipError(Exception):
    """An install that cannot go ahead; the message says which package and why."""


PipError.__module__ = "builtins"


def _lib(name):
    """Debian's packaging or resolvelib, loaded from its read-only mount
    under a private name (all their own imports are relative)."""
    private = "_wasipy_lib_" + name
    mod = sys.modules.get(private)
    if mod is not None:
        return mod
    folder = f"{LIB_DIR}/{name}"
    init = folder + "/__init__.py"
    if not os.path.exists(init):
        raise PipError(f"%pip needs python3-{name} on the kernel's host (apt-get install python3-packaging "
                       "python3-resolvelib; install.sh installs them)")
    spec = importlib.util.spec_from_file_location(private, init, submodule_search_locations=[folder])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[private] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[private]
        raise
    return mod


def _sub(name, sub):
    _lib(name)
    return importlib.import_module(f"_wasipy_lib_{name}.{sub}")


def _host():
    try:
        import _wasipy_pip_host
    except ImportError:
        raise PipError("this kernel was started without its package installer (no site folder)") from None
    return _wasipy_pip_host


def environment():
    """PEP 508 marker values of this interpreter (not of the kernel's host)."""
    env = _sub("packaging", "markers").default_environment()
    env.update(sys_platform="wasi", platform_machine="wasm32", platform_system="WASI")
    return env


def _supported(tags):
    """Whether a wheel's tags include one this interpreter runs: no ABI,
    any platform, an interpreter tag of Python 3 up to this version."""
    major, minor = sys.version_info[:2]
    interps = {"py3", f"py{major}{minor}", f"cp{major}{minor}"} | {f"py{major}{m}" for m in range(minor + 1)}
    return any(t.abi == "none" and t.platform == "any" and t.interpreter in interps for t in tags)


# ---- the index ---------------------------------------------------------------


class _File:
    """A distribution file an index lists."""

    def __init__(self, filename, url, sha256=None, requires_python=None, yanked=False, data=None, metadata=None):
        self.filename, self.url, self.sha256 = filename, url, sha256
        self.requires_python, self.yanked, self.data = requires_python, yanked, data
        # PEP 658/714: the index serves the wheel's METADATA alone at
        # url + ".metadata": None when not, else its sha256 (or True when
        # offered without a hash this can check).
        self.metadata = metadata


def _metadata_offer(value):
    """A PEP 658 attribute's or PEP 691 key's value as _File.metadata."""
    if value is None or value is False or value == "false":
        return None
    if isinstance(value, dict):
        return value.get("sha256") if isinstance(value.get("sha256"), str) else True
    if isinstance(value, str) and value.startswith("sha256="):
        return value[len("sha256="):]
    return True


def _parse_html(text, base):
    import html.parser
    import urllib.parse

    files = []

    class P(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag != "a":
                return
            a = dict(attrs)
            href = a.get("href")
            if not href:
                return
            url = urllib.parse.urljoin(base, href)
            url, _, frag = url.partition("#")
            sha = None
            if frag.startswith("sha256="):
                sha = frag[len("sha256="):]
            name = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            md = a.get("data-core-metadata", a.get("data-dist-info-metadata"))
            files.append(_File(name, url, sha, a.get("data-requires-python"), "data-yanked" in a,
                               metadata=_metadata_offer(md)))

    P().feed(text)
    return files


def _parse_json(text, base):
    import json
    import urllib.parse

    doc = json.loads(text)
    files = []
    for f in doc.get("files", []):
        if not isinstance(f, dict) or not isinstance(f.get("url"), str) or not isinstance(f.get("filename"), str):
            continue
        hashes = f.get("hashes") if isinstance(f.get("hashes"), dict) else {}
        md = f.get("core-metadata", f.get("dist-info-metadata"))
        files.append(_File(f["filename"], urllib.parse.urljoin(base, f["url"]).partition("#")[0],
                           hashes.get("sha256"), f.get("requires-python"), bool(f.get("yanked")),
                           metadata=_metadata_offer(md)))
    return files


class Finder:
    """The files each project offers, from PEP 503/691 indexes and
    --find-links folders or pages."""

    def __init__(self, index_urls, find_links, out, net):
        self.index_urls, self.find_links, self.out, self.net = index_urls, find_links, out, net
        self._pages = {}

    def _page(self, url):
        r = self.net.page(url)
        if r["status"] == 404:
            return []
        if r["status"] != 200:
            raise PipError(f"{url}: HTTP {r['status']}")
        text = r["body"].decode("utf-8", "replace")
        if r["content_type"].split(";")[0].strip() == _JSON_TYPE:
            return _parse_json(text, r["url"])
        return _parse_html(text, r["url"])

    def _links(self):
        if "links" not in self._pages:
            files = []
            for loc in self.find_links:
                if loc.startswith(("http://", "https://")):
                    files += self._page(loc)
                    continue
                try:
                    names = sorted(os.listdir(loc))
                except OSError as e:
                    raise PipError(f"--find-links {loc}: {e.strerror}") from None
                files += [_File(n, os.path.join(loc, n)) for n in names if n.endswith((".whl", ".tar.gz", ".zip"))]
            self._pages["links"] = files
        return self._pages["links"]

    def files(self, name):
        utils = _sub("packaging", "utils")
        canon = utils.canonicalize_name(name)
        if canon not in self._pages:
            files = []
            for index in self.index_urls:
                files += self._page(index.rstrip("/") + "/" + canon + "/")
            for f in self._links():
                try:
                    if f.filename.endswith(".whl"):
                        fname = utils.parse_wheel_filename(f.filename)[0]
                    else:
                        fname = utils.parse_sdist_filename(f.filename)[0]
                except Exception:
                    continue
                if fname == canon:
                    files.append(f)
            self._pages[canon] = files
        return self._pages[canon]


# ---- the network -------------------------------------------------------------


class _Need(Exception):
    """Raised inside resolution when a page or wheel is not fetched yet and
    must be awaited (install_async): the resolution starts again once it is."""

    def __init__(self, kind, what):
        super().__init__(kind)
        self.kind, self.what = kind, what


def _human(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class _Bar:
    """pip's download progress bar, as a display updated in place
    (update_display_data). Notebook, JupyterLab and nbconvert's executed
    notebooks all replace such a display, keeping only its last state; a
    stream of carriage-return lines is collapsed by some front ends but
    kept whole, every state on its own line, by others."""

    WIDTH = 40

    def __init__(self):
        import time
        self._clock = time.monotonic
        self._t0 = self._clock()
        self._handle = None

    def text(self, done, total):
        elapsed = max(self._clock() - self._t0, 1e-6)
        rate = done / elapsed
        if total and total > 0:
            filled = min(done / total, 1.0) * self.WIDTH
            full = int(filled)
            bar = "━" * full + ("╸" if full < self.WIDTH and filled - full >= 0.5 else "")
            bar += " " * (self.WIDTH - len(bar))
            left = int((total - done) / rate) if rate > 0 else 0
            unit, div = ("MB", 1e6) if total >= 1e6 else ("kB", 1e3)
            return (f"   {bar} {done / div:.1f}/{total / div:.1f} {unit} {_human(rate)}/s "
                    f"eta {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}")
        return f"   {_human(done)} {_human(rate)}/s"

    def show(self, done, total):
        import _wasipy_display
        bundle = {"text/plain": self.text(done, total)}
        if self._handle is None:
            self._handle = _wasipy_display.display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


class _Net:
    """What resolution fetches, through the host: index pages and wheels.
    Blocking (for %pip and the Go API), a wheel's download is waited on a
    quarter second at a time, drawing its progress bar in between; with
    awaited=True (wasipy.pip.install) nothing blocks: a fetch not done yet
    raises _Need, which install_async awaits before resolving again (the
    pages and wheels already fetched are kept here, so each is fetched
    once)."""

    POLL = 0.25

    def __init__(self, say, progress=False, awaited=False):
        self.say, self.progress, self.awaited = say, progress, awaited
        self.pages, self.wheels, self.local = {}, {}, {}
        self.said = set()  # names and URLs whose "Collecting"/"Downloading" line is printed

    def page(self, url):
        if url not in self.pages:
            if self.awaited:
                raise _Need("page", url)
            self.pages[url] = _host().page(url, _ACCEPT)
        return self.pages[url]

    def metadata(self, f):
        """A wheel's METADATA alone (PEP 658), checked against the index's
        hash: what the resolver needs of a candidate it may reject."""
        import hashlib

        url = f.url + ".metadata"
        r = self.page(url)
        if r["status"] != 200:
            raise PipError(f"{url}: HTTP {r['status']}")
        body = r["body"]
        if url not in self.said:
            self.said.add(url)
            self.say(f"  Downloading {f.filename}.metadata ({_human(len(body))})")
        if isinstance(f.metadata, str) and hashlib.sha256(body).hexdigest() != f.metadata.lower():
            raise PipError(f"{f.filename}.metadata does not match the hash the index gave. Nothing was installed")
        return body.decode("utf-8", "replace")

    def wheel(self, f):
        if f.url not in self.wheels:
            if self.awaited:
                raise _Need("wheel", f)
            host = _host()
            dl = _Download(f, self.say, self.progress)
            i = host.start_download(f.url, f.filename, f.sha256 or "")
            try:
                r = host.wait(i, self.POLL)
                while not dl.update(r):
                    r = host.wait(i, self.POLL)
            except BaseException:
                host.cancel(i)
                raise
            self.wheels[f.url] = r
        return self.wheels[f.url]

    async def fetch(self, need):
        """Fetch what a _Need asked for, awaiting the host."""
        host = _host()
        if need.kind == "page":
            self.pages[need.what] = await host.page_async(need.what, _ACCEPT)
            return
        f = need.what
        dl = _Download(f, self.say, self.progress)
        i = host.start_download(f.url, f.filename, f.sha256 or "")
        try:
            r = await host.wait_async(i, self.POLL)
            while not dl.update(r):
                r = await host.wait_async(i, self.POLL)
        except BaseException:
            host.cancel(i)
            raise
        self.wheels[f.url] = r

    def local_wheel(self, f):
        """A wheel file of the guest's (a path, or --find-links folder)."""
        if f.url not in self.local:
            data = f.data
            if data is None:
                with open(f.url, "rb") as fh:
                    data = fh.read()
            self.local[f.url] = _host().add_wheel(f.filename, data)
            self.say(f"Processing {getattr(f, 'shown', f.url)}")
        return self.local[f.url]


class _Download:
    """One wheel's download as pip shows it: "Downloading NAME (SIZE)" (or
    "Using cached"), and a progress bar once it takes more than a moment
    (one wait of _Net.POLL)."""

    def __init__(self, f, say, progress):
        self.f, self.say, self.progress = f, say, progress
        self.bar = None

    def update(self, r):
        """Shows r (a wait's report); returns whether the download is over."""
        fn = self.f.filename
        if r["finished"]:
            if self.bar is not None:
                self.bar.show(r["size"], r["size"])
            elif r["cached"]:
                self.say(f"  Using cached {fn} ({_human(r['size'])})")
            else:
                self.say(f"  Downloading {fn} ({_human(r['size'])})")
            return True
        if self.bar is None and self.progress:
            total = r["total"]
            self.say(f"  Downloading {fn}" + (f" ({_human(total)})" if total > 0 else ""))
            sys.stdout.flush()
            self.bar = _Bar()
        if self.bar is not None:
            self.bar.show(r["done"], r["total"])
        return False


# ---- resolution ------------------------------------------------------------


class Candidate:
    def __init__(self, name, version, file=None, extras=(), installed=None):
        self.name, self.version, self.file = name, version, file
        self.extras = frozenset(extras)
        self.installed = installed  # importlib.metadata.Distribution when already in the site
        self.sha256 = None
        self._metadata = None
        self.metadata_text = None  # METADATA as the index served it alone (PEP 658)
        self.wheel_metadata = None  # METADATA as the wheel has it

    def __repr__(self):
        return f"{self.name}=={self.version}"


class Provider:
    """resolvelib's provider: candidates from the Finder, dependencies from
    each wheel's METADATA (the host downloads and checks the wheel)."""

    def __init__(self, finder, out, upgrade=(), deps=True, pinned=None):
        self.finder, self.out, self.upgrade, self.deps = finder, out, upgrade, deps
        self.net = finder.net
        self.pinned = pinned or {}  # canonical name -> Candidate from a local wheel
        self.env = environment()
        self.py = _sub("packaging", "version").Version(".".join(map(str, sys.version_info[:3])))
        self._cands = {}
        self._said = self.net.said
        self._installed = {}
        if SITE:
            import importlib.metadata as md
            utils = _sub("packaging", "utils")
            for d in md.distributions(path=[SITE]):
                if d.metadata["Name"]:
                    self._installed[utils.canonicalize_name(d.metadata["Name"])] = d

    def identify(self, requirement_or_candidate):
        r = requirement_or_candidate
        base = _sub("packaging", "utils").canonicalize_name(r.name)
        return f"{base}[{','.join(sorted(r.extras))}]" if r.extras else base

    def get_preference(self, identifier, resolutions, candidates, information, backtrack_causes):
        return sum(1 for _ in candidates[identifier])

    def _all(self, name):
        if name in self._cands:
            return self._cands[name]
        V = _sub("packaging", "version")
        S = _sub("packaging", "specifiers")
        utils = _sub("packaging", "utils")
        if name not in self._said:
            self._said.add(name)
            self.out(f"Collecting {name}")
        if name in self.pinned:
            self._cands[name] = [self.pinned[name]]
            return self._cands[name]
        out, seen_other = [], []
        inst = self._installed.get(name)
        if inst is not None and name not in self.upgrade:
            out.append(Candidate(name, V.Version(inst.version), installed=inst))
        for f in self.finder.files(name):
            if not f.filename.endswith(".whl"):
                seen_other.append(f.filename)
                continue
            try:
                _, ver, _, tags = utils.parse_wheel_filename(f.filename)
            except Exception:
                continue
            if not _supported(tags):
                seen_other.append(f.filename)
                continue
            if f.yanked:
                continue
            if f.requires_python:
                try:
                    if not S.SpecifierSet(f.requires_python).contains(self.py, prereleases=True):
                        continue
                except Exception:
                    continue
            if inst is not None and name not in self.upgrade and ver == V.Version(inst.version):
                continue
            out.append(Candidate(name, ver, f))
        if not out:
            if seen_other:
                raise PipError(f"{name} has no pure-Python wheel for this interpreter (the index offers only "
                               f"{', '.join(sorted(seen_other)[:3])}{' ...' if len(seen_other) > 3 else ''}); "
                               "wasipy's interpreter is CPython compiled to WebAssembly and cannot load C extensions "
                               "or build source distributions")
            if not self.finder.files(name):
                where = ", ".join(self.finder.index_urls + self.finder.find_links)
                raise PipError(f"No matching distribution found for {name}: not on {where}")
        out.sort(key=lambda c: (c.installed is not None and name not in self.upgrade, c.version), reverse=True)
        self._cands[name] = out
        return out

    def find_matches(self, identifier, requirements, incompatibilities):
        name, _, extras = identifier.partition("[")
        extras = extras.rstrip("]").split(",") if extras else ()
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        out = []
        inst = self._installed.get(name)
        if inst is not None and name not in self.upgrade and name not in self._cands:
            # Already installed and good enough: no need to ask the index
            # (pip's "Requirement already satisfied"; a --preload that is
            # installed needs no network).
            V = _sub("packaging", "version")
            c = Candidate(name, V.Version(inst.version), installed=inst)
            if c.version not in bad and all(r.specifier.contains(c.version, prereleases=True) for r in reqs):
                return [c if not extras else self._with_extras(c, extras)]
        for c in self._all(name):
            if c.version in bad:
                continue
            if all(r.specifier.contains(c.version, prereleases=True) for r in reqs):
                out.append(c if not extras else self._with_extras(c, extras))
        return out

    def _with_extras(self, c, extras):
        e = Candidate(c.name, c.version, c.file, extras, c.installed)
        e.base = c
        return e

    def is_satisfied_by(self, requirement, candidate):
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def metadata(self, c):
        c = getattr(c, "base", c)
        if c._metadata is None:
            if c.installed is not None:
                c._metadata = c.installed.metadata
            elif c.file.metadata is not None and self._remote(c.file):
                import email.parser
                c.metadata_text = self.net.metadata(c.file)
                c._metadata = email.parser.Parser().parsestr(c.metadata_text, headersonly=True)
            else:
                c._metadata = self._fetch(c)
        return c._metadata

    @staticmethod
    def _remote(f):
        return f.data is None and f.url.startswith(("http://", "https://"))

    def wheel(self, c):
        """Downloads and checks a chosen candidate's wheel (resolving may
        have needed only its METADATA); the wheel's METADATA must be the
        one the resolver decided on."""
        self.metadata(c)
        if c.sha256 is None:
            self._fetch(c)
        text = c.metadata_text
        if text is not None and c.wheel_metadata != text:
            raise PipError(f"{c.file.filename}: the index's metadata file differs from the wheel's METADATA "
                           "(PEP 658 requires them to be the same). Nothing was installed")

    def _fetch(self, c):
        import email.parser

        f = c.file
        if not self._remote(f):
            r = self.net.local_wheel(f)
        else:
            r = self.net.wheel(f)
        c.sha256 = r["sha256"]
        c.wheel_metadata = r["metadata"]
        return email.parser.Parser().parsestr(r["metadata"], headersonly=True)

    def get_dependencies(self, candidate):
        Req = _sub("packaging", "requirements").Requirement
        S = _sub("packaging", "specifiers")
        meta = self.metadata(candidate)
        rp = meta.get("Requires-Python")
        if rp and candidate.installed is None:
            try:
                ok = S.SpecifierSet(rp).contains(self.py, prereleases=True)
            except Exception:
                ok = True
            if not ok:
                raise PipError(f"{candidate.name} {candidate.version} requires Python {rp}; this interpreter is {self.py}")
        deps = []
        if getattr(candidate, "base", None) is not None:
            deps.append(Req(f"{candidate.name}=={candidate.version}"))
        if not self.deps:
            return deps
        for line in meta.get_all("Requires-Dist") or []:
            try:
                r = Req(line)
            except Exception:
                raise PipError(f"{candidate.name} {candidate.version} has an invalid dependency: {line!r}") from None
            if r.marker is not None:
                extras = candidate.extras or {""}
                if not any(r.marker.evaluate({**self.env, "extra": e}) for e in extras):
                    continue
            elif candidate.extras and getattr(candidate, "base", None) is not None:
                continue  # the base candidate brings its unconditional dependencies
            deps.append(r)
        return deps


def _describe_conflict(e):
    lines = []
    for cause in e.causes:
        parent = cause.parent
        who = "you asked for" if parent is None else f"{parent.name} {parent.version} depends on"
        lines.append(f"    {who} {cause.requirement}")
    return "ResolutionImpossible: these package versions have conflicting dependencies:\n" + "\n".join(lines)


# ---- commands -------------------------------------------------------------


def _site_dists():
    import importlib.metadata as md
    if not SITE:
        return []
    return sorted(md.distributions(path=[SITE]), key=lambda d: d.metadata["Name"].lower())


def _say(quiet, out):
    return out or (lambda s: None if quiet else print(s, flush=True))


def install(requirements, index_urls=None, find_links=(), upgrade=False, deps=True, quiet=False, out=None, net=None):
    """Resolve and install; returns the "name-version" of what was installed.
    Downloads block (with a progress bar unless quiet or given out)."""
    say = _say(quiet, out)
    if net is None:
        net = _Net(say, progress=not quiet and out is None)
    Req = _sub("packaging", "requirements").Requirement
    utils = _sub("packaging", "utils")
    resolvers = _lib("resolvelib")
    if index_urls is None:
        index_urls = [u for u in os.environ.get(INDEX_ENV, "").split() if u]
    if not index_urls and not find_links and not all(str(r).endswith(".whl") for r in requirements):
        raise PipError("no package index is configured: pass --index-url URL (or --find-links DIR), "
                       f"or start the kernel with --index-url (it sets ${INDEX_ENV})")
    finder = Finder(list(index_urls), list(find_links), say, net)
    reqs, pinned = [], {}
    for text in requirements:
        text = str(text).strip()
        if text.endswith(".whl"):
            name, ver, _, tags = utils.parse_wheel_filename(os.path.basename(text))
            if not _supported(tags):
                raise PipError(f"{os.path.basename(text)} is not a pure-Python wheel; wasipy's interpreter cannot load C extensions")
            c = Candidate(name, ver, _File(os.path.basename(text), os.path.abspath(text)))
            c.file.shown = text
            pinned[name] = c
            reqs.append(Req(f"{name}=={ver}"))
            continue
        try:
            reqs.append(Req(text))
        except Exception as e:
            raise PipError(f"invalid requirement {text!r}: {e}") from None
    reqs = [r for r in reqs if r.marker is None or r.marker.evaluate(environment())]
    top = {utils.canonicalize_name(r.name) for r in reqs}
    provider = Provider(finder, say, upgrade=top if upgrade else (), deps=deps, pinned=pinned)
    resolver = resolvers.Resolver(provider, resolvers.BaseReporter())
    try:
        result = resolver.resolve(reqs, max_rounds=2000)
    except resolvers.ResolutionImpossible as e:
        raise PipError(_describe_conflict(e)) from None
    except resolvers.ResolutionTooDeep:
        raise PipError("the resolver gave up: too many versions to try (pin some requirements)") from None
    chosen = {}
    for c in result.mapping.values():
        c = getattr(c, "base", c)
        chosen[c.name] = c
    todo, kept = [], []
    for name, c in sorted(chosen.items()):
        if c.installed is not None:
            kept.append(c)
            continue
        provider.wheel(c)  # downloads and checks it, if not done while resolving
        todo.append(c)
    for c in kept:
        if c.name in top:
            say(f"Requirement already satisfied: {c.name} in {SITE} ({c.version})")
    if not todo:
        return []
    say("Installing collected packages: " + ", ".join(c.name for c in todo))
    r = _host().install([{"filename": c.file.filename, "sha256": c.sha256, "requested": c.name in top} for c in todo], [])
    importlib.invalidate_caches()
    stale = [c.name for c in todo if _imported(c)]
    for old in r["removed"]:
        say(f"  Attempting uninstall: {old.rsplit('-', 1)[0]}\n    Successfully uninstalled {old}")
    say("Successfully installed " + " ".join(r["installed"]))
    if stale:
        say("Note: " + ", ".join(stale) + " was already imported in this session; restart the kernel to use the new version.")
    return list(r["installed"])


async def install_async(requirements, index_urls=None, find_links=(), upgrade=False, deps=True, quiet=False, out=None):
    """install() without blocking the event loop: every page and wheel is
    awaited from the host (other tasks run meanwhile), and resolution,
    which is quick, runs again with what has arrived."""
    say = _say(quiet, out)
    net = _Net(say, progress=not quiet and out is None, awaited=True)
    while True:
        try:
            return install(requirements, index_urls=index_urls, find_links=find_links, upgrade=upgrade,
                           deps=deps, quiet=quiet, out=say, net=net)
        except _Need as need:
            await net.fetch(need)


def _imported(c):
    """Whether a module of this distribution is imported already."""
    import importlib.metadata as md
    try:
        tops = (md.distribution(c.name).read_text("top_level.txt") or "").split()
    except Exception:
        tops = [c.name.replace("-", "_")]
    return any(t in sys.modules for t in tops)


def uninstall(names, out=print):
    removed = _host().uninstall(list(names))
    importlib.invalidate_caches()
    for r in removed:
        out(f"Found existing installation: {r}\nUninstalling {r}:\n  Successfully uninstalled {r}")
    return list(removed)


def freeze():
    return [f"{d.metadata['Name']}=={d.version}" for d in _site_dists()]


def list_installed():
    return [(d.metadata["Name"], d.version) for d in _site_dists()]


def show(name):
    utils = _sub("packaging", "utils")
    for d in _site_dists():
        if utils.canonicalize_name(d.metadata["Name"]) == utils.canonicalize_name(name):
            m = d.metadata
            requires = [str(r).split(";")[0].strip() for r in (d.requires or [])]
            return "\n".join([
                f"Name: {m['Name']}", f"Version: {d.version}", f"Summary: {m.get('Summary', '')}",
                f"Home-page: {m.get('Home-page', '')}", f"Author: {m.get('Author', '')}",
                f"License: {m.get('License', '')}", f"Location: {SITE}",
                f"Requires: {', '.join(requires)}", f"Installer: {(d.read_text('INSTALLER') or '').strip()}",
            ])
    return None


def _parser():
    import argparse

    p = argparse.ArgumentParser(prog="%pip", add_help=False, exit_on_error=False)
    sub = p.add_subparsers(dest="cmd")
    i = sub.add_parser("install", prog="%pip install", add_help=False, exit_on_error=False)
    i.add_argument("reqs", nargs="*")
    i.add_argument("-r", "--requirement", action="append", default=[])
    i.add_argument("-i", "--index-url", action="append")
    i.add_argument("--extra-index-url", action="append", default=[])
    i.add_argument("--no-index", action="store_true")
    i.add_argument("-f", "--find-links", action="append", default=[])
    i.add_argument("-U", "--upgrade", action="store_true")
    i.add_argument("--no-deps", action="store_true")
    i.add_argument("-q", "--quiet", action="store_true")
    u = sub.add_parser("uninstall", prog="%pip uninstall", add_help=False, exit_on_error=False)
    u.add_argument("names", nargs="+")
    u.add_argument("-y", "--yes", action="store_true")
    sub.add_parser("list", add_help=False, exit_on_error=False)
    sub.add_parser("freeze", add_help=False, exit_on_error=False)
    s = sub.add_parser("show", add_help=False, exit_on_error=False)
    s.add_argument("names", nargs="+")
    return p


def _read_requirements(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def magic(line, UsageError=PipError):
    """%pip COMMAND ...: install, uninstall -y, list, show, freeze. The
    magics registry passes its UsageError (importing it here would make an
    import cycle)."""
    import shlex

    try:
        args = _parser().parse_args(shlex.split(line))
    except (Exception, SystemExit) as e:
        raise UsageError(f"%pip {line}: {e}") from None
    try:
        if args.cmd == "install":
            reqs = list(args.reqs)
            for path in args.requirement:
                reqs += _read_requirements(path)
            if not reqs:
                raise UsageError("%pip install: name at least one package (or -r FILE)")
            index = args.index_url if args.index_url is not None else None
            if index is not None or args.extra_index_url:
                base = index if index is not None else [u for u in os.environ.get(INDEX_ENV, "").split() if u]
                index = list(base) + list(args.extra_index_url)
            if args.no_index:
                if not args.find_links and not all(r.endswith(".whl") for r in reqs):
                    raise UsageError("%pip install --no-index: name a --find-links folder (or wheel files)")
                index = []
            install(reqs, index_urls=index, find_links=args.find_links, upgrade=args.upgrade,
                    deps=not args.no_deps, quiet=args.quiet)
        elif args.cmd == "uninstall":
            uninstall(args.names)
        elif args.cmd == "list":
            rows = [("Package", "Version"), ("-" * 7, "-" * 7)] + list_installed()
            w = max(len(r[0]) for r in rows)
            print("\n".join(f"{a:<{w}} {b}" for a, b in rows))
        elif args.cmd == "freeze":
            print("\n".join(freeze()))
        elif args.cmd == "show":
            for n in args.names:
                text = show(n)
                if text is None:
                    print(f"WARNING: Package(s) not found: {n}", file=sys.stderr)
                else:
                    print(text)
        else:
            raise UsageError("%pip: use install, uninstall, list, show or freeze")
    finally:
        sys.stdout.flush()


SHELL_HINT = "pip does not run as a program in the sandbox; use %pip install ... (the same arguments) instead of !pip"
