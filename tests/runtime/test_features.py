"""Promise: the features' pure parts behave as IPython's do on any CPython:
the magics' input transformer rewrites IPython syntax line for line, the
formatter pretty-prints and offers rich forms, and the completer and
inspector find names, attributes, dict keys and magics."""

import types

import pytest

import _wasipy_complete as complete
import _wasipy_format as fmt
import _wasipy_magics as magics

ME = "__import__('_wasipy_magics')"


@pytest.mark.parametrize("cell, want", [
    ("x = 1", "x = 1"),
    ("%time f(x)", f"{ME}._line('time', 'f(x)')"),
    ("if x:\n  %cd /tmp", f"if x:\n  {ME}._line('cd', '/tmp')"),
    ("y = %env HOME", f"y = {ME}._line('env', 'HOME')"),
    ("files = !ls", f"files = {ME}._system('ls')"),
    ("!ls -l", f"{ME}._system('ls -l')"),
    ("len?", f"{ME}._help('len', 0)"),
    ("len??", f"{ME}._help('len', 1)"),
    # A cell magic's body becomes an argument; the lines it took stay as
    # empty lines, so the cell keeps its length.
    ("%%capture out\nprint(1)", f"{ME}._cell('capture', 'out', 'print(1)\\n', 2)\n"),
    ("\n%%time\nx", f"\n{ME}._cell('time', '', 'x\\n', 3)\n"),
    # Not at the start of a logical line: left alone.
    ("s = '''\n%not a magic\n'''", "s = '''\n%not a magic\n'''"),
    ("x = (1,\n%2)", "x = (1,\n%2)"),
    ("a = b % c", "a = b % c"),
])
def test_transform(cell, want):
    assert magics.transform(cell) == want


@pytest.mark.parametrize("cell, want", [
    # IPython's clean-up: the first line's indentation, pasted prompts.
    ("  x = 1\n  y = 2", "x = 1\ny = 2"),
    ("\n    if x:\n        y = 1", "\nif x:\n    y = 1"),
    (">>> x = 1\n>>> for i in x:\n...     pass", "x = 1\nfor i in x:\n    pass"),
    ("In [1]: x = 1\n   ...: y = 2", "x = 1\ny = 2"),
    ("  %time x", f"{ME}._line('time', 'x')"),
    ("In = 3", "In = 3"),
    ("x = 1\n  y", "x = 1\n  y"),
])
def test_transform_cleans_up_as_ipython(cell, want):
    assert magics.transform(cell) == want


def test_transform_keeps_line_numbers():
    cell = "a = 1\n%time b = 2\nc = 3\n"
    assert magics.transform(cell).count("\n") == cell.count("\n")


def test_cell_magic_after_the_first_line_is_a_usage_error():
    with pytest.raises(magics.UsageError, match="must be on the first line"):
        magics.transform("x = 1\n%%time\nx")


def test_unknown_magics_and_shell_commands_say_why():
    with pytest.raises(magics.UsageError, match="Line magic function `%nosuch` not found"):
        magics._find("line", "nosuch")
    with pytest.raises(magics.UsageError, match="no shell in the sandbox"):
        magics._find("cell", "bash")


def test_format_plain_pretty_prints_like_ipython():
    data, md = fmt.format(list(range(40)))
    assert md == {}
    lines = data["text/plain"].splitlines()
    assert lines[0] == "[0," and lines[-1] == " 39]" and len(lines) == 40
    assert fmt.format({"b": 1, "a": 2})[0] == {"text/plain": "{'b': 1, 'a': 2}"}


def test_format_offers_rich_forms_and_survives_a_failing_one(capsys):
    class Rich:
        def _repr_html_(self):
            return "<b>hi</b>"

        def _repr_markdown_(self):
            raise ValueError("broken")

        def _repr_png_(self):
            return b"\x89PNG", {"width": 3}

        def __repr__(self):
            return "Rich()"

    data, md = fmt.format(Rich())
    assert data["text/plain"] == "Rich()"
    assert data["text/html"] == "<b>hi</b>"
    assert data["image/png"] == "iVBORw=="
    assert md == {"image/png": {"width": 3}}
    assert "text/markdown" not in data
    assert "FormatterWarning" in capsys.readouterr().err


def test_format_include_exclude():
    class Both:
        def _repr_html_(self):
            return "h"

        def _repr_latex_(self):
            return "l"

    assert set(fmt.format(Both(), include={"text/html"})[0]) == {"text/html"}
    assert "text/html" not in fmt.format(Both(), exclude={"text/html"})[0]


def _shell(**ns):
    return types.SimpleNamespace(user_ns=dict(ns))


def test_complete_names_attributes_and_keys():
    sh = _shell(my_variable=1, my_dict={"alpha": 1, "beta": 2}, os=__import__("os"))
    r = complete.complete(sh, {"code": "my_v", "cursor_pos": 4})
    assert r["matches"] == ["my_variable"] and (r["cursor_start"], r["cursor_end"]) == (0, 4)
    r = complete.complete(sh, {"code": "os.pa", "cursor_pos": 5})
    assert "os.path" in r["matches"] or "path" in r["matches"]
    assert "pardir" in "".join(r["matches"])
    r = complete.complete(sh, {"code": "my_dict['al", "cursor_pos": 11})
    assert any(m.startswith("alpha") for m in r["matches"])


def test_complete_tolerates_a_cursor_out_of_range():
    r = complete.complete(_shell(), {"code": "pri", "cursor_pos": 99})
    assert "print" in r["matches"]


def test_inspect_text_and_reply():
    sh = _shell(my_function_xyz=lambda a, b=2: a)
    text = complete.inspect_text(sh, "my_function_xyz", 0)
    assert "Signature:" in text and "(a, b=2)" in text
    assert complete.inspect_text(sh, "nothing_here_xyz", 0) is None
    reply = complete.inspect(sh, {"code": "len(", "cursor_pos": 3})
    assert reply["found"] is True and "text/plain" in reply["data"]
