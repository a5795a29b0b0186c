"""Interrupts (issue 5): interrupt_request on the control channel raises
KeyboardInterrupt in a busy loop, time.sleep, a blocked input() and an
awaited asyncio.sleep; the cell ends with the error, state survives, and the
latency (request to error reply) is measured. A cell that ignores the
interrupt is ended by a second interrupt after the grace period: the
interpreter is replaced, the kernel process and execution count stay."""

import statistics
import time
from queue import Empty

import psutil
import pytest

import harness
from harness import strip_ansi

# The kernel's grace period before a second interrupt replaces the interpreter.
GRACE = 2.5


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


def _wait_started(k, msg_id, marker="started", timeout=60):
    deadline = time.monotonic() + timeout
    while marker not in "".join(m["content"].get("text", "") for m in k._iopub[msg_id] if m["msg_type"] == "stream"):
        left = deadline - time.monotonic()
        assert left > 0, f"the cell never printed {marker!r}: {k._iopub[msg_id]}"
        try:
            k._pump_iopub(timeout=min(left, 1.0))
        except Empty:
            pass


def _interrupt(k, how):
    """Send an interrupt; returns the interrupt_request's msg_id (or None for
    KernelManager.interrupt_kernel, whose reply goes to the manager)."""
    if how == "manager":
        k.km.interrupt_kernel()
        return None
    return k.send("interrupt_request", channel="control")


def run_and_interrupt(k, code, how="control", stdin=False, timeout=60):
    """Run code (after it printed 'started', or once it asked for input),
    interrupt it, and return (Result, latency in s from the interrupt
    request to the execute_reply)."""
    if stdin:
        mid = k.execute_async(code, allow_stdin=True)
        msg = k.kc.get_stdin_msg(timeout=timeout)
        assert msg["msg_type"] == "input_request", msg
        assert msg["parent_header"]["msg_id"] == mid
    else:
        if "print('started'" not in code:
            code = "print('started', flush=True)\n" + code
        mid = k.execute_async(code)
        _wait_started(k, mid, timeout=timeout)
    t0 = time.monotonic()
    iid = _interrupt(k, how)
    reply = k.reply_for(mid, timeout=timeout)
    latency = reply["_arrived"] - t0
    if iid is not None:
        irep = k.reply_for(iid, channel="control", timeout=timeout)
        assert irep["msg_type"] == "interrupt_reply"
        assert irep["content"]["status"] == "ok", irep
    return harness.Result(mid, reply, k.iopub_for(mid, timeout=timeout)), latency


def assert_keyboard_interrupt(r):
    assert r.status == "error", r
    assert r.reply["ename"] == "KeyboardInterrupt", r
    [err] = r.errors
    assert err["ename"] == "KeyboardInterrupt"
    return strip_ansi("\n".join(err["traceback"]))


# kind: (setup, what blocks); the cell prints 'started' between the two, and
# the interrupt is sent once that arrived.
KINDS = {
    "busy loop": ("", "while True:\n    pass"),
    "time.sleep": ("import time", "time.sleep(100)"),
    "await asyncio.sleep": ("import asyncio", "await asyncio.sleep(100)"),
    "asyncio.run": ("import asyncio", "asyncio.run(asyncio.sleep(100))"),
    "busy loop in a coroutine": ("import asyncio\nasync def spin():\n    while True:\n        pass", "await spin()"),
}


def kind_code(kind, setup=""):
    before, block = KINDS[kind]
    return f"{setup}\n{before}\nprint('started', flush=True)\n{block}"


@pytest.mark.parametrize("how", ["control", "manager"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_interrupt_raises_keyboard_interrupt_and_state_survives(k, kind, how):
    tag = abs(hash((kind, how))) % 10**6
    k.ok(f"before_{tag} = {tag}")
    r, latency = run_and_interrupt(k, kind_code(kind, f"in_cell_{tag} = {tag} + 1"), how=how)
    print(f"{kind} via {how}: interrupt to error reply {latency * 1000:.1f} ms")
    text = assert_keyboard_interrupt(r)
    assert "started" in r.stdout
    # State from before the cell and from the cell's own first line survives.
    assert k.value(f"before_{tag}, in_cell_{tag}") == f"({tag}, {tag + 1})"
    # And the kernel keeps working, with no interrupt left pending.
    assert k.value("total = 0\nfor i in range(20000):\n    total += i\ntotal") == str(sum(range(20000)))
    if how == "control":  # (the traceback does not depend on how the interrupt came)
        # The traceback shows the cell's blocking line, as for synchronous
        # code (issue 3: "KeyboardInterrupt and tracebacks point to the
        # user's lines"), awaited code included.
        assert f"Cell In[{r.count}]" in text, text
        arrowed = text.split("---> ", 1)[1].splitlines()[0] if "---> " in text else ""
        assert any(line.strip() in arrowed for line in KINDS[kind][1].splitlines()), text


def test_interrupt_blocked_input(k):
    k.ok("before_input = 'kept'")
    r, latency = run_and_interrupt(k, "answer = input('waiting: ')", stdin=True)
    print(f"input(): interrupt to error reply {latency * 1000:.1f} ms")
    text = assert_keyboard_interrupt(r)
    assert f"Cell In[{r.count}]" in text, text
    assert k.value("before_input, 'answer' in dir()") == "('kept', False)"
    # The next input() works normally.
    mid = k.execute_async("again = input('again: ')\nagain", allow_stdin=True)
    msg = k.kc.get_stdin_msg(timeout=60)
    assert msg["content"]["prompt"] == "again: "
    k.kc.input("fine")
    assert k.collect(mid).result_text() == "'fine'"


def test_keyboard_interrupt_can_be_caught(k):
    code = ("try:\n"
            "    while True:\n"
            "        pass\n"
            "except KeyboardInterrupt:\n"
            "    print('caught it')\n"
            "'after'")
    r, _ = run_and_interrupt(k, code)
    assert r.status == "ok", r
    assert r.stdout == "started\ncaught it\n"
    assert r.result_text() == "'after'"


def test_interrupt_while_idle_does_no_harm(k):
    iid = k.send("interrupt_request", channel="control")
    rep = k.reply_for(iid, channel="control")
    assert rep["content"]["status"] == "ok"
    # No stale interrupt hits the next cells (a loop and a sleep).
    assert k.value("n = 0\nfor i in range(50000):\n    n += 1\nn") == "50000"
    assert k.value("import time\ntime.sleep(0.3)\n'slept'") == "'slept'"


def test_interrupt_latency_p50(k):
    """Benchmark: interrupt_request to the error execute_reply. (That every
    interrupted time.sleep raises is checked by the stress test below; here
    a lost one only shows in the printout.)"""
    samples = {"busy loop": [], "time.sleep": [], "await asyncio.sleep": []}
    not_raised = []
    for _ in range(6):
        for kind in samples:
            r, latency = run_and_interrupt(k, kind_code(kind))
            if kind == "time.sleep" and r.status == "ok":
                not_raised.append(r.count)
                continue
            assert_keyboard_interrupt(r)
            samples[kind].append(latency)
    every = [x for xs in samples.values() for x in xs]
    p50 = statistics.median(every)
    for kind, xs in samples.items():
        print(f"interrupt latency, {kind}: p50 {statistics.median(xs) * 1000:.1f} ms, "
              f"max {max(xs) * 1000:.1f} ms ({len(xs)} runs)")
    print(f"interrupt latency, all: p50 {p50 * 1000:.1f} ms, max {max(every) * 1000:.1f} ms ({len(every)} runs)")
    if not_raised:
        print(f"interrupted time.sleep returned normally in cells {not_raised}")
    assert p50 < 1.0, samples  # target 100 ms (measured ~5 ms); loose for loaded CI machines


def test_interrupted_time_sleep_always_raises(k):
    """Stress: every interrupted time.sleep(100) must raise KeyboardInterrupt.
    A race between waking the sleep and setting CPython's interrupt flags
    would let the sleep return as if it had finished (the code after it
    runs) or, with a second sleep right after it, hang until that one ends."""
    k.ok("import time")
    code = "print('started', flush=True)\ntime.sleep(100)\nprint('after the sleep')\ntime.sleep(100)"
    bad = []
    runs = 300
    t0 = time.monotonic()
    for i in range(runs):
        if len(bad) >= 3:  # evidence enough; keep the file fast
            runs = i
            break
        mid = k.execute_async(code)
        _wait_started(k, mid)
        k.send("interrupt_request", channel="control")
        try:
            reply = k.reply_for(mid, timeout=4)
        except AssertionError:
            bad.append((i, "no reply 4 s after the interrupt (interrupt lost, second sleep running)"))
            # End it: the second interrupt after the grace period replaces the interpreter.
            k.send("interrupt_request", channel="control")
            reply = k.reply_for(mid, timeout=60)
            k.iopub_for(mid)
            k.ok("import time")
            continue
        r = harness.Result(mid, reply, k.iopub_for(mid))
        if r.status != "error" or r.reply.get("ename") != "KeyboardInterrupt" or "after the sleep" in r.stdout:
            bad.append((i, f"status {r.status}, ename {r.reply.get('ename')}, stdout {r.stdout!r}"))
    print(f"{runs} interrupted sleeps in {time.monotonic() - t0:.1f} s, {len(bad)} bad: {bad}")
    assert not bad, f"{len(bad)} of {runs} interrupted time.sleep(100) did not raise KeyboardInterrupt: {bad}"


# ---- a cell that does not stop: the interpreter is replaced --------------------------


def _wait_no_reply(k, msg_id, seconds):
    """Wait `seconds` for msg_id's reply, which must not come (the cell keeps
    running). Messages for other requests are kept for later."""
    try:
        rep = k.reply_for(msg_id, timeout=seconds)
    except AssertionError:
        return
    raise AssertionError(f"the cell ended although its interrupt should have been ignored: {rep['content']}")


UNSTOPPABLE = {
    # The user's SIGINT handler swallows the KeyboardInterrupt.
    "swallowing SIGINT handler": ("import signal\n"
                                  "signal.signal(signal.SIGINT, lambda *a: print('swallowed', flush=True))\n"
                                  "print('started', flush=True)\n"
                                  "while True:\n"
                                  "    pass"),
    # A C loop that never returns to the eval loop (deque consumes an
    # endless C iterator), so the pending interrupt is never seen.
    "endless C call": ("import collections, itertools\n"
                       "print('started', flush=True)\n"
                       "collections.deque(itertools.count(), maxlen=0)"),
}


@pytest.mark.parametrize("kind", list(UNSTOPPABLE))
def test_second_interrupt_replaces_a_stuck_interpreter(kernel, kind):
    k = kernel
    k.ok("doomed = 'state of the old interpreter'")
    pid = k.pid
    workers_before = {p.pid for p in k.tree() if p.pid != pid}
    mid = k.execute_async(UNSTOPPABLE[kind])
    _wait_started(k, mid)

    t_first = time.monotonic()
    i1 = k.send("interrupt_request", channel="control")
    assert k.reply_for(i1, channel="control")["content"]["status"] == "ok"
    # The first interrupt cannot stop it: the cell is still running after
    # the grace period.
    _wait_no_reply(k, mid, GRACE + 0.3 - (time.monotonic() - t_first))

    t_second = time.monotonic()
    i2 = k.send("interrupt_request", channel="control")
    reply = k.reply_for(mid, timeout=60)
    took = reply["_arrived"] - t_second
    assert k.reply_for(i2, channel="control")["content"]["status"] == "ok"
    r = harness.Result(mid, reply, k.iopub_for(mid))
    print(f"{kind}: second interrupt to error reply {took * 1000:.0f} ms")

    assert r.status == "error", r
    [err] = r.errors
    text = strip_ansi("\n".join(err["traceback"]) + " " + err["evalue"])
    assert "restarted" in text.lower(), err
    assert "interpreter" in text.lower(), err
    assert reply["content"]["execution_count"] == r.count

    # The kernel process is the same; the old worker is gone (no leak).
    assert k.pid == pid
    assert psutil.pid_exists(pid)
    deadline = time.monotonic() + 30
    while True:
        alive_old = [p for p in harness.alive([psutil.Process(x) for x in workers_before if psutil.pid_exists(x)])]
        if not alive_old or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not alive_old, f"old interpreter worker still running: {harness.describe(alive_old)}"

    # The execution count continues; the old variables are gone; the new
    # interpreter works, prints, awaits and can itself be interrupted.
    r2 = k.execute("doomed")
    assert r2.status == "error" and r2.reply["ename"] == "NameError", r2
    assert r2.count == r.count + 1
    r3 = k.ok("import asyncio\nawait asyncio.sleep(0.01)\nprint('alive')\n6 * 7")
    assert r3.count == r.count + 2
    assert r3.stdout == "alive\n" and r3.result_text() == "42"
    r4, latency = run_and_interrupt(k, kind_code("busy loop"))
    assert_keyboard_interrupt(r4)
    assert latency < 10
    assert k.pid == pid
