"""Rich display: display(), update_display, clear_output, the one formatter
(IPython's _repr_*_ protocol, pretty text/plain), the IPython shim
(IPython.display and get_ipython()), and examples/display.ipynb executed by
nbconvert with its saved MIME bundles checked."""

import base64
import os
import re
import shutil
import subprocess

import nbformat
import pytest

import harness
from harness import strip_ansi

EXAMPLE = os.path.join(harness.REPO, "examples", "display.ipynb")
NBCONVERT = "/usr/bin/jupyter-nbconvert"

# A 1x1 PNG.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


def displays(r):
    """(msg_type, content) of the display messages of a request."""
    return [(m["msg_type"], m["content"]) for m in r.iopub
            if m["msg_type"] in ("display_data", "update_display_data", "clear_output", "execute_result")]


def data_of(r, msg_type="display_data"):
    return [m["content"]["data"] for m in r.iopub if m["msg_type"] == msg_type]


# ---- display() -----------------------------------------------------------------


def test_display_is_a_builtin(k):
    r = k.ok("display('plain', 42)")
    assert data_of(r) == [{"text/plain": "'plain'"}, {"text/plain": "42"}]
    assert r.results == []


def test_display_include_exclude_metadata(k):
    k.ok("class Both:\n"
         "    def _repr_html_(self): return '<b>both</b>'\n"
         "    def _repr_markdown_(self): return '**both**'\n"
         "    def __repr__(self): return 'Both()'")
    r = k.ok("display(Both(), include=['text/html', 'text/plain'])")
    assert data_of(r) == [{"text/html": "<b>both</b>", "text/plain": "Both()"}]
    r = k.ok("display(Both(), exclude=['text/html'], metadata={'text/markdown': {'k': 1}, 'extra': True})")
    [msg] = [c for t, c in displays(r)]
    assert msg["data"] == {"text/markdown": "**both**", "text/plain": "Both()"}
    assert msg["metadata"] == {"text/markdown": {"k": 1}, "extra": True}


def test_display_raw_bundle_and_transient(k):
    r = k.ok("display({'text/plain': 'raw', 'text/html': '<p>raw</p>'}, raw=True, metadata={'a': 1}, "
             "transient={'display_id': 'raw-id'})")
    [(t, c)] = displays(r)
    assert t == "display_data"
    assert c["data"] == {"text/plain": "raw", "text/html": "<p>raw</p>"}
    assert c["metadata"] == {"a": 1}
    assert c["transient"] == {"display_id": "raw-id"}


def test_display_id_true_returns_handle(k):
    r = k.ok("h = display('first', display_id=True)\nh.update('second')\nh.display('third')\nh")
    msgs = displays(r)
    assert [t for t, _ in msgs] == ["display_data", "update_display_data", "display_data", "execute_result"]
    ids = {c["transient"]["display_id"] for _, c in msgs[:3]}
    assert len(ids) == 1
    display_id = ids.pop()
    assert re.fullmatch(r"[0-9a-f]{32}", display_id)
    assert [c["data"]["text/plain"] for _, c in msgs[:3]] == ["'first'", "'second'", "'third'"]
    assert msgs[3][1]["data"]["text/plain"] == f"<DisplayHandle display_id={display_id}>"


def test_update_display_by_id_from_another_cell(k):
    k.ok("display('v1', display_id='shared-id')")
    r = k.ok("from IPython.display import update_display\nupdate_display('v2', display_id='shared-id')")
    [(t, c)] = displays(r)
    assert t == "update_display_data"
    assert c["data"] == {"text/plain": "'v2'"}
    assert c["transient"] == {"display_id": "shared-id"}


def test_update_without_id_is_an_error(k):
    r = k.execute("display('x', update=True)")
    assert r.status == "error"
    assert r.reply["ename"] == "TypeError"


def test_display_handle_class(k):
    r = k.ok("from IPython.display import DisplayHandle\nh = DisplayHandle('my-id')\nh.display(1)\nh.update(2)")
    msgs = displays(r)
    assert [(t, c["transient"]["display_id"], c["data"]["text/plain"]) for t, c in msgs] == [
        ("display_data", "my-id", "1"), ("update_display_data", "my-id", "2")]


def test_clear_output_keeps_order_with_streams(k):
    r = k.ok("import sys\nfrom IPython.display import clear_output\nprint('before', end='')\nsys.stderr.write('err-before')\n"
             "clear_output(wait=True)\nprint('after')\nclear_output()")
    seq = [(m["msg_type"], m["content"].get("name"), m["content"].get("text"), m["content"].get("wait"))
           for m in r.iopub if m["msg_type"] in ("stream", "clear_output")]
    assert seq == [("stream", "stdout", "before", None), ("stream", "stderr", "err-before", None),
                   ("clear_output", None, None, True), ("stream", "stdout", "after\n", None),
                   ("clear_output", None, None, False)]


def test_display_clear_flag(k):
    r = k.ok("display('x', clear=True)")
    assert [t for t, _ in displays(r)] == ["clear_output", "display_data"]


# ---- the formatter -----------------------------------------------------------------


def test_repr_methods_and_metadata_pairs(k):
    r = k.ok(
        "import base64\n"
        f"PNG = base64.b64decode({PNG_B64!r})\n"
        "class Rich:\n"
        "    def _repr_html_(self): return '<i>h</i>', {'isolated': True}\n"
        "    def _repr_markdown_(self): return '*m*'\n"
        "    def _repr_svg_(self): return '<svg></svg>'\n"
        "    def _repr_png_(self): return PNG, {'width': 5}\n"
        "    def _repr_jpeg_(self): return None\n"
        "    def _repr_latex_(self): return '$x$'\n"
        "    def _repr_json_(self): return {'a': [1, 2]}\n"
        "    def _repr_javascript_(self): return 'console.log(1)'\n"
        "    def _repr_pdf_(self): return b'%PDF-1.4'\n"
        "    def __repr__(self): return 'Rich()'\n"
        "Rich()")
    [res] = r.results
    assert res["data"] == {
        "text/plain": "Rich()",
        "text/html": "<i>h</i>",
        "text/markdown": "*m*",
        "image/svg+xml": "<svg></svg>",
        "image/png": PNG_B64,
        "application/pdf": base64.b64encode(b"%PDF-1.4").decode(),
        "text/latex": "$x$",
        "application/json": {"a": [1, 2]},
        "application/javascript": "console.log(1)",
    }
    assert res["metadata"] == {"text/html": {"isolated": True}, "image/png": {"width": 5}}


def test_mimebundle_with_include_and_metadata(k):
    k.ok("class MB:\n"
         "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
         "        self.seen = (include, exclude)\n"
         "        return ({'text/html': '<b>mb</b>', 'application/vnd.custom+json': {'x': 1}},\n"
         "                {'text/html': {'note': 'md'}})\n"
         "    def _repr_html_(self): return 'not used: the bundle wins'\n"
         "    def _repr_latex_(self): return '$mb$'\n"
         "    def __repr__(self): return 'MB()'\n"
         "mb = MB()")
    r = k.ok("mb")
    [res] = r.results
    assert res["data"] == {"text/html": "<b>mb</b>", "application/vnd.custom+json": {"x": 1},
                           "text/plain": "MB()", "text/latex": "$mb$"}
    assert res["metadata"] == {"text/html": {"note": "md"}}
    r = k.ok("display(mb, include=['text/html'])\nmb.seen")
    assert data_of(r) == [{"text/html": "<b>mb</b>"}]
    assert r.result_text() == "(['text/html'], None)"
    r = k.ok("display(mb, exclude=['text/html', 'text/latex'])")
    assert data_of(r) == [{"application/vnd.custom+json": {"x": 1}, "text/plain": "MB()"}]


def test_ipython_display_method(k):
    k.ok("class Self:\n"
         "    def _ipython_display_(self):\n"
         "        display({'text/plain': 'from _ipython_display_'}, raw=True)\n"
         "    def _repr_html_(self): return 'never'")
    r = k.ok("display(Self())")
    assert data_of(r) == [{"text/plain": "from _ipython_display_"}]
    # As a cell's value: it displays itself and there is no Out[n].
    r = k.ok("Self()")
    assert data_of(r) == [{"text/plain": "from _ipython_display_"}]
    assert r.results == []


def test_failing_repr_keeps_other_formats(k):
    k.ok("class Flaky:\n"
         "    def _repr_html_(self):\n"
         "        raise ValueError('html is broken')\n"
         "    def _repr_markdown_(self): return '*still here*'\n"
         "    def __repr__(self): return 'Flaky()'")
    r = k.ok("Flaky()")
    [res] = r.results
    assert res["data"] == {"text/plain": "Flaky()", "text/markdown": "*still here*"}
    err = strip_ansi(r.stderr)
    assert "FormatterWarning: Exception in text/html formatter: ValueError: html is broken" in err
    assert "raise ValueError('html is broken')" in err  # the user's frame, with its source line
    assert "/.wasipy/runtime" not in err
    r = k.ok("display(Flaky())")
    assert data_of(r) == [{"text/plain": "Flaky()", "text/markdown": "*still here*"}]


def test_failing_repr_falls_back(k):
    r = k.ok("class NoRepr:\n    def __repr__(self): raise RuntimeError('no repr')\nNoRepr()")
    [res] = r.results
    assert re.fullmatch(r"<__main__\.NoRepr object at 0x[0-9a-f]+>", res["data"]["text/plain"])
    assert "RuntimeError" in r.stderr


def test_wrong_type_from_repr_is_dropped_with_warning(k):
    r = k.ok("class WrongType:\n    def _repr_html_(self): return 42\n    def __repr__(self): return 'W'\nWrongType()")
    [res] = r.results
    assert res["data"] == {"text/plain": "W"}
    assert "FormatterWarning: text/html formatter returned invalid type" in r.stderr


def test_classes_are_not_asked_for_reprs(k):
    r = k.ok("class HasHtml:\n    def _repr_html_(self): return 'instance'\nHasHtml")
    assert r.results[0]["data"] == {"text/plain": "__main__.HasHtml"}


# ---- pretty text/plain ---------------------------------------------------------------


def test_short_containers_stay_on_one_line(k):
    assert k.value("[1, 2, 3]") == "[1, 2, 3]"
    assert k.value("{'a': 1, 'b': (2,)}") == "{'a': 1, 'b': (2,)}"
    assert k.value("{3, 1, 2}") == "{1, 2, 3}"
    assert k.value("set(), frozenset({2, 1}), ()") == "(set(), frozenset({1, 2}), ())"


def test_long_list_one_item_a_line(k):
    assert k.value("list(range(30))") == "[" + ",\n ".join(str(i) for i in range(30)) + "]"


def test_nested_containers_wrap_at_79_columns(k):
    text = k.value("{'key%d' % i: list(range(i, i + 3)) for i in range(8)}")
    lines = text.split("\n")
    assert lines[0] == "{'key0': [0, 1, 2],"
    assert lines[-1] == " 'key7': [7, 8, 9, 10]}" or lines[-1] == " 'key7': [7, 8, 9]}"
    assert all(len(line) <= 79 for line in lines)
    text = k.value("[{'name': 'item %d' % i, 'tags': ['a', 'b']} for i in range(4)]")
    assert text == "[" + ",\n ".join("{'name': 'item %d', 'tags': ['a', 'b']}" % i for i in range(4)) + "]"


def test_pretty_special_forms(k):
    assert k.value("a = [1]; a.append(a); a") == "[1, [...]]"
    assert re.fullmatch(r"<__main__\.Plain at 0x[0-9a-f]+>", k.value("class Plain: pass\nPlain()"))
    assert k.value("def fn(a, b=2, *c, d): pass\nfn") == "<function __main__.fn(a, b=2, *c, d)>"
    assert k.value("len") == "<function len(obj, /)>"
    assert k.value("int") == "int"
    assert k.value("import collections\ncollections.defaultdict(list, {'a': [1]})") == "defaultdict(list, {'a': [1]})"
    assert k.value("collections.Counter('abb')") == "Counter({'b': 2, 'a': 1})"
    assert k.value("list(range(1005))").endswith("998,\n 999,\n ...]")


def test_repr_pretty_and_for_type(k):
    k.ok("class Tree:\n"
         "    def __init__(self, *kids): self.kids = kids\n"
         "    def _repr_pretty_(self, p, cycle):\n"
         "        with p.group(5, 'Tree(', ')'):\n"
         "            for i, kid in enumerate(self.kids):\n"
         "                if i:\n"
         "                    p.text(',')\n"
         "                    p.breakable()\n"
         "                p.pretty(kid)")
    assert k.value("Tree(1, 2)") == "Tree(1, 2)"
    text = k.value("Tree(*['x' * 30] * 3)")
    assert text == "Tree(" + ",\n     ".join(["'" + "x" * 30 + "'"] * 3) + ")"
    k.ok("class Money:\n    def __init__(self, v): self.v = v\n"
         "get_ipython().display_formatter.formatters['text/plain'].for_type(\n"
         "    Money, lambda obj, p, cycle: p.text(f'${obj.v:.2f}'))\n"
         "get_ipython().display_formatter.formatters['text/html'].for_type(Money, lambda obj: f'<b>${obj.v}</b>')")
    r = k.ok("[Money(1), Money(2.5)]")
    assert r.result_text() == "[$1.00, $2.50]"
    r = k.ok("Money(3)")
    assert r.results[0]["data"] == {"text/plain": "$3.00", "text/html": "<b>$3</b>"}


def test_precision_magic_changes_floats(kernel):
    assert kernel.value("%precision 2") == "'%.2f'"
    assert kernel.value("[1/3, 2.0]") == "[0.33, 2.00]"
    assert kernel.value("%precision") == "'%r'"
    assert kernel.value("1/3") == "0.3333333333333333"


# ---- the IPython shim ----------------------------------------------------------------


def test_ipython_display_classes(k):
    r = k.ok(
        "from IPython.display import HTML, Markdown, Latex, Math, SVG, JSON, Javascript, Pretty, Code\n"
        "for obj in [HTML('<p>h</p>'), Markdown('# m'), Latex(r'$\\alpha$'), Math(r'\\beta'),\n"
        "            SVG('<?xml version=\"1.0\"?>\\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>'),\n"
        "            JSON({'a': 1}, expanded=True), Javascript('alert(1)'), Pretty('pretty text'),\n"
        "            Code('x = 1', language='python')]:\n"
        "    display(obj)")
    got = [(c["data"], c["metadata"]) for t, c in displays(r)]
    assert got == [
        ({"text/plain": "<IPython.core.display.HTML object>", "text/html": "<p>h</p>"}, {}),
        ({"text/plain": "<IPython.core.display.Markdown object>", "text/markdown": "# m"}, {}),
        ({"text/plain": "<IPython.core.display.Latex object>", "text/latex": "$\\alpha$"}, {}),
        ({"text/plain": "<IPython.core.display.Math object>", "text/latex": "$\\displaystyle \\beta$"}, {}),
        ({"text/plain": "<IPython.core.display.SVG object>",
          "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg"/>'}, {}),
        ({"text/plain": "<IPython.core.display.JSON object>", "application/json": {"a": 1}},
         {"application/json": {"expanded": True, "root": "root"}}),
        ({"text/plain": "<IPython.core.display.Javascript object>", "application/javascript": "alert(1)"}, {}),
        ({"text/plain": "pretty text"}, {}),
        ({"text/plain": "x = 1", "text/html": '<pre><code class="language-python">x = 1</code></pre>'}, {}),
    ]


def test_ipython_image_from_bytes_file_and_url(k):
    r = k.ok(
        "import base64\n"
        "from IPython.display import Image\n"
        f"png = base64.b64decode({PNG_B64!r})\n"
        "open('one.png', 'wb').write(png)\n"
        "display(Image(png), Image(filename='one.png', width=20, alt='dot'), Image('one.png'),\n"
        "        Image(url='https://example.org/x.jpg', height=7))\n"
        "import os; os.remove('one.png')")
    got = [(c["data"], c["metadata"]) for t, c in displays(r)]
    plain = "<IPython.core.display.Image object>"
    assert got == [
        ({"image/png": PNG_B64, "text/plain": plain}, {}),
        ({"image/png": PNG_B64, "text/plain": plain}, {"image/png": {"width": 20, "alt": "dot"}}),
        ({"image/png": PNG_B64, "text/plain": plain}, {}),
        ({"text/html": '<img src="https://example.org/x.jpg" height="7"/>', "text/plain": plain}, {}),
    ]
    r = k.execute("Image(url='https://example.org/x.png', embed=True)")
    assert r.status == "error" and "no network" in r.reply["evalue"]


def test_ipython_filelink(k):
    r = k.ok("from IPython.display import FileLink\nopen('f.txt', 'w').write('x')\n"
             "display(FileLink('f.txt'), FileLink('missing.txt'))\nimport os; os.remove('f.txt')")
    first, second = data_of(r)
    assert first["text/html"] == "<a href='f.txt' target='_blank'>f.txt</a><br>"
    assert first["text/plain"] == os.path.join(k.cwd, "f.txt")
    assert "missing.txt" in second["text/html"] and "doesn't exist" in second["text/html"]


def test_ipython_core_aliases_and_version(k):
    r = k.ok(
        "import IPython, IPython.display, IPython.core.display as cd, IPython.core.getipython as g\n"
        "from IPython.core.display_functions import display as d2\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from IPython.utils.capture import capture_output\n"
        "from IPython.lib.pretty import pretty\n"
        "print(IPython.display.display is display is cd.display is d2, cd.HTML is IPython.display.HTML)\n"
        "print(g.get_ipython() is get_ipython() is IPython.get_ipython(), InteractiveShell.initialized())\n"
        "print(IPython.version_info[0] >= 8, isinstance(IPython.__version__, str))\n"
        "print(type(get_ipython()).__name__, isinstance(get_ipython(), InteractiveShell))\n"
        "print(pretty(list(range(3))))")
    assert r.stdout == "True True\nTrue True\nTrue True\nZMQInteractiveShell True\n[0, 1, 2]\n"


def test_get_ipython_shell_pieces(k):
    r = k.ok(
        "ip = get_ipython()\n"
        "ip.user_ns['from_ns'] = 7\n"
        "print(from_ns, ip.user_ns is globals(), ip.kernel is not None)\n"
        "ip.display_pub.publish({'text/plain': 'published'}, metadata={'m': 1})\n"
        "print(ip.run_line_magic('pwd', '') == __import__('os').getcwd())\n"
        "ip.push({'pushed': 3}); print(pushed)\n"
        "print(ip.ev('1 + 1'))")
    assert r.stdout == "7 True True\nTrue\n3\n2\n"
    assert [c for t, c in displays(r)] == [{"data": {"text/plain": "published"}, "metadata": {"m": 1}}]


def test_events_register_and_fire(kernel):
    kernel.ok("seen = []\n"
              "ip = get_ipython()\n"
              "ip.events.register('pre_run_cell', lambda info: seen.append(('pre', info.raw_cell)))\n"
              "ip.events.register('post_run_cell', lambda result: seen.append(('post', result.success)))\n"
              "ip.events.register('post_execute', lambda: seen.append('post_execute'))")
    kernel.execute("1/0")
    r = kernel.ok("seen")
    # IPython's order: post_execute, then post_run_cell.
    assert r.result_text() == (
        "['post_execute',\n ('post', True),\n ('pre', '1/0'),\n 'post_execute',\n ('post', False),\n"
        " ('pre', 'seen')]")
    r = kernel.execute("ip.events.register('no_such_event', print)")
    assert r.reply["ename"] == "KeyError"


def test_event_callback_errors_are_printed(kernel):
    kernel.ok("def bad(result): raise RuntimeError('callback failed')\n"
              "get_ipython().events.register('post_run_cell', bad)")
    r = kernel.ok("x = 1")
    assert "Error in callback" in r.stderr and "callback failed" in strip_ansi(r.stderr)


def test_real_ipython_is_preferred(kernel):
    """A real IPython on sys.path (a folder the user added) wins over the
    shim; a broken one falls back to the shim with a note."""
    os.makedirs(os.path.join(kernel.cwd, "real", "IPython"))
    with open(os.path.join(kernel.cwd, "real", "IPython", "__init__.py"), "w") as f:
        f.write("REAL = True\n")
    r = kernel.ok("import sys, os\nsys.path.append(os.path.abspath('real'))\nimport IPython\n"
                  "print(IPython.REAL, IPython.__file__.endswith('real/IPython/__init__.py'))")
    assert r.stdout == "True True\n"


def test_broken_real_ipython_falls_back(kernel):
    os.makedirs(os.path.join(kernel.cwd, "broken", "IPython"))
    with open(os.path.join(kernel.cwd, "broken", "IPython", "__init__.py"), "w") as f:
        f.write("import traitlets_that_is_missing\n")
    r = kernel.ok("import sys, os\nsys.path.append(os.path.abspath('broken'))\n"
                  "from IPython.display import HTML\nHTML('<b>shim</b>')")
    assert r.results[0]["data"]["text/html"] == "<b>shim</b>"
    assert "failed to import" in r.stderr and "traitlets_that_is_missing" in r.stderr


def test_start_up_loads_only_the_small_modules(kernel):
    """A kernel start compiles only the small parts (the interpreter runs
    at -O0): the formatter, the magics, the get_ipython() object and the
    IPython shim load when first used."""
    r = kernel.ok("import sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
                  "('IPython', '_wasipy_format', '_wasipy_magiclib', '_wasipy_ipshell', 'pprint', 'shlex',"
                  " 'argparse', 'getopt')))")
    assert r.stdout == "[]\n"


# ---- examples/display.ipynb through nbconvert -----------------------------------------


def _outputs(cell, kind):
    return [o for o in cell.outputs if o["output_type"] == kind]


def _stdout(cell):
    return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")


def check_display_notebook(nb):
    cells = {c.id: c for c in nb.cells if c.cell_type == "code"}
    assert list(cells) == [f"display-{i:02d}" for i in (2, 4, 5, 7, 8, 10, 11, 13, 14, 15, 17, 18, 20)]
    assert [c.execution_count for c in cells.values()] == list(range(1, 14))
    for c in cells.values():
        assert not _outputs(c, "error"), c.outputs
        assert not [o for o in c.outputs if o["output_type"] == "stream" and o["name"] == "stderr"], c.outputs

    html_md = cells["display-02"].outputs
    assert [(o["output_type"], dict(o["data"])) for o in html_md] == [
        ("display_data", {"text/html": "<b>Bold</b> words from <code>HTML</code>",
                          "text/plain": "<IPython.core.display.HTML object>"}),
        ("display_data", {"text/markdown": "*Emphasis* from `Markdown`",
                          "text/plain": "<IPython.core.display.Markdown object>"}),
    ]

    shown, result = cells["display-04"].outputs
    assert shown["output_type"] == "display_data" and result["output_type"] == "execute_result"
    png = base64.b64decode(shown["data"]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[16:24] == b"\0\0\0\x04\0\0\0\x04"
    assert result["data"]["image/png"] == shown["data"]["image/png"]
    assert result["metadata"] == {"image/png": {"width": 64}}
    assert result["data"]["text/plain"] == "<IPython.core.display.Image object>"

    [url] = cells["display-05"].outputs
    assert dict(url["data"]) == {
        "text/html": '<img src="https://jupyter.org/assets/homepage/main-logo.svg" width="100"/>',
        "text/plain": "<IPython.core.display.Image object>"}

    # The later cell's update_display replaced the output in place.
    [progress] = cells["display-07"].outputs
    assert progress["output_type"] == "display_data"
    assert progress["data"]["text/markdown"] == "**finished**"
    assert _stdout(cells["display-08"]) == "the output above now says finished\n"
    assert not _outputs(cells["display-08"], "display_data")

    assert [o["output_type"] for o in cells["display-10"].outputs] == ["stream"]
    assert _stdout(cells["display-10"]) == "only this remains\n"
    assert _stdout(cells["display-11"]) == "tick 4\n"

    assert re.fullmatch(r"CPU times: user .+, sys: .+, total: .+\nWall time: \d+(\.\d+)? (s|ms|µs|ns)\n", _stdout(cells["display-13"]))
    # IPython's warning about a run 4x slower than the fastest is part of
    # %timeit's output; on a loaded machine it may come first.
    assert re.fullmatch(r"(The slowest run took \d+\.\d\d times longer than the fastest\. .+\n)?"
                        r"\d+(\.\d+)? (ms|µs|ns) ± \d+(\.\d+)? (ms|µs|ns) per loop "
                        r"\(mean ± std\. dev\. of 7 runs, \d{1,3}(,\d{3})* loops? each\)\n",
                        _stdout(cells["display-14"])), _stdout(cells["display-14"])
    assert re.fullmatch(r"CPU times: .+\nWall time: .+\n", _stdout(cells["display-15"]))
    [res] = _outputs(cells["display-15"], "execute_result")
    assert res["data"] == {"text/plain": "10000"}

    [card] = cells["display-17"].outputs
    assert card["output_type"] == "execute_result"
    assert dict(card["data"]) == {"text/html": "<div class='card'><h3>Ada Lovelace</h3></div>",
                                  "text/plain": "Card('Ada Lovelace')"}

    shown, result = cells["display-18"].outputs
    assert (shown["output_type"], result["output_type"]) == ("display_data", "execute_result")
    assert dict(shown["data"]) == {"text/plain": "Chart of 3 points",
                                   "text/html": "<ul><li>3</li><li>1</li><li>4</li></ul>",
                                   "application/json": {"points": [3, 1, 4]}}
    assert shown["metadata"] == {"application/json": {"expanded": True}}
    assert result["data"]["application/json"] == {"points": [1, 5]}

    [long] = cells["display-20"].outputs
    assert long["data"]["text/plain"] == (
        "{'primes': [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47],\n"
        " 'name': 'small primes',\n"
        " 'count': 15}")


def test_display_notebook_is_valid_and_clean():
    nb = nbformat.read(EXAMPLE, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "wasipy"
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None


def test_display_notebook_nbconvert(tmp_path):
    if not os.path.exists(NBCONVERT):
        pytest.fail(f"{NBCONVERT} is missing: install Debian's jupyter-nbconvert (tests/run.sh does)")
    src = tmp_path / "display.ipynb"
    shutil.copy(EXAMPLE, src)
    outdir = tmp_path / "out"
    proc = subprocess.run(
        [NBCONVERT, "--to", "notebook", "--execute", "--output-dir", str(outdir), str(src)],
        cwd=str(tmp_path), env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"nbconvert failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    nb = nbformat.read(str(outdir / "display.ipynb"), as_version=4)
    nbformat.validate(nb)
    check_display_notebook(nb)
    # The notebook cleans up after itself.
    assert sorted(os.listdir(tmp_path)) == ["display.ipynb", "out"]
