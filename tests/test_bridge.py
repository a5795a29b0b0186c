"""The Go<->Python bridge seen from a notebook: run_sync, asyncio.run in
synchronous code under an awaiting cell, exceptions that keep their
identity through Go, and Go calling into a busy cell. The last two need
Go code in the kernel: they run on examples/kernel-with-modules, built
here, installed as a kernelspec of its own and driven through
jupyter_client like the stock kernel."""

import os
import subprocess
import time

import pytest

import harness

EXAMPLE_NAME = "wasipy-bridge-example"


def test_run_sync_in_plain_and_awaiting_cells(kernel):
    """Promise: wasipy.run_sync(awaitable) returns the awaitable's result in
    a plain cell and in synchronous code called from a cell that is itself
    awaiting, while other tasks keep running."""
    kernel.execute("import asyncio, wasipy\nasync def twice(x):\n    await asyncio.sleep(0.01)\n    return 2 * x")
    r = kernel.execute("wasipy.run_sync(twice(21))")
    assert r.status == "ok", r.summary()
    assert r.result_text() == "42", r.summary()
    r = kernel.execute(
        "ticks = []\n"
        "async def ticker():\n"
        "    for i in range(3):\n"
        "        ticks.append(i)\n"
        "        await asyncio.sleep(0.01)\n"
        "t = asyncio.create_task(ticker())\n"
        "def sync_library():\n"
        "    return wasipy.run_sync(twice(5))\n"
        "value = sync_library()\n"
        "await t\n"
        "print(value, ticks)")
    assert r.status == "ok", r.summary()
    assert r.stdout == "10 [0, 1, 2]\n", r.summary()


def test_nested_asyncio_run_under_an_awaiting_cell(kernel):
    """Promise: asyncio.run() called by synchronous library code from an
    async cell works (ipykernel with nested loops allowed), and the cell
    then goes on awaiting."""
    r = kernel.execute(
        "import asyncio\n"
        "async def fetch(x):\n"
        "    await asyncio.sleep(0.01)\n"
        "    return x + 1\n"
        "def library(x):\n"
        "    return asyncio.run(fetch(x))\n"
        "a = library(1)\n"
        "b = await fetch(a)\n"
        "print(a, b, library(b))")
    assert r.status == "ok", r.summary()
    assert r.stdout == "2 3 4\n", r.summary()


@pytest.fixture(scope="module")
def example_kernel_spec(wasipy_env):
    """Builds examples/kernel-with-modules and writes its kernelspec."""
    root = wasipy_env["root"]
    binary = os.path.join(root, "bin", "wasipy-bridge-example")
    proc = subprocess.run([harness._find_go(), "build", "-o", binary, "./examples/kernel-with-modules"],
                          cwd=harness.REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"go build ./examples/kernel-with-modules failed:\n{proc.stderr}"
    spec_dir = os.path.join(wasipy_env["jupyter_path"], "kernels", EXAMPLE_NAME)
    proc = subprocess.run([binary, "kernelspec", "--write", spec_dir,
                           "--python-wasm", wasipy_env["python_wasm"], "--display-name", "wasipy + clock"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return EXAMPLE_NAME


@pytest.fixture
def example_kernel(example_kernel_spec):
    from jupyter_client.manager import KernelManager
    cwd = harness.new_workdir()
    km = KernelManager(kernel_name=example_kernel_spec)
    km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    k = harness.Kernel(km, kc, cwd)
    try:
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        k.drain()
    except BaseException:
        k.shutdown(check=False)
        raise
    yield k
    k.shutdown()


def test_kernel_built_with_a_go_module(example_kernel):
    """Promise: a kernel binary built from kernelcmd.Main with an extra Go
    module serves notebooks that import it, beside the stock behaviour."""
    r = example_kernel.execute("import clock\nnow = clock.now()\nprint(len(now), now.endswith('Z'))")
    assert r.status == "ok", r.summary()
    assert r.stdout == "20 True\n", r.summary()
    r = example_kernel.execute("clock.every(-1, 1, print)")
    assert r.status == "error" and r.errors[0]["ename"] == "ClockError", r.summary()


def test_exception_identity_through_go(example_kernel):
    """Promise: an exception raised in Python, passed through a Go call and
    back, is the very same object (so `except ValueError` and `is` hold)."""
    r = example_kernel.execute(
        "import clock\n"
        "err = ValueError('bad input')\n"
        "def fails():\n"
        "    raise err\n"
        "try:\n"
        "    clock.timed(fails)\n"
        "except ValueError as e:\n"
        "    print('same object:', e is err)\n"
        "print(clock.timed(lambda: 'ok')[0])")
    assert r.status == "ok", r.summary()
    assert r.stdout == "same object: True\nok\n", r.summary()


def test_go_goroutine_calls_into_a_busy_cell(example_kernel):
    """Promise: a Go goroutine's calls into Python reach a cell while it
    awaits (at its await points), not after it ends: the cell receives
    all ticks and finishes well before a timeout."""
    start = time.monotonic()
    r = example_kernel.execute(
        "import asyncio, clock\n"
        "got = []\n"
        "done = asyncio.Event()\n"
        "def on_tick(i):\n"
        "    got.append(i)\n"
        "    if len(got) == 5:\n"
        "        done.set()\n"
        "clock.every(0.02, 5, on_tick)\n"
        "await asyncio.wait_for(done.wait(), 20)\n"
        "print(got)")
    assert r.status == "ok", r.summary()
    assert r.stdout == "[0, 1, 2, 3, 4]\n", r.summary()
    assert time.monotonic() - start < 15
