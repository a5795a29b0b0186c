"""Restarts without a new process: wasipy's provisioner starts the kernel
with --restart-in-place, and jupyter_client's own restart_kernel (what
Jupyter Server's restart button and nbclient call) then starts the session
over inside the same kernel process, on the same sockets.

The provisioner and its kernelspec are installed as tests/test_launcher.py
installs them (the `provisioner` fixture).
"""

import asyncio
import os
import signal
import time
from queue import Empty

import psutil
import pytest

import harness
from test_launcher import GW_KERNEL, provisioner  # noqa: F401 (a fixture)

# How long a restart may take here: a fresh interpreter starts in well under
# a second; the bound only catches a restart that fell back to polling or
# to a new process with its start.
RESTART_BOUND = 5.0

# wasipy's own interpreter build renews an idle interpreter inside its
# worker process (from the interpreter image); a command build (npm 3.12)
# gets a new worker.
RENEWS = bool(harness.built_python_version(harness.setup_env()["python_wasm"]))


def _start(kernel_name=GW_KERNEL, manager_class=None):
    from jupyter_client.manager import KernelManager

    km = (manager_class or KernelManager)(kernel_name=kernel_name)
    km.start_kernel(cwd=harness.new_workdir())
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=harness.START_TIMEOUT)
    _drain(kc)
    return km, kc


def _drain(kc, timeout=0.2):
    """The iopub messages waiting, as (msg_type, state or content, parent msg_type)."""
    out = []
    while True:
        try:
            m = kc.get_iopub_msg(timeout=timeout)
        except Empty:
            return out
        c = m["content"]
        out.append((m["msg_type"], c.get("execution_state") or c.get("ename") or "", m["parent_header"].get("msg_type")))


def _stop(km, kc):
    procs = harness.process_tree(km.provisioner.process.pid) if km.has_kernel else []
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    _, left = psutil.wait_procs(harness.alive(procs), timeout=15)
    assert not harness.alive(left), harness.describe(left)


def _workers(pid):
    """The kernel's interpreter workers (its child processes)."""
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def _wait_gone(procs, timeout=10):
    _, left = psutil.wait_procs(harness.alive(procs), timeout=timeout)
    return harness.alive(left)


def _reply(kc, msg_id, timeout=30):
    while True:
        r = kc.get_shell_msg(timeout=timeout)
        if r["parent_header"].get("msg_id") == msg_id:
            return r


def test_restart_keeps_process_and_ports_and_starts_over(provisioner):  # noqa: F811
    """Promise: through the provisioner, km.restart_kernel() keeps the
    kernel's process, ports and key (the same client works on), replaces
    its interpreter worker, and starts the session over: the old state is
    gone and the execution count starts at 1, as after ipykernel's
    restart; it takes a fraction of a second."""
    km, kc = _start()
    try:
        pid = km.provisioner.process.pid
        info = dict(km.get_connection_info())
        kernel_proc = psutil.Process(pid)
        assert "--restart-in-place" in kernel_proc.cmdline(), kernel_proc.cmdline()
        for _ in range(2):
            kc.execute("x = 41", reply=True, timeout=30)
        old_workers = _workers(pid)
        assert old_workers, "no interpreter worker under the kernel"

        t0 = time.monotonic()
        km.restart_kernel()
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        took = time.monotonic() - t0

        assert km.provisioner.process.pid == pid and kernel_proc.is_running(), "the restart launched a new process"
        assert {k: km.get_connection_info()[k] for k in info} == info, "ports or key changed"
        if RENEWS:
            # Renewed in its worker: the same process runs the fresh session.
            assert [p.pid for p in _workers(pid)] == [p.pid for p in old_workers], (
                harness.describe(old_workers), harness.describe(_workers(pid)))
        else:
            assert not _wait_gone(old_workers), harness.describe(old_workers)
        r = kc.execute("x", reply=True, timeout=30)
        assert r["content"]["status"] == "error" and r["content"]["ename"] == "NameError", r["content"]
        assert r["content"]["execution_count"] == 1, r["content"]
        r = kc.execute("1 + 1", reply=True, timeout=30)
        assert r["content"]["execution_count"] == 2
        assert took < RESTART_BOUND, took
    finally:
        _stop(km, kc)


def _restart_sequence(km, kc, busy_code=None):
    """iopub around km.restart_kernel() and the first kernel_info after it:
    with busy_code running (it sleeps, so the client's interrupt ends it)
    when the restart comes."""
    if busy_code:
        kc.execute(busy_code)
        time.sleep(1)
    _drain(kc) if not busy_code else None
    km.restart_kernel(now=False)
    seen = _drain(kc, timeout=2)
    _reply(kc, kc.kernel_info())
    while ("status", "idle", "kernel_info_request") not in seen:
        seen += _drain(kc, timeout=1) or [("nothing", "", None)]
        assert len(seen) < 100, seen
    if busy_code:
        # The busy cell's own busy and execute_input came before the restart.
        seen = [m for m in seen if m[1:] != ("busy", "execute_request") and m[0] != "execute_input"]
    # The interrupt jupyter_client sends first is a message to wasipy
    # (interrupt_mode "message", with its busy and idle) and a signal to
    # the reference ipykernel: not what is compared here.
    return [m for m in seen if m[2] != "interrupt_request"]


def _by_parent(seen):
    """The messages of each parent request type, in their order."""
    out = {}
    for m in seen:
        out.setdefault(m[2], []).append(m)
    return out


def test_restart_iopub_matches_ipykernel(provisioner):  # noqa: F811
    """Promise: around a restart the kernel publishes what ipykernel and
    its fresh process publish: busy, shutdown_reply and idle under the
    shutdown_request; a cell that was running ends with its
    KeyboardInterrupt and idle; then status "starting" with no parent; then
    busy/idle under the next kernel_info_request, each request's messages
    in ipykernel's order. How the interrupted cell's messages interleave
    with the shutdown_request's is a race in both kernels (the interrupt
    jupyter_client sends first reaches them by different paths), so each
    request's messages are compared apart. ipykernel's "starting" reaches
    the client only when its new iopub socket is connected in time, so it
    is compared with it left out, and required of wasipy, whose socket
    stays, after everything of the old session and before the first reply
    of the new one."""
    got, want = {}, {}
    for busy in (None, "import time; time.sleep(30)"):
        km, kc = _start()
        try:
            got[busy] = _restart_sequence(km, kc, busy)
        finally:
            _stop(km, kc)
        with harness.ipykernel_reference() as (rkm, rkc):
            want[busy] = _restart_sequence(rkm, rkc, busy)
    starting = ("status", "starting", None)
    for busy in got:
        report = "\n".join(["wasipy:"] + [str(m) for m in got[busy]] + ["ipykernel:"] + [str(m) for m in want[busy]])
        assert got[busy].count(starting) == 1, report
        assert _by_parent(m for m in got[busy] if m != starting) == _by_parent(m for m in want[busy] if m != starting), report
        at = got[busy].index(starting)
        assert all(m[2] != "kernel_info_request" for m in got[busy][:at]), report
        assert all(m[2] == "kernel_info_request" for m in got[busy][at + 1:]), report


IGNORES_INTERRUPTS = """
while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass
"""


@pytest.mark.parametrize("now", [False, True])
def test_restart_stops_a_cell_that_ignores_interrupts(provisioner, now):  # noqa: F811
    """Promise: a cell that loops forever and swallows KeyboardInterrupt
    does not stop a restart, polite (now=False: the kernel stops the
    interpreter after a short grace) or forced (now=True: the provisioner
    asks the kernel over its signed control channel, which the kernel
    serves while the cell runs); the process stays, the cell gets no reply
    (as ipykernel's dying process sends none) and the fresh session
    serves."""
    km, kc = _start()
    try:
        pid = km.provisioner.process.pid
        kc.execute("y = 1", reply=True, timeout=30)
        stuck = kc.execute(IGNORES_INTERRUPTS)
        time.sleep(1)
        old_workers = _workers(pid)
        t0 = time.monotonic()
        km.restart_kernel(now=now)
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        took = time.monotonic() - t0
        assert km.provisioner.process.pid == pid
        assert not _wait_gone(old_workers), harness.describe(old_workers)
        msg_id = kc.execute("y")
        r = _reply(kc, msg_id)
        assert r["content"]["ename"] == "NameError" and r["content"]["execution_count"] == 1, r["content"]
        # Nothing answered the stuck cell.
        while True:
            try:
                m = kc.get_shell_msg(timeout=0.5)
            except Empty:
                break
            assert m["parent_header"].get("msg_id") != stuck, m
        assert took < RESTART_BOUND, took
    finally:
        _stop(km, kc)


def test_restart_while_input_waits(provisioner):  # noqa: F811
    """Promise: a restart while input() waits for the frontend ends the
    question and the old session; the fresh session serves, from count 1,
    and the kernel process stays."""
    km, kc = _start()
    try:
        pid = km.provisioner.process.pid
        kc.execute("name = input('name? ')", allow_stdin=True)
        req = kc.get_stdin_msg(timeout=30)
        assert req["msg_type"] == "input_request", req
        km.restart_kernel()
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        assert km.provisioner.process.pid == pid
        # A late answer to the old question is dropped, not given to the new session.
        kc.input("too late")
        r = kc.execute("'name' in dir()", reply=True, timeout=30)
        assert r["content"]["status"] == "ok" and r["content"]["execution_count"] == 1
        r = kc.execute("print(1 + 1)", reply=True, timeout=30)
        assert r["content"]["status"] == "ok"
    finally:
        _stop(km, kc)


def test_twenty_restarts_leave_no_worker_behind(provisioner):  # noqa: F811
    """Promise: 20 restarts in a row keep one kernel process with exactly
    one interpreter worker: the same one, renewed each time (wasipy's
    build, without gaining open descriptors), or a new one each time with
    every replaced worker gone."""
    km, kc = _start()
    try:
        pid = km.provisioner.process.pid
        first = [p.pid for p in _workers(pid)]
        fds = _workers(pid)[0].num_fds()
        replaced = []
        for i in range(20):
            replaced += _workers(pid)
            km.restart_kernel()
            kc.wait_for_ready(timeout=harness.START_TIMEOUT)
            r = kc.execute(f"assert 'i' not in dir()\ni = {i}", reply=True, timeout=30)
            assert r["content"]["status"] == "ok" and r["content"]["execution_count"] == 1, (i, r["content"])
        assert km.provisioner.process.pid == pid
        if RENEWS:
            assert [p.pid for p in _workers(pid)] == first, harness.describe(_workers(pid))
            # Each guest's mounts are the worker's: renewing leaks no descriptor.
            assert _workers(pid)[0].num_fds() <= fds + 2, (fds, _workers(pid)[0].num_fds())
        else:
            assert not _wait_gone(replaced), harness.describe(replaced)
        assert len(_workers(pid)) == 1, harness.describe(_workers(pid))
    finally:
        _stop(km, kc)


def test_auto_restart_after_kill_9(provisioner):  # noqa: F811
    """Promise: when the kernel process is killed (kill -9), jupyter_client's
    restarter (Jupyter Server's auto-restart) sees it dead through the
    provisioner and launches a new kernel process, which serves."""
    from jupyter_client.ioloop import AsyncIOLoopKernelManager
    from traitlets.config import Config

    async def main():
        cfg = Config()
        cfg.KernelRestarter.time_to_dead = 0.5
        km = AsyncIOLoopKernelManager(kernel_name=GW_KERNEL, config=cfg)
        await km.start_kernel(cwd=harness.new_workdir())
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=harness.START_TIMEOUT)
            pid = km.provisioner.process.pid
            doomed = harness.process_tree(pid)
            restarted = asyncio.Event()
            km.add_restart_callback(restarted.set, "restart")
            os.kill(pid, signal.SIGKILL)
            await asyncio.wait_for(restarted.wait(), 30)
            deadline = time.monotonic() + harness.START_TIMEOUT
            while not (km.has_kernel and km.provisioner.process.pid != pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert km.provisioner.process.pid != pid, "no new kernel process"
            await kc.wait_for_ready(timeout=harness.START_TIMEOUT)
            r = await kc.execute("1 + 1", reply=True, timeout=30)
            assert r["content"]["status"] == "ok"
            assert not _wait_gone(doomed), harness.describe(doomed)
        finally:
            procs = harness.process_tree(km.provisioner.process.pid) if km.has_kernel else []
            kc.stop_channels()
            await km.shutdown_kernel(now=False)
            assert not _wait_gone(procs), harness.describe(procs)

    asyncio.run(main())


def test_plain_kernelspec_restarts_with_a_new_process(wasipy_env):
    """Promise: without the provisioner (the plain kernelspec, no
    --restart-in-place) a restart is what it always was: the kernel process
    exits and jupyter_client launches a new one, with a fresh session."""
    km, kc = _start(kernel_name=harness.KERNEL_NAME)
    try:
        pid = km.provisioner.process.pid
        old = harness.process_tree(pid)
        assert "--restart-in-place" not in psutil.Process(pid).cmdline()
        kc.execute("z = 1", reply=True, timeout=30)
        km.restart_kernel()
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        assert km.provisioner.process.pid != pid
        assert not _wait_gone(old), harness.describe(old)
        r = kc.execute("z", reply=True, timeout=30)
        assert r["content"]["ename"] == "NameError" and r["content"]["execution_count"] == 1, r["content"]
    finally:
        _stop(km, kc)


@pytest.fixture
def spare_kernelspec(provisioner, tmp_path):  # noqa: F811
    """The provisioner's kernelspec with --warm-spare, in a private kernel dir."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = harness.load_json(os.path.join(provisioner["spec_dir"], "kernel.json"))
    spec["argv"] = spec["argv"][:1] + ["--warm-spare"] + spec["argv"][1:]
    d = tmp_path / "kernels" / "wasipy-spare"
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(__import__("json").dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])


def _wait_workers(pid, n, timeout=30):
    deadline = time.monotonic() + timeout
    while len(_workers(pid)) != n and time.monotonic() < deadline:
        time.sleep(0.05)
    return _workers(pid)


def test_warm_spare_is_swapped_in(spare_kernelspec):
    """Promise: with --warm-spare the kernel keeps a second interpreter
    worker started. An idle interpreter is renewed in its own worker
    (wasipy's build) and the spare waits on; a restart that must stop a
    busy interpreter swaps that very spare in (it survives the restart and
    runs the fresh session's code; the old worker is gone) and starts the
    next spare; a shutdown leaves no worker behind."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="wasipy-spare", kernel_spec_manager=spare_kernelspec)
    km.start_kernel(cwd=harness.new_workdir())
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        pid = km.provisioner.process.pid
        kc.execute("s = 1", reply=True, timeout=30)
        before = _wait_workers(pid, 2)
        assert len(before) == 2, harness.describe(before)
        if RENEWS:
            km.restart_kernel()
            kc.wait_for_ready(timeout=harness.START_TIMEOUT)
            r = kc.execute("s", reply=True, timeout=30)
            assert r["content"]["ename"] == "NameError", r["content"]
            assert {p.pid for p in _wait_workers(pid, 2)} == {p.pid for p in before}, "an idle restart did not renew in place"
            # A busy interpreter cannot be renewed: the spare takes over.
            kc.execute(IGNORES_INTERRUPTS)
            time.sleep(1)
        km.restart_kernel()
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        r = kc.execute("s", reply=True, timeout=30)
        assert r["content"]["ename"] == "NameError" and r["content"]["execution_count"] == 1, r["content"]
        after = _wait_workers(pid, 2)
        assert len(after) == 2, harness.describe(after)
        kept = {p.pid for p in before} & {p.pid for p in after}
        assert len(kept) == 1, (harness.describe(before), harness.describe(after))
        assert len(harness.alive(before)) == 1, "the replaced worker is still running"
        # The worker that runs the session's code is the one that was
        # already there before the restart: the spare, swapped in.
        cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in after}
        r = kc.execute("sum(i * i for i in range(3 * 10**6))", reply=True, timeout=60)
        assert r["content"]["status"] == "ok"
        busiest = max(after, key=lambda p: sum(p.cpu_times()[:2]) - cpu0[p.pid])
        assert busiest.pid in kept, "the session runs in a worker started after the restart, not in the spare"
    finally:
        _stop(km, kc)
