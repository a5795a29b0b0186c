"""Promise: wasipy's pdb (interp/runtime/_wasipy_pdb.py) on any CPython:
patching the pdb module makes every way in (set_trace, post_mortem, Pdb())
use it, once; it never installs a SIGINT handler of its own; an interrupt
(KeyboardInterrupt from input()) while it waits for a command ends the
debugger and propagates out of the debugged code with tracing off, where
stock pdb would prompt again; post-mortem shows the failing frame's
variables."""

import builtins
import pdb
import signal
import sys

import pytest

import _wasipy_pdb


@pytest.fixture
def wasipy_pdb(monkeypatch):
    """pdb.Pdb made wasipy's for one test, and input() answered from a
    list (a KeyboardInterrupt in the list is raised, as the runtime's
    input() does when the kernel is interrupted)."""
    monkeypatch.setattr(pdb, "Pdb", pdb.Pdb)
    _wasipy_pdb.patch(pdb)
    answers = []

    def fake_input(prompt=""):
        assert prompt == "(Pdb) "
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(builtins, "input", fake_input)
    yield answers
    sys.settrace(None)


def test_patch_replaces_pdb_once_and_keeps_the_sigint_handler(wasipy_pdb):
    patched = pdb.Pdb
    _wasipy_pdb.patch(pdb)
    assert pdb.Pdb is patched and patched.__name__ == "Pdb" and issubclass(patched, pdb.bdb.Bdb)
    debugger = pdb.Pdb(nosigint=False)
    assert debugger.nosigint, "pdb's own SIGINT handler would replace the runtime's"
    assert "_wasipy_*" in debugger.skip


def test_an_interrupt_at_the_prompt_ends_the_debugger_and_the_code(wasipy_pdb, capsys):
    wasipy_pdb.extend(["p 6 * 7", KeyboardInterrupt()])
    reached = []

    def debugged():
        # pdb.Pdb(), as pdb.set_trace() does (pytest wraps set_trace itself).
        pdb.Pdb().set_trace(sys._getframe())
        reached.append("after")

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        debugged()
    assert sys.gettrace() is None, "tracing must stop with the debugger"
    assert reached == []
    assert signal.getsignal(signal.SIGINT) is before
    out = capsys.readouterr().out
    assert "42\n" in out and "--KeyboardInterrupt--" in out
    assert wasipy_pdb == []


def test_post_mortem_shows_the_failing_frame(wasipy_pdb, capsys):
    wasipy_pdb.extend(["p local_value", "up", "p outer_value", "q"])

    def inner():
        local_value = "deep"  # noqa: F841
        raise ValueError("boom")

    def outer():
        outer_value = "shallow"  # noqa: F841
        inner()

    try:
        outer()
    except ValueError as e:
        exc = e
    _wasipy_pdb.post_mortem(exc)
    out = capsys.readouterr().out
    assert "'deep'" in out and "'shallow'" in out, out
    assert wasipy_pdb == []


def test_the_functions_it_lets_go_after_exist_in_the_shell():
    """The debugger lets go when the shell's functions that run user code
    return; it knows them by name, so a rename must fail here, not leave a
    debugger tracing the next cell."""
    import types

    import _wasipy_exec

    qualnames = set()
    for fn in vars(_wasipy_exec.Shell).values():
        if isinstance(fn, types.FunctionType):
            qualnames.add(fn.__code__.co_qualname)
            qualnames.update(c.co_qualname for c in fn.__code__.co_consts if isinstance(c, types.CodeType))
    for module, qualname in _wasipy_pdb._USER_CODE_RUNNERS:
        assert module == "_wasipy_exec" and qualname in qualnames, qualname
