"""The visual debugger (debug_request / debug_event) beyond ipykernel's own
tests (test_debugger_ipykernel.py): stepping, variables paging, exception
breakpoints, conditional and hit-count breakpoints, log points, rich
inspection, and a stopped guest that keeps the control channel serving."""

import time
from queue import Empty

import pytest

import harness


class Session:
    """A DAP client over a harness.Kernel's control channel."""

    def __init__(self, k):
        self.k = k
        self.seq = 0

    def request(self, command, arguments=None, timeout=30):
        self.seq += 1
        msg_id = self.k.send("debug_request", {"type": "request", "seq": self.seq, "command": command,
                                               "arguments": arguments or {}}, channel="control")
        reply = self.k.reply_for(msg_id, "control", timeout)
        assert reply["msg_type"] == "debug_reply", reply
        c = reply["content"]
        assert c["type"] == "response" and c["command"] == command and c["request_seq"] == self.seq, c
        return c

    def ok(self, command, arguments=None):
        c = self.request(command, arguments)
        assert c["success"], c
        return c.get("body", {})

    def event(self, name, timeout=30):
        """The next debug_event called name (debug events have no parent)."""
        deadline = time.monotonic() + timeout
        while True:
            for m in list(self.k._iopub[None]):
                if m["msg_type"] == "debug_event" and m["content"]["event"] == name:
                    self.k._iopub[None].remove(m)
                    return m["content"]
            assert time.monotonic() < deadline, f"no {name} debug_event within {timeout}s"
            try:
                self.k._pump_iopub(timeout=0.5)
            except Empty:
                pass

    def start(self):
        self.ok("initialize", {"clientID": "test", "adapterID": "", "pathFormat": "path",
                               "linesStartAt1": True, "columnsStartAt1": True})
        self.ok("attach")
        return self

    def breakpoints(self, code, *lines, **extra):
        path = self.ok("dumpCell", {"code": code})["sourcePath"]
        self.ok("setBreakpoints", {"source": {"path": path},
                                   "breakpoints": [dict({"line": n}, **extra) for n in lines]})
        self.ok("configurationDone")
        return path

    def top(self):
        return self.ok("stackTrace", {"threadId": 1})["stackFrames"][0]

    def locals(self, frame_id, **paging):
        scopes = self.ok("scopes", {"frameId": frame_id})["scopes"]
        ref = next(s for s in scopes if s["name"] == "Locals")["variablesReference"]
        return self.ok("variables", dict({"variablesReference": ref}, **paging))["variables"]

    def step(self, command):
        self.ok(command, {"threadId": 1})
        return self.event("stopped")


@pytest.fixture
def dbg(wasipy_env):
    k = harness.Kernel.start()
    try:
        yield Session(k).start()
    finally:
        k.shutdown()


STEPS = """def inner(x):
    y = x * 2
    return y

def outer(a):
    b = inner(a)
    c = b + 1
    return c

r = outer(5)
"""


def test_kernel_info_advertises_the_debugger(shared_kernel):
    """Promise: kernel_info_reply says "debugger": true, so JupyterLab shows its debugger."""
    r = shared_kernel.request("kernel_info_request", channel="control")
    assert r.reply["debugger"] is True


def test_stepping_next_in_out(dbg):
    """Promise: next, stepIn and stepOut stop where a Python debugger does,
    and the stack and source paths name the dumped cell."""
    path = dbg.breakpoints(STEPS, 6)
    msg_id = dbg.k.execute_async(STEPS)
    stopped = dbg.event("stopped")
    assert stopped["body"]["reason"] == "breakpoint"
    frame = dbg.top()
    assert (frame["name"], frame["line"], frame["source"]["path"]) == ("outer", 6, path)
    assert dbg.step("stepIn")["body"]["reason"] == "step"
    assert (dbg.top()["name"], dbg.top()["line"]) == ("inner", 2)
    dbg.step("next")
    assert (dbg.top()["name"], dbg.top()["line"]) == ("inner", 3)
    dbg.step("stepOut")
    frame = dbg.top()
    assert frame["name"] == "outer" and frame["line"] in (6, 7), frame
    if frame["line"] == 6:  # back on the call's line, after the return
        dbg.step("next")
    assert (dbg.top()["name"], dbg.top()["line"]) == ("outer", 7)
    names = {v["name"]: v["value"] for v in dbg.locals(dbg.top()["id"])}
    assert names == {"a": "5", "b": "10"}
    assert dbg.ok("source", {"source": {"path": path}})["content"] == STEPS
    dbg.ok("continue", {"threadId": 1})
    r = dbg.k.collect(msg_id)
    assert r.status == "ok"
    assert dbg.k.value("r") == "11"


def test_variables_paging_and_children(dbg):
    """Promise: variables pages with start/count, and containers expand."""
    code = "def f():\n    big = list(range(1000))\n    d = {'k': [1, 2]}\n    return big\n\nf()\n"
    dbg.breakpoints(code, 4)
    msg_id = dbg.k.execute_async(code)
    dbg.event("stopped")
    frame = dbg.top()
    big = next(v for v in dbg.locals(frame["id"]) if v["name"] == "big")
    assert big["variablesReference"] > 0
    page = dbg.ok("variables", {"variablesReference": big["variablesReference"], "start": 500, "count": 3})
    assert [(v["name"], v["value"]) for v in page["variables"]] == [("500", "500"), ("501", "501"), ("502", "502")]
    d = next(v for v in dbg.locals(frame["id"]) if v["name"] == "d")
    children = dbg.ok("variables", {"variablesReference": d["variablesReference"]})["variables"]
    assert [(v["name"], v["value"]) for v in children] == [("'k'", "[1, 2]")]
    assert dbg.ok("evaluate", {"expression": "len(big) + 1", "frameId": frame["id"], "context": "watch"})["result"] == "1001"
    dbg.ok("copyToGlobals", {"srcVariableName": "d", "dstVariableName": "copied", "srcFrameId": frame["id"]})
    dbg.ok("continue")
    assert dbg.k.collect(msg_id).status == "ok"
    assert dbg.k.value("copied") == "{'k': [1, 2]}"


def test_exception_breakpoints(dbg):
    """Promise: with "raised", a caught exception stops where it is raised;
    with "uncaught", only an exception that leaves the cell stops, before
    the cell reports it."""
    code = ("def g():\n    try:\n        1 / 0\n    except ZeroDivisionError:\n        pass\n"
            "    raise KeyError('boom')\n\ng()\n")
    dbg.ok("dumpCell", {"code": code})
    dbg.ok("setExceptionBreakpoints", {"filters": ["raised"]})
    msg_id = dbg.k.execute_async(code)
    ev = dbg.event("stopped")
    assert ev["body"]["reason"] == "exception" and "ZeroDivisionError" in ev["body"]["text"]
    assert dbg.top()["line"] == 3
    dbg.ok("setExceptionBreakpoints", {"filters": ["uncaught"]})
    dbg.ok("continue")
    ev = dbg.event("stopped")
    assert ev["body"]["reason"] == "exception" and "KeyError" in ev["body"]["text"], ev
    assert dbg.top()["name"] == "<module>"
    dbg.ok("continue")
    r = dbg.k.collect(msg_id)
    assert r.status == "error" and r.reply["ename"] == "KeyError"


def test_conditional_hit_count_and_log_points(dbg):
    """Promise: a condition, a hit count and a log message are honoured."""
    code = "total = 0\nfor i in range(10):\n    total += i\n"
    path = dbg.breakpoints(code, 3, condition="i == 7")
    msg_id = dbg.k.execute_async(code)
    dbg.event("stopped")
    i = next(v for v in dbg.locals(dbg.top()["id"]) if v["name"] == "i")
    assert i["value"] == "7"
    dbg.ok("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 3, "hitCondition": "2"}]})
    dbg.ok("continue")
    dbg.event("stopped")  # the 2nd hit from now on: i == 9
    assert next(v for v in dbg.locals(dbg.top()["id"]) if v["name"] == "i")["value"] == "9"
    dbg.ok("continue")
    assert dbg.k.collect(msg_id).status == "ok"

    dbg.ok("setBreakpoints", {"source": {"path": dbg.ok("dumpCell", {"code": code})["sourcePath"]},
                              "breakpoints": [{"line": 3, "logMessage": "i is {i}"}]})
    msg_id = dbg.k.execute_async(code)
    assert dbg.k.collect(msg_id).status == "ok"
    outputs = [dbg.event("output")["body"]["output"] for _ in range(10)]
    assert outputs == [f"i is {n}\n" for n in range(10)]


def test_rich_inspection_at_a_breakpoint(dbg):
    """Promise: richInspectVariables gives a variable's MIME bundle (its
    _repr_html_ too), stopped or not."""
    code = ("class Rich:\n    def _repr_html_(self):\n        return '<b>rich</b>'\n\n"
            "def f():\n    thing = Rich()\n    return thing\n\nkept = f()\n")
    dbg.breakpoints(code, 7)
    msg_id = dbg.k.execute_async(code)
    dbg.event("stopped")
    body = dbg.ok("richInspectVariables", {"variableName": "thing", "frameId": dbg.top()["id"]})
    assert body["data"]["text/html"] == "<b>rich</b>"
    dbg.ok("continue")
    assert dbg.k.collect(msg_id).status == "ok"
    body = dbg.ok("richInspectVariables", {"variableName": "kept"})
    assert body["data"]["text/html"] == "<b>rich</b>"
    assert "kept" in [v["name"] for v in dbg.ok("inspectVariables")["variables"]]


def test_breakpoint_in_a_file_of_the_working_directory(dbg):
    """Promise: breakpoints in a module on the working directory stop there."""
    import os
    with open(os.path.join(dbg.k.cwd, "helper.py"), "w") as f:
        f.write("def double(x):\n    y = x * 2\n    return y\n")
    dbg.k.ok("import helper")
    path = dbg.k.eval("helper.__file__")
    dbg.ok("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 2}]})
    msg_id = dbg.k.execute_async("helper.double(21)")
    dbg.event("stopped")
    frame = dbg.top()
    assert (frame["source"]["path"], frame["line"], frame["name"]) == (path, 2, "double")
    assert "y = x * 2" in dbg.ok("source", {"source": {"path": path}})["content"]
    dbg.ok("continue")
    assert dbg.k.collect(msg_id).result_text() == "42"


def test_control_serves_while_stopped_and_interrupt_ends_the_cell(dbg):
    """Promise: while stopped at a breakpoint, kernel_info and more debug
    requests are answered; an interrupt ends the cell with KeyboardInterrupt
    and the session's variables survive."""
    dbg.k.ok("before = 'kept'")
    code = "def f():\n    x = 1\n    return x\n\nf()\n"
    dbg.breakpoints(code, 2)
    msg_id = dbg.k.execute_async(code)
    dbg.event("stopped")
    t0 = time.monotonic()
    r = dbg.k.request("kernel_info_request", channel="control", timeout=5)
    assert r.reply["status"] == "ok" and time.monotonic() - t0 < 5
    info = dbg.ok("debugInfo")
    assert info["stoppedThreads"] == [1] and info["isStarted"]
    dbg.k.request("interrupt_request", channel="control")
    r = dbg.k.collect(msg_id)
    assert r.status == "error" and r.reply["ename"] == "KeyboardInterrupt", r
    dbg.event("continued")
    assert dbg.ok("debugInfo")["stoppedThreads"] == []
    assert dbg.k.value("before") == "'kept'"


def test_disconnect_while_stopped_resumes_the_cell(dbg):
    """Promise: disconnect while stopped lets the cell finish normally and
    detaches the debugger (breakpoints no longer stop)."""
    code = "def f():\n    x = 41\n    return x + 1\n\nf()\n"
    dbg.breakpoints(code, 2)
    msg_id = dbg.k.execute_async(code)
    dbg.event("stopped")
    dbg.ok("disconnect", {"restart": False, "terminateDebuggee": True})
    assert dbg.k.collect(msg_id).result_text() == "42"
    assert dbg.k.execute(code, timeout=20).result_text() == "42"
    assert dbg.ok("debugInfo")["isStarted"] is False


def test_detached_debugger_turns_every_event_off(dbg):
    """Promise: a debugger attached with no breakpoint has no sys.monitoring
    event on; breakpoints turn on only PY_START; after disconnect the tool
    id is given back and nothing is monitored (detached costs nothing)."""
    probe = "import sys\n(sys.monitoring.get_tool(sys.monitoring.DEBUGGER_ID), sys.monitoring.get_events(sys.monitoring.DEBUGGER_ID))"
    assert dbg.k.value(probe) == "('wasipy debugger', 0)"
    dbg.breakpoints("x = 1\ny = 2\n", 2)
    assert dbg.k.value(probe) == "('wasipy debugger', 1)"  # PY_START (1 on 3.12 and 3.13)
    dbg.ok("setExceptionBreakpoints", {"filters": ["raised"]})
    assert dbg.k.value(probe) == dbg.k.value("sys.monitoring.events.PY_START | sys.monitoring.events.RAISE").join(
        ("('wasipy debugger', ", ")"))
    dbg.ok("disconnect", {"restart": False, "terminateDebuggee": True})
    assert dbg.k.value(probe) == "(None, 0)"


def test_unknown_and_unstarted_requests_fail_cleanly(shared_kernel):
    """Promise: a request before initialize, or of an unknown command, is
    a DAP failure and the kernel keeps serving."""
    s = Session(shared_kernel)
    assert s.request("stackTrace", {"threadId": 1})["success"] is False
    assert s.request("noSuchCommand")["success"] is False
    assert shared_kernel.value("1 + 1") == "2"


def test_pause_stops_a_running_cell_without_interrupting_it(dbg):
    """Promise: pause stops a cell that spins without a breakpoint (the
    kernel rings the guest; no KeyboardInterrupt), its variables can be
    changed from the debugger, and continue lets it finish normally."""
    code = ("import time\nstart = time.time()\nn = 0\n"
            "while time.time() - start < 60:\n    n += 1\n")
    dbg.ok("dumpCell", {"code": code})
    dbg.ok("configurationDone")
    msg_id = dbg.k.execute_async(code)
    time.sleep(1)
    t0 = time.monotonic()
    dbg.ok("pause", {"threadId": 1})
    ev = dbg.event("stopped", timeout=10)
    assert ev["body"]["reason"] == "pause" and time.monotonic() - t0 < 10
    frame = dbg.top()
    assert frame["line"] in (4, 5), frame
    assert int(dbg.ok("evaluate", {"expression": "n", "frameId": frame["id"]})["result"]) > 0
    dbg.ok("evaluate", {"expression": "start = 0", "frameId": frame["id"], "context": "repl"})
    dbg.ok("continue")
    r = dbg.k.collect(msg_id, timeout=20)
    assert r.status == "ok", r
    # A pause with no cell running does nothing, and no later cell stops.
    dbg.ok("pause", {"threadId": 1})
    assert dbg.k.execute("1 + 1", timeout=10).result_text() == "2"


def test_step_out_of_the_cell_does_not_stop_the_next_one(dbg):
    """Promise: stepOut runs to the caller (not to the next line of the
    same function), and a step that runs off the end of a cell does not
    stop the next cell."""
    code = "def f():\n    a = 1\n    b = 2\n    return a + b\n\nv = f()\nw = v\n"
    path = dbg.breakpoints(code, 2)
    msg_id = dbg.k.execute_async(code)
    dbg.event("stopped")
    dbg.step("stepOut")
    frame = dbg.top()
    assert frame["name"] == "<module>" and frame["line"] in (6, 7), frame
    for _ in range(3):  # step on until the step runs off the end of the cell
        dbg.ok("next")
        try:
            dbg.event("stopped", timeout=2)
        except AssertionError:
            break
        # Past the cell's end only the kernel's and the standard library's
        # code runs: a step never stops there (whatever their code objects
        # name as their file; the npm 3.12's stdlib names its build tree).
        frame = dbg.top()
        assert frame["source"]["path"] == path, frame
    assert dbg.k.collect(msg_id).status == "ok"
    assert dbg.k.execute("x = 5\nx", timeout=10).result_text() == "5"
