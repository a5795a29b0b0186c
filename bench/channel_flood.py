"""Measures the guest-channel figures of docs/BENCHMARKS.md: control kernel_info
round trips while a cell has 5,000 unread host requests outstanding, the
interrupt that ends that cell, and the next cell after kill -9 of the
interpreter worker. Run from the repository root:

    env -u WASIPY_KERNEL WASIPY_PYTHON_WASM=... /usr/bin/python3 bench/channel_flood.py
"""
import sys, time, os, signal
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness
from test_escape_channel import FRAMES, _wait_for_stdout, _workers
k = harness.Kernel.start()
try:
    code = FRAMES + r'''
for i in range(5000):
    _write_all(_fd, _frame({"type": "host_request", "rid": 10**9 + i, "method": "input", "content": {}}))
print("flooded", flush=True)
while True:
    pass
'''
    mid = k.execute_async(code)
    _wait_for_stdout(k, mid, "flooded")
    rtts = []
    for _ in range(20):
        t0 = time.monotonic(); k.request("kernel_info_request", channel="control", timeout=10); rtts.append(time.monotonic() - t0)
    t0 = time.monotonic()
    k.request("interrupt_request", channel="control", timeout=10)
    r = k.collect(mid, timeout=30)
    print(f"kernel_info during flood: median {sorted(rtts)[10]*1000:.1f} ms, max {max(rtts)*1000:.1f} ms")
    print(f"interrupt_request to execute_reply ({r.reply['ename']}): {(time.monotonic()-t0)*1000:.1f} ms")
    k.ok("x = 1")
    w = _workers(k)[0]
    t0 = time.monotonic(); os.kill(w.pid, signal.SIGKILL); w.wait(10)
    r = k.execute("print('ran')")
    print(f"kill -9 while idle -> next cell done: {(time.monotonic()-t0)*1000:.0f} ms; status {r.status}; note: {r.stderr.strip()!r}")
finally:
    k.shutdown()
