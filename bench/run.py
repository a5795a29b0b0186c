#!/usr/bin/python3
"""Benchmark wasipy against ipykernel, side by side, in one run.

Run it through bench/run.sh (which builds the kernel and finds python.wasm),
or directly:

    /usr/bin/python3 bench/run.py --kernel-bin BIN --python-wasm WASM \
        [--quick] [--json out.json]

What is measured, for each kernel (see docs/BENCHMARKS.md):

1. start-up: from KernelManager.start_kernel() to the first
   kernel_info_reply, and to the first execute_reply; median and min of N
   starts, after one warm-up start per kernel that is not counted (for
   wasipy it runs with an empty compilation cache, and is reported apart);
2. round-trip latency of trivial executes (`pass`), one after the other,
   from sending to the execute_reply and to the iopub `idle` status;
3. stream throughput of `for i in range(100000): print(i)`, from sending to
   `idle`, after checking that every line arrived in order;
4. memory (RSS and PSS) of the kernel's whole process tree when idle,
   after the workload and after the warm-up start; idle CPU;
5. a CPU-bound loop, `sum(i*i for i in range(10**6))`;
6. for wasipy, what its start-up is made of: stamps from the kernel's log,
   and bench/phases (if --phases-bin is given), which times compiling the
   module from the cache, CPython's start, the stdlib imports and the
   runtime sources a kernel start loads, apart from the kernel.

Only one kernel runs at a time, so the two never compete for cores. The
client is a small synchronous ZeroMQ client built here on jupyter_client's
Session (signing, serialisation), so that the same, thin client code sits
in front of both kernels; jupyter_client's KernelManager launches them.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

try:
    import psutil
    import zmq
    from jupyter_client.manager import KernelManager
    from jupyter_client.session import Session
    import jupyter_client
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(
        f"bench/run.py: error: {e}; run it with Debian's /usr/bin/python3 "
        "(python3-jupyter-client, python3-psutil, python3-zmq)"
    )

now = time.perf_counter

WASIPY = "wasipy"
IPYKERNEL = "ipykernel"
KERNELS = (WASIPY, IPYKERNEL)
SPEC_NAMES = {WASIPY: "bench-wasipy", IPYKERNEL: "bench-ipykernel"}

TRIVIAL = "pass"
CPU_CODE = "sum(i*i for i in range(10**6))"
CPU_RESULT = str(sum(i * i for i in range(10**6)))


def stream_code(n):
    return f"for i in range({n}): print(i)"


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# A thin synchronous client: shell (DEALER) and iopub (SUB), one poller.


class Client:
    def __init__(self, km):
        info = km.get_connection_info()
        self.session = Session(
            key=info["key"],
            signature_scheme=info["signature_scheme"],
            username="bench",
        )
        self.ctx = zmq.Context()
        transport, ip = info["transport"], info["ip"]

        def url(port):
            if transport == "ipc":
                return f"ipc://{ip}-{port}"
            return f"{transport}://{ip}:{port}"

        def sock(kind, port):
            s = self.ctx.socket(kind)
            s.linger = 0
            # The client connects before the kernel has bound its ports;
            # ZeroMQ then retries every RECONNECT_IVL (100 ms by default),
            # which would round every start-up figure up to that step.
            s.setsockopt(zmq.RECONNECT_IVL, 5)
            s.connect(url(port))
            return s

        self.shell = sock(zmq.DEALER, info["shell_port"])
        self.iopub = sock(zmq.SUB, info["iopub_port"])
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)

    def close(self):
        for s in (self.shell, self.iopub):
            try:
                s.close(linger=0)
            except Exception:
                pass
        try:
            self.ctx.term()
        except Exception:
            pass

    def send(self, msg_type, content=None):
        msg = self.session.msg(msg_type, content or {})
        t = now()
        self.session.send(self.shell, msg)
        return msg["header"]["msg_id"], t

    def poll(self, timeout):
        """Yields (channel, msg, t_received) for what arrives within timeout
        seconds; t_received is taken before the message is deserialised."""
        events = dict(self.poller.poll(timeout * 1000))
        for sock, name in ((self.iopub, "iopub"), (self.shell, "shell")):
            if sock not in events:
                continue
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
                except zmq.Again:
                    break
                t = now()
                _, smsg = self.session.feed_identities(frames)
                yield name, self.session.deserialize(smsg), t

    def request(self, msg_type, content=None, timeout=60, want_idle=True,
                on_iopub=None, alive=None):
        """Sends a shell request and waits for its reply and, if want_idle,
        for the iopub idle status with it as parent."""
        msg_id, t0 = self.send(msg_type, content)
        reply = t_reply = t_idle = None
        deadline = t0 + timeout
        while reply is None or (want_idle and t_idle is None):
            left = deadline - now()
            if left <= 0:
                raise BenchError(
                    f"{msg_type}: no {'reply' if reply is None else 'idle'} "
                    f"within {timeout:.0f} s"
                )
            if alive is not None and not alive():
                raise BenchError(f"{msg_type}: the kernel process died")
            for chan, msg, t in self.poll(min(left, 1.0)):
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if chan == "shell":
                    reply, t_reply = msg, t
                elif msg["msg_type"] == "status" and \
                        msg["content"].get("execution_state") == "idle":
                    t_idle = t
                elif on_iopub is not None:
                    on_iopub(msg)
        return {
            "reply": reply,
            "to_reply": t_reply - t0,
            "to_idle": (t_idle - t0) if want_idle else None,
        }

    def execute(self, code, timeout=120, on_iopub=None, alive=None, **kw):
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        content.update(kw)
        r = self.request("execute_request", content, timeout=timeout,
                         on_iopub=on_iopub, alive=alive)
        status = r["reply"]["content"].get("status")
        if status != "ok":
            raise BenchError(
                f"execute {code!r}: status {status}: "
                f"{r['reply']['content'].get('evalue', '')}"
            )
        return r

    def wait_iopub(self, timeout=30, alive=None):
        """Makes sure the iopub subscription is live (ZeroMQ's slow-joiner:
        a SUB socket misses what is published before it is connected):
        sends kernel_info_request until its busy/idle shows on iopub."""
        deadline = now() + timeout
        while now() < deadline:
            try:
                self.request("kernel_info_request", timeout=2, alive=alive)
                return
            except BenchError:
                if alive is not None and not alive():
                    raise
        raise BenchError("iopub: no status message within "
                         f"{timeout:.0f} s")


# ---------------------------------------------------------------------------
# Kernels: launch, measure, always clean up.


class Kernel:
    """One kernel process started through KernelManager, with its process
    tree remembered so that nothing it spawned outlives the benchmark."""

    live = set()

    def __init__(self, name, log):
        self.name = name
        self.log = log
        self.km = KernelManager(
            kernel_name=SPEC_NAMES[name],
            connection_file=os.path.join(
                os.environ["JUPYTER_RUNTIME_DIR"],
                f"bench-{name}-{uuid.uuid4().hex[:8]}.json"))
        self.client = None
        self.pids = set()

    def start(self):
        Kernel.live.add(self)
        self.km.start_kernel(stdout=self.log, stderr=self.log)
        self.pids.add(self.pid)

    @property
    def pid(self):
        return self.km.provisioner.process.pid

    def alive(self):
        return self.km.is_alive()

    def tree(self):
        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.pids.update(p.pid for p in procs)
        return procs

    def connect(self):
        self.client = Client(self.km)
        return self.client

    def stop(self):
        self.tree()
        if self.client is not None:
            self.client.close()
            self.client = None
        try:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
        except Exception as e:
            print(f"  warning: shutting {self.name} down: {e}", file=sys.stderr)
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:
                pass
        finally:
            self.kill_leftovers()
            Kernel.live.discard(self)

    def kill_leftovers(self):
        """Kills what is left of this kernel's own process tree (only the
        pids recorded from it), e.g. an interpreter worker child."""
        procs = []
        for pid in self.pids:
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        if not procs:
            return
        _, alive = psutil.wait_procs(procs, timeout=2)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=2)

    @classmethod
    def stop_all(cls):
        for k in list(cls.live):
            k.stop()


def memory(k):
    rss = pss = 0
    procs = k.tree()
    for p in procs:
        try:
            full = p.memory_full_info()
            rss += full.rss
            pss += getattr(full, "pss", full.rss)
        except psutil.NoSuchProcess:
            pass
    return {"rss_mib": rss / 2**20, "pss_mib": pss / 2**20,
            "processes": len(procs)}


def memory_breakdown(name, k, r):
    """Where wasipy's idle memory goes, per process and class (binary, Go
    heap, compiled code, linear memory...; bench/memory.py): printed, and
    kept in the results as r["memory_breakdown"] (bytes)."""
    if name != WASIPY:
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import memory as smaps  # bench/memory.py; run.py's memory() is another

    procs = smaps.tree(k.pid)
    r["memory_breakdown"] = procs
    # The kernel process first, then its interpreter worker.
    labels = (["kernel", "worker"] if len(procs) == 2 else
              [f"{p['name']} {p['pid']}" for p in procs])
    text = smaps.render(*smaps.table(procs, labels))
    print("  idle memory by class, MiB (bench/memory.py):")
    print("\n".join("    " + line for line in text.splitlines()))


def tree_cpu(k):
    """CPU seconds (user + system) used so far by the kernel's process
    tree."""
    t = 0.0
    for p in k.tree():
        try:
            c = p.cpu_times()
            t += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return t


def idle_cpu(k, seconds):
    """CPU time used by the idle kernel tree over `seconds`, in percent of
    one core."""
    c0, t0 = tree_cpu(k), now()
    time.sleep(seconds)
    return 100 * (tree_cpu(k) - c0) / (now() - t0)


def go_duration(s):
    """Seconds in a Go duration as slog prints it ("275ms", "2.41s")."""
    total = 0.0
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6,
             "µs": 1e-6, "ns": 1e-9}
    for num, unit in re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", s):
        total += float(num) * units[unit]
    return total


def wasipy_log_phases(path, offset, wall0):
    """Reads what the wasipy kernel logged for one start: when it was
    listening (seconds after launch; the log has millisecond stamps) and
    how long interp.Start took by its own clock. Empty if the log format
    changed."""
    out = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            text = f.read()
    except OSError:
        return out
    for line in text.splitlines():
        m = re.match(r"time=(\S+) .*msg=listening", line)
        if m and "listening" not in out:
            try:
                ts = datetime.datetime.fromisoformat(
                    m.group(1).replace("Z", "+00:00")).timestamp()
                out["listening"] = ts - wall0
            except ValueError:
                pass
        m = re.search(r'msg="interpreter started".* took=(\S+)', line)
        if m and "interpreter_start" not in out:
            out["interpreter_start"] = go_duration(m.group(1))
            # The worker's own phases (worker.StartInfo): how it started
            # (image=restored, or image="none: why") and what took how long.
            im = re.search(r' image=("[^"]*"|\S+)', line)
            if im:
                out["image"] = im.group(1).strip('"')
            for key in ("compile_ms", "restore_ms", "init_ms"):
                v = re.search(r" " + key + r"=([0-9.]+)", line)
                if v:
                    out[key[:-3]] = float(v.group(1)) / 1e3
    return out


def timed_start(name, log):
    """Starts a kernel and times it: launch -> first kernel_info_reply ->
    first execute_reply. Returns (kernel, figures); the caller stops it."""
    k = Kernel(name, log)
    log.flush()
    offset = os.path.getsize(log.name)
    wall0 = time.time()
    t0 = now()
    k.start()
    c = k.connect()
    info = c.request("kernel_info_request", timeout=120, want_idle=False,
                     alive=k.alive)
    t_info = now()
    c.execute(TRIVIAL, timeout=120, alive=k.alive)
    t_exec = now()
    lang = info["reply"]["content"].get("language_info", {})
    phases = {}
    if name == WASIPY:
        phases = wasipy_log_phases(log.name, offset, wall0)
    return k, {
        "phases": phases,
        "to_kernel_info": t_info - t0,
        "to_first_execute": t_exec - t0,
        "language_version": lang.get("version"),
        "implementation": info["reply"]["content"].get("implementation"),
        "implementation_version":
            info["reply"]["content"].get("implementation_version"),
    }


def bench_startup(args, logs, results):
    print(f"start-up: 1 warm-up + {args.starts} starts per kernel, "
          "interleaved")
    for i in range(args.starts + 1):
        for name in KERNELS:
            k, fig = timed_start(name, logs[name])
            if i == 0:
                # wasipy's worker compiled the module itself this time.
                time.sleep(0.5)
                results[name]["memory_warmup"] = memory(k)
            k.stop()
            r = results[name]
            r["about"] = {kk: fig[kk] for kk in
                          ("language_version", "implementation",
                           "implementation_version")}
            if i == 0:
                r["startup_warmup"] = fig["to_kernel_info"]
                r["startup_warmup_execute"] = fig["to_first_execute"]
            else:
                r["startup"].append(fig["to_kernel_info"])
                r["startup_execute"].append(fig["to_first_execute"])
                if fig["phases"]:
                    r.setdefault("startup_phases", []).append(fig["phases"])
            print(f"  {'warm-up' if i == 0 else f'start {i}':>8} {name:<9}"
                  f" kernel_info {fig['to_kernel_info'] * 1e3:7.0f} ms,"
                  f" first execute {fig['to_first_execute'] * 1e3:7.0f} ms")


# Run in a fresh wasipy kernel: what its start loaded, as (runtime source
# files relative to the runtime folder, other modules), from sys.modules.
LOADED_CODE = """\
import sys as _s, os as _o
_k = _s.modules['_wasipy_kernel'].__file__
_d = _o.path.dirname(_k) + '/'
_files, _mods = [], []
for _n, _m in sorted(_s.modules.items()):
    _f = getattr(_m, '__file__', None) or ''
    if _f.startswith(_d):
        _files.append(_f[len(_d):])
    elif _n != '__main__':
        _mods.append(_n)
print(repr((_files, _mods)))
del _s, _o, _k, _d, _files, _mods, _n, _m, _f
"""


def loaded_at_start(logs):
    """Asks a freshly started wasipy kernel what its start loaded."""
    import ast
    k = Kernel(WASIPY, logs[WASIPY])
    try:
        k.start()
        c = k.connect()
        c.wait_iopub(alive=k.alive)
        out = []
        c.execute(LOADED_CODE, alive=k.alive, store_history=False,
                  on_iopub=lambda m: m["msg_type"] == "stream" and
                  out.append(m["content"]["text"]))
        return ast.literal_eval("".join(out).strip())
    finally:
        k.stop()


def bench_phases(args, tmp, logs, results):
    """Times the pieces of wasipy's interpreter start apart from the kernel
    (bench/phases), on the compilation cache the starts above filled."""
    if not args.phases_bin:
        return
    cache = os.path.join(tmp, "wasipy-cache")
    # The kernel keeps a copy of the module without DWARF at the top of its
    # cache dir; bench/phases strips the original itself when there is none.
    copies = sorted((os.path.getmtime(os.path.join(cache, f)), f)
                    for f in os.listdir(cache) if f.endswith(".wasm"))
    module = os.path.join(cache, copies[-1][1]) if copies else \
        args.python_wasm
    try:
        files, imports = loaded_at_start(logs)
    except (BenchError, ValueError, SyntaxError) as e:
        print(f"  warning: could not list what a start loads: {e}",
              file=sys.stderr)
        files, imports = [], []
    if not os.path.isdir(args.runtime_dir):
        files = []
    cmd = [args.phases_bin, "-module", module,
           "-cache", os.path.join(cache, "wazero"),
           "-imports", ",".join(imports), "-runs", "3"]
    if files:
        cmd += ["-runtime", args.runtime_dir, "-compile", ",".join(files)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        print(f"  warning: bench/phases failed: {r.stderr.strip()}",
              file=sys.stderr)
        return
    ph = json.loads(r.stdout)
    results[WASIPY]["interpreter_phases"] = ph
    print(f"wasipy interpreter phases (bench/phases, median of 3): compile "
          f"from cache {ph['compile'] * 1e3:.0f} ms, python -c pass "
          f"{ph['python_c_pass'] * 1e3:.0f} ms, with the runtime's "
          f"{len(imports)} stdlib modules "
          f"{ph['runtime_imports'] * 1e3:.0f} ms; compiling the runtime's "
          f"{len(files)} source files {ph.get('runtime_compile', 0) * 1e3:.0f}"
          " ms")


def bench_session(name, args, logs, results):
    """One long-lived kernel: memory, latency, stream, CPU."""
    r = results[name]
    print(f"{name}: session")
    k = Kernel(name, logs[name])
    try:
        k.start()
        c = k.connect()
        c.wait_iopub(alive=k.alive)
        for _ in range(20):
            c.execute(TRIVIAL, alive=k.alive)
        c.execute("x = [1, 2, 3]\nx", alive=k.alive)
        c.execute("print('hello')", alive=k.alive)
        time.sleep(1.0)
        r["memory_idle"] = memory(k)
        memory_breakdown(name, k, r)
        r["idle_cpu_percent"] = idle_cpu(k, args.idle_seconds)
        print(f"  idle: RSS {r['memory_idle']['rss_mib']:.1f} MiB "
              f"(PSS {r['memory_idle']['pss_mib']:.1f} MiB, "
              f"{r['memory_idle']['processes']} processes), "
              f"CPU {r['idle_cpu_percent']:.1f} %")

        # latency
        to_reply, to_idle = [], []
        for _ in range(args.executes):
            m = c.execute(TRIVIAL, alive=k.alive)
            to_reply.append(m["to_reply"])
            to_idle.append(m["to_idle"])
        r["latency_reply"] = to_reply
        r["latency_idle"] = to_idle
        # The wire alone: kernel_info_request needs no code to run.
        r["latency_kernel_info"] = [
            c.request("kernel_info_request", want_idle=False,
                      alive=k.alive)["to_reply"]
            for _ in range(args.executes)]
        print(f"  {args.executes} x {TRIVIAL!r}: reply p50 "
              f"{pct(to_reply, 50) * 1e3:.2f} ms, p99 "
              f"{pct(to_reply, 99) * 1e3:.2f} ms; idle p50 "
              f"{pct(to_idle, 50) * 1e3:.2f} ms, p99 "
              f"{pct(to_idle, 99) * 1e3:.2f} ms")

        # stream throughput
        expected = "".join(f"{i}\n" for i in range(args.lines))
        r["stream"] = []
        for _ in range(args.stream_runs):
            parts, nmsg = [], [0]

            def on_iopub(msg, parts=parts, nmsg=nmsg):
                if msg["msg_type"] == "stream":
                    nmsg[0] += 1
                    if msg["content"].get("name") == "stdout":
                        parts.append(msg["content"]["text"])

            cpu0 = tree_cpu(k)
            m = c.execute(stream_code(args.lines), timeout=300,
                          on_iopub=on_iopub, alive=k.alive)
            cpu = tree_cpu(k) - cpu0
            got = "".join(parts)
            if got != expected:
                lines = got.count("\n")
                raise BenchError(
                    f"{name}: stream: got {lines} lines "
                    f"({len(got)} bytes), want {args.lines} in order")
            r["stream"].append({
                "seconds_to_idle": m["to_idle"],
                "seconds_to_reply": m["to_reply"],
                "messages": nmsg[0],
                "lines_per_second": args.lines / m["to_idle"],
                "kernel_cpu_seconds": cpu,
            })
            print(f"  {args.lines} lines: {m['to_idle']:.2f} s to idle, "
                  f"{args.lines / m['to_idle']:,.0f} lines/s, "
                  f"{nmsg[0]} stream messages, kernel CPU {cpu:.2f} s")

        # CPU-bound loop
        r["cpu"] = []
        for _ in range(args.cpu_runs):
            out = []

            def on_iopub(msg, out=out):
                if msg["msg_type"] == "execute_result":
                    out.append(msg["content"]["data"].get("text/plain"))

            m = c.execute(CPU_CODE, timeout=300, on_iopub=on_iopub,
                          alive=k.alive)
            if out != [CPU_RESULT]:
                raise BenchError(f"{name}: {CPU_CODE}: got {out}")
            r["cpu"].append(m["to_idle"])
        print(f"  {CPU_CODE}: median {statistics.median(r['cpu']):.3f} s")

        time.sleep(1.0)
        r["memory_after"] = memory(k)
        print(f"  after the workload: RSS "
              f"{r['memory_after']['rss_mib']:.1f} MiB")
    finally:
        k.stop()


# ---------------------------------------------------------------------------
# Figures.


def pct(xs, p):
    """Percentile with linear interpolation between closest ranks."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * p / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def rows(results, args):
    """(label, unit, better, wasipy value, ipykernel value, format)."""
    def both(f):
        out = []
        for name in KERNELS:
            try:
                out.append(f(results[name]))
            except (KeyError, ValueError, statistics.StatisticsError):
                out.append(None)
        return out

    ms = 1e3
    table = [
        ("start -> kernel_info_reply, median", "ms", "lower",
         *both(lambda r: statistics.median(r["startup"]) * ms), "{:.0f}"),
        ("start -> kernel_info_reply, min", "ms", "lower",
         *both(lambda r: min(r["startup"]) * ms), "{:.0f}"),
        ("start -> first execute_reply, median", "ms", "lower",
         *both(lambda r: statistics.median(r["startup_execute"]) * ms),
         "{:.0f}"),
        ("warm-up start, not counted (*)", "ms", "lower",
         *both(lambda r: r["startup_warmup"] * ms), "{:.0f}"),
        (f"execute {TRIVIAL!r} -> reply, p50", "ms", "lower",
         *both(lambda r: pct(r["latency_reply"], 50) * ms), "{:.2f}"),
        (f"execute {TRIVIAL!r} -> reply, p99", "ms", "lower",
         *both(lambda r: pct(r["latency_reply"], 99) * ms), "{:.2f}"),
        (f"execute {TRIVIAL!r} -> idle, p50", "ms", "lower",
         *both(lambda r: pct(r["latency_idle"], 50) * ms), "{:.2f}"),
        (f"execute {TRIVIAL!r} -> idle, p99", "ms", "lower",
         *both(lambda r: pct(r["latency_idle"], 99) * ms), "{:.2f}"),
        ("kernel_info_request -> reply, p50 (no code runs)", "ms",
         "lower", *both(lambda r: pct(r["latency_kernel_info"], 50) * ms),
         "{:.2f}"),
        (f"stream {args.lines} lines, median", "lines/s", "higher",
         *both(lambda r: statistics.median(
             s["lines_per_second"] for s in r["stream"])), "{:,.0f}"),
        (f"stream {args.lines} lines, best", "lines/s", "higher",
         *both(lambda r: max(
             s["lines_per_second"] for s in r["stream"])), "{:,.0f}"),
        (f"stream {args.lines} lines: kernel CPU, median", "s", "lower",
         *both(lambda r: statistics.median(
             s["kernel_cpu_seconds"] for s in r["stream"])), "{:.2f}"),
        ("idle RSS, process tree", "MiB", "lower",
         *both(lambda r: r["memory_idle"]["rss_mib"]), "{:.1f}"),
        ("idle PSS, process tree", "MiB", "lower",
         *both(lambda r: r["memory_idle"]["pss_mib"]), "{:.1f}"),
        ("RSS after the workload", "MiB", "lower",
         *both(lambda r: r["memory_after"]["rss_mib"]), "{:.1f}"),
        ("RSS after the warm-up start (*)", "MiB", "lower",
         *both(lambda r: r["memory_warmup"]["rss_mib"]), "{:.1f}"),
        ("idle CPU", "% of a core", "lower",
         *both(lambda r: r["idle_cpu_percent"]), "{:.1f}"),
        (f"{CPU_CODE}, median", "s", "lower",
         *both(lambda r: statistics.median(r["cpu"])), "{:.3f}"),
    ]
    return table


def breakdown(results):
    """(label, ms) rows: what wasipy's start-up is made of."""
    r = results[WASIPY]
    out = []
    starts = [(ph, t) for ph, t in zip(r.get("startup_phases", []),
                                        r["startup"])
              if "listening" in ph and "interpreter_start" in ph]
    if len(starts) == len(r["startup"]) and starts:
        med = statistics.median
        images = sorted({ph.get("image", "?") for ph, _ in starts})
        out += [
            ("launch -> kernel listening (kernel's log stamps, +-1 ms)",
             med(ph["listening"] for ph, _ in starts)),
            ("interp.Start: worker, compile, restore or CPython init "
             f"(kernel's log; started: {', '.join(images)})",
             med(ph["interpreter_start"] for ph, _ in starts)),
        ]
        for key, label in (
                ("compile", "  of which: worker reads and compiles "
                 "python.wasm from the cache"),
                ("restore", "  of which: instantiate, write the image "
                 "into memory"),
                ("init", "  of which: CPython init and the runtime's "
                 "prepare (no image)")):
            vals = [ph[key] for ph, _ in starts if ph.get(key)]
            if vals:
                out.append((label, med(vals)))
        out += [
            # The kernel starts its interpreter as it launches, while it
            # binds its sockets: the rest is what follows the start.
            ("the rest, up to kernel_info_reply (the interpreter starts "
             "at launch, beside binding the sockets)",
             med(t - ph["interpreter_start"] for ph, t in starts)),
        ]
    ph = r.get("interpreter_phases")
    if ph:
        out += [
            ("  apart: read the stripped module", ph["read_module"]),
            ("  apart: compile from the compilation cache", ph["compile"]),
            ("  apart: python -c pass (instantiate, init, exit)",
             ph["python_c_pass"]),
            (f"  apart: python -c 'import <the {len(ph['imports'])} stdlib "
             "modules a start loads>'", ph["runtime_imports"]),
        ]
        if ph.get("compile_files"):
            out.append((f"  apart: compile the runtime's "
                        f"{len(ph['compile_files'])} .py files (in-guest "
                        "clock)", ph["runtime_compile"]))
        for m, v in sorted((ph.get("extra") or {}).items()):
            out.append((f"  apart: python -c 'import {m}'", v))
    return [(lab, f"{v * 1e3:.0f}") for lab, v in out]


def render_breakdown(rows_):
    if not rows_:
        return "", ""
    head = ("wasipy start-up, median", "ms")
    w0 = max(len(r[0]) for r in [head] + rows_)
    w1 = max(len(r[1]) for r in [head] + rows_)
    plain = [f"{head[0]:<{w0}}  {head[1]:>{w1}}", "-" * w0 + "  " + "-" * w1]
    plain += [f"{a:<{w0}}  {b:>{w1}}" for a, b in rows_]
    md = [f"| {head[0]} | {head[1]} |", "| --- | ---: |"]
    md += [f"| {a.strip()} | {b} |" for a, b in rows_]
    return "\n".join(plain), "\n".join(md)


def fmt(v, f):
    return "-" if v is None else f.format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def render(table):
    head = ("measure", "unit", "wasipy", "ipykernel", "wasipy/ipykernel",
            "better")
    body = [(lab, unit, fmt(w, f), fmt(i, f), ratio(w, i), better)
            for lab, unit, better, w, i, f in table]
    widths = [max(len(r[c]) for r in [head] + body) for c in range(6)]
    right = (False, False, True, True, True, False)

    def line(r):
        return "  ".join(
            (c.rjust(w) if rj else c.ljust(w))
            for c, w, rj in zip(r, widths, right)).rstrip()

    plain = [line(head), line(tuple("-" * w for w in widths))]
    plain += [line(r) for r in body]
    md = ["| " + " | ".join(head) + " |",
          "| " + " | ".join("---:" if rj else "---" for rj in right) + " |"]
    md += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(plain), "\n".join(md)


def machine(args):
    def run(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=30)
        except Exception:
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    return {
        "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": platform.processor() or run(
            ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]),
        "kernel": platform.release(),
        "memory_mib": psutil.virtual_memory().total // 2**20,
        "loadavg_at_start": os.getloadavg(),
        "go": run([args.go, "version"]) if args.go else None,
        "client_python": platform.python_version(),
        "jupyter_client": jupyter_client.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "ipykernel_python": args.ipykernel_python,
        "ipykernel": run([args.ipykernel_python, "-c",
                          "import ipykernel; print(ipykernel.__version__)"]),
        "kernel_bin": args.kernel_bin,
        "python_wasm": args.python_wasm,
        "git": run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                    "describe", "--always", "--dirty"]),
    }


# ---------------------------------------------------------------------------
# Restart (issue #13): jupyter_client's own restart, the way users restart
# (Jupyter Server's restart button and nbclient call km.restart_kernel()),
# until the kernel is ready again (kc.wait_for_ready()).

RESTART_SPECS = {
    # line label -> (kernelspec name, extra kernel flags or None for ipykernel)
    "wasipy, provisioner (restart in place)": ("bench-wasipy-provisioned", []),
    "wasipy, provisioner + --warm-spare": ("bench-wasipy-spare", ["--warm-spare"]),
    "wasipy, plain kernelspec (new process)": (SPEC_NAMES[WASIPY], None),
    "ipykernel": (SPEC_NAMES[IPYKERNEL], None),
}


# Seconds between a restart and the next one (after a cell ran).
RESTART_PAUSE = 1.0


def write_restart_specs(args, tmp):
    """Installs wasipy's provisioner into a private site folder (as
    install.sh does into the Python that runs Jupyter) and writes the
    kernelspecs that use it. Returns why it cannot, or None."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    site = os.path.join(tmp, "provisioner-site")
    r = subprocess.run([sys.executable, os.path.join(
        here, "kernelspec", "provisioner", "install_provisioner.py"), site],
        capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot install the provisioner: " + r.stderr.strip()[-300:]
    try:
        import Cryptodome  # noqa: F401 (the provisioner needs it)
    except ImportError:
        return "the provisioner needs pycryptodome (python3-pycryptodome)"
    sys.path.insert(0, site)
    os.environ["PYTHONPATH"] = site + (
        os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    kernels = os.path.join(tmp, "jupyter", "kernels")
    for spec_name, extra in RESTART_SPECS.values():
        if extra is None:
            continue
        d = os.path.join(kernels, spec_name)
        subprocess.run([args.kernel_bin, "kernelspec", "--write", d,
                        "--engine", "provisioner",
                        "--python-wasm", args.python_wasm],
                       check=True, stdout=subprocess.DEVNULL)
        path = os.path.join(d, "kernel.json")
        with open(path) as f:
            spec = json.load(f)
        # The same private compilation cache as the plain kernelspec.
        spec["argv"][1:1] = ["--cache-dir", os.path.join(tmp, "wasipy-cache"),
                             "--log-level", "info"] + extra
        with open(path, "w") as f:
            json.dump(spec, f, indent=2)
    return None


class _Tree:
    """memory() of a KernelManager's process tree."""

    def __init__(self, km):
        self.km = km

    def tree(self):
        try:
            root = psutil.Process(self.km.provisioner.process.pid)
            return [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def timed_restarts(spec_name, n, log):
    """Starts a kernel, then restarts it n times: km.restart_kernel()
    followed by kc.wait_for_ready(), each after a cell ran. Returns the
    times, the times to the first kernel_info_reply after the restart
    (wait_for_ready itself then ends only after 0.2 s without iopub
    messages, with any kernel), whether the process stayed, and the idle
    memory of the tree after the last restart."""
    km = KernelManager(kernel_name=spec_name, connection_file=os.path.join(
        os.environ["JUPYTER_RUNTIME_DIR"], f"bench-restart-{uuid.uuid4().hex[:8]}.json"))
    km.start_kernel(stdout=log, stderr=log)
    pids = set()
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        first_pid = km.provisioner.process.pid
        times, replies = [], []
        for _ in range(n):
            r = kc.execute("x = 1", reply=True, timeout=120)
            if r["content"]["status"] != "ok":
                raise BenchError(f"{spec_name}: a cell failed before a restart: {r['content']}")
            pids.update(p.pid for p in _Tree(km).tree())
            # A user restarts after a while, not right after the last
            # restart: by then a warm spare (--warm-spare) is prepared.
            # ipykernel has nothing to prepare; the pause is the same.
            time.sleep(RESTART_PAUSE)
            t0 = now()
            km.restart_kernel()
            msg_id = kc.kernel_info()
            while kc.get_shell_msg(timeout=120)["parent_header"].get("msg_id") != msg_id:
                pass
            replies.append(now() - t0)
            kc.wait_for_ready(timeout=120)
            times.append(now() - t0)
        r = kc.execute("x", reply=True, timeout=120)
        if r["content"].get("ename") != "NameError":
            raise BenchError(f"{spec_name}: the state survived a restart: {r['content']}")
        time.sleep(1.0)  # a warm spare, if any, is up by now
        mem = memory(_Tree(km))
        pids.update(p.pid for p in _Tree(km).tree())
        return {"times": times, "to_kernel_info_reply": replies, "same_process": km.provisioner.process.pid == first_pid,
                "memory_idle": mem}
    finally:
        kc.stop_channels()
        try:
            km.shutdown_kernel(now=False)
        except Exception as e:
            print(f"  warning: shutting {spec_name} down: {e}", file=sys.stderr)
        procs = []
        for pid in pids:
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            p.kill()


def bench_restart(args, tmp, logs, results):
    """Restart times of both kernels, median of args.starts (>= 5)
    restarts: wasipy through its provisioner (restart in place, with and
    without a warm spare) and through the plain kernelspec."""
    n = max(5, args.starts)
    why = write_restart_specs(args, tmp)
    print(f"restart: km.restart_kernel() + kc.wait_for_ready(), {n} per kernel")
    figures = {}
    for label, (spec_name, extra) in RESTART_SPECS.items():
        if why and extra is not None:
            print(f"  {label}: skipped ({why})")
            continue
        log = logs[IPYKERNEL if spec_name == SPEC_NAMES[IPYKERNEL] else WASIPY]
        f = timed_restarts(spec_name, n, log)
        figures[label] = f
        print(f"  {label:<40} median {statistics.median(f['times']) * 1e3:6.0f} ms,"
              f" to kernel_info_reply {statistics.median(f['to_kernel_info_reply']) * 1e3:4.0f} ms,"
              f" min {min(f['times']) * 1e3:6.0f} ms,"
              f" {'same process' if f['same_process'] else 'new process'},"
              f" idle RSS {f['memory_idle']['rss_mib']:.1f} MiB"
              f" PSS {f['memory_idle']['pss_mib']:.1f} MiB"
              f" ({f['memory_idle']['processes']} processes)")
    results[WASIPY]["restart"] = {k: v for k, v in figures.items() if k != "ipykernel"}
    results[IPYKERNEL]["restart"] = figures.get("ipykernel")
    ref = figures.get("ipykernel")
    if not ref:
        return
    ref_med = statistics.median(ref["times"])
    ref_reply = statistics.median(ref["to_kernel_info_reply"])
    print()
    print(f"| restart, median of {n} | km.restart_kernel() -> kc.wait_for_ready(), ms | /ipykernel "
          "| -> first kernel_info_reply, ms | /ipykernel | process | idle RSS MiB | idle PSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for label, f in figures.items():
        med = statistics.median(f["times"])
        rep = statistics.median(f["to_kernel_info_reply"])
        print(f"| {label} | {med * 1e3:.0f} | {med / ref_med:.2f}x | {rep * 1e3:.0f} | {rep / ref_reply:.2f}x | "
              f"{'kept' if f['same_process'] else 'new'} | "
              f"{f['memory_idle']['rss_mib']:.1f} | {f['memory_idle']['pss_mib']:.1f} |")
    print("(wait_for_ready ends only after 0.2 s without iopub messages, whatever the kernel: "
          "jupyter_client 7's flush; the kernel_info_reply column leaves that out.)")
    print()


# Set-up: a private Jupyter path with both kernelspecs.


def write_specs(args, tmp):
    kernels = os.path.join(tmp, "jupyter", "kernels")
    wdir = os.path.join(kernels, SPEC_NAMES[WASIPY])
    subprocess.run([args.kernel_bin, "kernelspec", "--write", wdir,
                    "--python-wasm", args.python_wasm],
                   check=True, stdout=subprocess.DEVNULL)
    path = os.path.join(wdir, "kernel.json")
    with open(path) as f:
        spec = json.load(f)
    # A private compilation cache: the warm-up start fills it, so every run
    # measures the same thing whatever ~/.cache holds.
    spec["argv"][1:1] = ["--cache-dir", os.path.join(tmp, "wasipy-cache"), "--log-level", "info"]
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)

    idir = os.path.join(kernels, SPEC_NAMES[IPYKERNEL])
    os.makedirs(idir)
    with open(os.path.join(idir, "kernel.json"), "w") as f:
        json.dump({
            "argv": [args.ipykernel_python, "-m", "ipykernel_launcher",
                     "-f", "{connection_file}"],
            "display_name": "ipykernel (bench)",
            "language": "python",
        }, f, indent=2)

    os.environ["JUPYTER_PATH"] = os.path.join(tmp, "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(tmp, "runtime")
    os.makedirs(os.environ["JUPYTER_RUNTIME_DIR"], exist_ok=True)
    # A fresh IPython profile, so that no user configuration (startup
    # files, extensions) slows ipykernel down or speeds it up.
    os.environ["IPYTHONDIR"] = os.path.join(tmp, "ipython")


def check_tools(args):
    if not os.access(args.kernel_bin, os.X_OK):
        raise BenchError(f"kernel binary {args.kernel_bin}: not executable "
                         "(build it: go build -o BIN ./cmd/kernel)")
    if not os.path.isfile(args.python_wasm):
        raise BenchError(f"python.wasm {args.python_wasm}: not found")
    r = subprocess.run([args.ipykernel_python, "-c", "import ipykernel"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{args.ipykernel_python} cannot import ipykernel "
                         "(install python3-ipykernel)")


def wasm_build(wasm):
    """How the interpreter was built: build/python/build.sh leaves its
    compiler flags in FLAGS beside python.wasm; the npm build is -O0."""
    try:
        with open(os.path.join(os.path.dirname(wasm), "FLAGS")) as f:
            flags = f.read().replace("=", " ").split()  # CFLAGS=-O2 -g ...
    except OSError:
        return "WASI build, npm, -O0"
    opt = next((x for x in flags if x.startswith("-O")), "")
    return f"WASI build from Debian's sources{', ' + opt if opt else ''}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel-bin", default=shutil.which("wasipy-kernel"),
                    help="the wasipy kernel binary (bench/run.sh builds it)")
    ap.add_argument("--python-wasm",
                    default=os.environ.get("WASIPY_PYTHON_WASM"),
                    help="the interpreter (default $WASIPY_PYTHON_WASM)")
    ap.add_argument("--ipykernel-python", default="/usr/bin/python3",
                    help="the Python that runs ipykernel")
    ap.add_argument("--go", default=shutil.which("go") or
                    (os.path.exists("/usr/local/go/bin/go") and
                     "/usr/local/go/bin/go") or None,
                    help="go binary, only to record its version")
    ap.add_argument("--phases-bin",
                    help="bench/phases binary: times compile, interpreter "
                    "start and imports apart (bench/run.sh builds it)")
    ap.add_argument("--runtime-dir", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "interp", "runtime"),
        help="the kernel's Python-side runtime sources (bench/phases "
        "times compiling the ones a start loads)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer samples: 3 starts, 100 executes, 20k lines")
    ap.add_argument("--json", metavar="FILE", help="write raw numbers here")
    ap.add_argument("--markdown", metavar="FILE",
                    help="write the Markdown table here")
    ap.add_argument("--starts", type=int)
    ap.add_argument("--executes", type=int)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (kernel logs)")
    args = ap.parse_args()
    if args.starts is None:
        args.starts = 3 if args.quick else 7
    if args.executes is None:
        args.executes = 100 if args.quick else 500
    if args.quick and args.lines == 100_000:
        args.lines = 20_000
    args.stream_runs = 1 if args.quick else 5
    args.cpu_runs = 1 if args.quick else 3
    args.idle_seconds = 1.0 if args.quick else 3.0
    if not args.kernel_bin or not args.python_wasm:
        ap.error("need --kernel-bin and --python-wasm (or use bench/run.sh)")
    args.kernel_bin = os.path.abspath(args.kernel_bin)
    args.python_wasm = os.path.abspath(args.python_wasm)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    tmp = tempfile.mkdtemp(prefix="wasipy-bench-")
    logs = {}
    results = {n: {"startup": [], "startup_execute": []} for n in KERNELS}
    failed = False
    t_run = now()
    try:
        check_tools(args)
        write_specs(args, tmp)
        for n in KERNELS:
            logs[n] = open(os.path.join(tmp, f"{n}.log"), "w")
        info = machine(args)
        print(f"wasipy benchmark, {info['date']}, {info['nproc']} cores, "
              f"Linux {info['kernel']}, {info['go']}")
        bench_startup(args, logs, results)
        bench_phases(args, tmp, logs, results)
        bench_restart(args, tmp, logs, results)
        for n in KERNELS:
            bench_session(n, args, logs, results)
    except BaseException as e:
        failed = True
        print(f"bench/run.py: error: {type(e).__name__}: {e}",
              file=sys.stderr)
        for n, f in logs.items():
            f.flush()
            try:
                with open(f.name) as lf:
                    tail = lf.read()[-2000:]
                if tail.strip():
                    print(f"--- {n} log (tail) ---\n{tail}", file=sys.stderr)
            except OSError:
                pass
    finally:
        Kernel.stop_all()
        for f in logs.values():
            f.close()
        if args.keep or failed:
            print(f"kernel logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        return 1

    info["seconds"] = now() - t_run
    info["loadavg_at_end"] = os.getloadavg()
    table = rows(results, args)
    plain, md = render(table)
    bplain, bmd = render_breakdown(breakdown(results))
    note = ("(*) warm-up start: wasipy's runs with an empty compilation "
            "cache (it strips the module and compiles it); ipykernel's "
            "warms the page cache and a fresh IPython profile.")
    print()
    print(plain)
    print(note)
    if bplain:
        print()
        print(bplain)
    print()
    print(md)
    print()
    print(note)
    if bmd:
        print()
        print(bmd)
    print(f"\nwasipy: Python {results[WASIPY]['about']['language_version']}"
          f" ({wasm_build(args.python_wasm)}); ipykernel {info['ipykernel']}: Python "
          f"{results[IPYKERNEL]['about']['language_version']} (native). "
          f"Whole run: {info['seconds']:.0f} s. Load average (1 min) at "
          f"start {info['loadavg_at_start'][0]:.2f}, at end "
          f"{info['loadavg_at_end'][0]:.2f}.")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n\n" + note + "\n" +
                    ("\n" + bmd + "\n" if bmd else ""))
    if args.json:
        out = {
            "machine": info,
            "settings": {k: getattr(args, k) for k in (
                "quick", "starts", "executes", "lines", "stream_runs",
                "cpu_runs", "idle_seconds")},
            "results": results,
            "table": [
                {"measure": lab, "unit": unit, "better": better,
                 WASIPY: w, IPYKERNEL: i,
                 "ratio": (w / i) if w is not None and i else None}
                for lab, unit, better, w, i, _ in table],
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"raw numbers: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
