"""Escape tests for what the guest could use beyond files: processes,
sockets, and bursts of work that try to exhaust the kernel. Each test names
the promise it checks (docs/SECURITY.md)."""

import time

import harness


def test_no_processes(shared_kernel):
    """Promise: the guest cannot start a process on the host; every way
    fails with an exception and the kernel keeps serving."""
    out = shared_kernel.ok("""
import os, subprocess
for name, op in [('system', lambda: os.system('id')),
                 ('popen', lambda: subprocess.run(['id'], capture_output=True)),
                 ('fork', lambda: os.fork()),
                 ('execv', lambda: os.execv('/bin/sh', ['sh', '-c', 'id'])),
                 ('spawn', lambda: os.posix_spawn('/bin/sh', ['sh'], {}))]:
    try:
        r = op()
        print(name, 'ran', r)
    except (OSError, AttributeError, NotImplementedError, RuntimeError) as e:
        print(name, 'refused', type(e).__name__)
""").stdout
    assert "ran" not in out.replace("refused", ""), out
    assert out.count("refused") == 5, out


def test_no_sockets(shared_kernel):
    """Promise: the guest has no network of its own: sockets cannot connect
    (the kernel's HTTP client behind --allow-net is the only way out)."""
    out = shared_kernel.ok("""
import socket
try:
    s = socket.create_connection(('127.0.0.1', 22), timeout=2)
    print('connected')
except Exception as e:
    print('refused', type(e).__name__)
""").stdout
    assert "refused" in out and "connected" not in out, out


def test_asyncio_task_burst(kernel):
    """Promise: a burst of 100,000 asyncio tasks (a fork bomb's shape inside
    the guest) neither wedges the kernel nor loses the session: control
    answers during the burst, an interrupt ends it, variables survive."""
    kernel.ok("keep = 'alive'")
    msg_id = kernel.execute_async("""
import asyncio
async def spawn(n):
    for _ in range(n):
        asyncio.ensure_future(spawn(2))
    await asyncio.sleep(0)
for _ in range(100_000):
    asyncio.ensure_future(spawn(2))
await asyncio.sleep(3600)
""")
    time.sleep(3)
    t0 = time.monotonic()
    info = kernel.request("kernel_info_request", channel="control", timeout=30)
    assert info.status == "ok"
    assert time.monotonic() - t0 < 10
    kernel.km.interrupt_kernel()
    r = kernel.collect(msg_id, timeout=120)
    assert r.status == "error", r
    assert kernel.value("keep", timeout=120) == "'alive'"
