"""%pip and wasipy.pip (issue 9), through jupyter_client, against a package
index this test builds (tests/pipindex: Debian's pure-Python packages
repackaged as wheels, plus tiny projects) and serves on 127.0.0.1.

Each kernel gets its own --site-dir and --cache-dir in a temporary folder,
so the tests start from nothing and can look at what the host wrote."""

import json
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
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipkernel")
    return {"site": str(root / "site"), "cache": str(root / "cache")}


def _start(index, dirs, *extra, url=None):
    import harness
    args = ["--allow-net", f"127.0.0.1:{index.port}", "--index-url", url or index.url + "/simple",
            "--site-dir", dirs["site"], "--cache-dir", dirs["cache"], *extra]
    return harness.Kernel.start(extra_arguments=args)


@pytest.fixture(scope="module")
def kernel(wasipy_env, index, dirs):
    k = _start(index, dirs)
    try:
        yield k
    finally:
        k.shutdown()


def _err(r):
    return "\n".join(f"{e['ename']}: {e['evalue']}" for e in r.errors)


def test_install_with_dependencies_then_import(kernel, index, dirs):
    """Promise: `%pip install` resolves dependencies (python-dateutil needs
    six), prints pip's lines, and the package is importable in the next cell
    of the same session, with a proper dist-info (INSTALLER, RECORD)."""
    r = kernel.execute("%pip install python-dateutil")
    assert r.status == "ok", _err(r) + r.stderr
    out = r.stdout
    assert "Collecting python-dateutil" in out and "Collecting six" in out, out
    assert "Downloading python_dateutil-2.8.2-py3-none-any.whl" in out, out
    assert "Successfully installed" in out and "python_dateutil-2.8.2" in out and "six-1.16.0" in out, out
    v = kernel.value("from dateutil.relativedelta import relativedelta\nimport datetime, six\n"
                     "str(datetime.date(2024, 1, 31) + relativedelta(months=1)), six.__version__")
    assert v == "('2024-02-29', '1.16.0')"
    meta = kernel.value("import importlib.metadata as md\nd = md.distribution('six')\n"
                        "d.read_text('INSTALLER').strip(), 'six.py' in {str(f) for f in d.files}, d.metadata['Name']")
    assert meta == "('wasipy', True, 'six')"
    # The host wrote the files, where --site-dir says.
    assert os.path.isfile(os.path.join(dirs["site"], "six.py"))


def test_list_show_freeze_uninstall(kernel):
    """Promise: %pip list / show / freeze describe the site folder, and
    %pip uninstall -y removes a distribution's files at once."""
    kernel.ok("%pip install tabulate")
    lst = kernel.ok("%pip list").stdout
    assert "tabulate" in lst and "0.8.9" in lst, lst
    show = kernel.ok("%pip show tabulate").stdout
    assert "Name: tabulate" in show and "Version: 0.8.9" in show and "Installer: wasipy" in show, show
    assert "tabulate==0.8.9" in kernel.ok("%pip freeze").stdout
    r = kernel.ok("%pip uninstall -y tabulate")
    assert "Successfully uninstalled tabulate-0.8.9" in r.stdout, r.stdout
    r = kernel.execute("import importlib, sys\nsys.modules.pop('tabulate', None)\nimport tabulate")
    assert r.status == "error" and r.errors[0]["ename"] == "ModuleNotFoundError", r.summary()


def test_extras_markers_and_json_index(kernel, index):
    """Promise: extras pull their dependencies; markers are evaluated for
    the guest (sys_platform wasi, platform_machine wasm32: markerpkg's
    linux-only dependency is skipped, its wasi one installed); a PEP 691
    JSON index works as the HTML one does."""
    r = kernel.execute(f"%pip install 'extrapkg[table]' markerpkg --index-url {index.url}/json")
    assert r.status == "ok", _err(r) + r.stderr + r.stdout
    assert "nosuchpkg" not in r.stdout
    assert kernel.value("import extrapkg, markerpkg, tabulate, six\nextrapkg.NAME") == "'extrapkg'"


def test_hash_mismatch_installs_nothing(kernel, dirs):
    """Promise: a wheel whose bytes do not match the index's sha256 is
    refused with an error naming it, and nothing is installed."""
    before = sorted(os.listdir(dirs["site"]))
    r = kernel.execute("%pip install badhash")
    assert r.status == "error", r.summary()
    assert "badhash-1.0-py3-none-any.whl does not match the hash" in r.errors[0]["evalue"], _err(r)
    assert sorted(os.listdir(dirs["site"])) == before


def test_disallowed_host(kernel):
    """Promise: an index on a host that --allow-net does not list is not
    contacted; the error names the option."""
    r = kernel.execute("%pip install idna --index-url http://127.0.0.2:9/simple")
    assert r.status == "error"
    assert r.errors[0]["ename"] == "PermissionError" and "--allow-net" in r.errors[0]["evalue"], _err(r)


def test_no_pure_wheel(kernel):
    """Promise: a project with only platform wheels and an sdist gets an
    error that names it and says why."""
    r = kernel.execute("%pip install nativepkg")
    assert r.status == "error"
    msg = r.errors[0]["evalue"]
    assert "nativepkg has no pure-Python wheel" in msg and "cannot load C extensions" in msg, msg


def test_requires_python(kernel):
    """Promise: a wheel whose Requires-Python excludes the guest's version is
    not a candidate."""
    r = kernel.execute("%pip install newpy")
    assert r.status == "error" and "newpy" in r.errors[0]["evalue"], _err(r)


def test_resolver_conflict(kernel, dirs):
    """Promise: conflicting constraints are reported by the resolver, naming
    the packages and requirements, and nothing is installed."""
    before = sorted(os.listdir(dirs["site"]))
    r = kernel.execute("%pip install conflict-a conflict-b")
    assert r.status == "error"
    msg = r.errors[0]["evalue"]
    assert "conflicting dependencies" in msg and "tomli<2" in msg and "conflict-b" in msg, msg
    assert sorted(os.listdir(dirs["site"])) == before


def test_upgrade_and_python_api(kernel):
    """Promise: `await wasipy.pip.install(...)` installs from Python code;
    --upgrade replaces the installed version in one step."""
    r = kernel.ok("import wasipy.pip\nprint(await wasipy.pip.install('evolving==1.0', quiet=True))")
    assert "evolving-1.0" in r.stdout
    r = kernel.execute("%pip install --upgrade evolving")
    assert r.status == "ok", _err(r)
    assert "Successfully uninstalled evolving-1.0" in r.stdout and "evolving-2.0" in r.stdout, r.stdout
    assert kernel.value("dict(wasipy.pip.list())['evolving']") == "'2.0'"


def test_sandbox_cannot_modify_installed_files(kernel, dirs):
    """Promise: code in the sandbox can read installed packages but cannot
    change, remove or add files in the site folder."""
    code = ("import six, os\nsite = os.path.dirname(six.__file__)\nres = []\n"
            "for act in (lambda: open(six.__file__, 'a').write('x = 1'), lambda: os.remove(six.__file__),\n"
            "            lambda: open(os.path.join(site, 'evil.py'), 'w').write('')):\n"
            "    try:\n        act(); res.append('done')\n    except OSError as e:\n        res.append(type(e).__name__)\n"
            "print(res, open(six.__file__).read(10) != '')")
    out = kernel.ok(code).stdout
    assert "done" not in out, out
    assert not os.path.exists(os.path.join(dirs["site"], "evil.py"))
    assert "x = 1" not in open(os.path.join(dirs["site"], "six.py")).read()


def test_shell_pip_says_use_magic(kernel):
    """Promise: `!pip install` tells the user to use %pip."""
    r = kernel.execute("!pip install six")
    assert r.status == "error" and "%pip install" in r.errors[0]["evalue"], _err(r)


def test_persistence_and_cache_across_kernels(wasipy_env, index, dirs, kernel):
    """Promise: installed packages are still there after a kernel restart,
    and a second kernel (another site folder, the same cache) installs a
    wheel it has seen without downloading it again; --preload installs at
    start."""
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=120)
    kernel.drain()
    assert kernel.value("import dateutil, six\nsix.__version__") == "'1.16.0'"
    other = {"site": dirs["site"] + "-2", "cache": dirs["cache"]}
    n = len(index.requests)
    k2 = _start(index, other, "--preload", "six")
    try:
        assert k2.value("import six\nsix.__version__") == "'1.16.0'"
        fetched = [p for p in index.requests[n:] if p.startswith("/files/")]
        assert fetched == [], fetched
    finally:
        k2.shutdown()
