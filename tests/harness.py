"""Shared machinery for wasipy's end-to-end tests.

Builds (or finds) the kernel binary, writes its kernelspec into a private
Jupyter path, starts kernels with jupyter_client, and collects the messages
of one request: its reply and every iopub message whose parent is that
request, up to the idle status. No test here waits by sleeping: every wait
is for a message, with a deadline.
"""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from queue import Empty

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_NAME = "wasipy"

# Generous deadlines: a 2-core machine running other builds at the same time.
START_TIMEOUT = 120
REQUEST_TIMEOUT = 120

# Every process started for this test session (kernels, their interpreter
# workers, nbconvert, console) inherits this variable, so leaked processes
# can be found even when the binary is shared with other users.
SESSION_MARK_VAR = "WASIPY_TEST_SESSION"
# A host variable that must never be visible inside the sandbox.
HOST_MARKER_VAR = "WASIPY_TEST_HOST_SECRET"

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text):
    return ANSI.sub("", text)


class SetupError(Exception):
    """The test environment cannot be prepared (reported as a failure)."""


_env = None


def _find_go():
    go = shutil.which("go")
    if go:
        return go
    if os.path.exists("/usr/local/go/bin/go"):
        return "/usr/local/go/bin/go"
    raise SetupError("WASIPY_KERNEL is not set and no `go` was found in PATH or /usr/local/go/bin to build it")


def _python_wasm():
    wasm = os.environ.get("WASIPY_PYTHON_WASM")
    if not wasm:
        data = os.environ.get("WASIPY_DATA_DIR")
        if not data:
            xdg = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
            data = os.path.join(xdg, "wasipy")
        # As interp.DefaultPythonWasm: the built interpreter when it is
        # installed, else the npm one (install.sh --prebuilt).
        wasm = os.path.join(data, "python3.13", "python.wasm")
        if not os.path.isfile(wasm):
            wasm = os.path.join(data, "python.wasm")
        how = "the default location (set WASIPY_PYTHON_WASM, or run ./install.sh)"
    else:
        how = "WASIPY_PYTHON_WASM"
    if not os.path.isfile(wasm):
        raise SetupError(f"python.wasm not found at {wasm} (from {how})")
    return os.path.abspath(wasm)


def built_python_version(wasm):
    """The "3.NN" of an interpreter laid out as build/python/build.sh installs
    it (python.wasm beside lib/python3NN.zip), else None (e.g. the npm build,
    which carries no such stdlib)."""
    lib = os.path.join(os.path.dirname(wasm), "lib")
    try:
        names = os.listdir(lib)
    except OSError:
        return None
    for n in names:
        m = re.fullmatch(r"python3(\d+)\.zip", n)
        if m:
            return f"3.{m.group(1)}"
    return None


def setup_env():
    """Prepare the session once: kernel binary, kernelspec, Jupyter paths.

    Returns a dict with "kernel", "python_wasm", "jupyter_path", "root".
    Raises SetupError with a one-line reason when something is missing.
    """
    global _env
    if _env is not None:
        return _env
    root = tempfile.mkdtemp(prefix="wasipy-e2e-")
    wasm = _python_wasm()

    kernel = os.environ.get("WASIPY_KERNEL")
    if kernel:
        kernel = os.path.abspath(kernel)
        if not os.access(kernel, os.X_OK):
            raise SetupError(f"WASIPY_KERNEL={kernel} is not an executable file")
    else:
        kernel = os.path.join(root, "bin", "wasipy-kernel")
        go = _find_go()
        # Built as install.sh builds it (static: CGO_ENABLED=0).
        proc = subprocess.run(
            [go, "build", "-o", kernel, "./cmd/kernel"],
            cwd=REPO, capture_output=True, text=True, timeout=600,
            env={**os.environ, "CGO_ENABLED": "0"},
        )
        if proc.returncode != 0:
            raise SetupError(f"go build ./cmd/kernel failed:\n{proc.stderr}")

    jupyter_path = os.path.join(root, "jupyter")
    spec_dir = os.path.join(jupyter_path, "kernels", KERNEL_NAME)
    # The kernelspec names the interpreter the session runs, as install.sh's
    # does (tests compare what Jupyter shows with the kernel's real version).
    spec_args = ["--python-wasm", wasm]
    version = built_python_version(wasm)
    if version:
        spec_args += ["--display-name", f"Python {version} (wasipy)"]
    proc = subprocess.run(
        [kernel, "kernelspec", "--write", spec_dir] + spec_args,
        capture_output=True, text=True, timeout=60,
    )
    if proc.returncode != 0:
        raise SetupError(f"`wasipy-kernel kernelspec --write` failed:\n{proc.stdout}{proc.stderr}")
    if not os.path.isfile(os.path.join(spec_dir, "kernel.json")):
        raise SetupError(f"`wasipy-kernel kernelspec --write {spec_dir}` wrote no kernel.json")

    os.environ["JUPYTER_PATH"] = jupyter_path
    os.environ["JUPYTER_DATA_DIR"] = os.path.join(root, "jupyter-data")
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(root, "jupyter-runtime")
    os.environ["JUPYTER_CONFIG_DIR"] = os.path.join(root, "jupyter-config")
    os.environ["IPYTHONDIR"] = os.path.join(root, "ipython")
    os.environ[SESSION_MARK_VAR] = uuid.uuid4().hex
    os.environ[HOST_MARKER_VAR] = "host-secret-" + uuid.uuid4().hex
    os.environ["WASIPY_PYTHON_WASM"] = wasm
    # This run's kernels share one history, never the user's or another run's.
    os.environ.setdefault("WASIPY_HISTORY_DIR", os.path.join(root, "history"))
    for d in ("jupyter-data", "jupyter-runtime", "jupyter-config", "ipython"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    display_name = load_json(os.path.join(spec_dir, "kernel.json"))["display_name"]
    _env = {"kernel": kernel, "python_wasm": wasm, "jupyter_path": jupyter_path, "root": root,
            "display_name": display_name}
    return _env


def new_workdir(prefix="kernel-cwd-"):
    """A fresh working directory for one kernel, under the session root."""
    root = setup_env()["root"]
    return os.path.realpath(tempfile.mkdtemp(prefix=prefix, dir=root))


# ---- processes -------------------------------------------------------------


def process_tree(pid):
    """The process and all its descendants, as psutil.Process objects."""
    try:
        p = psutil.Process(pid)
        return [p] + p.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs):
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def session_processes():
    """Live processes started with this session's mark in their environment."""
    mark = os.environ.get(SESSION_MARK_VAR)
    me = os.getpid()
    found = []
    if not mark:
        return found
    for p in psutil.process_iter(["pid"]):
        if p.pid == me:
            continue
        try:
            if p.environ().get(SESSION_MARK_VAR) == mark and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def describe(procs):
    out = []
    for p in procs:
        try:
            out.append(f"pid {p.pid} {p.cmdline()}")
        except psutil.Error:
            out.append(f"pid {p.pid}")
    return ", ".join(out)


# ---- one request's messages -------------------------------------------------


class Result:
    """An execute (or other) request's reply and its iopub messages."""

    def __init__(self, msg_id, reply, iopub):
        self.msg_id = msg_id
        self.reply_msg = reply
        self.reply = reply["content"] if reply else None
        self.iopub = iopub  # every iopub message with this parent, busy..idle

    @property
    def status(self):
        return self.reply["status"]

    @property
    def count(self):
        return self.reply.get("execution_count")

    def of_type(self, msg_type):
        return [m for m in self.iopub if m["msg_type"] == msg_type]

    def stream_text(self, name):
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name)

    @property
    def stdout(self):
        return self.stream_text("stdout")

    @property
    def stderr(self):
        return self.stream_text("stderr")

    @property
    def results(self):
        return [m["content"] for m in self.of_type("execute_result")]

    @property
    def errors(self):
        return [m["content"] for m in self.of_type("error")]

    def result_text(self):
        rs = self.results
        assert len(rs) == 1, f"expected one execute_result, got {rs!r} (iopub: {self.summary()})"
        return rs[0]["data"]["text/plain"]

    def summary(self):
        return [(m["msg_type"], m["content"]) for m in self.iopub]

    def __repr__(self):
        return f"Result(reply={self.reply!r}, iopub={self.summary()!r})"


class Kernel:
    """A started kernel with a blocking client, and message routing by parent.

    Messages for requests other than the one being waited for are kept, so
    tests may send several requests before collecting any of them.
    """

    def __init__(self, km, kc, cwd):
        self.km = km
        self.kc = kc
        self.cwd = cwd
        self._iopub = defaultdict(list)  # parent msg_id -> [msg]
        self._replies = {}  # parent msg_id -> reply msg

    # -- starting and stopping --

    @classmethod
    def start(cls, cwd=None, configure=None, manager_kwargs=None, **kwargs):
        """Start a kernel in `cwd` (a fresh temp dir by default).
        manager_kwargs go to KernelManager (e.g. transport="ipc"); configure
        is called with the manager before the start (e.g. to change the key)."""
        setup_env()
        from jupyter_client.manager import KernelManager

        cwd = cwd or new_workdir()
        km = KernelManager(kernel_name=KERNEL_NAME, **(manager_kwargs or {}))
        if configure:
            configure(km)
        km.start_kernel(cwd=cwd, **kwargs)
        kc = km.client()
        kc.start_channels()
        k = cls(km, kc, cwd)
        try:
            kc.wait_for_ready(timeout=START_TIMEOUT)
        except BaseException:
            k.shutdown(check=False)
            raise
        # wait_for_ready leaves its kernel_info traffic behind; drop it.
        k.drain()
        return k

    @property
    def pid(self):
        return self.km.provisioner.process.pid

    def tree(self):
        return process_tree(self.pid)

    def shutdown(self, check=True):
        """Shut the kernel down through the protocol and check that the
        kernel process and its interpreter worker(s) are gone."""
        procs = []
        try:
            if self.km.has_kernel:
                procs = self.tree()
        except Exception:
            pass
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        try:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
        finally:
            _, left = psutil.wait_procs(alive(procs), timeout=15)
            left = alive(left)
            for p in left:
                try:
                    p.kill()
                except psutil.Error:
                    pass
            if check and left:
                raise AssertionError(f"processes left running after kernel shutdown: {describe(left)}")

    # -- low-level routing --

    def _pump_iopub(self, timeout):
        msg = self.kc.get_iopub_msg(timeout=timeout)
        msg["_arrived"] = time.monotonic()
        parent = msg.get("parent_header", {}).get("msg_id")
        self._iopub[parent].append(msg)
        return msg

    def drain(self, quiet=0.2):
        """Drop whatever is waiting on iopub and shell right now."""
        for get in (self.kc.get_iopub_msg, self.kc.get_shell_msg):
            while True:
                try:
                    get(timeout=quiet)
                except Empty:
                    break
        self._iopub.clear()
        self._replies.clear()

    def iopub_for(self, msg_id, timeout=REQUEST_TIMEOUT):
        """All iopub messages whose parent is msg_id, through its idle status."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            msgs = self._iopub[msg_id]
            for m in msgs[seen:]:
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    del self._iopub[msg_id]
                    return msgs
            seen = len(msgs)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no idle status for {msg_id} within {timeout}s; got so far: "
                    f"{[(m['msg_type'], m['content']) for m in msgs]}"
                )
            try:
                self._pump_iopub(timeout=min(left, 1.0))
            except Empty:
                pass

    def reply_for(self, msg_id, channel="shell", timeout=REQUEST_TIMEOUT):
        if msg_id in self._replies:
            return self._replies.pop(msg_id)
        get = self.kc.get_shell_msg if channel == "shell" else self.kc.get_control_msg
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {channel} reply to {msg_id} within {timeout}s")
            try:
                msg = get(timeout=left)
            except Empty:
                continue
            msg["_arrived"] = time.monotonic()
            parent = msg["parent_header"].get("msg_id")
            if parent == msg_id:
                return msg
            self._replies[parent] = msg

    def send(self, msg_type, content=None, channel="shell"):
        msg = self.kc.session.msg(msg_type, content or {})
        getattr(self.kc, f"{channel}_channel").send(msg)
        return msg["header"]["msg_id"]

    def request(self, msg_type, content=None, channel="shell", timeout=REQUEST_TIMEOUT):
        """Send a request and collect its reply and its iopub messages."""
        msg_id = self.send(msg_type, content, channel)
        reply = self.reply_for(msg_id, channel, timeout)
        iopub = self.iopub_for(msg_id, timeout)
        return Result(msg_id, reply, iopub)

    # -- execute --

    def execute_async(self, code, **kwargs):
        return self.kc.execute(code, **kwargs)

    def collect(self, msg_id, timeout=REQUEST_TIMEOUT):
        """Reply and iopub messages of an execute sent with execute_async."""
        iopub = self.iopub_for(msg_id, timeout)
        reply = self.reply_for(msg_id, "shell", timeout)
        return Result(msg_id, reply, iopub)

    def wait_for_output(self, msg_id, text="", timeout=60):
        """Wait until the running request msg_id has printed `text` on a
        stream (with no text: any stream output), i.e. it got that far."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = [m for m in self._iopub[msg_id] if m["msg_type"] == "stream"]
            if msgs and text in "".join(m["content"].get("text", "") for m in msgs):
                return
            assert time.monotonic() < deadline, f"the cell never printed {text!r}"
            try:
                self._pump_iopub(timeout=0.5)
            except Empty:
                pass

    def execute(self, code, timeout=REQUEST_TIMEOUT, **kwargs):
        return self.collect(self.execute_async(code, **kwargs), timeout)

    def ok(self, code, timeout=REQUEST_TIMEOUT, **kwargs):
        """Execute and assert the reply is ok."""
        r = self.execute(code, timeout=timeout, **kwargs)
        assert r.status == "ok", f"cell failed: {code!r}\n{r!r}"
        return r

    def value(self, code, timeout=REQUEST_TIMEOUT):
        """The text/plain of a cell's execute_result."""
        return self.ok(code, timeout=timeout).result_text()

    def eval(self, expr, timeout=REQUEST_TIMEOUT):
        """Evaluate an expression in the kernel and return it as a Python
        value (round trip through json)."""
        r = self.ok(f"import json as _j\nprint(_j.dumps({expr}))", timeout=timeout)
        return json.loads(r.stdout)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@contextlib.contextmanager
def ipykernel_reference(prefix="ipykernel-cwd-"):
    """Debian's ipykernel (python3-ipykernel, which tests/deps.sh installs),
    run by this Python, as the reference the comparing tests hold wasipy to.
    Its kernelspec is given here rather than looked up as "python3": a test
    may have installed wasipy under that name. Without ipykernel the
    comparison cannot run, and the test fails rather than skip. Yields
    (KernelManager, client) and leaves no process behind."""
    try:
        import ipykernel  # noqa: F401
    except ImportError:
        import pytest
        pytest.fail("Debian's python3-ipykernel is needed (tests/deps.sh installs it)", pytrace=False)
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    km = KernelManager()
    km._kernel_spec = KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name="ipykernel (reference)", language="python")
    km.start_kernel(cwd=new_workdir(prefix))
    procs = process_tree(km.provisioner.process.pid)
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=START_TIMEOUT)
        # Drop what wait_for_ready left behind.
        for get in (kc.get_iopub_msg, kc.get_shell_msg):
            while True:
                try:
                    get(timeout=0.2)
                except Empty:
                    break
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        _, left = psutil.wait_procs(alive(procs), timeout=30)
        for p in alive(left):
            p.kill()
