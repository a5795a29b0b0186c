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
    # As IPython: the number right-aligned in 4 columns, a multi-line cell
    # on the lines after it, the output's repr on its own line.
    assert capsys.readouterr().out == "   1: x\n41\n   2:\ny = 2\ny\n[1, 2]\n"


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


def test_history_options_as_ipython(capsys, tmp_path):
    inputs = ["a = 1", "%time b = 2", "a = 1", "print('naïve ☃')", "for i in x:\n    pass"]
    _history("-p 1 5", inputs)
    assert capsys.readouterr().out == ">>> a = 1\n>>> for i in x:\n...     pass\n...\n"
    _history("-g a =", inputs)  # a search numbers its lines
    assert capsys.readouterr().out == "   1: a = 1\n   3: a = 1\n"
    _history("-g a = -u", inputs)  # each text once, at its latest line
    assert capsys.readouterr().out == "   3: a = 1\n"
    _history("-l 2", inputs)  # the last lines, without the running one
    assert capsys.readouterr().out == "a = 1\nprint('naïve ☃')\n"  # 3 and 4 of 5
    _history("-t 2", inputs)
    assert capsys.readouterr().out == "get_ipython().run_line_magic('time', 'b = 2')\n"
    target = tmp_path / "hist.py"
    _history(f"-f {target}", inputs)
    assert capsys.readouterr().out == ""
    assert target.read_text(encoding="utf-8") == "\n".join(inputs) + "\n"


def test_translate_spells_magics_as_ipython_does():
    assert lib.translate("x?") == "get_ipython().run_line_magic('pinfo', 'x')"
    assert lib.translate("%%capture out\nprint(1)") == \
        "get_ipython().run_cell_magic('capture', 'out', 'print(1)\\n')\n"


@pytest.fixture
def core(monkeypatch):
    """A stand-in for the kernel's Shell: what payload the cell sends."""
    shell = type("Core", (), {"payload": [], "user_ns": {"In": [""]}})()
    monkeypatch.setattr(magics, "_core", shell)
    return shell


def test_set_next_input_keeps_one_payload_per_cell(core):
    lib.set_next_input("first")
    lib.set_next_input("second", replace=True)
    assert core.payload == [{"source": "set_next_input", "text": "second", "replace": True}]
    with pytest.raises(TypeError):
        lib.set_next_input(b"bytes")


def _load(line, ns):
    return magics.line_magics["load"].run(magics._Ctx("load", line, None, "<test>", 1, None, ns))


def test_load_puts_the_file_in_the_next_cell(core, tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("import os\n\n@dec\ndef f():\n    return 1\n\nclass A:\n    pass\nZ = 3\n", encoding="utf-8")
    _load(str(src), {})
    assert core.payload == [{"source": "set_next_input", "replace": True,
                             "text": f"# %load {src}\n" + src.read_text()}]
    _load(f"-r 1,4-5 {src}", {})
    assert core.payload[-1]["text"] == f"# %load -r 1,4-5 {src}\nimport os\ndef f():\n    return 1"
    _load(f"-s A,f {src}", {})
    assert core.payload[-1]["text"] == f"# %load -s A,f {src}\nclass A:\n    pass\n\n@dec\ndef f():\n    return 1\n"
    assert len(core.payload) == 1
    with pytest.raises(magics.UsageError, match="no file, object or input history range"):
        _load(str(tmp_path / "missing.py"), {})
