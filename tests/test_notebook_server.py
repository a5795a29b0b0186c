"""wasipy behind a real notebook server (Debian's jupyter-notebook, 6.x), the
path JupyterLab and Notebook take: the kernelspec listed by /api/kernelspecs,
a kernel started with POST /api/kernels and driven through the server's
websocket (/api/kernels/<id>/channels, JSON messages with a "channel" field,
signed by the server), then interrupted, restarted and deleted through REST.
The kernel's processes, and the server's, must be gone at the end."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from datetime import datetime, timezone

import psutil
import pytest

import harness
from harness import strip_ansi

NOTEBOOK = "/usr/bin/jupyter-notebook"
NBCONVERT = "/usr/bin/jupyter-nbconvert"
TIMEOUT = harness.REQUEST_TIMEOUT  # any single wait, on a loaded machine
# How long jupyter_client waits for a kernel to exit after shutdown_request
# before it terminates it. Generous, so that "the kernel was terminated" in
# the server's log means the kernel ignored the request, not a slow machine.
SHUTDOWN_WAIT = 30


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running jupyter-notebook and a small REST client for it."""

    def __init__(self, proc, port, token, root, log_path):
        self.proc = proc
        self.port = port
        self.token = token
        self.root = root  # the server's notebook folder
        self.log_path = log_path
        self.base = f"http://127.0.0.1:{port}"
        self.seen = []  # every process of the server's tree, for the final check

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def api(self, method, path, body=None, timeout=TIMEOUT, expect=(200,)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        assert status in expect, (
            f"{method} {path} -> {status}: {raw[:500]!r}\nserver log:\n{self.log_tail()}")
        return json.loads(raw) if raw else None

    def kernel_procs(self, kernel_id):
        """The kernel process started for kernel_id (found by its connection
        file, kernel-<id>.json) and its descendants."""
        for p in harness.process_tree(self.proc.pid)[1:]:
            try:
                if any(a.endswith(f"kernel-{kernel_id}.json") for a in p.cmdline()):
                    return harness.process_tree(p.pid)
            except psutil.Error:
                pass
        return []


def _wait_gone(procs, what, timeout=SHUTDOWN_WAIT + 15):
    _, left = psutil.wait_procs(harness.alive(procs), timeout=timeout)
    left = harness.alive(left)
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    assert not left, f"{what}: still running: {harness.describe(left)}"


def assert_no_forced_shutdown(server, log_from):
    """jupyter_client (logging at debug) says "Kernel is taking too long to
    finish, terminating/killing" when a kernel did not exit on its own
    after shutdown_request within SHUTDOWN_WAIT."""
    forced = [l for l in server.log()[log_from:].splitlines() if "taking too long" in l]
    assert not forced, f"the server had to end the kernel, which ignored shutdown_request: {forced}"


@pytest.fixture(scope="module")
def server(wasipy_env):
    if not os.path.exists(NOTEBOOK):
        pytest.fail(f"{NOTEBOOK} is missing: install Debian's jupyter-notebook (tests/deps.sh does)", pytrace=False)
    token = uuid.uuid4().hex
    root = harness.new_workdir("notebook-root-")
    log_path = os.path.join(harness.setup_env()["root"], f"notebook-server-{token[:8]}.log")
    port = _free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [NOTEBOOK, "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
         f"--NotebookApp.token={token}", "--NotebookApp.password=",
         f"--notebook-dir={root}", "--NotebookApp.log_level=DEBUG",
         "--MappingKernelManager.kernel_info_timeout=120",
         f"--KernelManager.shutdown_wait_time={SHUTDOWN_WAIT}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    log.close()
    srv = Server(proc, port, token, root, log_path)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter-notebook exited with {proc.returncode}:\n{srv.log_tail()}", pytrace=False)
            try:
                info = srv.api("GET", "/api", timeout=5)
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter-notebook did not answer /api within {TIMEOUT}s:\n{srv.log_tail()}",
                                pytrace=False)
                try:  # a polling interval, which also notices an early exit
                    proc.wait(0.2)
                except subprocess.TimeoutExpired:
                    pass
        assert info["version"].startswith("6."), info
        yield srv
    finally:
        srv.seen += harness.process_tree(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down, then exits
            try:
                proc.wait(SHUTDOWN_WAIT + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
                pytest.fail(f"jupyter-notebook did not stop on SIGTERM:\n{srv.log_tail()}", pytrace=False)
        _wait_gone(srv.seen, "after the notebook server stopped", timeout=15)


class Channels:
    """A synchronous client of the server's kernel websocket.

    Every message received is kept, routed by (channel, parent msg_id), so
    tests may wait for any of them in any order, and a request's messages
    are exactly those whose parent is that request."""

    def __init__(self, server, kernel_id):
        self.server = server
        self.kernel_id = kernel_id
        self.session = uuid.uuid4().hex
        self.loop = asyncio.new_event_loop()
        self.conn = None
        self._pending = None
        self.msgs = defaultdict(list)  # (channel, parent msg_id) -> [msg]
        self.connect()

    @property
    def url(self):
        return (f"ws://127.0.0.1:{self.server.port}/api/kernels/{self.kernel_id}/channels"
                f"?session_id={self.session}&token={self.server.token}")

    def _run(self, coro):
        return self.loop.run_until_complete(coro)

    def connect(self):
        from tornado.websocket import websocket_connect

        async def go():
            return await asyncio.wait_for(websocket_connect(self.url, connect_timeout=TIMEOUT), TIMEOUT)

        self._pending = None
        self.conn = self._run(go())

    def close(self):
        """Close the websocket (waiting, bounded, for the server's close
        frame) and the event loop."""
        if self.conn is not None:
            self.conn.close()
            deadline = time.monotonic() + 10
            try:
                while time.monotonic() < deadline:
                    self._recv(min(1.0, deadline - time.monotonic()))
            except (ConnectionError, OSError):
                pass
            self.conn = None

        async def cancel_rest():
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self._run(cancel_rest())
        self._pending = None
        self.loop.close()

    def _recv(self, timeout):
        """One message (a dict), None on timeout; raises ConnectionError if
        the server closed the websocket."""
        if self.conn is None:
            raise ConnectionError("websocket closed")

        async def read():
            if self._pending is None:
                self._pending = asyncio.ensure_future(self.conn.read_message())
            # asyncio.wait does not cancel the read on timeout: it is kept
            # for the next call, so no message is lost.
            await asyncio.wait([self._pending], timeout=timeout)

        self._run(read())
        if not self._pending.done():
            return None
        raw, self._pending = self._pending.result(), None
        if raw is None:
            self.conn = None
            raise ConnectionError("the server closed the websocket")
        if isinstance(raw, bytes):  # a message with buffers: offsets, then the JSON part first
            n = int.from_bytes(raw[:4], "big")
            offsets = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(n)] + [len(raw)]
            raw = raw[offsets[0]:offsets[1]].decode()
        msg = json.loads(raw)
        self.msgs[(msg["channel"], msg["parent_header"].get("msg_id"))].append(msg)
        return msg

    def wait(self, channel, parent, pred, what, timeout=TIMEOUT):
        """The first message on channel with this parent for which pred is true."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.msgs[(channel, parent)]:
                if pred(m):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout}s; {channel} messages for {parent}: "
                                     f"{[(m['msg_type'], m['content']) for m in self.msgs[(channel, parent)]]}")
            self._recv(min(left, 1.0))

    def send(self, msg_type, content=None, channel="shell", parent=None):
        header = {
            "msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": self.session,
            "username": "test", "date": datetime.now(timezone.utc).isoformat(), "version": "5.3",
        }
        msg = {"header": header, "parent_header": parent or {}, "metadata": {},
               "content": content or {}, "channel": channel, "buffers": []}
        if self.conn is None:
            raise ConnectionError("websocket closed")

        async def write(data):
            await self.conn.write_message(data)

        self._run(write(json.dumps(msg)))
        return header["msg_id"]

    def reply(self, msg_id, channel="shell", timeout=TIMEOUT):
        return self.wait(channel, msg_id, lambda m: m["msg_type"].endswith("_reply"),
                         f"{channel} reply", timeout)

    def iopub(self, msg_id, timeout=TIMEOUT):
        """Every iopub message of a request, through its idle status."""
        self.wait("iopub", msg_id,
                  lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle",
                  "idle status", timeout)
        return self.msgs.pop(("iopub", msg_id))

    def request(self, msg_type, content=None, channel="shell", timeout=TIMEOUT):
        msg_id = self.send(msg_type, content, channel)
        reply = self.reply(msg_id, channel, timeout)
        return harness.Result(msg_id, reply, self.iopub(msg_id, timeout))

    def execute_async(self, code, allow_stdin=False):
        return self.send("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": allow_stdin, "stop_on_error": True})

    def collect(self, msg_id, timeout=TIMEOUT):
        reply = self.reply(msg_id, "shell", timeout)
        return harness.Result(msg_id, reply, self.iopub(msg_id, timeout))

    def execute(self, code, timeout=TIMEOUT, **kwargs):
        return self.collect(self.execute_async(code, **kwargs), timeout)

    def wait_ready(self, timeout=TIMEOUT):
        """Send kernel_info_request until one is answered on shell and its
        idle status arrives on iopub (after a restart, the server's iopub
        subscription reconnects in the background, and a frontend does the
        same). Reconnects if the server closed the websocket."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.conn is None:
                    self.connect()
                msg_id = self.send("kernel_info_request")
                self.reply(msg_id, timeout=max(1.0, deadline - time.monotonic()))
                self.iopub(msg_id, timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                return
            except (AssertionError, ConnectionError, OSError) as e:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the kernel did not become ready through the websocket: {e}")


@pytest.fixture(scope="module")
def kernel(server):
    """A kernel started by the server, with a websocket to it; deleted
    (if a test did not) at the end."""
    model = server.api("POST", "/api/kernels", {"name": "wasipy"}, expect=(201,))
    assert model["name"] == "wasipy", model
    kid = model["id"]
    procs = server.kernel_procs(kid)
    assert procs, f"no kernel process for {kid} under the server:\n{server.log_tail()}"
    server.seen += procs
    ch = None
    try:
        ch = Channels(server, kid)
        ch.wait_ready()
        yield ch
    finally:
        if ch is not None:
            ch.close()
        if any(k["id"] == kid for k in server.api("GET", "/api/kernels")):
            procs = server.kernel_procs(kid)
            server.api("DELETE", f"/api/kernels/{kid}", expect=(204,))
            _wait_gone(procs, "after DELETE /api/kernels/<id>")


# ---- the tests, in order --------------------------------------------------------


def test_kernelspecs_lists_wasipy(server):
    specs = server.api("GET", "/api/kernelspecs")
    assert "wasipy" in specs["kernelspecs"], sorted(specs["kernelspecs"])
    ks = specs["kernelspecs"]["wasipy"]
    assert ks["name"] == "wasipy"
    assert ks["spec"]["display_name"] == harness.setup_env()["display_name"]
    assert ks["spec"]["language"] == "python"
    assert ks["spec"]["interrupt_mode"] == "message"
    # The launcher shows the logos the server lists.
    for name, url in ks["resources"].items():
        req = urllib.request.Request(server.base + url, headers={"Authorization": f"token {server.token}"})
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            assert r.status == 200 and len(r.read()) > 100, (name, url)
    assert {"logo-32x32", "logo-64x64"} <= set(ks["resources"]), ks["resources"]


def test_kernel_info(kernel):
    r = kernel.request("kernel_info_request")
    assert r.reply_msg["channel"] == "shell"
    assert r.reply_msg["header"]["msg_type"] == "kernel_info_reply"
    info = r.reply
    assert info["status"] == "ok"
    assert info["implementation"] == "wasipy", info
    assert info["language_info"]["name"] == "python"
    assert [m["content"]["execution_state"] for m in r.iopub] == ["busy", "idle"]
    # kernel_info names the interpreter's real version.
    real = kernel.execute("import platform; platform.python_version()").result_text()
    assert real == repr(info["language_info"]["version"]), (real, info["language_info"])


def test_execute_stream_and_result(kernel):
    r = kernel.execute("print('hi'); 6*7")
    assert r.status == "ok", r
    assert r.reply_msg["header"]["msg_type"] == "execute_reply"
    assert all(m["channel"] == "iopub" for m in r.iopub)
    types = [m["msg_type"] for m in r.iopub]
    assert types[0] == "status" and r.iopub[0]["content"]["execution_state"] == "busy", types
    assert types[-1] == "status" and r.iopub[-1]["content"]["execution_state"] == "idle", types
    [inp] = r.of_type("execute_input")
    assert inp["content"]["code"] == "print('hi'); 6*7"
    assert r.stdout == "hi\n"
    assert types.index("stream") < types.index("execute_result"), types
    assert r.result_text() == "42"
    assert r.results[0]["execution_count"] == r.count == inp["content"]["execution_count"]


def test_display_html(kernel):
    r = kernel.execute("from IPython.display import HTML, display\ndisplay(HTML('<b>x</b>'))")
    assert r.status == "ok", r
    [d] = r.of_type("display_data")
    assert d["content"]["data"]["text/html"] == "<b>x</b>", d["content"]
    assert "text/plain" in d["content"]["data"]
    assert not r.results


def test_error(kernel):
    r = kernel.execute("1 / 0")
    assert r.status == "error"
    assert r.reply["ename"] == "ZeroDivisionError"
    [err] = r.errors
    assert err["ename"] == "ZeroDivisionError" and err["evalue"] == "division by zero"
    assert "1 / 0" in strip_ansi("\n".join(err["traceback"]))
    # The kernel goes on.
    assert kernel.execute("'after'").result_text() == "'after'"


def test_input_on_stdin_channel(kernel):
    mid = kernel.execute_async("v = input('?')\nprint('got', v)\nv", allow_stdin=True)
    req = kernel.wait("stdin", mid, lambda m: True, "input_request")
    assert req["msg_type"] == "input_request", req
    assert req["content"] == {"prompt": "?", "password": False}
    kernel.send("input_reply", {"value": "Zoë 🐍"}, channel="stdin", parent=req["header"])
    r = kernel.collect(mid)
    assert r.status == "ok", r
    assert r.stdout == "got Zoë 🐍\n"
    assert r.result_text() == "'Zoë 🐍'"


def test_interrupt_through_rest(kernel, server):
    assert kernel.execute("survives_interrupt = 'yes'").status == "ok"
    mid = kernel.execute_async("print('looping', flush=True)\nwhile True: pass")
    kernel.wait("iopub", mid, lambda m: m["msg_type"] == "stream" and "looping" in m["content"]["text"],
                "'looping' on stdout")
    server.api("POST", f"/api/kernels/{kernel.kernel_id}/interrupt", expect=(204,))
    r = kernel.collect(mid)
    assert r.status == "error", r
    assert r.reply["ename"] == "KeyboardInterrupt"
    [err] = r.errors
    assert err["ename"] == "KeyboardInterrupt"
    # The interpreter's state survived the interrupt.
    assert kernel.execute("survives_interrupt").result_text() == "'yes'"


def test_restart_through_rest(kernel, server):
    assert kernel.execute("kept_until_restart = 1").status == "ok"
    old = server.kernel_procs(kernel.kernel_id)
    assert old
    log_before = len(server.log())
    model = server.api("POST", f"/api/kernels/{kernel.kernel_id}/restart", expect=(200,))
    assert model["id"] == kernel.kernel_id
    _wait_gone(old, "the kernel's processes after a restart")
    new = server.kernel_procs(kernel.kernel_id)
    assert new and new[0].pid != old[0].pid, (old, new)
    server.seen += new
    assert_no_forced_shutdown(server, log_before)
    kernel.wait_ready()
    r = kernel.execute("kept_until_restart")
    assert r.status == "error" and r.reply["ename"] == "NameError", r
    assert r.count == 1, f"a fresh interpreter counts from 1, got {r.count}"
    assert kernel.execute("6*7").result_text() == "42"


def test_notebook_saved_and_run_by_nbconvert(server):
    nb = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "wasipy", "display_name": "Python 3.12 (wasipy)",
                                    "language": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "# wasipy"},
            {"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None, "outputs": [],
             "source": "import sys\nprint(sys.version_info[:2])"},
            {"cell_type": "code", "id": "c2", "metadata": {}, "execution_count": None, "outputs": [],
             "source": "sum(range(11))"},
        ],
    }
    saved = server.api("PUT", "/api/contents/t.ipynb", {"type": "notebook", "content": nb}, expect=(200, 201))
    assert saved["name"] == "t.ipynb" and saved["type"] == "notebook"
    assert os.path.exists(os.path.join(server.root, "t.ipynb"))
    if not os.path.exists(NBCONVERT):
        pytest.fail(f"{NBCONVERT} is missing: install Debian's jupyter-nbconvert (tests/deps.sh does)")
    proc = subprocess.run(
        [NBCONVERT, "--execute", "--to", "notebook", "--output", "t-run", "t.ipynb"],
        cwd=server.root, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"nbconvert failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    out = server.api("GET", "/api/contents/t-run.ipynb")
    cells = [c for c in out["content"]["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in cells] == [1, 2]
    [printed] = cells[0]["outputs"]
    assert printed["output_type"] == "stream" and printed["name"] == "stdout", printed
    assert re.fullmatch(r"\(3, \d+\)\n", printed["text"]), printed
    [res] = cells[1]["outputs"]
    assert res["output_type"] == "execute_result" and res["data"]["text/plain"] == "55", res


def test_session_for_a_notebook_in_a_subfolder(server):
    """What JupyterLab does on opening a notebook: POST /api/sessions, which
    starts the kernel in the notebook's folder; files saved next to the
    notebook are the kernel's, and the kernel's files are the server's.
    DELETE /api/sessions/<id> shuts the kernel down."""
    server.api("PUT", "/api/contents/sub", {"type": "directory"}, expect=(200, 201))
    server.api("PUT", "/api/contents/sub/data.txt", {"type": "file", "format": "text", "content": "numbers 1 2 3"},
               expect=(200, 201))
    sess = server.api("POST", "/api/sessions", {
        "path": "sub/s.ipynb", "name": "s.ipynb", "type": "notebook", "kernel": {"name": "wasipy"}},
        expect=(201,))
    assert sess["kernel"]["name"] == "wasipy", sess
    kid = sess["kernel"]["id"]
    procs = server.kernel_procs(kid)
    assert procs, f"no kernel process for the session:\n{server.log_tail()}"
    server.seen += procs
    ch = Channels(server, kid)
    try:
        ch.wait_ready()
        r = ch.execute("import os\nprint(os.getcwd())\nprint(open('data.txt').read())\n"
                       "open('from-kernel.txt', 'w').write('written in the sandbox')")
        assert r.status == "ok", r
        assert r.stdout == f"{os.path.join(server.root, 'sub')}\nnumbers 1 2 3\n"
        got = server.api("GET", "/api/contents/sub/from-kernel.txt?type=file&format=text")
        assert got["content"] == "written in the sandbox"
    finally:
        ch.close()
        log_before = len(server.log())
        server.api("DELETE", f"/api/sessions/{sess['id']}", expect=(204,))
        _wait_gone(procs, "the kernel's processes after DELETE /api/sessions/<id>")
    assert not any(k["id"] == kid for k in server.api("GET", "/api/kernels"))
    assert_no_forced_shutdown(server, log_before)


def test_delete_shuts_the_kernel_down(kernel, server):
    procs = server.kernel_procs(kernel.kernel_id)
    assert procs
    log_before = len(server.log())
    server.api("DELETE", f"/api/kernels/{kernel.kernel_id}", expect=(204,))
    _wait_gone(procs, "the kernel's processes after DELETE /api/kernels/<id>")
    assert not any(k["id"] == kernel.kernel_id for k in server.api("GET", "/api/kernels"))
    assert_no_forced_shutdown(server, log_before)
