"""pdb in a notebook (issue 15): breakpoint(), pdb.set_trace(), %debug and
%pdb run the debugger through input_requests on the stdin channel, as in
ipykernel; an interrupt while pdb waits ends it; quitting it ends the cell
as ipykernel's does. Where ipykernel behaves the same way, the same cells
run on Debian's ipykernel and the replies are compared."""

import time
from queue import Empty

import pytest

import harness
from harness import strip_ansi


class Session:
    """What a frontend sees of one cell driven through the debugger."""

    def __init__(self, reply, prompts, stdout, errors, replied_at=None):
        self.reply = reply  # execute_reply content
        self.replied_at = replied_at  # time.monotonic() when the reply came
        self.prompts = prompts  # input_request prompts, in order
        self.stdout = stdout
        self.errors = errors  # enames of error messages on iopub

    @property
    def status(self):
        return self.reply["status"]

    def __repr__(self):
        return f"<{self.status} prompts={self.prompts} errors={self.errors} stdout={self.stdout!r}>"


def drive(kc, code, answers, interrupt=None, timeout=120):
    """Run code with stdin allowed, answering its input_requests with
    answers in order; interrupt: called instead of answering once the
    answers are used up (None: a request past them fails the test)."""
    msg_id = kc.execute(code, allow_stdin=True)
    prompts, stdout, errors, reply = [], [], [], None
    answers = list(answers)
    deadline = time.monotonic() + timeout
    while reply is None:
        assert time.monotonic() < deadline, f"no reply to {code!r}; prompts {prompts}, stdout {''.join(stdout)!r}"
        try:
            m = kc.get_stdin_msg(timeout=0.05)
            prompts.append(m["content"]["prompt"])
            if answers:
                kc.input(answers.pop(0))
            elif interrupt is not None:
                interrupt()
            else:
                pytest.fail(f"unexpected input_request {m['content']} for {code!r}; stdout {''.join(stdout)!r}")
        except Empty:
            pass
        while True:
            try:
                m = kc.get_iopub_msg(timeout=0.01)
            except Empty:
                break
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                stdout.append(m["content"]["text"])
            elif m["msg_type"] == "error":
                errors.append(m["content"]["ename"])
        try:
            r = kc.get_shell_msg(timeout=0.01)
            if r["parent_header"]["msg_id"] == msg_id:
                reply, replied_at = r["content"], time.monotonic()
        except Empty:
            pass
    # Output sent before the reply may still be on its way.
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        try:
            m = kc.get_iopub_msg(timeout=0.05)
        except Empty:
            continue
        if m["parent_header"].get("msg_id") == msg_id:
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                stdout.append(m["content"]["text"])
            elif m["msg_type"] == "error":
                errors.append(m["content"]["ename"])
    return Session(reply, prompts, strip_ansi("".join(stdout)), errors, replied_at)


@pytest.fixture(scope="module")
def ipykernel(wasipy_env):
    """Debian's ipykernel, the reference."""
    with harness.ipykernel_reference() as (km, kc):
        yield km, kc


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


DEFINE = "def f(x):\n    y = x + 1\n    return y * 2\n"


def test_breakpoint_steps_through_code_with_input_requests(k):
    """Promise: breakpoint() in a cell stops in pdb, which asks for each
    command with an input_request ("(Pdb) "); `p`, `n`, `s` and `c` step
    through the cell and into a function of an earlier cell, showing its
    lines, and the cell then finishes normally."""
    k.ok(DEFINE)
    s = drive(k.kc, "a = 1\nbreakpoint()\nb = f(a)\nprint('b is', b)", ["p a", "n", "s", "n", "n", "p y", "c"])
    assert s.status == "ok", s
    assert s.prompts == ["(Pdb) "] * 7, s
    out = s.stdout
    assert "-> b = f(a)" in out and "--Call--" in out and "-> y = x + 1" in out and "-> return y * 2" in out, out
    assert "\n1\n" in out and "\n2\n" in out, f"`p a` and `p y` printed no values: {out!r}"
    assert out.endswith("b is 4\n"), out
    # Stepping over the cell's last statement goes on to its last
    # expression (run as a block of its own) as if the cell were one frame,
    # and stepping off the cell's end lets the cell finish.
    s = drive(k.kc, "breakpoint()\nc1 = 1\nprint('c1', c1)", ["n", "n", "n"])
    assert s.status == "ok" and len(s.prompts) == 3, s
    assert "-> c1 = 1\n" in s.stdout and s.stdout.endswith("(3)<module>()\n-> print('c1', c1)\nc1 1\n"), s
    assert "--Return--" not in s.stdout and "--Call--" not in s.stdout, s
    # The debugger let go at the end of the cell: the next one runs untraced.
    assert k.value("import sys; sys.gettrace() is None") == "True"


def test_set_trace_and_quit_end_the_cell_as_ipykernel(k, ipykernel):
    """Promise: `q` in pdb.set_trace() ends the cell as in ipykernel: an
    execute_reply with status error and ename BdbQuit, and no traceback
    published; the kernel carries on."""
    _, ref_kc = ipykernel
    code = "import pdb; pdb.set_trace()\nnever = 1"
    ref = drive(ref_kc, code, ["q"])
    got = drive(k.kc, code, ["q"])
    for name, s in (("ipykernel", ref), ("wasipy", got)):
        assert (s.status, s.reply["ename"], s.errors) == ("error", "BdbQuit", []), (name, s)
    assert len(got.prompts) == 1 == len(ref.prompts)
    assert k.value("'never' in dir()") == "False"


def test_debug_is_a_post_mortem_of_the_last_error_as_ipykernel(k, ipykernel):
    """Promise: %debug after a failed cell opens pdb at the frame that
    raised, with that frame's variables, as ipykernel's does; `up` walks to
    the cell's frame and stops there ("Oldest frame": the kernel's own
    frames are not the user's); `q` ends it and the cell succeeds."""
    _, ref_kc = ipykernel
    results = {}
    for name, kc in (("ipykernel", ref_kc), ("wasipy", k.kc)):
        drive(kc, "def g():\n    v = 7\n    raise ValueError('bad')\n", [])
        failed = drive(kc, "g()", [])
        assert failed.status == "error" and failed.errors == ["ValueError"], (name, failed)
        results[name] = drive(kc, "%debug", ["p v", "up", "up", "q"])
    for name, s in results.items():
        assert s.status == "ok", (name, s)
        assert len(s.prompts) == 4, (name, s)
        assert "raise ValueError('bad')" in s.stdout and "\n7\n" in s.stdout, (name, s)
        assert "*** Oldest frame" in s.stdout, (name, s)
    assert results["wasipy"].prompts == ["(Pdb) "] * 4


def test_debug_without_an_error_says_so(kernel):
    """Promise: %debug in a fresh session, before any error, says there is
    nothing to debug (IPython's words) and asks nothing."""
    s = drive(kernel.kc, "%debug", [])
    assert s.status == "ok" and s.prompts == [], s
    r = kernel.execute("%debug")
    assert "No traceback has been produced, nothing to debug." in r.stderr


def test_automatic_pdb_after_an_error(k, ipykernel):
    """Promise: %pdb on starts the debugger post mortem after a cell's
    error is shown, with the failing frame's variables; %pdb off stops
    that; both print IPython's message."""
    _, ref_kc = ipykernel
    for name, kc in (("ipykernel", ref_kc), ("wasipy", k.kc)):
        on = drive(kc, "%pdb on", [])
        assert on.stdout == "Automatic pdb calling has been turned ON\n", (name, on)
        s = drive(kc, "def h():\n    w = 'seen'\n    1 / 0\nh()", ["p w", "c"])
        assert s.status == "error" and s.reply["ename"] == "ZeroDivisionError", (name, s)
        assert s.errors == ["ZeroDivisionError"] and len(s.prompts) == 2, (name, s)
        assert "'seen'" in s.stdout, (name, s)
        off = drive(kc, "%pdb off", [])
        assert off.stdout == "Automatic pdb calling has been turned OFF\n", (name, off)
        again = drive(kc, "h()", [])
        assert again.status == "error" and again.prompts == [], (name, again)


def test_interrupt_while_pdb_waits_ends_it(k):
    """Promise: an interrupt_request while pdb waits for a command ends the
    debugger and the cell with KeyboardInterrupt (stock pdb would prompt
    again forever); the session's variables are kept and the next cell
    runs untraced."""
    k.ok("kept_before_pdb = 5")
    sent = []

    def interrupt():
        if not sent:
            sent.append(time.monotonic())
            k.send("interrupt_request", channel="control")

    s = drive(k.kc, "breakpoint()\nafter_pdb = 1", ["p kept_before_pdb"], interrupt=interrupt)
    assert s.status == "error" and s.reply["ename"] == "KeyboardInterrupt", s
    print(f"interrupt while pdb waits: {1000 * (s.replied_at - sent[0]):.1f} ms to the reply")
    assert s.errors == ["KeyboardInterrupt"] and len(s.prompts) == 2, s
    assert "\n5\n" in s.stdout, s
    assert k.value("kept_before_pdb, 'after_pdb' in dir(), __import__('sys').gettrace()") == "(5, False, None)"


def test_debug_runs_a_statement_under_the_debugger(k):
    """Promise: %debug STATEMENT stops at the statement's first line (shown
    from the cell) and runs it as the user steps."""
    s = drive(k.kc, "%debug dbg_value = 41 + 1\nprint('then', dbg_value)", ["n", "p dbg_value", "c"])
    assert s.status == "ok", s
    assert "-> %debug dbg_value = 41 + 1" in s.stdout and "\n42\n" in s.stdout, s
    assert s.stdout.endswith("then 42\n"), s


def test_pdb_without_stdin_fails_the_cell_as_ipykernel(k, ipykernel):
    """Promise: where the frontend allows no stdin (allow_stdin false:
    nbconvert, papermill), pdb.set_trace() cannot ask anything: the cell
    fails with StdinNotImplementedError as in ipykernel, nothing waits, and
    the next cell runs untraced; %pdb on starts no debugger there."""
    _, ref_kc = ipykernel
    code = "import pdb; pdb.set_trace()\nnot_reached = 1"
    for name, kc in (("ipykernel", ref_kc), ("wasipy", k.kc)):
        reply = kc.execute_interactive(code, allow_stdin=False, timeout=harness.REQUEST_TIMEOUT)["content"]
        assert (reply["status"], reply["ename"]) == ("error", "StdinNotImplementedError"), (name, reply)
    assert k.value("'not_reached' in dir(), __import__('sys').gettrace()") == "(False, None)"
    k.ok("%pdb on")
    try:
        reply = k.kc.execute_interactive("1 / 0", allow_stdin=False, timeout=harness.REQUEST_TIMEOUT)["content"]
        assert reply["ename"] == "ZeroDivisionError", reply
    finally:
        k.ok("%pdb off")


def test_debug_with_a_breakpoint_runs_to_it(k):
    """Promise: %debug -b FILE:LINE STATEMENT runs the statement under the
    debugger and stops at that line of the file, as IPython's does (first
    where the code enters the file, then `c` to the breakpoint)."""
    k.ok("open('bp_mod.py', 'w').write('def h(n):\\n    t = n * 3\\n    t += 1\\n    return t\\n')\n"
         "import bp_mod")
    s = drive(k.kc, "%debug -b bp_mod.py:3 got = bp_mod.h(5)\nprint('got', got)", ["c", "p t", "c"])
    assert s.status == "ok", s
    assert "NOTE: Enter 'c' at the (Pdb) prompt to continue execution." in s.stdout, s
    assert "-> t += 1" in s.stdout and "\n15\n" in s.stdout, s
    assert s.stdout.endswith("got 16\n"), s
