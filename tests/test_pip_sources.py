"""%pip install from the sources pip users name besides an index (issue 9):
a requirements file, a --find-links folder and a wheel file beside the
notebook, through jupyter_client against the local test index."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import pipindex  # noqa: E402


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("wheels"))
    with pipindex.Index(folder, pipindex.build(folder)) as ix:
        yield ix


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return str(tmp_path_factory.mktemp("pipsources") / "site")


@pytest.fixture(scope="module")
def kernel(wasipy_env, index, site, tmp_path_factory):
    import harness
    cache = str(tmp_path_factory.mktemp("pipcache"))
    k = harness.Kernel.start(extra_arguments=[
        "--allow-net", f"127.0.0.1:{index.port}", "--index-url", index.url + "/simple",
        "--site-dir", site, "--cache-dir", cache])
    try:
        yield k
    finally:
        k.shutdown()


def _write_wheel(folder, *args, **kwargs):
    fn, data = pipindex.make_wheel(*args, **kwargs)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, fn), "wb") as f:
        f.write(data)
    return fn


def _err(r):
    return "\n".join(f"{e['ename']}: {e['evalue']}" for e in r.errors) + r.stderr


def test_requirements_file(kernel, site):
    """Promise: `%pip install -r requirements.txt` installs every
    requirement of a file beside the notebook (comments and blank lines
    skipped, specifiers honoured)."""
    with open(os.path.join(kernel.cwd, "requirements.txt"), "w") as f:
        f.write("# what the notebook needs\ntomli\n\nidna>=2  # with a comment\n")
    r = kernel.execute("%pip install -r requirements.txt")
    assert r.status == "ok", _err(r)
    assert "Collecting tomli" in r.stdout and "Collecting idna" in r.stdout, r.stdout
    assert kernel.value("import tomli, idna\ntomli.loads('a = 1')['a'], idna.encode('ドメイン.テスト').startswith(b'xn--')") == "(1, True)"
    names = {n.split("-")[0].lower() for n in os.listdir(site) if n.endswith(".dist-info")}
    assert {"tomli", "idna"} <= names, names


def test_local_wheel_with_index_dependency(kernel, index, site):
    """Promise: `%pip install ./local.whl` installs a wheel file from the
    notebook's folder (not on any index) and resolves its dependencies
    from the index."""
    fn = _write_wheel(kernel.cwd, "localpkg", "0.3", {"localpkg.py": b"import six\nVERSION = '0.3'\n"}, ["six"])
    r = kernel.execute(f"%pip install ./{fn}")
    assert r.status == "ok", _err(r)
    assert f"Processing ./{fn}" in r.stdout, r.stdout
    assert "localpkg-0.3" in r.stdout and "six" in r.stdout, r.stdout
    assert kernel.value("import localpkg\nlocalpkg.VERSION") == "'0.3'"
    assert os.path.isfile(os.path.join(site, "localpkg.py"))
    assert not any(p.endswith(f"/{fn}") for p in index.requests), "the local wheel was asked of the index"


def test_find_links_folder_without_index(kernel, index, site):
    """Promise: `%pip install --no-index --find-links DIR NAME` takes NAME
    and its dependencies from the wheels in DIR, without asking any index,
    choosing the newest version the specifiers allow."""
    house = os.path.join(kernel.cwd, "wheelhouse")
    _write_wheel(house, "linkpkg", "1.0", {"linkpkg.py": b"V = 1\n"}, ["linkdep"])
    _write_wheel(house, "linkpkg", "2.0", {"linkpkg.py": b"V = 2\n"}, ["linkdep"])
    _write_wheel(house, "linkdep", "1.0", {"linkdep.py": b"D = 'dep'\n"})
    n = len(index.requests)
    r = kernel.execute("%pip install --no-index --find-links wheelhouse 'linkpkg<2'")
    assert r.status == "ok", _err(r)
    assert "linkpkg-1.0" in r.stdout and "linkdep-1.0" in r.stdout, r.stdout
    assert kernel.value("import linkpkg, linkdep\nlinkpkg.V, linkdep.D") == "(1, 'dep')"
    assert index.requests[n:] == [], index.requests[n:]
    r = kernel.execute("%pip install --no-index --find-links wheelhouse nosuchproject")
    assert r.status == "error" and "nosuchproject" in r.errors[0]["evalue"], _err(r)
