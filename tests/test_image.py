"""Interpreter images (issue #13): a kernel starts from an image of a
prepared interpreter (CPython initialised, the runtime built) instead of
initialising it again, and what differs between kernels is re-established.

Each test uses a private cache (XDG_CACHE_HOME), so it controls whether an
image is there, and reads the kernel's log (--log-level info), whose
"interpreter started" line says how the interpreter started:
image=restored, or image="none: why".
"""

import json
import os
import re
import shutil
import subprocess
import time

import harness
import pytest

from test_nbconvert import TOUR, check_tour

pytestmark = pytest.mark.skipif(
    not harness.built_python_version(harness.setup_env()["python_wasm"]),
    reason="images need wasipy's own CPython build (a reactor); the npm build is a command")

STARTED = re.compile(r'msg="interpreter started".* image=("[^"]*"|\S+)')

# What a session's interpreter looks like from inside: everything a start
# from an image must get the same as a start from scratch.
STATE = r"""
import json, os, sys, signal, time, asyncio
print(json.dumps({
    "modules": sorted(m for m in sys.modules),
    "path": sys.path,
    "argv": sys.argv,
    "flags": repr(sys.flags),
    "environ": dict(os.environ),
    "cwd": os.getcwd(),
    "meta_path": [type(f).__name__ for f in sys.meta_path],
    "sigint": repr(signal.getsignal(signal.SIGINT)),
    "displayhook": type(sys.displayhook).__name__,
    "excepthook": getattr(sys.excepthook, "__qualname__", repr(sys.excepthook)),
    "recursionlimit": sys.getrecursionlimit(),
    "ipython": type(get_ipython()).__name__,
    "pycache_prefix": sys.pycache_prefix,
    "dont_write_bytecode": sys.dont_write_bytecode,
    "dh": globals().get("_dh"),
}, sort_keys=True))
"""


class Cache:
    """A private code cache and data dir, and kernels started on them."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.dir = str(tmp_path / "wasipy")
        self.env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), WASIPY_DATA_DIR=str(tmp_path / "data"))
        self.logs = 0

    def prepare(self, wasm=None):
        """`wasipy-kernel prepare`, as install.sh runs it."""
        cmd = [harness.setup_env()["kernel"], "prepare", "--cache-dir", self.dir]
        if wasm:
            cmd += ["--python-wasm", wasm]
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stderr

    def images(self):
        return sorted(f for f in os.listdir(self.dir) if f.startswith("image-"))

    def start(self, *args, cwd=None):
        """A kernel on this cache; returns (kernel, path of its log)."""
        self.logs += 1
        log_path = str(self.tmp / f"kernel-{self.logs}.log")
        log = open(log_path, "wb")
        k = harness.Kernel.start(cwd=cwd, env=self.env, stderr=log,
                                 extra_arguments=["--log-level", "info", *args])
        log.close()  # the kernel keeps its own descriptor
        return k, log_path


def how_started(log_path):
    """How each interpreter of the kernel whose log this is started."""
    with open(log_path, encoding="utf-8", errors="replace") as f:
        return [m.group(1).strip('"') for m in STARTED.finditer(f.read())]


def state(k):
    return json.loads(k.ok(STATE).stdout)


@pytest.fixture
def cache(tmp_path):
    return Cache(tmp_path)


def test_two_kernels_from_one_image_are_two_sessions(cache):
    """Promise: two kernels started from one image are two sessions: they
    draw different random.random(), uuid4() and os.urandom() values, each
    runs in its own working directory with its own environment, sees
    the current time, and a monotonic clock that never runs backwards
    from what the image recorded."""
    cache.prepare()
    assert len(cache.images()) == 1, cache.images()
    seen = []
    for mark in ("first", "second"):
        k, log = cache.start("--env", f"WASIPY_TEST_MARK={mark}")
        try:
            assert how_started(log) == ["restored"], open(log).read()
            before = time.time()
            got = json.loads(k.ok(
                "import json, os, random, time, uuid\n"
                "print(json.dumps({'random': random.random(), 'uuid': str(uuid.uuid4()),"
                " 'urandom': os.urandom(8).hex(), 'cwd': os.getcwd(), 'mark': os.environ.get('WASIPY_TEST_MARK'),"
                " 'home': os.environ.get('HOME'), 'time': time.time(), 'monotonic': time.monotonic(),"
                " 'files': os.listdir('.')}))\n"
                "open('mine.txt', 'w').write('x')").stdout)
            after = time.time()
            assert before - 1 <= got["time"] <= after + 1, (before, got["time"], after)
            assert got["cwd"] == os.path.realpath(k.cwd) and got["home"] == got["cwd"], got
            assert got["mark"] == mark, got
            assert got["files"] == [], got  # its own, new folder
            assert os.path.isfile(os.path.join(k.cwd, "mine.txt"))
            seen.append(got)
        finally:
            k.shutdown()
    a, b = seen
    for key in ("random", "uuid", "urandom"):
        assert a[key] != b[key], f"two kernels from one image drew the same {key}: {a[key]}"
    assert a["cwd"] != b["cwd"]


def test_image_and_scratch_start_the_same_session(cache):
    """Promise: a start from an image gives the same interpreter as a start
    from scratch (--no-image): the same modules imported, sys.path, flags,
    environment, handlers and IPython shell; and the tour notebook gives
    the same outputs on both."""
    cache.prepare()
    cwd = harness.new_workdir()
    got = {}
    for how, args in (("restored", ()), ("none: not asked to use one", ("--no-image",))):
        k, log = cache.start(*args, cwd=cwd)
        try:
            assert how_started(log) == [how], open(log).read()
            got[how] = state(k)
        finally:
            k.shutdown()
    image, scratch = got["restored"], got["none: not asked to use one"]
    assert image.keys() == scratch.keys()
    for key in image:
        assert image[key] == scratch[key], f"{key} differs: image {image[key]!r}, scratch {scratch[key]!r}"

    import nbformat
    from nbclient import NotebookClient
    outputs = {}
    for args in ((), ("--no-image",)):
        nb = nbformat.read(TOUR, as_version=4)
        client = NotebookClient(nb, kernel_name=harness.KERNEL_NAME, timeout=120,
                                startup_timeout=harness.START_TIMEOUT, allow_errors=True,
                                extra_arguments=list(args), resources={"metadata": {"path": cwd}})
        client.execute(env=cache.env)
        nb.metadata.kernelspec.name = "wasipy"
        check_tour(nb)
        outputs[args] = [[o.get("text") or o.get("data", {}).get("text/plain") or o.get("ename")
                          for o in c.outputs] for c in nb.cells if c.cell_type == "code"]
    assert outputs[()] == outputs[("--no-image",)]


def _with_custom_section(src, dst):
    """dst: src plus a custom section, as a rebuilt interpreter would differ."""
    with open(src, "rb") as f:
        b = f.read()
    name = b"wasipy-test"
    payload = bytes([len(name)]) + name + os.urandom(16)
    with open(dst, "wb") as f:
        f.write(b + bytes([0, len(payload)]) + payload)


def _wait_for(pred, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_changed_interpreter_gets_a_new_image(cache, tmp_path):
    """Promise: an image is only used by the interpreter it was taken of. A
    changed python.wasm starts from scratch (the old image is not used),
    a new image is taken in the background, and the next start uses it."""
    wasm = harness.setup_env()["python_wasm"]
    inst = tmp_path / "python"
    shutil.copytree(os.path.dirname(wasm), inst)
    copy = str(inst / "python.wasm")
    cache.prepare(copy)
    assert len(cache.images()) == 1
    old = cache.images()

    _with_custom_section(wasm, copy)  # a new build of the interpreter
    k, log = cache.start("--python-wasm", copy)
    try:
        assert how_started(log)[0].startswith("none: no image"), open(log).read()
        assert k.ok("print(6 * 7)").stdout == "42\n"
        # Taken in the background while the kernel runs.
        _wait_for(lambda: set(cache.images()) - set(old), "a new image")
    finally:
        k.shutdown()
    k, log = cache.start("--python-wasm", copy)
    try:
        assert how_started(log) == ["restored"], open(log).read()
        assert k.ok("print(6 * 7)").stdout == "42\n"
    finally:
        k.shutdown()


def test_corrupt_image_is_discarded_and_rebuilt(cache):
    """Promise: an image whose bytes changed is never used: the start
    logs it as discarded, runs from scratch, and a new image is taken for
    the next start."""
    cache.prepare()
    [name] = cache.images()
    path = os.path.join(cache.dir, name)
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(st.st_size - 100)
        f.write(b"\xff" * 8)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    k, log = cache.start()
    try:
        text = open(log).read()
        assert re.search(r"discarded " + re.escape(name) + r": contents differ", text), text
        assert how_started(log)[0].startswith("none:"), text
        assert k.ok("print('fine')").stdout == "fine\n"
        _wait_for(lambda: cache.images() == [name], "the image taken again")
    finally:
        k.shutdown()
    k, log = cache.start()
    try:
        assert how_started(log) == ["restored"], open(log).read()
    finally:
        k.shutdown()


def test_snapshot_save_and_start_from_it(cache):
    """Promise: `%snapshot save NAME` keeps the session's interpreter (its
    variables, functions, imports) and the cell that asked gets its reply
    after the image is taken; a kernel started with --snapshot NAME begins
    with that state, in its own folder, with fresh random state; the
    session that saved it goes on unchanged."""
    cache.prepare()
    k, log = cache.start()
    try:
        r = k.ok("import math, random\nbig = [i * i for i in range(50000)]\ndef f(x):\n    return x + 1\n"
                 "secret = 'kept'\n%snapshot save mine\nprint('cell went on')")
        assert "cell went on" in r.stdout
        assert re.search(r"Saved snapshot 'mine' \([0-9.]+ MiB\)", r.stdout), r.stdout
        assert r.stdout.index("cell went on") < r.stdout.index("Saved snapshot"), r.stdout
        assert k.ok("print(secret, f(1))").stdout == "kept 2\n"  # the saver goes on
        # Without a new seed, a kernel from the snapshot would draw this.
        mine = k.ok("print(random.random())").stdout
    finally:
        k.shutdown()
    k, log = cache.start("--snapshot", "mine")
    try:
        assert how_started(log) == ["restored snapshot mine"], open(log).read()
        assert k.ok("print(secret, f(41), len(big), round(math.pi, 2))").stdout == "kept 42 50000 3.14\n"
        assert k.ok("import os; print(os.getcwd())").stdout == os.path.realpath(k.cwd) + "\n"
        assert k.ok("print(random.random())").stdout != mine
    finally:
        k.shutdown()


def test_snapshot_refuses_what_lives_outside(cache):
    """Promise: a session holding an open file is not saved (a clear error
    names the file and nothing is written); a bad name is refused; a
    kernel asked for a snapshot that does not exist starts fresh and logs
    why."""
    k, log = cache.start()
    try:
        r = k.execute("f = open('data.txt', 'w')\n%snapshot save held")
        assert r.status == "error", r
        assert "open files ('data.txt')" in r.reply["evalue"], r.reply
        r = k.execute("%snapshot save ../../etc")
        assert r.status == "error" and "is not a snapshot name" in r.reply["evalue"], r.reply
        k.ok("f.close()")
        assert "Saved snapshot 'held'" in k.ok("%snapshot save held").stdout
    finally:
        k.shutdown()
    snaps = os.path.join(cache.env["WASIPY_DATA_DIR"], "snapshots")
    assert sorted(f for f in os.listdir(snaps) if f.endswith(".img")) == ["snapshot-held.img"]
    k, log = cache.start("--snapshot", "nosuch")
    try:
        assert k.ok("print('fresh')").stdout == "fresh\n"
        assert "starting without the snapshot: none: no snapshot nosuch" in open(log).read()
    finally:
        k.shutdown()


def test_snapshots_count_against_the_disk_quota(cache):
    """Promise: what a snapshot writes counts against the session's disk
    quota, so a loop of snapshots cannot fill the host's disk: past the
    quota, %snapshot save says so and writes nothing."""
    k, log = cache.start("--disk-quota", "4M")
    try:
        r = k.ok("%snapshot save big")
        assert "not saved: the session's disk quota (--disk-quota) has no room" in r.stderr, (r.stdout, r.stderr)
        assert "Saved snapshot" not in r.stdout
    finally:
        k.shutdown()
    snaps = os.path.join(cache.env["WASIPY_DATA_DIR"], "snapshots")
    assert not os.path.isdir(snaps) or not [f for f in os.listdir(snaps) if f.endswith(".img")]
