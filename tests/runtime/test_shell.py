"""Promise: the shell's pure parts behave as IPython's do, on any CPython:
is_complete classifies code for is_complete_request, tracebacks show the
user's cells with their lines and hide the runtime's frames, deep
recursion is folded, and the last expression of a cell is shown unless it
ends with a semicolon."""

import sys

import pytest

import _wasipy_exec
from layering import RUNTIME
from _wasipy_exec import _ends_with_semicolon, _repeating, is_complete

ANSI = __import__("re").compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("code, want", [
    ("", {"status": "complete"}),
    ("x = 1", {"status": "complete"}),
    ("for i in range(3):", {"status": "incomplete", "indent": "    "}),
    ("if x:\n    y = 1", {"status": "incomplete", "indent": "    "}),
    ("if x:\n    y = 1\n", {"status": "complete"}),
    ("x = [1,", {"status": "incomplete", "indent": ""}),
    ("x = 1 + \\", {"status": "incomplete", "indent": ""}),
    ("x = )", {"status": "invalid"}),
    ("def f(:", {"status": "invalid"}),
    # A cell magic's body ends at an empty line, as in IPython.
    ("%%timeit\na\n\n", {"status": "complete"}),
    ("%%timeit\na\n", {"status": "incomplete", "indent": ""}),
    ("%%timeit", {"status": "incomplete", "indent": ""}),
    ("await x", {"status": "complete"}),
])
def test_is_complete(code, want):
    assert is_complete(code) == want


@pytest.mark.parametrize("code, want", [
    ("%time x", {"status": "complete"}),
    ("x?", {"status": "complete"}),
    ("%debug", {"status": "complete"}),
    ("if True:\n    %time x", {"status": "incomplete", "indent": "    "}),
    ("def f():\n    %time x\n\n", {"status": "complete"}),
])
def test_is_complete_judges_ipython_syntax_after_the_transformers(monkeypatch, code, want):
    import _wasipy_magics
    monkeypatch.setattr(_wasipy_exec, "shell", type("S", (), {"input_transformers": [_wasipy_magics.transform]}))
    assert is_complete(code) == want


def test_semicolon_hides_the_last_value_but_not_in_a_comment():
    assert _ends_with_semicolon("x;")
    assert _ends_with_semicolon("x;  # quiet")
    assert not _ends_with_semicolon("x  # ;")
    assert not _ends_with_semicolon("s = ';'")


def test_repeating_finds_the_cycle_of_frames():
    key = ["a", "b"] * 5 + ["c"]
    assert _repeating(key, 0) == (2, 5)
    assert _repeating(["a", "b", "c"], 0) == (1, 1)


@pytest.fixture
def shell(monkeypatch):
    """A real Shell; it installs its own __main__, which is put back. The
    runtime's frames are hidden by their folder: here, the source tree's."""
    monkeypatch.setattr(_wasipy_exec, "RUNTIME_DIR", RUNTIME + "/")
    saved_main, saved_hook = sys.modules["__main__"], sys.displayhook
    sent = []
    sh = _wasipy_exec.Shell(lambda msg, buffers=None: sent.append(msg))
    sh.sent = sent
    try:
        yield sh
    finally:
        sys.modules["__main__"] = saved_main
        sys.displayhook = saved_hook
        _wasipy_exec.shell = None


def run(sh, code, count=1):
    return sh.execute({"code": code, "execution_count": count, "parent_id": "p"})


def test_a_cell_shows_its_last_value_and_keeps_history(shell):
    reply = run(shell, "x = 40\nx + 2")
    assert reply["status"] == "ok"
    result = [m for m in shell.sent if m["type"] == "execute_result"]
    assert result == [{"type": "execute_result", "content": {
        "execution_count": 1, "data": {"text/plain": "42"}, "metadata": {}}}]
    assert shell.user_ns["Out"][1] == 42 and shell.user_ns["_1"] == 42 and shell.user_ns["In"][1] == "x = 40\nx + 2"
    shell.sent.clear()
    assert run(shell, "x;", 2)["status"] == "ok"
    assert not [m for m in shell.sent if m["type"] == "execute_result"]


def test_the_formatter_the_features_install_is_used(shell):
    shell.formatter = lambda v: ({"text/plain": f"<{v}>"}, {"k": 1})
    run(shell, "7")
    assert shell.sent[-1]["content"]["data"] == {"text/plain": "<7>"}


def test_a_traceback_shows_the_cell_and_its_line(shell):
    reply = run(shell, "def f():\n    return 1 / 0\nf()", count=5)
    assert reply["status"] == "error" and reply["ename"] == "ZeroDivisionError"
    text = ANSI.sub("", "\n".join(reply["traceback"]))
    assert "Cell In[5], line 3" in text
    assert "Cell In[5], line 2, in f" in text
    assert "---> 2" in text and "return 1 / 0" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "_wasipy" not in text  # the runtime's own frames are hidden
    assert shell.sent[-1]["type"] == "error"


def test_deep_recursion_is_folded(shell):
    reply = run(shell, "def f(n):\n    return f(n + 1)\nf(0)", count=2)
    assert reply["ename"] == "RecursionError"
    assert len(reply["traceback"]) < 10
    assert any("skipping similar frames: f at line 2" in line for line in reply["traceback"])


def test_a_syntax_error_names_the_cell(shell):
    reply = run(shell, "x = (", count=3)
    assert reply["ename"] == "SyntaxError"
    assert "Cell In[3]" in ANSI.sub("", "\n".join(reply["traceback"]))


def test_system_exit_does_not_end_the_shell(shell):
    reply = run(shell, "raise SystemExit(3)")
    assert reply["ename"] == "SystemExit" and reply["evalue"] == "3"


def test_user_expressions(shell):
    reply = shell.execute({"code": "a = 2", "execution_count": 1,
                           "user_expressions": {"double": "a * 2", "bad": "nope"}})
    assert reply["user_expressions"]["double"]["data"] == {"text/plain": "4"}
    assert reply["user_expressions"]["bad"]["ename"] == "NameError"


def test_the_version_in_hello_is_platforms():
    """The boot module names the version without importing platform (a
    start-up cost); it must say what platform.python_version() says."""
    import platform

    import _wasipy_kernel
    import _wasipy_protocol as proto

    assert _wasipy_kernel.python_version() == platform.python_version()
    hello = proto.hello(_wasipy_kernel.language_info())
    assert hello["content"]["version"] == platform.python_version()
    assert hello["content"]["protocol"] == proto.PROTOCOL_VERSION


def test_the_last_error_is_kept_for_the_debugger(shell):
    """As IPython: sys.last_exc (and last_type/value/traceback) hold the
    last cell's error, its traceback starting at the cell (the runtime's
    frames are no place to debug); after a MemoryError the frames' variables
    are freed, since they are what filled the memory."""
    reply = run(shell, "def f():\n    big = 'x' * 1000\n    raise ValueError('v')\nf()")
    assert reply["status"] == "error"
    exc = sys.last_exc if hasattr(sys, "last_exc") else sys.last_value
    assert isinstance(exc, ValueError) and sys.last_type is ValueError and sys.last_value is exc
    assert exc.__traceback__ is sys.last_traceback
    assert exc.__traceback__.tb_frame.f_code.co_filename.startswith("<wasipy-input-")
    assert exc.__traceback__.tb_next.tb_frame.f_locals["big"] == "x" * 1000
    run(shell, "def g():\n    hoard = [0] * 1000\n    raise MemoryError\ng()")
    assert isinstance(sys.last_value, MemoryError)
    assert "hoard" not in sys.last_traceback.tb_next.tb_frame.f_locals
