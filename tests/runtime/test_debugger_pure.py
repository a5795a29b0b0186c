"""Promise: the debugger names cells as ipykernel does (the same murmur2
hash, seed and file name shape), so JupyterLab, which hashes a cell's
text itself, finds the file a cell runs as; and its DAP dispatch answers
every request with a response, failing cleanly before initialize."""

import importlib.util
import os
import random

import pytest

import _wasipy_debugger as dbg

IPYKERNEL_COMPILER = "/usr/lib/python3/dist-packages/ipykernel/compiler.py"


def _ipykernel_murmur2():
    if not os.path.isfile(IPYKERNEL_COMPILER):
        pytest.skip("ipykernel's compiler.py is not installed")
    spec = importlib.util.spec_from_file_location("_ipykernel_compiler", IPYKERNEL_COMPILER)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        pytest.skip(f"ipykernel's compiler cannot be imported: {e}")
    return module


def test_hash_matches_ipykernel():
    ref = _ipykernel_murmur2()
    assert dbg.HASH_SEED == ref.get_tmp_hash_seed()
    rng = random.Random(15)
    cells = ["", "a", "ab", "abc", "abcd", "def f(a, b):\n    c = a + b\n    return c\n\nf(2, 3)", "é€😀x" * 7]
    cells += ["".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 60))) for _ in range(500)]
    for code in cells:
        assert dbg.murmur2(code.encode("utf-8"), dbg.HASH_SEED) == ref.murmur2_x86(code, ref.get_tmp_hash_seed()), code
        assert dbg.cell_path(code) == f"{dbg.CELL_PREFIX}{ref.murmur2_x86(code, ref.get_tmp_hash_seed())}.py"


class _Shell:
    user_ns = {"x": 1, "_i1": "hidden", "In": [], "_3": 3}
    cell_filename = None
    active_cell = None


class _Router:
    def __init__(self):
        self.sent = []

    def send(self, msg, buffers=None):
        self.sent.append(msg)


def test_requests_before_initialize_and_unknown_ones_fail_cleanly():
    d = dbg.Debugger(_Shell(), _Router())
    for req in [{"seq": 1, "command": "stackTrace"}, {"seq": 2, "command": "nope"}, "not a dict",
                {"seq": 3, "command": "setBreakpoints", "arguments": []}]:
        r = d.handle(req)
        assert r["type"] == "response" and r["success"] is False and r["message"], r
    info = d.handle({"seq": 4, "command": "debugInfo"})
    assert info["success"] and info["body"]["hashMethod"] == "Murmur2" and info["body"]["isStarted"] is False
    names = [v["name"] for v in d.handle({"seq": 5, "command": "inspectVariables"})["body"]["variables"]]
    assert names == ["x"]  # IPython's history names are hidden, as ipykernel hides them


def test_bad_breakpoints_are_refused():
    d = dbg.Debugger(_Shell(), _Router())
    d.handle({"seq": 1, "command": "initialize"})
    path = d.handle({"seq": 2, "command": "dumpCell", "arguments": {"code": "x = 1\n"}})["body"]["sourcePath"]
    for args in [{}, {"source": {"path": path}, "breakpoints": [{"line": "2"}]},
                 {"source": {"path": path}, "breakpoints": "x"}]:
        assert d.handle({"seq": 3, "command": "setBreakpoints", "arguments": args})["success"] is False
    ok = d.handle({"seq": 4, "command": "setBreakpoints",
                   "arguments": {"source": {"path": path}, "breakpoints": [{"line": 1, "hitCondition": ">= 2"}]}})
    assert ok["success"] and ok["body"]["breakpoints"][0]["verified"]
    assert d.handle({"seq": 5, "command": "source", "arguments": {"source": {"path": path}}})["body"]["content"] == "x = 1\n"


def test_the_standard_library_is_never_user_code():
    """Promise: a step never stops in the standard library, wherever its
    code objects say they were compiled (the npm 3.12 build's .pyc files
    name its build machine's tree, not /usr/local/lib, and a step off a
    cell's end stopped in json.dumps, so the cell never ended)."""
    import json
    import linecache

    for fn in (json.dumps, linecache.getline, random.Random.shuffle):
        assert not dbg._is_user(fn.__code__.co_filename), fn.__code__.co_filename
    assert not dbg._is_user(dbg.RUNTIME_DIR + "_wasipy_shell.py")
    assert dbg._is_user(dbg.cell_path("x = 1\n"))
    assert dbg._is_user("/home/user/work/helpers.py")


def test_a_pause_does_not_stop_inside_the_doorbell():
    """Promise: a pause served by the doorbell (in the SIGINT handler)
    stops at the cell's next line, never while the runtime still answers
    the pause: the client waits for that reply."""

    class _Quiet(_Router):
        def poll(self, timeout, wait_for_reply=False):
            raise AssertionError("stopped (and waited on the channel) inside the doorbell")

    d = dbg.Debugger(_Shell(), _Quiet())
    d.pause, d._ringing = True, True
    code = test_a_pause_does_not_stop_inside_the_doorbell.__code__
    assert d._on_line(code, code.co_firstlineno) is None
    assert d.pause and d.stop is None and d.router.sent == []
    d._ringing = False  # out of the doorbell, the same line stops
    with pytest.raises(AssertionError, match="inside the doorbell"):
        d._on_line(code, code.co_firstlineno)
    assert d.router.sent[0]["content"]["event"] == "stopped", d.router.sent
