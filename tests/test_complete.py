"""complete_request and inspect_request, end to end through jupyter_client.

Every reply is checked against the Jupyter messaging schema of Debian's
python3-jupyter-kernel-test. cursor_pos and cursor_start/cursor_end count
Unicode code points (protocol 5.2+), which is what Python's str indexing
counts, so the expected offsets below are plain len() of Python strings.
"""

import os
import time

import pytest
from jupyter_kernel_test.msgspec_v5 import validate_message

import harness

TYPES = {"function", "class", "module", "keyword", "instance", "statement", "param",
         "path", "magic", "property", "dict key"}


def complete(k, code, pos=None):
    pos = len(code) if pos is None else pos
    r = k.request("complete_request", {"code": code, "cursor_pos": pos})
    validate_message(r.reply_msg, "complete_reply", r.msg_id)
    reply = r.reply
    assert reply["status"] == "ok", reply
    entries = reply["metadata"]["_jupyter_types_experimental"]
    assert [e["text"] for e in entries] == reply["matches"]
    for e in entries:
        assert e["type"] in TYPES, e
        assert (e["start"], e["end"]) == (reply["cursor_start"], reply["cursor_end"]), e
    return reply


def types_of(reply):
    return {e["text"]: e["type"] for e in reply["metadata"]["_jupyter_types_experimental"]}


def inspect(k, code, pos=None, level=0):
    pos = len(code) if pos is None else pos
    r = k.request("inspect_request", {"code": code, "cursor_pos": pos, "detail_level": level})
    validate_message(r.reply_msg, "inspect_reply", r.msg_id)
    assert r.reply["status"] == "ok", r.reply
    return r.reply


@pytest.fixture(scope="module")
def k(shared_kernel):
    shared_kernel.ok(
        "import os\n"
        "my_variable_xyz = 1\n"
        "def my_function_xyz(alpha, beta=2, *, gamma=3):\n"
        "    '''Add things up.'''\n"
        "    return alpha + beta\n"
        "class MyClassXyz:\n"
        "    '''A class for tests.'''\n"
        "    def __init__(self, size=1):\n"
        "        self.size = size\n"
        "    def method_one(self):\n"
        "        return 1\n"
        "obj_xyz = MyClassXyz()\n"
    )
    return shared_kernel


# ---- names, keywords, attributes -------------------------------------------


def test_user_names_builtins_and_keywords(k):
    r = complete(k, "my_")
    assert {"my_variable_xyz", "my_function_xyz"} <= set(r["matches"])
    t = types_of(r)
    assert t["my_variable_xyz"] == "instance"
    assert t["my_function_xyz"] == "function"
    assert (r["cursor_start"], r["cursor_end"]) == (0, 3)

    r = complete(k, "MyCl")
    assert types_of(r) == {"MyClassXyz": "class"}

    r = complete(k, "x = pri")
    assert r["matches"] == ["print"]
    assert types_of(r)["print"] == "function"
    assert (r["cursor_start"], r["cursor_end"]) == (4, 7)

    assert types_of(complete(k, "impo")) == {"import": "keyword"}
    assert types_of(complete(k, "ValueE")) == {"ValueError": "class"}
    t = types_of(complete(k, "whi"))
    assert t["while"] == "keyword"
    assert types_of(complete(k, "Tru")) == {"True": "keyword"}


def test_private_names_only_after_underscore(k):
    r = complete(k, "")
    assert r["matches"], "an empty prefix lists the namespace"
    assert not [m for m in r["matches"] if m.startswith("_")]
    r = complete(k, "__buil")
    assert "__build_class__" in r["matches"]


def test_attributes_and_chains(k):
    r = complete(k, "os.pa")
    t = types_of(r)
    assert t["path"] == "module"
    assert t["pathsep"] == "instance"
    assert (r["cursor_start"], r["cursor_end"]) == (3, 5)

    r = complete(k, "os.path.jo")
    assert types_of(r) == {"join": "function"}
    assert r["cursor_start"] == len("os.path.")

    r = complete(k, "obj_xyz.")
    t = types_of(r)
    assert t["method_one"] == "function"
    assert t["size"] == "instance"
    assert not [m for m in r["matches"] if m.startswith("_")]
    r = complete(k, "obj_xyz._")
    assert "__init__" in r["matches"]

    assert types_of(complete(k, "MyClassXyz.meth")) == {"method_one": "function"}
    assert types_of(complete(k, "'a,b'.rspl")) == {"rsplit": "function"}
    # Whole-line code with the cursor in the middle: only what is before it counts.
    code = "os.pa + 1"
    assert "path" in complete(k, code, pos=5)["matches"]


def test_signatures_in_metadata(k):
    r = complete(k, "my_function_x")
    (entry,) = r["metadata"]["_jupyter_types_experimental"]
    assert entry["signature"] == "(alpha, beta=2, *, gamma=3)"


def test_case_insensitive_fallback(k):
    assert "ValueError" in complete(k, "valueerr")["matches"]


def test_call_parameters(k):
    r = complete(k, "my_function_xyz(1, be")
    t = types_of(r)
    assert t["beta="] == "param"
    r = complete(k, "my_function_xyz(")
    assert r["matches"][:3] == ["alpha=", "beta=", "gamma="]


def test_comment_gives_nothing(k):
    assert complete(k, "x = 1  # pri")["matches"] == []


# ---- no user code runs ------------------------------------------------------------


def test_properties_and_hooks_are_not_run(k):
    k.ok(
        "calls = []\n"
        "class Guarded:\n"
        "    plain = 1\n"
        "    @property\n"
        "    def prop(self):\n"
        "        calls.append('prop')\n"
        "        raise RuntimeError('property ran')\n"
        "    def __getattr__(self, name):\n"
        "        calls.append('getattr ' + name)\n"
        "        return self\n"
        "def make():\n"
        "    calls.append('make')\n"
        "    return Guarded()\n"
        "guarded = Guarded()\n"
        "holder = type('Holder', (), {})()\n"
        "holder.inner = guarded\n"
    )
    r = complete(k, "guarded.")
    t = types_of(r)
    assert t["prop"] == "property"
    assert t["plain"] == "instance"
    assert complete(k, "guarded.pr")["matches"] == ["prop"]
    # Through the property: nothing is evaluated, so nothing is offered.
    assert complete(k, "guarded.prop.")["matches"] == []
    assert complete(k, "holder.inner.prop.re")["matches"] == []
    assert "prop" in complete(k, "holder.inner.")["matches"]
    # Dynamic attributes (__getattr__) are not asked for.
    assert complete(k, "guarded.dynamic.")["matches"] == []
    # Calls are never made to find the object before the dot.
    assert complete(k, "make().")["matches"] == []
    assert complete(k, "make().pl")["matches"] == []
    # Inspecting a property shows the property, not its value.
    r = inspect(k, "guarded.prop")
    assert r["found"] is True
    assert "property" in harness.strip_ansi(r["data"]["text/plain"])
    assert k.eval("calls") == []


def test_literal_subscripts_of_builtin_containers(k):
    k.ok("rows = [{'name': 'x'}, os]\n")
    assert "path" in complete(k, "rows[1].pa")["matches"]
    assert complete(k, 'rows[0]["na')["matches"] == ['name"]']


# ---- dict keys -------------------------------------------------------------------


def test_dict_keys(k):
    k.ok("d = {'alpha': 1, 'beta': 2, \"it's\": 3, 42: 'int key'}\n"
         "nested = {'inner': {'x1': 1, 'x2': 2}}\n")
    r = complete(k, 'd["')
    assert r["matches"] == ['alpha"]', 'beta"]', 'it\'s"]']
    assert set(types_of(r).values()) == {"dict key"}
    assert (r["cursor_start"], r["cursor_end"]) == (3, 3)

    r = complete(k, "d['al")
    assert r["matches"] == ["alpha']"]
    assert (r["cursor_start"], r["cursor_end"]) == (3, 5)
    # The quote is escaped inside a same-quoted key.
    assert complete(k, "d['it")["matches"] == ["it\\'s']"]

    # JupyterLab closes brackets and quotes: nothing is added twice.
    code = 'd["al"]'
    r = complete(k, code, pos=5)
    assert r["matches"] == ["alpha"]
    assert (r["cursor_start"], r["cursor_end"]) == (3, 5)

    assert complete(k, 'nested["inner"]["x')["matches"] == ['x1"]', 'x2"]']
    assert complete(k, 'x = d[ "be')["matches"] == ['beta"]']

    # d[ with nothing typed: the keys, quoted, come first.
    r = complete(k, "d[")
    assert r["matches"][:3] == ["'alpha'", "'beta'", '"it\'s"']


# ---- imports ---------------------------------------------------------------------


def test_import_module_names(k):
    r = complete(k, "import o")
    assert {"os", "operator"} <= set(r["matches"])
    assert set(types_of(r).values()) == {"module"}
    assert r["cursor_start"] == len("import ")

    assert "sys" in complete(k, "import json, sy")["matches"]
    assert "path" in complete(k, "import os.p")["matches"]
    r = complete(k, "import xml.")
    assert {"dom", "etree", "sax"} <= set(r["matches"])
    assert r["cursor_start"] == len("import xml.")
    assert {"math", "zlib"} <= set(complete(k, "import ")["matches"])  # builtin modules
    assert complete(k, "import json as j")["matches"] == []

    r = complete(k, "from xml.e")
    assert r["matches"] == ["etree"]
    assert complete(k, "from json ")["matches"] == ["import"]


def test_from_import_names(k):
    r = complete(k, "from json import du")
    assert r["matches"] == ["dump", "dumps"]
    assert set(types_of(r).values()) == {"function"}
    r = complete(k, "from json import (load, JSOND")
    assert types_of(r) == {"JSONDecodeError": "class", "JSONDecoder": "class"}
    assert "etree" in complete(k, "from xml import ")["matches"]


def test_modules_in_the_working_directory(k):
    with open(os.path.join(k.cwd, "localmod_xyz.py"), "w") as f:
        f.write("VALUE = 1\n")
    assert complete(k, "import localmod_")["matches"] == ["localmod_xyz"]


# ---- paths -----------------------------------------------------------------------


def test_paths_in_strings(k):
    os.makedirs(os.path.join(k.cwd, "pathdir_xyz"), exist_ok=True)
    for name in ("pathfile_a.csv", "pathfile_b.txt", ".pathhidden", os.path.join("pathdir_xyz", "inner_é.txt")):
        with open(os.path.join(k.cwd, name), "w") as f:
            f.write("x")

    r = complete(k, "open('pathf")
    assert r["matches"] == ["pathfile_a.csv", "pathfile_b.txt"]
    assert set(types_of(r).values()) == {"path"}
    assert (r["cursor_start"], r["cursor_end"]) == (6, 11)

    r = complete(k, 'p = "path')
    assert r["matches"] == ["pathdir_xyz/", "pathfile_a.csv", "pathfile_b.txt"]

    code = 'open("pathdir_xyz/inn'
    r = complete(k, code)
    assert r["matches"] == ["inner_é.txt"]
    assert r["cursor_start"] == len(code) - 3

    assert complete(k, "open('.pathh")["matches"] == [".pathhidden"]
    assert complete(k, "open('nothing_like_this_")["matches"] == []


# ---- magics ----------------------------------------------------------------------


def test_magics(k):
    r = complete(k, "%ti")
    # On a cell's first line the cell magics come too, after the line magics.
    assert r["matches"] == ["%time", "%timeit", "%%time", "%%timeit"]
    assert set(types_of(r).values()) == {"magic"}
    assert (r["cursor_start"], r["cursor_end"]) == (0, 3)
    r = complete(k, "x = 1\n%ti")
    assert r["matches"] == ["%time", "%timeit"]
    assert r["cursor_start"] == 6

    r = complete(k, "%%wri")
    assert r["matches"] == ["%%writefile"]
    assert complete(k, "%%ht")["matches"] == ["%%html"]

    r = complete(k, "x = %pw")
    assert r["matches"] == ["%pwd"]
    assert r["cursor_start"] == 4

    line = set(complete(k, "\n%")["matches"])
    assert {"%time", "%timeit", "%who", "%whos", "%reset", "%env", "%cd", "%pwd", "%run",
            "%load_ext", "%lsmagic"} <= line
    cell = set(complete(k, "%%")["matches"])
    assert {"%%time", "%%timeit", "%%capture", "%%html", "%%markdown", "%%javascript",
            "%%latex", "%%writefile"} <= cell

    os.makedirs(os.path.join(k.cwd, "magicdir_xyz"), exist_ok=True)
    with open(os.path.join(k.cwd, "magicfile_xyz.py"), "w") as f:
        f.write("")
    assert complete(k, "%cd magic")["matches"] == ["magicdir_xyz/"]
    assert complete(k, "%run magic")["matches"] == ["magicdir_xyz/", "magicfile_xyz.py"]
    # After a line magic that takes code, the rest completes as Python.
    assert complete(k, "%time os.path.jo")["matches"] == ["join"]


# ---- code points -------------------------------------------------------------------


def test_non_ascii_cursor_positions(k):
    k.ok("é = 1\nnaïve_value = 2.5\n")
    # 'é' is one code point (and one UTF-16 unit); the emoji is one code
    # point but two UTF-16 units: offsets must count code points.
    code = "é.re"
    r = complete(k, code)
    assert r["matches"] == ["real"]
    assert (r["cursor_start"], r["cursor_end"]) == (2, 4)

    code = "s = '😀😀'; é.ima"
    r = complete(k, code)
    assert r["matches"] == ["imag"]
    assert (r["cursor_start"], r["cursor_end"]) == (len(code) - 3, len(code))
    assert len(code) == 15  # 17 in UTF-16 units

    code = "x = ['😀', naïve_va"
    r = complete(k, code)
    assert r["matches"] == ["naïve_value"]
    assert (r["cursor_start"], r["cursor_end"]) == (10, 18)

    # Cursor in the middle of code with astral characters on both sides.
    code = "'😀'; é.re  # 😀😀"
    r = complete(k, code, pos=9)
    assert r["matches"] == ["real"]
    assert (r["cursor_start"], r["cursor_end"]) == (7, 9)

    k.ok("emo = {'😀 key': 1, 'clé': 2}\n")
    r = complete(k, "emo['")
    assert r["matches"] == ["clé']", "😀 key']"]
    r = complete(k, "y = '😀'; emo['cl")
    assert r["matches"] == ["clé']"]
    assert r["cursor_start"] == len("y = '😀'; emo['")


# ---- inspection ----------------------------------------------------------------------


def test_inspect_function_level_0_and_1(k):
    r = inspect(k, "my_function_xyz")
    assert r["found"] is True
    assert set(r["data"]) == {"text/plain"}
    text = r["data"]["text/plain"]
    assert "\x1b[0;31mSignature:\x1b[0m my_function_xyz(alpha, beta=2, *, gamma=3)" in text
    plain = harness.strip_ansi(text)
    assert "Docstring: Add things up." in plain
    assert "Type:      function" in plain
    assert "Source:" not in plain

    plain = harness.strip_ansi(inspect(k, "my_function_xyz", level=1)["data"]["text/plain"])
    assert "Source:\ndef my_function_xyz(alpha, beta=2, *, gamma=3):\n    '''Add things up.'''" in plain
    assert "File:" in plain and "Cell In[" in plain


def test_inspect_inside_a_call_and_at_cursor(k):
    plain = harness.strip_ansi(inspect(k, "print(")["data"]["text/plain"])
    assert plain.startswith("Signature: print(")
    assert "Docstring:" in plain
    # Anywhere in the call's arguments, the callee is inspected (as IPython does).
    plain = harness.strip_ansi(inspect(k, "my_function_xyz(1, ")["data"]["text/plain"])
    assert plain.startswith("Signature: my_function_xyz(alpha")
    # The cursor inside a dotted name: the whole name.
    code = "x = os.path.join(a, b)"
    plain = harness.strip_ansi(inspect(k, code, pos=code.index("join") + 2)["data"]["text/plain"])
    assert "os.path.join(" in plain.splitlines()[0]


def test_inspect_class_and_instance(k):
    plain = harness.strip_ansi(inspect(k, "MyClassXyz")["data"]["text/plain"])
    assert "Init signature: MyClassXyz(size=1)" in plain
    assert "A class for tests." in plain
    plain = harness.strip_ansi(inspect(k, "MyClassXyz", level=1)["data"]["text/plain"])
    assert "class MyClassXyz:\n    '''A class for tests.'''" in plain

    plain = harness.strip_ansi(inspect(k, "my_variable_xyz")["data"]["text/plain"])
    assert "Type:        int" in plain
    assert "String form: 1" in plain
    k.ok("long_list_xyz = list(range(1000))\n")
    plain = harness.strip_ansi(inspect(k, "long_list_xyz")["data"]["text/plain"])
    assert "Length:      1000" in plain
    assert "<...>" in plain  # the string form is truncated

    plain = harness.strip_ansi(inspect(k, "os")["data"]["text/plain"])
    assert "Type:        module" in plain


def test_inspect_not_found(k):
    for code in ("undefined_name_xyz", "", "   ", "x = 1  # my_variable_xyz", "obj_xyz.nope_xyz", "1 + "):
        r = inspect(k, code)
        assert r["found"] is False, code
        assert r["data"] == {}


def test_inspect_text_for_magics(k):
    # The `obj?` / `obj??` magics reuse the same text.
    out = k.ok(
        "import _wasipy_complete, _wasipy_exec\n"
        "sh = _wasipy_exec.shell\n"
        "print(repr(_wasipy_complete.inspect_text(sh, 'my_function_xyz', 0)))\n"
        "print(repr(_wasipy_complete.inspect_text(sh, 'nothing_here_xyz', 0)))\n"
    ).stdout.splitlines()
    assert "Signature:" in out[0]
    assert out[1] == "None"


# ---- speed -------------------------------------------------------------------------


def test_large_namespace_is_fast(kernel):
    kernel.ok("for i in range(10000): globals()[f'name_{i}'] = i\n")
    complete(kernel, "name_1")  # loads the completer
    t = time.monotonic()
    r = complete(kernel, "name_12")
    assert len(r["matches"]) == 111
    r = complete(kernel, "na")
    # Not capped: JupyterLab filters the first reply's list as the user types on.
    assert len(r["matches"]) == 10000
    assert r["matches"][:3] == ["name_0", "name_1", "name_10"]
    assert set(types_of(r).values()) == {"instance"}
    assert time.monotonic() - t < 5
