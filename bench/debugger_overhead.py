#!/usr/bin/python3
"""The cost of JupyterLab's debugger on a CPU-bound cell that hits no
breakpoint, in four states of one kernel:

  off       the debugger was never started
  attached  initialize + attach, a breakpoint in another cell (PY_START on)
  same-cell a breakpoint in the cell's own hot function, on a line never
            reached (LINE events on for that function)
  detached  after disconnect (no sys.monitoring event on)

Each state runs the cell --runs times and reports the median wall time of
the cell's CPU time in the guest (time.process_time around the call), its minimum and the
minimum's ratio to "off" (the machine may be shared: the minimum is the
least disturbed),
and which sys.monitoring events the debugger's tool has on.

    env -u WASIPY_KERNEL WASIPY_PYTHON_WASM=... /usr/bin/python3 bench/debugger_overhead.py [--runs 7]
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness  # noqa: E402

HOT = """def work(n):
    s = 0
    for i in range(n):
        s += i * i
    if s < 0:
        print("never")
    return s

def run():
    return sum(work(300) for _ in range(3000))
"""
CELL = "run()"
# The guest's CPU time of the cell: on a shared machine, wall time mostly
# measures the neighbours.
TIMED = "import time as _t\n_c = _t.process_time()\nrun()\nprint(_t.process_time() - _c)"
EVENTS = "sys.monitoring.get_events(sys.monitoring.DEBUGGER_ID)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    harness.setup_env()
    k = harness.Kernel.start()
    seq = [0]

    def dap(command, arguments=None):
        seq[0] += 1
        msg_id = k.send("debug_request", {"type": "request", "seq": seq[0], "command": command,
                                          "arguments": arguments or {}}, channel="control")
        c = k.reply_for(msg_id, "control")["content"]
        assert c["success"], c
        return c.get("body", {})

    def measure(label):
        k.ok(CELL)  # warm
        times = []
        for _ in range(args.runs):
            times.append(float(k.ok(TIMED).stdout))
        events = k.eval(EVENTS)
        return label, min(times), statistics.median(times), events

    try:
        k.ok("import sys")
        rows = []
        k.ok(HOT)
        rows.append(measure("off"))
        dap("initialize", {"adapterID": "", "pathFormat": "path", "linesStartAt1": True})
        dap("attach")
        other = dap("dumpCell", {"code": "x = 1\ny = 2\n"})["sourcePath"]
        dap("setBreakpoints", {"source": {"path": other}, "breakpoints": [{"line": 2}]})
        dap("configurationDone")
        k.ok(HOT)  # defined again: its file is now the hashed cell path
        rows.append(measure("attached"))
        hot = dap("dumpCell", {"code": HOT})["sourcePath"]
        dap("setBreakpoints", {"source": {"path": hot}, "breakpoints": [{"line": 6}]})
        rows.append(measure("same-cell"))
        dap("disconnect", {"restart": False, "terminateDebuggee": True})
        rows.append(measure("detached"))
        base = rows[0][1]
        version = k.eval("sys.version.split()[0]")
        print(f"python {version}, {args.runs} runs of the cell `{CELL}`: min (ratio to off), median")
        for label, best, median, events in rows:
            print(f"  {label:10s} {best * 1000:8.1f} ms ({best / base:4.2f}x)  median {median * 1000:8.1f} ms"
                  f"  debugger's sys.monitoring events: {events}")
    finally:
        k.shutdown()


if __name__ == "__main__":
    main()
