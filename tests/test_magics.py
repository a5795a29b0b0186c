"""IPython's input syntax in wasipy: line and cell magics, `obj?`, `!cmd`
(a clear error: there is no shell in the sandbox), unknown magics, and
magics written by users and extensions."""

import json
import os
import re

import pytest

from harness import strip_ansi


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


def error_of(r):
    assert r.status == "error", r
    [err] = r.errors
    return err["ename"], err["evalue"], strip_ansi("\n".join(err["traceback"]))


def data_of(r):
    return [m["content"]["data"] for m in r.iopub if m["msg_type"] == "display_data"]


def page_of(r):
    """The one `page` payload of an execute_reply (the pager's text): the
    inspection is never output in the cell (tests/test_pager.py compares
    with ipykernel)."""
    pages = [p for p in r.reply["payload"] if p.get("source") == "page"]
    assert len(pages) == 1 and data_of(r) == [] and r.results == [], r
    return pages[0]["data"]


TIME = r"\d+(\.\d+)? (s|ms|µs|ns)|\d+min( \d+s)?"


def arrows(tb):
    """The lines a traceback points at: [(line number, source)]."""
    return [(int(n), src) for n, src in re.findall(r"^-+>\s+(\d+)\s+(.*)$", tb, re.M)]


# ---- %time and %timeit ------------------------------------------------------------


def test_time_line_returns_value(k):
    r = k.ok("%time sum(range(1000))")
    assert re.fullmatch(rf"CPU times: user ({TIME}), sys: ({TIME}), total: ({TIME})\nWall time: ({TIME})\n", r.stdout), r.stdout
    assert r.result_text() == "499500"


def test_time_assignment_form(k):
    r = k.ok("t_val = %time 6 * 7\nt_val")
    assert r.stdout.startswith("CPU times: user ") and "\nWall time: " in r.stdout
    assert r.result_text() == "42"


def test_time_cell(k):
    r = k.ok("%%time\nt_a = 20\nprint('inside')\nt_a + 1")
    assert re.fullmatch(rf"inside\nCPU times: user ({TIME}), sys: ({TIME}), total: ({TIME})\nWall time: ({TIME})\n", r.stdout), r.stdout
    assert r.result_text() == "21"
    r = k.ok("%%time\nt_b = 1\nt_b;")
    assert r.results == []


def test_time_cell_error_points_at_cell_line(k):
    r = k.execute("%%time\nok = 1\nraise ValueError('third line')")
    ename, evalue, tb = error_of(r)
    assert (ename, evalue) == ("ValueError", "third line")
    assert arrows(tb)[-1] == (3, "raise ValueError('third line')"), tb
    assert "/.wasipy/runtime" not in tb and "Wall time" not in r.stdout


def test_time_cell_rejects_statement_on_magic_line(k):
    ename, evalue, _ = error_of(k.execute("%%time x = 1\nx"))
    assert (ename, evalue) == ("UsageError", "Can't use statement directly after '%%time'!")


def test_timeit_shape_and_options(k):
    r = k.ok("%timeit -n 20 -r 3 sum(range(50))")
    assert re.fullmatch(rf"({TIME}) ± ({TIME}) per loop \(mean ± std\. dev\. of 3 runs, 20 loops each\)\n",
                        r.stdout), r.stdout
    r = k.ok("%timeit -n1 -r1 pass")
    assert r.stdout.endswith("per loop (mean ± std. dev. of 1 run, 1 loop each)\n"), r.stdout


def test_timeit_auto_loop_count(k):
    r = k.ok("%timeit sum(range(20))")
    m = re.fullmatch(rf"({TIME}) ± ({TIME}) per loop \(mean ± std\. dev\. of 7 runs, ([\d,]+) loops? each\)\n",
                     r.stdout.splitlines(True)[-1])
    assert m, r.stdout
    loops = int(m.group(m.lastindex).replace(",", ""))
    assert loops >= 10 and str(loops).strip("0") == "1"  # a power of ten


def test_timeit_o_returns_result_and_q_is_quiet(k):
    r = k.ok("res = %timeit -o -q -n 5 -r 2 [1] * 10\n"
             "(type(res).__name__, res.loops, res.repeat, len(res.all_runs), res.best <= res.average <= res.worst)")
    assert r.stdout == ""
    assert r.result_text() == "('TimeitResult', 5, 2, 2, True)"


def test_timeit_cell_with_setup(k):
    r = k.ok("%%timeit -n 10 -r 2 data = list(range(100))\ntotal = sum(data)\n")
    assert "per loop (mean ± std. dev. of 2 runs, 10 loops each)" in r.stdout
    # Names assigned while timing stay local to the timing.
    r = k.execute("data")
    assert r.status == "error" and r.reply["ename"] == "NameError"


def test_timeit_sees_user_names_and_reports_errors(k):
    k.ok("def ti_f(x): return x * 2")
    assert "per loop" in k.ok("%timeit -n 3 -r 1 ti_f(3)").stdout
    ename, evalue, tb = error_of(k.execute("x_ok = 1\n%timeit -n 1 -r 1 undefined_name_xyz"))
    assert (ename, evalue) == ("NameError", "name 'undefined_name_xyz' is not defined")
    assert arrows(tb)[-1] == (2, "%timeit -n 1 -r 1 undefined_name_xyz"), tb


def test_magics_in_blocks_and_not_in_strings(k):
    r = k.ok("for i in range(2):\n    %time i\ns = '''\n%notamagic\n'''\ns")
    assert r.stdout.count("Wall time: ") == 2
    assert r.result_text() == "'\\n%notamagic\\n'"


def test_line_numbers_survive_transformation(k):
    ename, _, tb = error_of(k.execute("%time 1\n%who\nobj_missing?\n1/0"))
    assert ename == "ZeroDivisionError"
    assert arrows(tb) == [(4, "1/0")], tb


# ---- namespace magics --------------------------------------------------------------


def test_who_whos_reset(kernel):
    r = kernel.ok("%who")
    assert r.stdout == "Interactive namespace is empty.\n"
    kernel.ok("alpha = 1\nbeta = 'two'\ndef gamma(): pass\n_hidden = 3\nimport math")
    assert kernel.ok("%who").stdout == "alpha\t beta\t gamma\t math\t \n"
    assert kernel.ok("%who int str").stdout == "alpha\t beta\t \n"
    assert kernel.value("%who_ls") == "['alpha', 'beta', 'gamma', 'math']"
    lines = kernel.ok("%whos").stdout.splitlines()
    assert lines[0].split() == ["Variable", "Type", "Data/Info"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["alpha", "int", "1"]
    assert lines[3].split() == ["beta", "str", "two"]
    assert lines[4].split()[:2] == ["gamma", "function"]
    assert lines[5].split()[:2] == ["math", "module"]
    kernel.ok("5")
    kernel.ok("%reset -f")
    assert kernel.ok("%who").stdout == "Interactive namespace is empty.\n"
    r = kernel.execute("alpha")
    assert r.reply["ename"] == "NameError"
    assert kernel.value("len(Out), _") == "(0, '')"
    assert kernel.value("1 + 1") == "2"  # the session goes on


def test_env(k):
    r = k.ok("%env WASIPY_T=one two")
    assert r.stdout == "env: WASIPY_T=one two\n"
    assert k.value("%env WASIPY_T") == "'one two'"
    assert k.ok("%env WASIPY_U value").stdout == "env: WASIPY_U=value\n"
    assert k.value("import os\nos.environ['WASIPY_U']") == "'value'"
    assert k.value("env_all = %env\n'WASIPY_T' in env_all") == "True"
    ename, evalue, _ = error_of(k.execute("%env NOT_SET_ANYWHERE"))
    assert (ename, evalue) == ("UsageError", "Environment does not have key: NOT_SET_ANYWHERE")


def test_cd_and_pwd(kernel):
    os.makedirs(os.path.join(kernel.cwd, "sub dir"))
    assert kernel.value("%pwd") == repr(kernel.cwd)
    r = kernel.ok("%cd 'sub dir'")
    assert r.stdout == os.path.join(kernel.cwd, "sub dir") + "\n"
    assert kernel.value("import os\nos.getcwd()") == repr(os.path.join(kernel.cwd, "sub dir"))
    assert kernel.ok("%cd -").stdout == kernel.cwd + "\n"
    r = kernel.ok("%cd does-not-exist")
    assert "No such file or directory" in r.stdout
    assert kernel.value("%pwd") == repr(kernel.cwd)


# ---- %run and %%writefile ------------------------------------------------------------


def test_writefile_and_run(kernel):
    r = kernel.ok("%%writefile script.py\nimport sys\nprint('args', sys.argv[1:], __name__)\nfrom_script = 42\n")
    assert r.stdout == "Writing script.py\n"
    assert open(os.path.join(kernel.cwd, "script.py")).read() == \
        "import sys\nprint('args', sys.argv[1:], __name__)\nfrom_script = 42\n"
    assert kernel.ok("%%writefile script.py\nfrom_script = 1\n").stdout == "Overwriting script.py\n"
    assert kernel.ok("%%writefile -a script.py\nprint('appended')\n").stdout == "Appending to script.py\n"
    kernel.ok("%%writefile script.py\nimport sys\nprint('args', sys.argv[1:], __name__)\nfrom_script = 42\n")
    r = kernel.ok("%run script.py a 'b c'\nfrom_script")
    assert r.stdout == "args ['a', 'b c'] __main__\n"
    assert r.result_text() == "42"
    assert kernel.value("import sys\nsys.argv") == "['']"


def test_run_interactive_and_errors(kernel):
    with open(os.path.join(kernel.cwd, "uses_ns.py"), "w") as f:
        f.write("result = base * 2\n")
    with open(os.path.join(kernel.cwd, "fails.py"), "w") as f:
        f.write("x = 1\n\nraise RuntimeError('from the file')\n")
    kernel.ok("base = 21")
    assert kernel.value("%run -i uses_ns.py\nresult") == "42"
    ename, _, _ = error_of(kernel.execute("%run uses_ns.py"))
    assert ename == "NameError"
    ename, evalue, tb = error_of(kernel.execute("%run fails.py"))
    assert (ename, evalue) == ("RuntimeError", "from the file")
    assert "fails.py:3" in tb and "raise RuntimeError('from the file')" in tb, tb
    ename, evalue, _ = error_of(kernel.execute("%run nothere.py"))
    assert (ename, evalue) == ("UsageError", "File `'nothere.py'` not found.")


def test_run_notebook(kernel):
    nb = {"cells": [{"cell_type": "code", "source": ["nb_value = 6\n", "%time nb_value *= 7"], "metadata": {},
                     "outputs": [], "execution_count": None},
                    {"cell_type": "markdown", "source": "text", "metadata": {}}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with open(os.path.join(kernel.cwd, "other.ipynb"), "w") as f:
        json.dump(nb, f)
    r = kernel.ok("%run other.ipynb\nnb_value")
    assert r.result_text() == "42"
    assert "Wall time" in r.stdout


# ---- %%capture and rich cell magics ----------------------------------------------------


def test_capture(k):
    r = k.ok("%%capture captured\nimport sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"
             "display('shown')\n'value'")
    assert r.stdout == "" and r.stderr == "" and data_of(r) == [] and r.results == []
    r = k.ok("captured.stdout, captured.stderr, [o.data for o in captured.outputs]")
    assert r.result_text() == ("('to stdout\\n',\n 'to stderr\\n',\n [{'text/plain': \"'shown'\"}, "
                               "{'text/plain': \"'value'\"}])")
    r = k.ok("captured.show()")
    assert r.stdout == "to stdout\n" and r.stderr == "to stderr\n"
    assert data_of(r) == [{"text/plain": "'shown'"}, {"text/plain": "'value'"}]
    r = k.ok("%%capture --no-stdout\nprint('passes through')\ndisplay('kept back')")
    assert r.stdout == "passes through\n" and data_of(r) == []


def test_rich_cell_magics(k):
    r = k.ok("%%html\n<b>bold</b>")
    assert data_of(r) == [{"text/html": "<b>bold</b>\n", "text/plain": "<IPython.core.display.HTML object>"}]
    r = k.ok("%%html --isolated\n<b>iso</b>")
    [msg] = [m["content"] for m in r.iopub if m["msg_type"] == "display_data"]
    assert msg["metadata"] == {"text/html": {"isolated": True}}
    assert data_of(k.ok("%%markdown\n# Title"))[0]["text/markdown"] == "# Title\n"
    assert data_of(k.ok("%%javascript\nconsole.log(1)"))[0]["application/javascript"] == "console.log(1)\n"
    assert data_of(k.ok("%%js\nvar x;"))[0]["application/javascript"] == "var x;\n"
    assert data_of(k.ok("%%latex\n$x^2$"))[0]["text/latex"] == "$x^2$\n"
    assert data_of(k.ok("%%svg\n<svg></svg>"))[0]["image/svg+xml"] == "<svg></svg>\n"


# ---- extensions and user magics ----------------------------------------------------------

EXTENSION = '''
from IPython.core.magic import Magics, magics_class, line_magic, cell_magic, line_cell_magic

@magics_class
class Shout(Magics):
    @line_magic
    def shout(self, line):
        return line.upper()

    @cell_magic("shout_cell")
    def cell(self, line, cell):
        return (line, cell.upper())

    @line_cell_magic
    def both(self, line, cell=None):
        return ("both", line, cell)

loaded = []

def load_ipython_extension(ip):
    loaded.append(ip)
    ip.register_magics(Shout)
    ip.user_ns["EXT_LOADED"] = len(loaded)

def unload_ipython_extension(ip):
    ip.user_ns["EXT_UNLOADED"] = True
'''


def test_load_ext(kernel):
    with open(os.path.join(kernel.cwd, "myext.py"), "w") as f:
        f.write(EXTENSION)
    with open(os.path.join(kernel.cwd, "notext.py"), "w") as f:
        f.write("x = 1\n")
    # Load and use in the same cell: magics are looked up when they run.
    r = kernel.ok("%load_ext myext\n%shout hello")
    assert r.result_text() == "'HELLO'"
    assert kernel.value("EXT_LOADED") == "1"
    assert kernel.value("%%shout_cell arg\nbody") == "('arg', 'BODY\\n')"
    assert kernel.value("%both line") == "('both', 'line', None)"
    assert kernel.value("%%both l\nc") == "('both', 'l', 'c\\n')"
    r = kernel.ok("%load_ext myext")
    assert r.stdout == "The myext extension is already loaded. To reload it, use:\n  %reload_ext myext\n"
    kernel.ok("%reload_ext myext")
    assert kernel.value("EXT_UNLOADED, EXT_LOADED") == "(True, 1)"
    assert kernel.ok("%load_ext notext").stdout == "The notext module is not an IPython extension.\n"
    ename, _, _ = error_of(kernel.execute("%load_ext no_such_module_anywhere"))
    assert ename == "ModuleNotFoundError"
    assert "%shout" in kernel.value("%lsmagic")


def test_user_magic_functions(k):
    r = k.ok("from IPython.core.magic import register_line_magic, register_cell_magic, needs_local_scope\n"
             "@register_line_magic\ndef greet(line):\n    'Say hello.'\n    return 'hello ' + line\n"
             "@register_cell_magic('count_lines')\ndef _cl(line, cell):\n    return len(cell.splitlines())\n"
             "%greet world")
    assert r.result_text() == "'hello world'"
    assert k.value("%%count_lines\na\nb\nc") == "3"
    assert k.value("get_ipython().run_line_magic('greet', 'again')") == "'hello again'"
    assert k.value("get_ipython().run_cell_magic('count_lines', '', 'x\\ny')") == "2"
    r = k.ok("%greet?")
    assert "Say hello." in strip_ansi(page_of(r)["text/plain"])


def test_magic_arguments(k):
    r = k.ok("from IPython.core.magic import register_line_magic\n"
             "from IPython.core.magic_arguments import magic_arguments, argument, parse_argstring\n"
             "@register_line_magic\n@magic_arguments()\n@argument('-n', type=int, default=1)\n@argument('word')\n"
             "def rep(line):\n    args = parse_argstring(rep, line)\n    return args.word * args.n\n"
             "%rep -n 3 ab")
    assert r.result_text() == "'ababab'"
    ename, _, _ = error_of(k.execute("%rep -n notanumber x"))
    assert ename == "UsageError"


# ---- help ----------------------------------------------------------------------------------


def test_question_mark_inspection(k):
    k.ok("def helped(a, b=2):\n    '''Adds things.'''\n    return a + b")
    for code in ("helped?", "?helped", "%pinfo helped"):
        text = strip_ansi(page_of(k.ok(code))["text/plain"])
        assert "helped(a, b=2)" in text and "Adds things." in text, (code, text)
        assert "return a + b" not in text
    for code in ("helped??", "%pinfo2 helped"):
        assert "return a + b" in strip_ansi(page_of(k.ok(code))["text/plain"]), code
    r = k.ok("no_such_object_here?")
    assert r.stdout == "Object `no_such_object_here` not found.\n" and data_of(r) == []
    assert r.reply["payload"] == []
    assert "Time a statement" in strip_ansi(page_of(k.ok("%timeit?"))["text/plain"])


# ---- no shell, unknown magics ---------------------------------------------------------------


@pytest.mark.parametrize("code,what", [
    ("!ls -la", "!ls -la"),
    ("files = !ls", "!ls"),
    ("for i in range(1):\n    !echo hi", "!echo hi"),
    ("%%bash\necho hi", "%%bash"),
    ("%%sh\necho hi", "%%sh"),
    ("%system ls", "%system"),
    ("%ls", "%ls"),
])
def test_no_shell(k, code, what):
    ename, evalue, tb = error_of(k.execute(code))
    assert ename == "UsageError"
    assert evalue.startswith(f"{what}: there is no shell in the sandbox."), evalue
    assert tb.splitlines()[-1] == f"UsageError: {evalue}"


def test_unknown_magics(k):
    ename, evalue, tb = error_of(k.execute("%nosuchmagic arg"))
    assert (ename, evalue) == ("UsageError", "Line magic function `%nosuchmagic` not found.")
    assert tb.splitlines()[-1] == "UsageError: Line magic function `%nosuchmagic` not found."
    ename, evalue, _ = error_of(k.execute("%%nosuchmagic\nbody"))
    assert (ename, evalue) == ("UsageError", "Cell magic `%%nosuchmagic` not found.")
    _, evalue, _ = error_of(k.execute("%html"))
    assert evalue == "Line magic function `%html` not found (But cell magic `%%html` exists, did you mean that instead?)."
    # Statements before the unknown magic ran, as in IPython.
    r = k.execute("print('ran first')\n%nosuchmagic")
    assert r.stdout == "ran first\n" and r.status == "error"


def test_cell_magic_must_be_first(k):
    ename, evalue, _ = error_of(k.execute("x = 1\n%%time\nx"))
    assert (ename, evalue) == ("UsageError", "Cell magic `%%time` must be on the first line of the cell.")


def test_builtin_magics_registered_lazily_are_all_defined(kernel):
    """Start-up registers wasipy's magics by name; the module that defines
    them, loaded on first use, defines exactly those."""
    r = kernel.ok("import _wasipy_magics as m\n"
                  "lazy = ({n for n, x in m.line_magics.items() if x.func is None},\n"
                  "        {n for n, x in m.cell_magics.items() if x.func is None})\n"
                  "import _wasipy_magiclib\n"
                  "print(lazy == (set(m._BUILTIN_LINE), set(m._BUILTIN_CELL)),\n"
                  "      [n for n, x in {**m.line_magics, **m.cell_magics}.items() if x.func is None])")
    assert r.stdout == "True []\n"


def test_lsmagic_and_settings(k):
    text = k.value("%lsmagic")
    assert text.startswith("Available line magics:\n")
    for name in ("%time", "%timeit", "%who", "%whos", "%reset", "%env", "%cd", "%pwd", "%run", "%load_ext",
                 "%lsmagic", "%%capture", "%%html", "%%markdown", "%%javascript", "%%latex", "%%writefile",
                 "%%time", "%%timeit"):
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", text), name
    assert text.endswith("Automagic is OFF, % prefix IS needed for line magics.")
    k.ok("%config InlineBackend.figure_format = 'retina'")
    assert k.value("get_ipython().config.InlineBackend.figure_format") == "'retina'"
    assert k.ok("%xmode Minimal").stdout == "Exception reporting mode: Minimal\n"
    ename, evalue, _ = error_of(k.execute("%matplotlib inline"))
    assert (ename, evalue) == ("ModuleNotFoundError", "No module named 'matplotlib'")


def test_autoreload(kernel):
    """%load_ext autoreload / %autoreload 2, as notebooks written for
    IPython use them: a module edited on disk is reloaded before the next
    cell, and functions and classes update in place."""
    path = os.path.join(kernel.cwd, "mymod.py")

    def write(body, bump):
        with open(path, "w") as f:
            f.write(body)
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))

    write("def f():\n    return 1\n\nclass C:\n    def m(self):\n        return 'old'\n", 0)
    kernel.ok("%load_ext autoreload\n%autoreload 2")
    kernel.ok("import mymod\nfrom mymod import f\nobj = mymod.C()")
    assert kernel.value("mymod.f(), f(), obj.m()") == "(1, 1, 'old')"
    write("def f():\n    return 2\n\nclass C:\n    def m(self):\n        return 'new'\n", 10)
    assert kernel.value("mymod.f(), f(), obj.m()") == "(2, 2, 'new')"
    kernel.ok("%autoreload 0")
    write("def f():\n    return 3\n", 20)
    assert kernel.value("mymod.f()") == "2"
    kernel.ok("%autoreload")  # now
    assert kernel.value("mymod.f()") == "3"


def test_prun_history_pprint(kernel):
    kernel.ok("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)")
    r = kernel.ok("%prun -l 3 fib(12)")
    [data] = data_of(r)
    text = data["text/plain"]
    assert re.search(r"\d+ function calls \(\d+ primitive calls\) in [\d.]+ seconds", text), text
    assert "Ordered by: internal time" in text and "(fib)" in text
    assert kernel.value("st = %prun -q -r -s cumulative fib(5)\ntype(st).__name__") == "'Stats'"
    r = kernel.ok("%history -n 1-2")
    # IPython's layout (tests/test_payloads.py compares it with ipykernel's).
    assert r.stdout == "   1:\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n   2: %prun -l 3 fib(12)\n"
    assert kernel.ok("%pprint").stdout == "Pretty printing has been turned OFF\n"
    assert kernel.value("list(range(30))") == repr(list(range(30)))
    assert kernel.ok("%pprint").stdout == "Pretty printing has been turned ON\n"
