"""stdout and stderr as live stream messages: sent while the cell runs, from
Python and from C-level writes to fd 1 and 2, in order, complete, and with
the right parent."""

import pytest

from harness import strip_ansi


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


def test_streams_are_live(k):
    code = "import time\nfor i in range(4):\n    print('line', i)\n    time.sleep(0.5)"
    r = k.execute(code)
    assert r.status == "ok"
    assert r.stdout == "line 0\nline 1\nline 2\nline 3\n"
    streams = r.of_type("stream")
    first_line = next(m for m in streams if "line 0" in m["content"]["text"])
    last_line = next(m for m in streams if "line 3" in m["content"]["text"])
    idle = r.iopub[-1]
    busy = r.iopub[0]
    # The cell takes ~2 s; the first line must arrive about when printed, not
    # at the end: well before the last line and the end of the cell.
    assert idle["_arrived"] - busy["_arrived"] >= 1.9
    assert idle["_arrived"] - first_line["_arrived"] >= 1.2, [
        (m["msg_type"], round(m["_arrived"] - busy["_arrived"], 3)) for m in r.iopub]
    assert last_line["_arrived"] - first_line["_arrived"] >= 1.2
    # Every line came in its own batch, spread over the run.
    arrivals = []
    for i in range(4):
        m = next(m for m in streams if f"line {i}" in m["content"]["text"])
        arrivals.append(m["_arrived"])
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(g >= 0.25 for g in gaps), gaps


def test_stream_without_newline_is_live(k):
    code = "import sys, time\nsys.stdout.write('partial')\ntime.sleep(1)\nsys.stdout.write(' done\\n')"
    r = k.execute(code)
    assert r.stdout == "partial done\n"
    first = next(m for m in r.of_type("stream") if "partial" in m["content"]["text"])
    assert r.iopub[-1]["_arrived"] - first["_arrived"] >= 0.7, r.summary()


def test_c_level_writes(k):
    r = k.ok("import os\nos.write(1, b'fd one\\n')\nos.write(2, b'fd two\\n')\nNone")
    assert r.stdout == "fd one\n"
    assert r.stderr == "fd two\n"


def test_python_and_c_writes_keep_order(k):
    code = ("import os, sys\nprint('py 1')\nos.write(1, b'c 2\\n')\nsys.stdout.write('py 3\\n')\n"
            "os.write(1, b'c 4\\n')\nprint('py 5', flush=True)")
    r = k.ok(code)
    assert r.stdout == "py 1\nc 2\npy 3\nc 4\npy 5\n"


def _merged(r):
    """The stream messages as (name, text), with consecutive same-name
    messages merged (batching may split or join them)."""
    out = []
    for m in r.of_type("stream"):
        name, text = m["content"]["name"], m["content"]["text"]
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1] + text)
        else:
            out.append((name, text))
    return out


def test_stdout_stderr_interleaving_kept(k):
    r = k.ok("import sys\nfor i in range(5):\n    print('out', i)\n    print('err', i, file=sys.stderr)")
    expected = []
    for i in range(5):
        expected += [("stdout", f"out {i}\n"), ("stderr", f"err {i}\n")]
    assert _merged(r) == expected


def test_interleaving_kept_under_volume(k):
    r = k.ok("import sys\nfor i in range(3000):\n    sys.stdout.write(f'o{i}\\n')\n    sys.stderr.write(f'e{i}\\n')")
    expected = []
    for i in range(3000):
        expected += [("stdout", f"o{i}\n"), ("stderr", f"e{i}\n")]
    assert _merged(r) == expected


def test_c_level_interleaving_kept(k):
    r = k.ok("import os\nfor i in range(50):\n    os.write(1, b'o%d\\n' % i)\n    os.write(2, b'e%d\\n' % i)")
    expected = []
    for i in range(50):
        expected += [("stdout", f"o{i}\n"), ("stderr", f"e{i}\n")]
    assert _merged(r) == expected


def test_output_before_result_and_error_order(k):
    r = k.ok("print('before result')\n'the result'")
    types = [m["msg_type"] for m in r.iopub]
    assert types == ["status", "execute_input", "stream", "execute_result", "status"], r.summary()
    r = k.execute("import sys\nprint('before error')\nsys.stdout.write('no newline')\nraise ValueError('after output')")
    types = [m["msg_type"] for m in r.iopub]
    assert types[-2:] == ["error", "status"], r.summary()
    assert r.stdout == "before error\nno newline"
    assert max(i for i, m in enumerate(r.iopub) if m["msg_type"] == "stream") < types.index("error")


def test_100k_lines_complete_and_in_order(k):
    r = k.ok("for i in range(100000):\n    print(i)", timeout=240)
    expected = "".join(f"{i}\n" for i in range(100000))
    got = r.stdout
    if got != expected:
        lines = got.splitlines()
        first_bad = next((i for i, (a, b) in enumerate(zip(lines, map(str, range(100000)))) if a != b), len(lines))
        raise AssertionError(f"stdout differs: {len(lines)} lines, first difference at line {first_bad}")
    assert r.stderr == ""
    for m in r.of_type("stream"):
        assert m["parent_header"]["msg_id"] == r.msg_id


def test_many_stderr_lines_complete(k):
    r = k.ok("import sys\nfor i in range(20000):\n    print(i, file=sys.stderr)", timeout=240)
    assert r.stderr == "".join(f"{i}\n" for i in range(20000))


def test_one_big_write_complete(k):
    r = k.ok("import sys\nsys.stdout.write('x' * 3_000_000 + '\\n')\nNone", timeout=240)
    assert r.stdout == "x" * 3_000_000 + "\n"


def test_unicode_and_split_utf8(k):
    r = k.ok("print('é ü 😀 中文')\nimport os\nb = '😀'.encode()\nos.write(1, b[:2])\nos.write(1, b[2:] + b'\\n')\nNone")
    assert r.stdout == "é ü 😀 中文\n😀\n"


def test_streams_of_queued_cells_keep_their_parent(k):
    a = k.execute_async("import time\nfor i in range(3):\n    print('A', i)\n    time.sleep(0.2)")
    b = k.execute_async("for i in range(3):\n    print('B', i)")
    ra, rb = k.collect(a), k.collect(b)
    assert ra.stdout == "A 0\nA 1\nA 2\n"
    assert rb.stdout == "B 0\nB 1\nB 2\n"
    # rb's idle comes after ra's idle.
    assert rb.iopub[0]["_arrived"] >= ra.iopub[-1]["_arrived"]


def test_traceback_text_goes_to_error_not_stderr(k):
    r = k.execute("raise KeyError('k')")
    assert r.stderr == "", r.summary()
    assert "KeyError" in strip_ansi("\n".join(r.errors[0]["traceback"]))
