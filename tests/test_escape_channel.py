"""Escape tests for the guest channel (#17, section 5): cell code that opens
/.wasipy/host/channel itself and writes what the runtime could write, or
worse, and an interpreter that dies, must never wedge the kernel.

Each test is written as a hostile notebook would: it forges frames, floods
requests, or kills the worker, and then checks that the kernel answers,
that the cells that follow run, and that the user is told what happened.
"""

import os
import signal
import time

import psutil

import harness
from harness import strip_ansi

# Cell-side helpers: frames exactly as the runtime writes them (4-byte
# big-endian length, JSON, optionally NUL and buffers), on a descriptor of
# the cell's own.
FRAMES = r'''
import os, struct, json
def _frame(obj=None, raw=None):
    data = raw if raw is not None else json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data
def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
_fd = os.open("/.wasipy/host/channel", os.O_RDWR)
'''


def _control_kernel_info(k, timeout):
    t0 = time.monotonic()
    r = k.request("kernel_info_request", channel="control", timeout=timeout)
    took = time.monotonic() - t0
    assert r.reply_msg["msg_type"] == "kernel_info_reply", r
    assert r.reply["status"] == "ok", r.reply
    return took


def _workers(k):
    """The kernel's interpreter worker processes (its children)."""
    out = []
    for p in psutil.Process(k.pid).children():
        try:
            if "WASIPY_INTERP_WORKER" in p.environ() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def test_forged_and_malformed_frames_answer_nothing(kernel):
    """Promise: a reply, host_reply, hello or malformed frame written by cell
    code (guessed ids, duplicates, invalid JSON or UTF-8, buffer lengths that
    do not add up, a length prefix over the cap) is dropped: it answers no
    request, the cell that wrote it and every later cell get their own true
    replies, and an oversized length prefix fails the write with OSError
    instead of being buffered."""
    before = kernel.ok("kept = 'before the forgery'")
    code = FRAMES + r'''
forged = 0
for i in range(300):
    # Guessed ids: small integers, as the host used to number its calls,
    # and twice each, to try a duplicate answer too.
    for _ in range(2):
        _write_all(_fd, _frame({"type": "reply", "id": i, "content": {"status": "ok", "forged": True}}))
        forged += 1
for junk in [b"{not json", b'{"type": "reply", "id": 1, "content": "\xff\xfe"}',
             b'{"type":"reply","id":2,"buffer_lengths":[5]}\x00ab',
             b'{"type":"reply","id":3,"buffer_lengths":[1]}\x00abc',
             b'{"type":"reply","id":4,"buffer_lengths":[1]}',
             b'{"type":"hello","content":{"name":"evil"}}',
             b'{"type":"host_reply","rid":1}', b'{"id": 5}', b'[]', b'null', b'']:
    _write_all(_fd, _frame(raw=junk))
    forged += 1
try:
    os.write(_fd, struct.pack(">I", 0xFFFFFFF0) + b"x" * 16)
    huge = "accepted"
except OSError as e:
    huge = "refused"
# Half a frame, left on this descriptor: the runtime's own frames go
# through another one and must not be swallowed into it.
os.write(_fd, struct.pack(">I", 1 << 20) + b"partial")
print("forged", forged, "huge", huge)
'''
    r = kernel.execute(code, timeout=60)
    assert r.status == "ok", r
    assert r.stdout == "forged 611 huge refused\n", r
    assert "forged" not in r.reply, f"a forged reply answered the execute_request: {r.reply!r}"
    assert r.count == before.count + 1
    # The next cells get their own answers, in order, with the session intact.
    for i in range(3):
        assert kernel.value(f"{i} * 7") == str(i * 7)
    assert kernel.value("kept") == "'before the forgery'"
    # The forged hello did not change what the kernel says of its language.
    info = kernel.request("kernel_info_request", channel="control", timeout=10)
    assert info.reply["language_info"]["name"] == "python"


def test_reply_with_the_running_requests_id_answers_it_once(kernel):
    """Promise: even a reply aimed at the running request's own id (found by
    introspection, as cell code can) answers that request at most once; the
    runtime's true reply that follows is dropped as a duplicate, and the next
    cells are answered by their own replies."""
    code = FRAMES + r'''
import gc, sys
ids = {o.get("id") for o in gc.get_objects() if isinstance(o, dict) and o.get("type") == "execute" and "id" in o}
print("aiming at", len(ids))
sys.stdout.flush()
# Nothing is written after the forged replies: the cell's output all came
# before them, so none of it may show up in the next cells.
for i in ids:
    for _ in range(3):
        _write_all(_fd, _frame({"type": "reply", "id": i, "content": {"status": "ok", "user_expressions": {}, "payload": [], "forged": True}}))
'''
    r = kernel.execute(code, timeout=60)
    # Whether the forged or the true reply won, the request got exactly one.
    assert r.status == "ok", r
    assert r.stdout.startswith("aiming at "), r
    for i in range(3):
        got = kernel.execute(f"print('cell', {i})", timeout=60)
        assert got.status == "ok" and "forged" not in got.reply, got
        assert got.stdout == f"cell {i}\n", got


def test_unread_host_requests_do_not_wedge_control_or_interrupts(kernel):
    """Promise: 5,000 host requests written by cell code that never reads the
    answers are bounded (256 in flight, 256 refusals, the rest dropped and
    logged): control kernel_info keeps answering within 2 s, an interrupt ends
    the cell with KeyboardInterrupt, and the session (variables) survives."""
    kernel.ok("survivor = 41")
    code = FRAMES + r'''
for i in range(5000):
    method = ("input", "ffi.call", "nosuch")[i % 3]
    _write_all(_fd, _frame({"type": "host_request", "rid": 10**9 + i, "method": method,
                            "content": {"prompt": "", "password": False, "module": "nosuch", "name": "f", "args": []}}))
print("flooded", flush=True)
while True:
    pass
'''
    msg_id = kernel.execute_async(code)
    kernel.wait_for_output(msg_id, "flooded")
    worst = 0.0
    for _ in range(5):
        worst = max(worst, _control_kernel_info(kernel, timeout=10))
    assert worst < 2.0, f"control kernel_info took {worst:.2f}s during a host-request flood"
    t0 = time.monotonic()
    r = kernel.request("interrupt_request", channel="control", timeout=10)
    assert r.reply["status"] == "ok", r.reply
    res = kernel.collect(msg_id, timeout=30)
    took = time.monotonic() - t0
    assert res.status == "error" and res.reply["ename"] == "KeyboardInterrupt", res
    assert took < 5, f"the interrupt took {took:.2f}s to end the cell"
    # One interrupt was enough: the interpreter (and its variables) lives.
    assert kernel.value("survivor + 1") == "42"
    assert kernel.value("'after'") == "'after'"


def test_host_request_flood_while_reading_is_refused_not_queued(kernel):
    """Promise: a guest that floods host requests past the limit gets error
    answers (HostError: too many requests ... in flight) for the excess, or
    none at all, never an unbounded queue; the kernel serves on."""
    FLOOD = 30000  # well past what the pipes and the limits hold
    code = FRAMES + f"FLOOD = {FLOOD}\n" + r'''
import _wasipy_kernel as K
rt = K.runtime
for i in range(FLOOD):
    _write_all(_fd, _frame({"type": "host_request", "rid": 10**9 + i, "method": "nosuch", "content": {}}))
# Take in the answers through the runtime's own reader.
import time
deadline = time.monotonic() + 20
seen, refused = 0, 0
while time.monotonic() < deadline and seen < FLOOD:
    if not rt.poll(0.5):
        break
    for rid in [r for r in rt._replies if isinstance(r, int) and r >= 10**9]:
        seen += 1
        if "too many" in (rt._replies.pop(rid).get("error") or {}).get("message", ""):
            refused += 1
print("answered", seen, "refused", refused)
'''
    r = kernel.execute(code, timeout=120)
    assert r.status == "ok", r
    words = r.stdout.split()
    answered, refused = int(words[1]), int(words[3])
    # While the cell writes and does not read, the answers back up: at most
    # 256 requests are held in flight and 256 refusals queued at once (a
    # refusal's slot comes back once it is written); the rest are dropped.
    # What is answered is bounded by what the pipes hold (1 MiB each way:
    # about ten thousand small answers), not by the flood.
    assert 0 < refused < answered, r.stdout
    assert 256 <= answered < FLOOD // 2, r.stdout
    assert kernel.ok("print('still serving')").stdout == "still serving\n"


def _kill_worker(k):
    workers = _workers(k)
    assert len(workers) == 1, f"expected one interpreter worker, found {harness.describe(workers)}"
    w = workers[0]
    os.kill(w.pid, signal.SIGKILL)
    w.wait(timeout=10)
    return w.pid


def test_worker_killed_during_a_cell(kernel):
    """Promise: when the interpreter's process is killed (kill -9) while a
    cell runs, that cell ends with an error that says the interpreter was
    killed and restarted and that variables are gone; the next cell runs in
    a fresh interpreter, with the execution count going on."""
    before = kernel.ok("lost_variable = 1")
    msg_id = kernel.execute_async("print('sleeping', flush=True)\nimport time\ntime.sleep(120)")
    kernel.wait_for_output(msg_id, "sleeping")
    old = _kill_worker(kernel)
    r = kernel.collect(msg_id, timeout=60)
    assert r.status == "error", r
    assert r.reply["ename"] == "InterpreterExited", r.reply
    [err] = r.errors
    text = strip_ansi(" ".join(err["traceback"]) + " " + err["evalue"]).lower()
    assert "killed" in text and "restarted" in text and "gone" in text, err
    after = kernel.ok("print('fresh')")
    assert after.stdout == "fresh\n"
    assert after.count == before.count + 2
    assert kernel.execute("lost_variable").reply["ename"] == "NameError"
    assert old not in {w.pid for w in _workers(kernel)}


def test_worker_killed_while_idle_next_cell_runs_and_says_so(kernel):
    """Promise: when the interpreter's process is killed between cells, the
    next cell runs (it is not lost to the death) in a fresh interpreter, and
    its output starts with a stderr note that the interpreter was restarted
    and the variables of earlier cells are gone; control answers throughout."""
    before = kernel.ok("idle_variable = 1")
    old = _kill_worker(kernel)
    assert _control_kernel_info(kernel, timeout=10) < 2.0
    r = kernel.execute("print('ran')")
    assert r.status == "ok", r
    assert r.stdout == "ran\n", r
    note = r.stderr.lower()
    assert "killed" in note and "restarted" in note and "gone" in note, r.stderr
    streams = [m for m in r.iopub if m["msg_type"] == "stream"]
    assert streams[0]["content"]["name"] == "stderr", "the note comes before the cell's own output"
    assert r.count == before.count + 1
    # Told once, not on every cell.
    again = kernel.ok("print('again')")
    assert again.stderr == "", again
    assert kernel.execute("idle_variable").reply["ename"] == "NameError"
    assert old not in {w.pid for w in _workers(kernel)}
