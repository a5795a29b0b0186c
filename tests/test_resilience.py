"""The kernel never freezes and never dies with its interpreter: heartbeat and
control answer while a cell spins, a stuck cell is ended by a second
interrupt, os._exit (with --keep-on-exit) and SystemExit are survived,
restart gives a fresh interpreter, shutdown and signals end every process.
By default os._exit ends the kernel, as ipykernel's process ends
(test_python3_kernel.py checks that)."""

import signal
import time
import uuid

import psutil
import pytest
import zmq

import harness
from harness import strip_ansi

SPIN = "while True:\n    pass"
# Python code that swallows KeyboardInterrupt: only replacing the
# interpreter can end it.
STUBBORN = ("while True:\n    try:\n        print('inside the try')\n        while True:\n            pass\n"
            "    except KeyboardInterrupt:\n        print('swallowed an interrupt')")


def _url(k, port):
    info = k.km.get_connection_info(session=False)
    if info["transport"] == "ipc":
        return f"ipc://{info['ip']}-{info[port]}"
    return f"tcp://{info['ip']}:{info[port]}"


def heartbeat_rtt(k, timeout=1.0):
    """Round trip of one heartbeat on a fresh REQ socket, or None on timeout."""
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(_url(k, "hb_port"))
    try:
        payload = uuid.uuid4().bytes
        t0 = time.monotonic()
        sock.send(payload)
        if not sock.poll(int(timeout * 1000)):
            return None
        assert sock.recv() == payload
        return time.monotonic() - t0
    finally:
        sock.close(0)


def wait_until_running(k, msg_id, timeout=60):
    """Wait until the cell's execute_input is published (it has started)."""
    deadline = time.monotonic() + timeout
    while not any(m["msg_type"] == "execute_input" for m in k._iopub[msg_id]):
        assert time.monotonic() < deadline, "the cell never started"
        try:
            k._pump_iopub(timeout=0.5)
        except Exception:
            pass


def wait_for_idle_or(k, msg_id, seconds):
    """Pump iopub for up to `seconds`; True when the cell went idle."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in k._iopub[msg_id]):
            return True
        try:
            k._pump_iopub(timeout=min(0.2, max(0.01, deadline - time.monotonic())))
        except Exception:
            pass
    return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in k._iopub[msg_id])


def interrupt_until_done(k, msg_id):
    """An interrupt, and a second one after 3 s if the cell still runs; the
    cell must then end. Returns its Result."""
    t0 = time.monotonic()
    r = k.request("interrupt_request", channel="control", timeout=10)
    assert r.reply["status"] == "ok", r.reply
    assert time.monotonic() - t0 < 5, "interrupt_reply was slow"
    if not wait_for_idle_or(k, msg_id, 3):
        r = k.request("interrupt_request", channel="control", timeout=10)
        assert r.reply["status"] == "ok", r.reply
    return k.collect(msg_id, timeout=60)


def test_spinning_cell_does_not_freeze_kernel(kernel):
    before = kernel.ok("state_before = 'x'")
    msg_id = kernel.execute_async(SPIN)
    wait_until_running(kernel, msg_id)
    start = time.monotonic()
    rounds = 0
    while time.monotonic() - start < 5 or rounds < 4:
        rtt = heartbeat_rtt(kernel, timeout=1.0)
        assert rtt is not None, f"heartbeat did not answer within 1 s while a cell spins (round {rounds})"
        t0 = time.monotonic()
        r = kernel.request("kernel_info_request", channel="control", timeout=5)
        took = time.monotonic() - t0
        assert r.reply_msg["msg_type"] == "kernel_info_reply"
        assert r.reply["language_info"]["name"] == "python"
        assert took < 1.0, f"control kernel_info took {took:.2f}s while a cell spins (round {rounds})"
        rounds += 1
    # The cell is still running: nothing ended it.
    assert not any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   for m in kernel._iopub[msg_id])

    r = interrupt_until_done(kernel, msg_id)
    assert r.status == "error", r
    assert r.reply["ename"] in ("KeyboardInterrupt", "InterpreterExited"), r.reply
    assert r.count == before.count + 1
    assert [m["msg_type"] for m in r.iopub][-2:] == ["error", "status"], r.summary()

    # The kernel keeps serving, and the execution count goes on.
    after = kernel.ok("print('alive')")
    assert after.stdout == "alive\n"
    assert after.count == before.count + 2
    assert heartbeat_rtt(kernel, timeout=5) is not None


def test_stuck_cell_is_replaced_after_second_interrupt(kernel):
    before = kernel.ok("defined_before = 123")
    msg_id = kernel.execute_async(STUBBORN)
    # Interrupt only once the cell is inside its try: an interrupt that
    # lands before it may rightly end the cell.
    kernel.wait_for_output(msg_id, "inside the try")
    t0 = time.monotonic()
    r = kernel.request("interrupt_request", channel="control", timeout=10)
    assert r.reply["status"] == "ok"
    assert not wait_for_idle_or(kernel, msg_id, 3), "a cell that swallows KeyboardInterrupt ended on the first interrupt"
    r = kernel.request("interrupt_request", channel="control", timeout=10)
    assert r.reply["status"] == "ok"
    res = kernel.collect(msg_id, timeout=60)
    assert time.monotonic() - t0 < 60
    assert res.status == "error", res
    assert res.count == before.count + 1
    [err] = res.errors
    text = strip_ansi(" ".join(err["traceback"]) + " " + err["evalue"]).lower()
    assert "restart" in text, err
    # A fresh interpreter: the kernel serves, the count continues, old state is gone.
    after = kernel.execute("defined_before")
    assert after.status == "error" and after.reply["ename"] == "NameError", after
    assert after.count == before.count + 2
    assert kernel.ok("print(6 * 7)").stdout == "42\n"
    info = kernel.request("kernel_info_request").reply
    assert info["language_info"]["version"] == kernel.eval("__import__('platform').python_version()")


def test_interrupt_when_idle_is_harmless(kernel):
    kernel.ok("kept = 'yes'")
    for _ in range(2):
        r = kernel.request("interrupt_request", channel="control")
        assert r.reply["status"] == "ok"
    assert kernel.value("kept") == "'yes'"


def test_os_exit_restarts_interpreter(start_kernel):
    """With --keep-on-exit, os._exit in a cell replaces the interpreter and
    the kernel process lives on."""
    kernel = start_kernel(extra_arguments=["--keep-on-exit"])
    before = kernel.ok("doomed = 1")
    old_tree = {p.pid for p in kernel.tree()}
    r = kernel.execute("import os\nos._exit(3)")
    assert r.status == "error", r
    [err] = r.errors
    text = strip_ansi(" ".join(err["traceback"]) + " " + err["evalue"] + " " + err["ename"]).lower()
    assert "exit" in text and "restart" in text, err
    assert r.reply["ename"] == err["ename"]
    assert r.count == before.count + 1
    after = kernel.ok("print('works')")
    assert after.stdout == "works\n"
    assert after.count == before.count + 2
    assert kernel.execute("doomed").reply["ename"] == "NameError"
    # The kernel process is the same; only the interpreter was replaced.
    new_tree = {p.pid for p in kernel.tree()}
    assert kernel.pid in new_tree and kernel.pid in old_tree
    assert new_tree != old_tree
    assert len(harness.alive(kernel.tree())) == len(old_tree)


def test_output_before_os_exit_is_kept(start_kernel):
    kernel = start_kernel(extra_arguments=["--keep-on-exit"])
    r = kernel.execute("import os, sys\nprint('last words')\nsys.stdout.flush()\nos._exit(0)")
    assert r.status == "error"
    assert "last words\n" in r.stdout
    assert kernel.ok("1").status == "ok"


def test_system_exit_keeps_kernel(kernel):
    kernel.ok("survivor = 'still here'")
    pid = kernel.pid
    r = kernel.execute("raise SystemExit")
    assert r.status == "error" and r.reply["ename"] == "SystemExit"
    assert kernel.value("survivor") == "'still here'"
    assert kernel.pid == pid and psutil.pid_exists(pid)


def test_restart_gives_fresh_interpreter(kernel):
    kernel.ok("before_restart = 'old'")
    old = [p for p in kernel.tree()]
    kernel.km.restart_kernel(now=False)
    kernel.kc.wait_for_ready(timeout=harness.START_TIMEOUT)
    kernel.drain()
    _, left = psutil.wait_procs(harness.alive(old), timeout=15)
    assert not harness.alive(left), f"old kernel processes survive a restart: {harness.describe(left)}"
    r = kernel.execute("before_restart")
    assert r.status == "error" and r.reply["ename"] == "NameError", r
    assert kernel.ok("print('fresh')").stdout == "fresh\n"


def test_shutdown_request_with_restart_reply(kernel):
    r = kernel.request("shutdown_request", {"restart": True}, channel="control")
    assert r.reply_msg["msg_type"] == "shutdown_reply"
    assert r.reply["status"] == "ok" and r.reply["restart"] is True
    # The manager starts the new process; this one ends.
    procs = kernel.tree()
    _, left = psutil.wait_procs(harness.alive(procs), timeout=30)
    assert not harness.alive(left), harness.describe(left)


def test_shutdown_request_ends_kernel_process(kernel):
    procs = kernel.tree()
    assert len(procs) >= 2, "expected the kernel and its interpreter worker"
    r = kernel.request("shutdown_request", {"restart": False}, channel="control")
    assert r.reply["status"] == "ok" and r.reply["restart"] is False
    _, left = psutil.wait_procs(harness.alive(procs), timeout=30)
    assert not harness.alive(left), f"still running after shutdown_request: {harness.describe(left)}"
    assert kernel.km.provisioner.process.wait(timeout=10) == 0


def test_shutdown_while_cell_spins(kernel):
    msg_id = kernel.execute_async(SPIN)
    wait_until_running(kernel, msg_id)
    procs = kernel.tree()
    t0 = time.monotonic()
    r = kernel.request("shutdown_request", {"restart": False}, channel="control", timeout=10)
    assert r.reply["status"] == "ok"
    _, left = psutil.wait_procs(harness.alive(procs), timeout=30)
    assert not harness.alive(left), f"still running after shutdown_request: {harness.describe(left)}"
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_orphan_worker_when_kernel_is_killed(kernel, sig):
    msg_id = kernel.execute_async(SPIN)
    wait_until_running(kernel, msg_id)
    procs = kernel.tree()
    assert len(procs) >= 2, "expected the kernel and its interpreter worker"
    psutil.Process(kernel.pid).send_signal(sig)
    _, left = psutil.wait_procs(harness.alive(procs), timeout=30)
    assert not harness.alive(left), f"left running after {sig.name} to the kernel: {harness.describe(left)}"


def test_sigint_does_not_kill_kernel(kernel):
    """interrupt_mode is "message": a terminal's Ctrl-C must not end it."""
    kernel.ok("x_sigint = 1")
    psutil.Process(kernel.pid).send_signal(signal.SIGINT)
    assert kernel.value("x_sigint") == "1"
    assert psutil.Process(kernel.pid).is_running()


def test_sigint_to_process_group_does_not_kill_kernel(kernel):
    import os

    kernel.ok("x_sigint_group = 2")
    os.killpg(os.getpgid(kernel.pid), signal.SIGINT)
    assert kernel.value("x_sigint_group") == "2"
