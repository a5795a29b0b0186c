#!/usr/bin/python3
"""Completion latency: wasipy next to ipykernel, on a namespace of 10k names.

    /usr/bin/python3 bench/complete_bench.py [--kernel-bin BIN] [--python-wasm WASM]
        [--rounds N] [--json out.json] [--only wasipy|ipykernel]

Each kernel is started with jupyter_client, given the same namespace
(`for i in range(10000): globals()[f"name_{i}"] = i`, plus `os`, a dict and
an object), warmed up with one pass over the samples that is not counted,
and then sent ROUNDS x len(SAMPLES) complete_requests (200 by default) one
after the other. The latency of one completion is from sending the request
to receiving its complete_reply on the shell socket. Only one kernel runs
at a time.

The kernel binary is --kernel-bin, else $WASIPY_KERNEL, else built here
with `go build ./cmd/kernel`; the interpreter is --python-wasm, else
$WASIPY_PYTHON_WASM, else ${WASIPY_DATA_DIR:-~/.local/share/wasipy}/python.wasm.
ipykernel is Debian's python3-ipykernel, run by /usr/bin/python3 (IPython
uses jedi when it is installed, as it is here with python3-jedi).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

try:
    from jupyter_client.manager import KernelManager
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(f"complete_bench.py: error: {e}; run it with Debian's /usr/bin/python3 (python3-jupyter-client)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SETUP = """\
import os
for i in range(10000): globals()[f"name_{i}"] = i
d = {f"key_{i}": i for i in range(100)}
class Thing:
    size = 1
    def method(self): pass
obj = Thing()
"""

# (code, the start of a match that must be in the reply)
SAMPLES = [
    ("name_12", "name_12"),
    ("name_999", "name_999"),
    ("name_5", "name_5"),
    ("name_1234", "name_1234"),
    ("x = name_42", "name_42"),
    ("len(name_77", "name_77"),
    ("na", "name_0"),
    ("name_", "name_0"),
    ("n", "name_0"),
    ("pri", "print"),
    ("ValueE", "ValueError"),
    ("os.pa", "path"),
    ("os.path.jo", "join"),
    ("obj.me", "method"),
    ("str.up", "upper"),
    ('d["key_1', "key_1"),  # wasipy adds the closing '"]', ipykernel (jedi) does not
    ("import o", "os"),
    ("from os import pa", "path"),
    ("%ti", "%time"),
    ("whi", "while"),
]


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def write_specs(root, kernel_bin, wasm):
    kdir = os.path.join(root, "kernels")
    subprocess.run([kernel_bin, "kernelspec", "--write", os.path.join(kdir, "wasipy"), "--python-wasm", wasm],
                   check=True, capture_output=True)
    ipk = os.path.join(kdir, "bench-ipykernel")
    os.makedirs(ipk, exist_ok=True)
    with open(os.path.join(ipk, "kernel.json"), "w") as f:
        json.dump({"argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "ipykernel (bench)", "language": "python"}, f)
    os.environ["JUPYTER_PATH"] = root
    os.environ.setdefault("IPYTHONDIR", os.path.join(root, "ipython"))


def measure(kernel_name, rounds, cwd):
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        r = kc.execute_interactive(SETUP, timeout=300)
        if r["content"]["status"] != "ok":
            raise RuntimeError(f"{kernel_name}: setup failed: {r['content']}")

        def one(code, want):
            t0 = time.perf_counter()
            msg_id = kc.complete(code, len(code))
            while True:
                reply = kc.get_shell_msg(timeout=60)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            dt = time.perf_counter() - t0
            c = reply["content"]
            if c.get("status") != "ok" or not any(m.startswith(want) for m in c.get("matches", [])):
                raise RuntimeError(f"{kernel_name}: completing {code!r}: {want!r} not in the reply: "
                                   f"{str(c.get('matches', c))[:300]}")
            return dt, len(c["matches"])

        for code, want in SAMPLES:  # warm-up, not counted
            one(code, want)
        per_sample = {code: [] for code, _ in SAMPLES}
        counts = {}
        for _ in range(rounds):
            for code, want in SAMPLES:
                dt, n = one(code, want)
                per_sample[code].append(dt)
                counts[code] = n
        return per_sample, counts
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def ms(x):
    return f"{x * 1000:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel-bin", default=os.environ.get("WASIPY_KERNEL"))
    ap.add_argument("--python-wasm", default=os.environ.get("WASIPY_PYTHON_WASM"))
    ap.add_argument("--rounds", type=int, default=10, help="passes over the %d samples (default 10)" % len(SAMPLES))
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--only", choices=("wasipy", "ipykernel"))
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="wasipy-complete-bench-")
    try:
        wasm = args.python_wasm
        if not wasm:
            data = os.environ.get("WASIPY_DATA_DIR") or os.path.join(
                os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "wasipy")
            wasm = os.path.join(data, "python.wasm")
        if not os.path.isfile(wasm):
            sys.exit(f"complete_bench.py: error: no python.wasm at {wasm} (use --python-wasm)")
        kernel_bin = args.kernel_bin
        if not kernel_bin:
            go = shutil.which("go") or "/usr/local/go/bin/go"
            kernel_bin = os.path.join(root, "wasipy-kernel")
            subprocess.run([go, "build", "-o", kernel_bin, "./cmd/kernel"], cwd=REPO, check=True)
        write_specs(root, os.path.abspath(kernel_bin), os.path.abspath(wasm))
        cwd = os.path.join(root, "cwd")
        os.makedirs(cwd)

        kernels = [("wasipy", "wasipy"), ("ipykernel", "bench-ipykernel")]
        if args.only:
            kernels = [k for k in kernels if k[0] == args.only]
        results = {}
        for label, spec in kernels:
            print(f"measuring {label} ...", file=sys.stderr)
            results[label] = measure(spec, args.rounds, cwd)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = args.rounds * len(SAMPLES)
    summary = {}
    for label, (per, counts) in results.items():
        allv = [v for vs in per.values() for v in vs]
        summary[label] = {
            "n": len(allv), "p50_ms": percentile(allv, 50) * 1000, "p99_ms": percentile(allv, 99) * 1000,
            "mean_ms": statistics.fmean(allv) * 1000, "max_ms": max(allv) * 1000,
            "per_sample_p50_ms": {c: percentile(v, 50) * 1000 for c, v in per.items()},
            "matches": counts,
        }

    print(f"\nCompletion latency, namespace of 10k names, {n} completions per kernel "
          f"({len(SAMPLES)} prefixes x {args.rounds}), request to reply:\n")
    labels = list(summary)
    head = f"{'':10}" + "".join(f"{label:>12}" for label in labels)
    if len(labels) == 2:
        head += f"{'ratio':>10}"
    print(head)
    for key, title in (("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("mean_ms", "mean ms"), ("max_ms", "max ms")):
        row = f"{title:10}" + "".join(f"{summary[label][key]:>12.1f}" for label in labels)
        if len(labels) == 2:
            a, b = summary[labels[0]][key], summary[labels[1]][key]
            row += f"{a / b:>9.2f}x"
        print(row)
    print("\np50 per prefix (ms), and number of matches returned:\n")
    w = max(len(repr(c)) for c, _ in SAMPLES) + 2
    print(f"{'prefix':{w}}" + "".join(f"{label:>12}{'#':>6}" for label in labels))
    for code, _ in SAMPLES:
        print(f"{repr(code):{w}}" + "".join(
            f"{ms(summary[label]['per_sample_p50_ms'][code] / 1000):>12}{summary[label]['matches'][code]:>6}"
            for label in labels))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
