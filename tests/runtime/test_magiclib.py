"""Promise: wasipy's magics read their arguments as IPython's do, on any
CPython: %history picks ranges of this session's inputs (with numbers and
outputs on request), %timeit's options are parsed before the statement,
and durations are printed in IPython's units."""

import pytest

import _wasipy_magiclib as lib
import _wasipy_magics as magics


def _history(line, inputs, outputs=None):
    ns = {"In": [""] + inputs, "Out": outputs or {}}
    return magics.line_magics["history"].run(magics._Ctx("history", line, None, "<test>", 1, None, ns))


def test_history_all_and_ranges(capsys):
    inputs = ["a = 1", "b = 2", "c = 3", "d = 4\ne = 5"]
    _history("", inputs)
    assert capsys.readouterr().out == "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"
    _history("2-3", inputs)
    assert capsys.readouterr().out == "b = 2\nc = 3\n"
    _history("1:3", inputs)  # end excluded, as in IPython
    assert capsys.readouterr().out == "a = 1\nb = 2\n"
    _history("4 1 99", inputs)  # out of range: skipped
    assert capsys.readouterr().out == "d = 4\ne = 5\na = 1\n"


def test_history_with_numbers_and_outputs(capsys):
    _history("-n -o", ["x", "y = 2\ny"], {1: 41, 2: [1, 2]})
    assert capsys.readouterr().out == "  1: x\n     Out: 41\n  2: y = 2\n     y\n     Out: [1, 2]\n"


def test_history_refuses_a_range_it_cannot_read():
    with pytest.raises(magics.UsageError, match="cannot read the range 'x-1'"):
        _history("x-1", ["a"])


@pytest.mark.parametrize("line, opts, rest", [
    ("x + 1", {}, "x + 1"),
    ("-n 10 -r 3 sum(range(9))", {"n": 10, "r": 3}, "sum(range(9))"),
    ("-n10 -qo f()", {"n": 10, "q": True, "o": True}, "f()"),
    ("-x f()", {}, "-x f()"),
])
def test_timeit_options(line, opts, rest):
    assert lib._parse_timeit_options(line) == (opts, rest)


@pytest.mark.parametrize("seconds, text", [
    (2.5, "2.5 s"),
    (0.0456, "45.6 ms"),
    (1.23e-6, "1.23 \u00b5s"),
    (5e-9, "5 ns"),
    (0, "0 ns"),
    (63.2, "1min 3s"),
    (3700, "1h 1min 40s"),
])
def test_format_time(seconds, text):
    assert lib.format_time(seconds) == text
