"""The interpreter built by build/python/build.sh (CPython 3.13, -O2, from
Debian's sources): its version, the modules built into it, SQLite on the
notebook folder, a read-only standard library, interrupts, and that a rerun
of the build with unchanged inputs does nothing.

These tests check the kernel's interpreter (WASIPY_PYTHON_WASM). When that
is not a build of build.sh (no lib/python3XY.zip beside it, e.g. the npm
build), they are skipped, unless WASIPY_REQUIRE_BUILT is set (tests/run.sh
sets it for its run on the built interpreter), where they fail.
"""

import glob
import json
import os
import subprocess
import time

import pytest

import harness

REPO = harness.REPO


def _built_wasm():
    env = harness.setup_env()
    wasm = env["python_wasm"]
    if not glob.glob(os.path.join(os.path.dirname(wasm), "lib", "python3*.zip")):
        if os.environ.get("WASIPY_REQUIRE_BUILT"):
            pytest.fail(f"WASIPY_REQUIRE_BUILT is set but {wasm} is not a build of build/python/build.sh "
                        "(no lib/python3XY.zip beside it)", pytrace=False)
        pytest.skip(f"{wasm} is not a build of build/python/build.sh")
    return wasm


@pytest.fixture(scope="module")
def k(wasipy_env):
    _built_wasm()
    kern = harness.Kernel.start()
    try:
        yield kern
    finally:
        kern.shutdown()


def test_version_is_313(k):
    """Promise: the built interpreter is CPython 3.13, and kernel_info says so
    (language_info.version is the interpreter's real version)."""
    assert k.value("import sys; sys.version_info[:2]") == "(3, 13)"
    info = k.request("kernel_info_request", channel="control")
    version = info.reply["language_info"]["version"]
    assert version.startswith("3.13."), version


BUILTIN_CHECKS = {
    "zlib": "import zlib; assert zlib.decompress(zlib.compress(b'x' * 1000)) == b'x' * 1000",
    "bz2": "import bz2; assert bz2.decompress(bz2.compress(b'y' * 1000)) == b'y' * 1000",
    "lzma": "import lzma; assert lzma.decompress(lzma.compress(b'z' * 1000)) == b'z' * 1000",
    "sqlite3": "import sqlite3; assert sqlite3.connect(':memory:').execute('select 6*7').fetchone() == (42,)",
    "_decimal": "import decimal, _decimal; assert decimal.Decimal is _decimal.Decimal; "
                "assert str(decimal.Decimal(1) / 7)[:8] == '0.142857'",
    "hashlib": "import hashlib; [hashlib.new(a, b'abc').hexdigest() for a in "
               "('md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3_256', 'blake2b', 'blake2s')]; "
               "assert hashlib.sha256(b'abc').hexdigest().startswith('ba7816bf')",
    "_json": "import json, _json; assert json.decoder.scanstring is _json.scanstring",
    "_pickle": "import pickle, _pickle; assert pickle.Pickler is _pickle.Pickler",
    "_datetime": "import _datetime, datetime; assert datetime.datetime is _datetime.datetime",
    "_zoneinfo": "import _zoneinfo",
    "select": "import select; select.select([], [], [], 0)",
    "unicodedata": "import unicodedata; assert unicodedata.name('\\u00e9') == 'LATIN SMALL LETTER E WITH ACUTE'",
}


@pytest.mark.parametrize("name", sorted(BUILTIN_CHECKS))
def test_builtin_module_works(k, name):
    """Promise: zlib, bz2, lzma, sqlite3, _decimal, hashlib's algorithms,
    _json, _pickle, _datetime, _zoneinfo, select and unicodedata are built in
    (C, not the pure-Python fallbacks) and work."""
    r = k.execute(BUILTIN_CHECKS[name])
    assert r.status == "ok", r.summary()


def test_sqlite_database_on_the_working_directory(k):
    """Promise: a cell creates a SQLite database in the notebook folder,
    writes, queries, closes and reopens it, and the file is on the host."""
    r = k.execute(
        "import sqlite3, os\n"
        "db = sqlite3.connect('built.sqlite')\n"
        "db.execute('create table t (k integer primary key, v text)')\n"
        "db.executemany('insert into t (v) values (?)', [(str(i),) for i in range(100)])\n"
        "db.commit(); db.close()\n"
        "db = sqlite3.connect('built.sqlite')\n"
        "print(db.execute('select count(*), sum(k) from t').fetchone())\n"
        "db.close()")
    assert r.status == "ok", r.summary()
    assert r.stdout == "(100, 5050)\n"
    path = os.path.join(k.cwd, "built.sqlite")
    with open(path, "rb") as f:
        assert f.read(16) == b"SQLite format 3\x00"


def test_standard_library_is_read_only(k):
    """Promise: the standard library is mounted read-only and comes from the
    zip with its precompiled bytecode: a cell can neither change, remove nor
    add a module that later sessions import."""
    r = k.execute(
        "import os, errno, json\n"
        "lib = '/usr/local/lib'\n"
        "bad = []\n"
        "for attempt in (lambda: open(lib + '/python313.zip', 'r+b'), lambda: os.remove(lib + '/python313.zip'),\n"
        "                lambda: open(lib + '/evil.py', 'w'), lambda: os.rename(lib + '/python313.zip', lib + '/x'),\n"
        "                lambda: os.mkdir(lib + '/python3.13')):\n"
        "    try:\n"
        "        attempt()\n"
        "        bad.append('allowed')\n"
        "    except OSError as e:\n"
        "        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):\n"
        "            bad.append(e.errno)\n"
        "print(bad, json.__cached__)")
    assert r.status == "ok", r.summary()
    assert r.stdout == "[] /usr/local/lib/python313.zip/json/__init__.pyc\n", r.stdout


def test_interrupt_stops_a_loop_on_313(k):
    """Promise: an interrupt stops running Python code on the 3.13 build
    (the DWARF-located 3.13 signal flags), and the session's variables
    survive."""
    k.ok("kept = 'still here'")
    msg_id = k.execute_async("while True: pass")
    time.sleep(0.5)
    k.request("interrupt_request", channel="control")
    r = k.collect(msg_id, timeout=10)
    assert r.status == "error", r.summary()
    assert r.reply["ename"] == "KeyboardInterrupt"
    assert k.value("kept") == "'still here'"


# Modules of sys.stdlib_module_names that cannot be imported in the build,
# and why (docs/BUILDING.md lists them). Anything else must import.
UNAVAILABLE = {
    # no Tk, curses, readline, gdbm/ndbm, OpenSSL, libffi, uuid lib in the build
    "_tkinter", "tkinter", "turtle", "turtledemo", "idlelib", "_curses", "_curses_panel", "curses",
    "readline", "_gdbm", "_dbm", "dbm.gnu", "dbm.ndbm", "_ssl", "ssl", "_hashlib", "_ctypes", "ctypes",
    "_uuid",
    # WASI has no processes, threads, signals' masks, terminals or users
    "_multiprocessing", "multiprocessing", "concurrent", "_posixsubprocess", "_posixshmem",
    "_testmultiphase", "_testsinglephase", "_testcapi", "_testclinic", "_testinternalcapi",
    "_testimportmultiple", "_testbuffer", "_xxtestfuzz", "_xxinterpchannels", "_xxsubinterpreters",
    "_interpreters", "_interpqueues", "_interpchannels", "pty", "tty", "termios", "fcntl", "grp", "pwd",
    "resource", "syslog", "_scproxy", "mmap", "_lsprof", "_crypt", "crypt", "nis", "spwd", "ossaudiodev",
    "_socket", "socket", "_asyncio",
    # removed from the installed standard library (build.sh, STDLIB_DROP)
    "ensurepip", "lib2to3", "__phello__", "test",
    # Windows and macOS only
    "_winapi", "winreg", "winsound", "msvcrt", "_msi", "msilib", "nt", "_overlapped", "_wmi", "_winreg",
}


def test_stdlib_modules_import(k):
    """Promise: every module of sys.stdlib_module_names imports, except the
    listed ones that cannot exist on WASI or were left out of the build; the
    exact import/fail list is printed (docs/BUILDING.md keeps it)."""
    r = k.execute(
        "import sys, importlib, json\n"
        "res = {}\n"
        "for name in sorted(sys.stdlib_module_names):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        res[name] = None\n"
        "    except BaseException as e:\n"
        "        res[name] = f'{type(e).__name__}: {e}'\n"
        "print(json.dumps(res))", timeout=300)
    assert r.status == "ok", r.summary()
    res = json.loads(r.stdout.splitlines()[-1])  # ("this" prints the Zen first)
    failed = {n: why for n, why in res.items() if why is not None}
    ok = sorted(n for n, why in res.items() if why is None)
    print(f"{len(ok)} of {len(res)} import; failing: {json.dumps(failed, indent=1, sort_keys=True)}")
    unexpected = {n: why for n, why in failed.items() if n not in UNAVAILABLE}
    assert not unexpected, f"modules that should import but do not: {unexpected}"


def test_rebuild_with_unchanged_inputs_is_a_no_op(wasipy_env):
    """Promise: rerunning build/python/build.sh with unchanged inputs (same
    sources, flags, toolchain and script) rebuilds nothing: it says "up to
    date" and leaves python.wasm untouched."""
    wasm = _built_wasm()
    data_dir = os.path.dirname(os.path.dirname(wasm))
    before = os.stat(wasm).st_mtime_ns
    t0 = time.monotonic()
    out = subprocess.run([os.path.join(REPO, "build", "python", "build.sh"), "--data-dir", data_dir],
                         capture_output=True, text=True, timeout=300)
    took = time.monotonic() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    assert "build.sh: up to date:" in out.stdout, out.stdout
    assert "... done in" not in out.stdout, f"a step ran again:\n{out.stdout}"
    assert os.stat(wasm).st_mtime_ns == before
    assert took < 60, f"a no-op rerun took {took:.1f}s"
