"""The magics wasipy ships (%time, %timeit, %who, %run, %%capture, ...).

_wasipy_magics registers their names at start-up and imports this module
the first time one of them runs: compiling it costs the -O0 interpreter
about 25 ms, which a kernel start should not pay.
"""

import builtins
import os
import re
import sys

import _wasipy_display
import _wasipy_magics
from _wasipy_magics import UsageError, _Ctx, _find, cell_magics, get_ipython, line_magics


def _line_magic(*names):
    def deco(f):
        for n in names:
            line_magics[n] = _wasipy_magics.Magic("line", n, f, internal=True)
        return f
    return deco


def _cell_magic(*names):
    def deco(f):
        for n in names:
            cell_magics[n] = _wasipy_magics.Magic("cell", n, f, internal=True)
        return f
    return deco


# ---- running code for magics ------------------------------------------------


def _ends_with_semicolon(src):
    import io
    import tokenize
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENDMARKER)
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type not in skip]
    except (tokenize.TokenError, SyntaxError):
        return src.rstrip().endswith(";")
    return bool(toks) and toks[-1].string == ";"


def _transform_all(src):
    core = _wasipy_magics.core()
    if core is not None:
        for t in core.input_transformers:
            src = t(src)
    else:
        src = _wasipy_magics.transform(src)
    return src


def _compile(src, filename, lineno, value=True, transform=True):
    """Compile src as lines lineno... of filename. Returns (body, last):
    code objects, last (an 'eval' code) for a final expression whose value
    is wanted, else None."""
    import ast
    raw = src
    if transform:
        src = _transform_all(src)
    padded = "\n" * (max(lineno, 1) - 1) + src
    tree = ast.parse(padded, filename, "exec")
    last = None
    if value and tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_with_semicolon(raw):
        last = compile(ast.Expression(tree.body.pop().value), filename, "eval")
    return compile(tree, filename, "exec"), last


def _run(body, last, ns, local_ns=None):
    exec(body, ns, local_ns)
    if last is not None:
        return eval(last, ns, local_ns)
    return None


# ---- time ----------------------------------------------------------------------


def format_time(seconds, precision=3):
    """A duration as IPython prints it: 1.23 µs, 45.6 ms, 2.5 s, 1min 3s."""
    import math
    if seconds >= 60.0:
        parts = []
        left = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            value = int(left // length)
            if value > 0:
                left -= value * length
                parts.append(f"{value}{suffix}")
            if left < 1:
                break
        return " ".join(parts)
    units = ("s", "ms", "\u00b5s", "ns")
    order = 3 if seconds <= 0 else min(max(-int(math.floor(math.log10(seconds)) // 3), 0), 3)
    return "%.*g %s" % (precision, seconds * 1000 ** order, units[order])


def _lines_of(ctx):
    """(code, first line number) of a line or cell magic's statement."""
    if ctx.cell is None:
        return ctx.line, ctx.lineno
    return ctx.cell, ctx.lineno


@_line_magic("time")
@_cell_magic("time")
def _time(ctx):
    """Time the execution of a statement or expression (the cell with %%time).

    Prints CPU and wall-clock times as IPython does (the CPU clock is the
    interpreter's own; the sandbox has no separate system time), and returns
    the value of a final expression."""
    import time
    if ctx.cell is not None and ctx.line.strip():
        raise UsageError("Can't use statement directly after '%%time'!")
    src, lineno = _lines_of(ctx)
    t0 = time.perf_counter()
    body, last = _compile(src, ctx.filename, lineno)
    tc = time.perf_counter() - t0
    ns = ctx.ns
    c0, w0 = time.process_time(), time.perf_counter()
    value = _run(body, last, ns, ctx.local_ns)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    print(f"CPU times: user {format_time(cpu)}, sys: {format_time(0.0)}, total: {format_time(cpu)}")
    print(f"Wall time: {format_time(wall)}")
    if tc > 0.1:
        print(f"Compiler : {format_time(tc)}")
    return value


class TimeitResult:
    """What %timeit -o returns: timings per loop of each run."""

    def __init__(self, loops, repeat, best, worst, all_runs, compile_time, precision):
        self.loops = loops
        self.repeat = repeat
        self.best = best
        self.worst = worst
        self.all_runs = all_runs
        self.compile_time = compile_time
        self._precision = precision
        self.timings = [dt / loops for dt in all_runs]

    @property
    def average(self):
        return sum(self.timings) / len(self.timings)

    @property
    def stdev(self):
        mean = self.average
        return (sum((x - mean) ** 2 for x in self.timings) / len(self.timings)) ** 0.5

    def __str__(self):
        p = self._precision
        runs = "run" if self.repeat == 1 else "runs"
        loops = "loop" if self.loops == 1 else "loops"
        return (f"{format_time(self.average, p)} \u00b1 {format_time(self.stdev, p)} per loop "
                f"(mean \u00b1 std. dev. of {self.repeat} {runs}, {self.loops:,} {loops} each)")

    def _repr_pretty_(self, p, cycle):
        p.text(f"<TimeitResult : {self}>")

    def __repr__(self):
        return f"<TimeitResult : {self}>"


def _parse_timeit_options(line):
    """Leading -n N -r R -p P -q -o -t -c options, then the statement."""
    opts = {}
    rest = line.lstrip()
    while rest.startswith("-"):
        m = re.match(r"-([nrp])\s*(\d+)\s*|-([qotc]+)(?:\s+|$)", rest)
        if not m:
            break
        if m.group(1):
            opts[m.group(1)] = int(m.group(2))
        else:
            for flag in m.group(3):
                opts[flag] = True
        rest = rest[m.end():]
    return opts, rest


_TIMEIT_TEMPLATE = """
def _wasipy_timeit_inner(_it, _timer):
    pass
    _t0 = _timer()
    for _i in _it:
        pass
    _t1 = _timer()
    return _t1 - _t0
"""


def _timeit_function(setup, stmt, filename, setup_line, stmt_line, ns, local_ns):
    """The timing function, with setup and stmt keeping their line numbers."""
    import ast
    tmpl = ast.parse(_TIMEIT_TEMPLATE)
    fn = tmpl.body[0]
    setup_nodes = ast.parse("\n" * (setup_line - 1) + _transform_all(setup), filename).body if setup.strip() else []
    stmt_nodes = ast.parse("\n" * (stmt_line - 1) + _transform_all(stmt), filename).body
    if not stmt_nodes:
        stmt_nodes = [ast.Pass()]
    line = stmt_line
    for node in ast.walk(tmpl):
        if hasattr(node, "lineno"):
            node.lineno = node.end_lineno = line
    fn.body[0:1] = setup_nodes or [ast.Pass(lineno=line, col_offset=0, end_lineno=line, end_col_offset=0)]
    loop = fn.body[-3]
    loop.body = stmt_nodes
    ast.fix_missing_locations(tmpl)
    code = compile(tmpl, filename, "exec")
    scope = dict(local_ns) if local_ns else {}
    if local_ns:
        # Names of the function's scope: make them reachable as globals.
        glob = dict(ns)
        glob.update(local_ns)
        ns = glob
    exec(code, ns, scope)
    return scope["_wasipy_timeit_inner"]


@_line_magic("timeit")
@_cell_magic("timeit")
def _timeit(ctx):
    """Time a statement (the cell with %%timeit, whose line is setup code).

    %timeit [-n<N> -r<R> [-t|-c] -q -p<P> -o] statement

    The loop count is chosen so that a run takes at least 0.2 s (powers of
    ten), unless -n is given; -r sets the number of runs (default 7); -q
    prints nothing; -o returns a TimeitResult; -p sets the digits shown."""
    import gc
    import itertools
    import time
    opts, rest = _parse_timeit_options(ctx.line)
    if ctx.cell is None:
        setup, stmt, setup_line, stmt_line = "", rest, ctx.lineno, ctx.lineno
    else:
        setup, stmt, setup_line, stmt_line = rest, ctx.cell, ctx.lineno - 1, ctx.lineno
    if not stmt.strip():
        raise UsageError("%timeit needs a statement to time")
    precision = opts.get("p", 3)
    repeat = opts.get("r", 7)
    number = opts.get("n", 0)
    t0 = time.perf_counter()
    inner = _timeit_function(setup, stmt, ctx.filename, setup_line, stmt_line, ctx.ns, ctx.local_ns)
    tc = time.perf_counter() - t0

    def run(n):
        it = itertools.repeat(None, n)
        gcold = gc.isenabled()
        gc.disable()
        try:
            return inner(it, time.perf_counter)
        finally:
            if gcold:
                gc.enable()

    if number <= 0:
        for index in range(10):
            number = 10 ** index
            if run(number) >= 0.2:
                break
    all_runs = [run(number) for _ in range(max(repeat, 1))]
    best = min(all_runs) / number
    worst = max(all_runs) / number
    result = TimeitResult(number, max(repeat, 1), best, worst, all_runs, tc, precision)
    if not opts.get("q"):
        if worst > 4 * best and best > 0 and worst > 1e-6:
            print(f"The slowest run took {worst / best:.2f} times longer than the fastest. "
                  "This could mean that an intermediate result is being cached.")
        print(result)
        if tc > 0.1:
            print(f"Compiler time: {tc:.2f} s")
    if opts.get("o"):
        return result
    return None


# ---- namespace -----------------------------------------------------------------

def _user_names(ctx, types=()):
    ns = ctx.ns
    out = []
    for name in sorted(ns):
        if name.startswith("_") or name in _wasipy_magics._hidden:
            continue
        if types and type(ns[name]).__name__ not in types:
            continue
        out.append(name)
    return out


@_line_magic("who_ls")
def _who_ls(ctx):
    """A sorted list of the interactive variables (optionally of given types)."""
    return _user_names(ctx, ctx.line.split())


@_line_magic("who")
def _who(ctx):
    """Print the interactive variables, optionally only those of the given
    types (%who int function)."""
    names = _user_names(ctx, ctx.line.split())
    if not names:
        print("No variables match your requested type." if ctx.line.strip() else "Interactive namespace is empty.")
        return
    for i in range(0, len(names), 9):
        print("\t ".join(names[i:i + 9]) + "\t ")


@_line_magic("whos")
def _whos(ctx):
    """Like %who, as a table with each variable's type and data."""
    names = _user_names(ctx, ctx.line.split())
    if not names:
        print("No variables match your requested type." if ctx.line.strip() else "Interactive namespace is empty.")
        return
    ns = ctx.ns
    types = [type(ns[n]).__name__ for n in names]
    vw = max(max(map(len, names)), len("Variable")) + 3
    tw = max(max(map(len, types)), len("Type")) + 3
    print("Variable".ljust(vw) + "Type".ljust(tw) + "Data/Info")
    print("-" * (vw + tw + len("Data/Info")))
    for name, tname in zip(names, types):
        value = ns[name]
        if tname in ("dict", "list", "tuple", "set"):
            info = f"n={len(value)}"
        else:
            try:
                info = str(value).replace("\n", "\\n")
            except Exception:
                info = "<unprintable>"
            if len(info) > 50:
                info = info[:25] + "<...>" + info[-25:]
        print(name.ljust(vw) + tname.ljust(tw) + info)


@_line_magic("reset")
def _reset(ctx):
    """Delete every variable the user defined, and the output history.

    %reset -f does it without asking."""
    args = ctx.line.split()
    if "-f" not in args:
        answer = input("Once deleted, variables cannot be recovered. Proceed (y/[n])? ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing done.")
            return
    ns = ctx.ns
    for name in list(ns):
        if name not in _wasipy_magics._hidden:
            del ns[name]
    if isinstance(ns.get("Out"), dict):
        ns["Out"].clear()
    ns["_"] = ns["__"] = ns["___"] = ""
    builtins._ = ""


@_line_magic("env")
def _env(ctx):
    """%env: all environment variables; %env NAME: one; %env NAME=value
    (or %env NAME value): set one."""
    line = ctx.line.strip()
    if not line:
        return dict(os.environ)
    if "=" not in line and " " not in line:
        try:
            return os.environ[line]
        except KeyError:
            raise UsageError(f"Environment does not have key: {line}") from None
    return _set_env(ctx)


@_line_magic("set_env")
def _set_env(ctx):
    """%set_env NAME=value or %set_env NAME value."""
    line = ctx.line.strip()
    sep = "=" if "=" in line else None
    parts = line.split(sep, 1)
    if len(parts) != 2 or not parts[0].strip():
        raise UsageError("usage is 'set_env var=value' or 'set_env var value'")
    name, value = parts[0].strip(), parts[1].strip()
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    os.environ[name] = value
    print(f"env: {name}={value}")


def _unquote(s):
    s = s.strip()
    if len(s) > 1 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


@_line_magic("cd")
def _cd(ctx):
    """Change the working directory (within the folders the sandbox sees).

    %cd: home; %cd -: the previous directory; %cd -q dir: quietly."""
    arg = ctx.line.strip()
    quiet = False
    if arg.startswith("-q"):
        quiet, arg = True, arg[2:].strip()
    dh = ctx.ns.setdefault("_dh", [os.getcwd()])
    if not arg:
        target = os.path.expanduser("~")
    elif arg == "-":
        if len(dh) < 2:
            print("cd: no previous directory")
            return
        target = dh[-2]
    else:
        target = os.path.expanduser(_unquote(arg))
    try:
        os.chdir(target)
    except OSError as e:
        print(e)
        return
    cwd = os.getcwd()
    dh.append(cwd)
    if not quiet:
        print(cwd)


@_line_magic("pwd")
def _pwd(ctx):
    """The working directory."""
    return os.getcwd()


# ---- running files ---------------------------------------------------------


@_line_magic("run")
def _run_file(ctx):
    """Run a Python file (or a notebook) and copy its variables into the
    namespace.

    %run [-i] [-e] [-n] [-t] file.py [args]   (sys.argv is [file, args...])
    %run -m module [args]
      -i: run in the notebook's namespace; -e: ignore sys.exit();
      -n: __name__ is not '__main__'; -t: print the time taken."""
    import shlex
    import time
    try:
        words = shlex.split(ctx.line)
    except ValueError as e:
        raise UsageError(f"%run: {e}") from None
    flags = set()
    module = None
    while words and words[0].startswith("-") and words[0] != "-":
        w = words.pop(0)
        if w == "-m":
            if not words:
                raise UsageError("%run -m needs a module name")
            module = words.pop(0)
            break
        if w == "--":
            break
        flags.update(w[1:])
    unknown = flags - set("ientpdGg")
    if unknown:
        raise UsageError(f"%run: unknown option -{''.join(sorted(unknown))}")
    if "d" in flags or "p" in flags:
        raise UsageError("%run -d and -p (debugger, profiler) are not available in wasipy")
    if module is None and not words:
        raise UsageError("%run needs a file name")
    ns = ctx.ns
    saved_argv = sys.argv
    start = time.perf_counter()
    try:
        if module is not None:
            import runpy
            sys.argv = [module] + words
            result = runpy.run_module(module, run_name="__main__" if "n" not in flags else module,
                                      alter_sys=True)
            ns.update({k: v for k, v in result.items() if k not in ("__name__", "__builtins__")})
            return None
        path = os.path.expanduser(words[0])
        if not os.path.isfile(path) and os.path.isfile(path + ".py"):
            path += ".py"
        if not os.path.isfile(path):
            raise UsageError(f"File `{words[0]!r}` not found.")
        sys.argv = [path] + words[1:]
        if "i" in flags:
            run_ns = ns
        else:
            import types
            mod = types.ModuleType("__main__" if "n" not in flags else os.path.splitext(os.path.basename(path))[0])
            run_ns = mod.__dict__
            run_ns["__builtins__"] = builtins
        run_ns["__file__"] = os.path.abspath(path)
        saved_path = list(sys.path)
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        saved_main = sys.modules.get("__main__")
        if "i" not in flags and "n" not in flags:
            sys.modules["__main__"] = mod
        try:
            _exec_file(path, run_ns)
        except SystemExit as e:
            if "e" not in flags and e.code not in (0, None):
                raise
        finally:
            sys.modules["__main__"] = saved_main
            sys.path[:] = saved_path
        if run_ns is not ns:
            ns.update({k: v for k, v in run_ns.items() if k not in ("__name__", "__builtins__")})
    finally:
        sys.argv = saved_argv
        if "t" in flags:
            print(f"\nWall time: {format_time(time.perf_counter() - start)}")
    return None


def _exec_file(path, ns):
    import linecache
    if path.endswith(".ipynb"):
        import json
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        cells = nb.get("cells", [])
        for i, cell in enumerate(cells):
            if cell.get("cell_type") != "code":
                continue
            src = cell.get("source", "")
            if isinstance(src, list):
                src = "".join(src)
            name = f"{os.path.abspath(path)} (cell {i + 1})"
            linecache.cache[name] = (len(src), None, src.splitlines(True), name)
            body, last = _compile(src, name, 1, value=False)
            exec(body, ns)
        return
    import tokenize
    with tokenize.open(path) as f:
        src = f.read()
    filename = os.path.abspath(path)
    if path.endswith(".ipy"):
        body, _ = _compile(src, filename, 1, value=False)
    else:
        body = compile(src, filename, "exec")
    exec(body, ns)


# ---- output -------------------------------------------------------------------


@_cell_magic("capture")
def _capture(ctx):
    """Capture the cell's stdout, stderr and displayed outputs.

    %%capture [--no-stdout] [--no-stderr] [--no-display] [name]
    With a name, the CapturedIO is stored there: name.show() replays it,
    name.stdout / name.stderr / name.outputs hold what was captured."""
    args = ctx.line.split()
    opts = {a for a in args if a.startswith("--")}
    names = [a for a in args if not a.startswith("-")]
    unknown = opts - {"--no-stdout", "--no-stderr", "--no-display"}
    if unknown or len(names) > 1:
        raise UsageError("usage: %%capture [--no-stdout] [--no-stderr] [--no-display] [output]")
    body, last = _compile(ctx.cell, ctx.filename, ctx.lineno)
    cap = _wasipy_display.capture_output("--no-stdout" not in opts, "--no-stderr" not in opts,
                                         "--no-display" not in opts)
    with cap as io:
        if names:
            ctx.ns[names[0]] = io
        value = _run(body, last, ctx.ns, ctx.local_ns)
        if value is not None and cap.display:
            data, md = _wasipy_display.format(value)
            if data:
                _wasipy_display.publish_display_data(data, md)
    return None


def _display_cell(mime, text, metadata=None, plain=None):
    data = {mime: text}
    if plain:
        data["text/plain"] = plain
    _wasipy_display.publish_display_data(data, metadata or {})


@_cell_magic("html", "HTML")
def _html(ctx):
    """Render the cell as HTML (%%html --isolated: in an iframe)."""
    md = {"text/html": {"isolated": True}} if "--isolated" in ctx.line.split() else {}
    _display_cell("text/html", ctx.cell, md, "<IPython.core.display.HTML object>")


@_cell_magic("markdown")
def _markdown(ctx):
    """Render the cell as Markdown."""
    _display_cell("text/markdown", ctx.cell, None, "<IPython.core.display.Markdown object>")


@_cell_magic("javascript", "js")
def _javascript(ctx):
    """Run the cell as JavaScript in the frontend."""
    _display_cell("application/javascript", ctx.cell, None, "<IPython.core.display.Javascript object>")


@_cell_magic("latex")
def _latex(ctx):
    """Render the cell as LaTeX (what MathJax understands)."""
    _display_cell("text/latex", ctx.cell, None, "<IPython.core.display.Latex object>")


@_cell_magic("svg")
def _svg(ctx):
    """Render the cell as SVG."""
    _display_cell("image/svg+xml", ctx.cell, None, "<IPython.core.display.SVG object>")


@_cell_magic("writefile", "file")
def _writefile(ctx):
    """Write the cell to a file: %%writefile [-a] filename (-a appends)."""
    import shlex
    try:
        words = shlex.split(ctx.line)
    except ValueError as e:
        raise UsageError(f"%%writefile: {e}") from None
    append = False
    if words and words[0] in ("-a", "--append"):
        append = True
        words = words[1:]
    if len(words) != 1:
        raise UsageError("usage: %%writefile [-a] filename")
    path = os.path.expanduser(words[0])
    exists = os.path.exists(path)
    if append:
        print(f"Appending to {words[0]}")
    elif exists:
        print(f"Overwriting {words[0]}")
    else:
        print(f"Writing {words[0]}")
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        f.write(ctx.cell)


# ---- extensions ---------------------------------------------------------------

_loaded_extensions = set()


def _import_extension(name):
    import importlib
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        try:
            return importlib.import_module(f"IPython.extensions.{name}")
        except ModuleNotFoundError:
            raise e from None


def load_extension(name):
    """Load an IPython extension: import it and call its
    load_ipython_extension(ip). Returns 'already loaded', 'no load function'
    or None, as IPython's extension manager does."""
    if name in _loaded_extensions:
        return "already loaded"
    mod = _import_extension(name)
    fn = getattr(mod, "load_ipython_extension", None)
    if fn is None:
        return "no load function"
    fn(get_ipython())
    _loaded_extensions.add(name)
    return None


def unload_extension(name):
    if name not in _loaded_extensions:
        return "not loaded"
    mod = sys.modules.get(name) or sys.modules.get(f"IPython.extensions.{name}")
    fn = getattr(mod, "unload_ipython_extension", None)
    if fn is None:
        return "no unload function"
    fn(get_ipython())
    _loaded_extensions.discard(name)
    return None


@_line_magic("load_ext")
def _load_ext(ctx):
    """Load an IPython extension by module name."""
    name = ctx.line.strip()
    if not name:
        raise UsageError("Missing module name.")
    res = load_extension(name)
    if res == "already loaded":
        print(f"The {name} extension is already loaded. To reload it, use:\n  %reload_ext {name}")
    elif res == "no load function":
        print(f"The {name} module is not an IPython extension.")


@_line_magic("unload_ext")
def _unload_ext(ctx):
    """Unload an IPython extension (calls its unload_ipython_extension)."""
    name = ctx.line.strip()
    if not name:
        raise UsageError("Missing module name.")
    res = unload_extension(name)
    if res == "not loaded":
        print(f"The {name} extension is not loaded.")
    elif res == "no unload function":
        print(f"The {name} extension doesn't define how to unload it.")


@_line_magic("reload_ext")
def _reload_ext(ctx):
    """Reload an IPython extension (unload, re-import, load)."""
    import importlib
    name = ctx.line.strip()
    if not name:
        raise UsageError("Missing module name.")
    if name in _loaded_extensions:
        unload_extension(name)
        _loaded_extensions.discard(name)
        mod = sys.modules.get(name) or sys.modules.get(f"IPython.extensions.{name}")
        if mod is not None:
            importlib.reload(mod)
    load_extension(name)


# ---- help ------------------------------------------------------------------------


class _Listing:
    def __init__(self, text):
        self._text = text

    def __repr__(self):
        return self._text

    def _repr_pretty_(self, p, cycle):
        p.text(self._text)


@_line_magic("lsmagic")
def _lsmagic(ctx):
    """List the magics."""
    line = "  ".join("%" + n for n in sorted(line_magics, key=str.lower))
    cell = "  ".join("%%" + n for n in sorted(cell_magics, key=str.lower))
    return _Listing(
        f"Available line magics:\n{line}\n\nAvailable cell magics:\n{cell}\n\n"
        "Automagic is OFF, % prefix IS needed for line magics."
    )


def _magic_doc(kind, name):
    m = _find(kind, name)
    prefix = "%%" if kind == "cell" else "%"
    doc = m.__doc__ or "<no docstring>"
    import inspect
    doc = inspect.cleandoc(doc)
    red, reset = "\x1b[0;31m", "\x1b[0m"
    return f"{red}Docstring:{reset}\n{doc}\n{red}Magic:{reset}     {prefix}{name}"


def _help(target, level, frame=None):
    """`obj?` (level 0) and `obj??` (level 1): the inspection goes to the
    frontend's pager (see _page)."""
    if target.startswith("%"):
        kind = "cell" if target.startswith("%%") else "line"
        name = target.lstrip("%")
        if kind == "line" and name not in line_magics and name in cell_magics:
            kind = "cell"
        text = _magic_doc(kind, name)
    else:
        text = _inspect_text(target, level, frame)
        if text is None:
            print(f"Object `{target}` not found.")
            return None
    _page(text)
    return None


def _page(text):
    """Hand text to the frontend's pager as IPython does: a `page` payload
    in the running cell's execute_reply (Notebook opens its pager with it;
    jupyter_kernel_test's test_pager expects it), not output in the cell. A
    cell keeps only its last page, as IPython's payload manager does."""
    core = _wasipy_magics.core()
    if core is None:
        print(text)
        return
    core.payload[:] = [p for p in core.payload if p.get("source") != "page"]
    core.payload.append({"source": "page", "data": {"text/plain": text}, "start": 0})


def set_next_input(text, replace=False):
    """Ask the frontend to put text in the next input cell (replace=True:
    in place of the running cell's), as IPython does: a `set_next_input`
    payload in the running cell's execute_reply, only the last one of a
    cell kept."""
    if not isinstance(text, str):
        raise TypeError(f"set_next_input takes a str, not {type(text).__name__}")
    core = _wasipy_magics.core()
    if core is None:
        raise RuntimeError("set_next_input needs the wasipy kernel")
    core.payload[:] = [p for p in core.payload if p.get("source") != "set_next_input"]
    core.payload.append({"source": "set_next_input", "text": text, "replace": bool(replace)})


def _line_ranges(spec, lines):
    """The lines spec chooses (IPython's %load -r: "5-10 2", "3:6" with the
    end excluded, "4-" to the end), in the order given."""
    out = []
    for part in spec.replace(",", " ").split():
        m = re.fullmatch(r"(\d*)(?:([-:])(\d*))?", part)
        if not m or not (m.group(1) or m.group(3)):
            raise UsageError(f"%load -r: cannot read the range {part!r}")
        start = int(m.group(1)) - 1 if m.group(1) else 0
        if m.group(2) is None:
            end = start + 1
        elif not m.group(3):
            end = len(lines)
        else:
            end = int(m.group(3)) - (m.group(2) == ":")
        out.extend(lines[max(start, 0):end])
    return out


def _symbols(code, names):
    """The source of the top-level definitions (def, class, assignments of
    a name) called names in code, in the order asked; and the names not found."""
    import ast
    tree = ast.parse(code)
    lines = code.split("\n")
    found = {}
    for node in tree.body:
        name = getattr(node, "name", None)
        if name is None and isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            name = next((t.id for t in targets if isinstance(t, ast.Name)), None)
        if name:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
            found[name] = "\n".join(lines[start - 1:node.end_lineno]) + "\n"
    blocks = [found[n] for n in names if n in found]
    return blocks, [n for n in names if n not in found]


def _load_source(target, ns):
    """The text %load reads: a file, the source of an object in the
    namespace, or cells of this session's input history."""
    path = os.path.expanduser(_unquote(target))
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    if re.fullmatch(r"[A-Za-z_][\w.]*", target):
        head, *rest = target.split(".")
        if head in ns:
            obj = ns[head]
            try:
                for attr in rest:
                    obj = getattr(obj, attr)
                import inspect
                return inspect.getsource(obj)
            except (AttributeError, TypeError, OSError):
                pass
    inputs = ns.get("In") or [""]
    if re.fullmatch(r"[\d\s:,-]+", target):
        cells = _line_ranges(target, inputs[1:])
        if cells:
            return "\n".join(c.rstrip("\n") for c in cells) + "\n"
    raise UsageError(f"%load: {target!r} is no file, object or input history range")


@_line_magic("load")
def _load(ctx):
    """Load code into the next input cell: %load [-r RANGES] [-s SYMBOLS] [-y] SOURCE

    SOURCE is a file, the name of an object (its source) or a range of this
    session's inputs (5, 2-4). -r: only these lines of it (5-10 2, 3:6
    with the end excluded); -s: only these top-level definitions (a,b);
    -y: load however long the text is. The cell is replaced by
    "# %load SOURCE" and the text, as in IPython."""
    import shlex
    try:
        words = shlex.split(ctx.line)
    except ValueError as e:
        raise UsageError(f"%load: {e}") from None
    opts, rest = {}, []
    it = iter(words)
    for w in it:
        if w in ("-r", "-s", "-n"):
            opts[w] = next(it, None)
            if opts[w] is None:
                raise UsageError(f"%load: {w} needs a value")
        elif w == "-y":
            opts[w] = True
        else:
            rest.append(w)
    if len(rest) != 1:
        raise UsageError("%load: give one file, object or input range to load")
    contents = _load_source(rest[0], ctx.ns)
    if "-s" in opts:
        blocks, missing = _symbols(contents, [n for n in opts["-s"].split(",") if n])
        for name in missing:
            print(f"The symbol `{name}` was not found", file=sys.stderr)
        contents = "\n".join(blocks)
    if "-r" in opts:
        contents = "\n".join(_line_ranges(opts["-r"], contents.split("\n")))
    set_next_input(f"# %load {ctx.line.strip()}\n" + contents, replace=True)


def _inspect_text(target, level, frame=None):
    try:
        import _wasipy_complete
        fn = getattr(_wasipy_complete, "inspect_text", None)
    except ImportError:
        fn = None
    core = _wasipy_magics.core()
    if fn is not None and core is not None:
        return fn(core, target, level)
    return _simple_inspect(target, level, frame)


def _simple_inspect(target, level, frame):
    """A small `obj?` for when the completion module is absent."""
    import inspect
    parts = target.split(".")
    ns = dict(builtins.__dict__)
    core = _wasipy_magics.core()
    ns.update(core.user_ns if core is not None else {})
    if frame is not None and frame.f_locals is not frame.f_globals:
        ns.update(frame.f_locals)
    if parts[0] not in ns:
        return None
    obj = ns[parts[0]]
    for p in parts[1:]:
        try:
            obj = getattr(obj, p)
        except Exception:
            return None
    red, reset = "\x1b[0;31m", "\x1b[0m"
    fields = []
    if callable(obj):
        try:
            fields.append(("Signature", target + str(inspect.signature(obj))))
        except (TypeError, ValueError):
            pass
    else:
        fields.append(("String form", _wasipy_display.plain(obj)[:200]))
    source = None
    if level:
        try:
            source = inspect.getsource(obj)
        except Exception:
            source = None
    if source:
        fields.append(("Source", source.rstrip("\n")))
    else:
        fields.append(("Docstring", inspect.getdoc(obj) or "<no docstring>"))
    fields.append(("Type", type(obj).__name__))
    width = max(len(t) for t, _ in fields) + 2
    out = []
    for title, value in fields:
        if "\n" in value:
            out.append(f"{red}{title}:{reset}\n{value}")
        else:
            out.append(f"{red}{title}:{reset}" + " " * (width - len(title) - 1) + value)
    return "\n".join(out)


@_line_magic("pinfo")
def _pinfo(ctx):
    """Details about an object (like `obj?`)."""
    return _help(ctx.line.strip(), 0)


@_line_magic("pinfo2")
def _pinfo2(ctx):
    """Details about an object with its source (like `obj??`)."""
    return _help(ctx.line.strip(), 1)


# ---- settings -------------------------------------------------------------------


@_line_magic("config")
def _config(ctx):
    """Set a configuration value: %config Class.trait = value.

    wasipy has no traitlets configuration: values are recorded in
    get_ipython().config and otherwise ignored."""
    line = ctx.line.strip()
    if not line:
        print("Available objects for config: none (wasipy records %config values but has no "
              "configurable objects).")
        return
    m = re.match(r"([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*=\s*(.+)$", line)
    if not m:
        raise UsageError(f"Invalid config statement: {line!r}, should be `Class.trait = value`.")
    cls, trait, expr = m.groups()
    value = eval(expr, ctx.ns, ctx.local_ns)
    getattr(get_ipython().config, cls)[trait] = value


@_line_magic("precision")
def _precision(ctx):
    """Floating point precision of the pretty printer: %precision 3,
    %precision %.2e, or %precision alone to reset. Returns the format."""
    arg = ctx.line.strip()
    plain = _wasipy_display.formatters["text/plain"]
    if not arg:
        plain.float_format = ""
        plain.float_precision = ""
        return "%r"
    if "%" in arg:
        fmt = arg
        try:
            fmt % 3.14159
        except Exception:
            raise ValueError(f"Precision must be int or format string, not {arg!r}") from None
    else:
        try:
            digits = int(arg)
        except ValueError:
            raise ValueError(f"Precision must be int or format string, not {arg!r}") from None
        if digits < 0:
            raise ValueError("Precision must be non-negative")
        fmt = f"%.{digits}f"
    plain.float_format = fmt
    plain.float_precision = arg
    return fmt


@_line_magic("xmode")
def _xmode(ctx):
    """Choose the exception reporting mode (accepted; wasipy has one mode)."""
    modes = {"plain": "Plain", "context": "Context", "verbose": "Verbose", "minimal": "Minimal", "docs": "Docs"}
    arg = ctx.line.strip().lower()
    if arg and arg not in modes:
        raise UsageError(f"Error changing exception modes.\nUnrecognized mode in FormattedTB: <{ctx.line.strip()}>")
    print(f"Exception reporting mode: {modes.get(arg, 'Context')}")


@_line_magic("matplotlib")
def _matplotlib(ctx):
    """Use matplotlib with inline figures (needs matplotlib importable)."""
    import importlib
    matplotlib = importlib.import_module("matplotlib")
    backend = ctx.line.strip() or "inline"
    if backend == "inline":
        try:
            importlib.import_module("matplotlib_inline.backend_inline")
            matplotlib.use("module://matplotlib_inline.backend_inline")
        except ImportError:
            matplotlib.use("agg")
    else:
        matplotlib.use(backend)


@_line_magic("pprint")
def _pprint(ctx):
    """Toggle pretty printing of values (text/plain) on and off."""
    plain = _wasipy_display.formatters["text/plain"]
    plain.pprint = not plain.pprint
    print(f"Pretty printing has been turned {'ON' if plain.pprint else 'OFF'}")


class HistoryManager:
    """get_ipython().history_manager: this session's input and output
    history, with IPython's API (get_range, get_tail, search,
    get_range_by_str), as %history and tools read it; and the settings a
    launcher gave as IPython options (--HistoryManager.hist_file=...,
    --HistoryManager.enabled=...), which the kernel passes in the
    environment.

    The guest sees the running session only (In and Out): earlier sessions
    are kept by the kernel on the host, outside the sandbox, and reached
    with history_request. Lines are numbered as In; session 0 is this one."""

    session_number = 0

    def __init__(self, shell):
        self._shell = shell  # anything with the user's namespace as user_ns
        # ipykernel's default is a file in the profile; wasipy's store is not
        # a file the guest can see, so the default names none.
        self.hist_file = os.environ.get("WASIPY_HIST_FILE", "")
        self.enabled = os.environ.get("WASIPY_HISTORY_ENABLED", "True").lower() == "true"

    def __repr__(self):
        return f"<HistoryManager hist_file={self.hist_file!r} enabled={self.enabled}>"

    @property
    def input_hist_raw(self):
        return self._shell.user_ns.get("In") or [""]

    @property
    def input_hist_parsed(self):
        return [translate(c) for c in self.input_hist_raw]

    @property
    def output_hist(self):
        return self._shell.user_ns.get("Out") or {}

    def _entry(self, n, raw, output):
        text = self.input_hist_raw[n]
        text = text if raw else translate(text)
        if not output:
            return (0, n, text)
        out = self.output_hist.get(n)
        return (0, n, (text, None if out is None else _wasipy_display.plain(out)))

    def get_range(self, session=0, start=1, stop=None, raw=True, output=False):
        """(session, line, input) for lines start..stop-1 of this session
        (inputs are (input, output repr or None) with output=True)."""
        if session not in (0, self.session_number):
            return
        count = len(self.input_hist_raw)
        stop = count if stop is None else min(stop, count)
        for n in range(max(start, 1), stop):
            yield self._entry(n, raw, output)

    def get_range_by_str(self, rangestr, raw=True, output=False):
        """IPython's range syntax: "4", "2-5", "3:6" (end excluded); an
        empty string is the whole session."""
        for session, start, stop in _hist_ranges(rangestr):
            yield from self.get_range(session, start, stop, raw, output)

    def get_tail(self, n=10, raw=True, output=False, include_latest=False):
        """The last n lines (without the running one unless include_latest)."""
        last = len(self.input_hist_raw) - 1 - (0 if include_latest else 1)
        return [self._entry(i, raw, output) for i in range(max(1, last - n + 1), last + 1)]

    def search(self, pattern="*", raw=True, search_raw=True, output=False, n=None, unique=False):
        """Lines matching a glob pattern, oldest first; n: only the last n;
        unique: each text once, at its latest line."""
        import fnmatch
        hits = []
        for i in range(1, len(self.input_hist_raw)):
            text = self.input_hist_raw[i] if search_raw else translate(self.input_hist_raw[i])
            if fnmatch.fnmatch(text, pattern):
                hits.append(i)
        if unique:
            latest = {}
            for i in hits:
                latest[self.input_hist_raw[i]] = i
            hits = sorted(latest.values())
        if n is not None:
            hits = hits[-n:] if n > 0 else []
        return [self._entry(i, raw, output) for i in hits]

    def reset(self, new_session=True):
        pass  # the kernel owns the sessions

    def store_inputs(self, line_num, source, source_raw=None):
        pass  # the kernel records every cell itself

    def store_output(self, line_num):
        pass


_HIST_RANGE = re.compile(r"((?P<startsess>~?\d+)/)?(?P<start>\d+)?((?P<sep>[-:])((?P<endsess>~?\d+)/)?(?P<end>\d+))?$")


def _hist_ranges(text):
    """(session, start, stop) of IPython's history ranges ("~2/", "4",
    "2-5" with the end included, "3:6" without it); sessions are relative
    (0 is this one)."""
    if not text.strip():
        yield (0, 1, None)
        return
    for part in text.split():
        m = _HIST_RANGE.match(part)
        if not m or not (m.group("start") or m.group("startsess")):
            # IPython skips what it cannot read; saying so is kinder.
            raise UsageError(f"%history: cannot read the range {part!r}")
        if m.group("start"):
            start = int(m.group("start"))
            end = int(m.group("end")) if m.group("end") else start + 1
            if m.group("sep") == "-":
                end += 1
        else:
            start, end = 1, None
        first = int((m.group("startsess") or "0").replace("~", "-"))
        last = int((m.group("endsess") or m.group("startsess") or "0").replace("~", "-"))
        if first == last:
            yield (first, start, end)
            continue
        yield (first, start, None)
        for sess in range(first + 1, last):
            yield (sess, 1, None)
        yield (last, 1, end)


# How the input transformer spells IPython's syntax, and IPython's spelling
# (what %history -t and input_hist_parsed show).
_TRANSLATIONS = [
    (re.compile(r"__import__\('_wasipy_magics'\)\._cell\((.*), \d+\)$", re.M), r"get_ipython().run_cell_magic(\1)"),
    (re.compile(r"__import__\('_wasipy_magics'\)\._line\("), "get_ipython().run_line_magic("),
    (re.compile(r"__import__\('_wasipy_magics'\)\._help\((.*?), 0\)"), r"get_ipython().run_line_magic('pinfo', \1)"),
    (re.compile(r"__import__\('_wasipy_magics'\)\._help\((.*?), 1\)"), r"get_ipython().run_line_magic('pinfo2', \1)"),
    (re.compile(r"__import__\('_wasipy_magics'\)\._system\("), "get_ipython().system("),
]


def translate(cell):
    """A cell as IPython runs it: magics and `obj?` as calls on get_ipython()."""
    try:
        code = _wasipy_magics.transform(cell)
    except Exception:
        return cell
    for pattern, repl in _TRANSLATIONS:
        code = pattern.sub(repl, code)
    return code


class _Namespace:
    def __init__(self, ns):
        self.user_ns = ns


@_line_magic("history", "hist")
def _history(ctx):
    """Print this session's input history, as IPython's %history:

    %history [-n] [-o] [-p] [-t] [-f FILENAME] [-g [PATTERN ...]] [-l [N]] [-u] [range ...]

    ranges: 4, 2-5 (5 included), 3:6 (6 excluded), ~1/ (a session: only
    this one, 0/, is visible in the sandbox); none: the whole session.
    -n: line numbers; -o: outputs too; -p: >>> prompts; -t: the translated
    input (magics as get_ipython() calls); -f: write to a file instead
    (UTF-8); -g: the lines matching a glob pattern; -l: the last N lines
    (10); -u: with -g, each line once."""
    import fnmatch
    import shlex
    ip = get_ipython()
    # The magic reads the namespace it was called from (a cell's: the
    # user's), as the tests of the runtime do without a kernel.
    hm = HistoryManager(_Namespace(ctx.ns))
    try:
        words = shlex.split(ctx.line)
    except ValueError as e:
        raise UsageError(f"%history: {e}") from None
    flags, filename, pattern, limit, ranges = set(), None, None, None, []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-f":
            if i + 1 >= len(words):
                raise UsageError("%history: -f needs a file name")
            filename, i = words[i + 1], i + 2
            continue
        if w == "-l":
            flags.add("l")
            if i + 1 < len(words) and words[i + 1].lstrip("-").isdigit():
                limit, i = int(words[i + 1]), i + 2
                continue
        elif w == "-g":
            pattern = []
            i += 1
            while i < len(words) and not words[i].startswith("-"):
                pattern.append(words[i])
                i += 1
            continue
        elif w.startswith("-") and len(w) > 1 and not w[1:2].isdigit():
            for c in w[1:]:
                if c not in "nopturl":
                    raise UsageError(f"%history: unknown option -{c}")
                flags.add(c)
        elif pattern is not None and not ranges:
            pattern.append(w)
        else:
            ranges.append(w)
        i += 1
    raw = "t" not in flags
    output = "o" in flags
    numbers = "n" in flags
    range_pattern = None
    if pattern is not None and not ranges:
        hist = hm.search("*" + " ".join(pattern) + "*" if pattern else "*", raw=raw, output=output,
                         n=limit if "l" in flags else None, unique="u" in flags)
        numbers = True
    elif "l" in flags:
        hist = hm.get_tail(10 if limit is None else limit, raw=raw, output=output)
    else:
        if pattern:
            range_pattern = "*" + " ".join(pattern) + "*"
            numbers = True
        hist = hm.get_range_by_str(" ".join(ranges), raw, output)
    out = []
    for session, lineno, entry in hist:
        text, result = entry if output else (entry, None)
        if range_pattern and not fnmatch.fnmatch(text, range_pattern):
            continue
        text = text.expandtabs(4).rstrip()
        multiline = "\n" in text
        if numbers:
            label = str(lineno) if session in (0, hm.session_number) else f"{session}/{lineno}"
            out.append(label.rjust(4) + ":" + ("\n" if multiline else " "))
        if "p" in flags:
            out.append(">>> ")
            if multiline:
                text = "\n... ".join(text.splitlines()) + "\n..."
        out.append(text + "\n")
        if result:
            out.append(result + "\n")
    text = "".join(out)
    if filename is None:
        sys.stdout.write(text)
        return
    path = os.path.expanduser(filename)
    if os.path.exists(path):
        try:
            answer = ip.ask_yes_no(f"File {filename!r} exists. Overwrite?") if ip is not None else True
        except NotImplementedError:  # StdinNotImplementedError: no frontend to ask
            answer = True
        if not answer:
            print("Aborting.")
            return
        print("Overwriting file.")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ---- the debugger -------------------------------------------------------------


@_line_magic("pdb")
def _pdb(ctx):
    """Control the automatic calling of the pdb interactive debugger.

    %pdb on (or 1) starts the debugger post mortem after every cell that
    ends with an error (not an interrupt); %pdb off (or 0) stops that;
    %pdb alone toggles it."""
    core = _wasipy_magics.core()
    if core is None:
        raise UsageError("%pdb needs the wasipy kernel")
    arg = ctx.line.strip().lower()
    if arg in ("on", "1"):
        on = True
    elif arg in ("off", "0"):
        on = False
    elif not arg:
        on = core.after_error is None
    else:
        raise UsageError(f"%pdb: expected on, off, 1 or 0, not {ctx.line.strip()!r}")
    import _wasipy_pdb
    core.after_error = _wasipy_pdb.post_mortem if on else None
    print(f"Automatic pdb calling has been turned {'ON' if on else 'OFF'}")


@_line_magic("debug")
@_cell_magic("debug")
def _debug(ctx):
    """Activate the interactive debugger.

    %debug alone: post-mortem of the last error (the frames of the cell
    that raised it). %debug STATEMENT, or %%debug over a cell: run the code
    under the debugger, stopped at its first line. %debug -b FILE:LINE
    STATEMENT (--breakpoint): run it until that line. The debugger reads
    its commands through the frontend's input; `c` continues, `q` quits, an
    interrupt ends it."""
    import _wasipy_pdb
    line = ctx.line.strip()
    breakpoint = None
    m = re.match(r"(?:-b|--breakpoint)\s+(\S+):(\d+)(?:\s+|$)", line)
    if m:
        breakpoint = (m.group(1), int(m.group(2)))
        line = line[m.end():]
    elif line.startswith(("-b", "--breakpoint")):
        raise UsageError("%debug: -b takes FILE:LINE")
    code = line if ctx.cell is None else ctx.cell
    if not code.strip():
        exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
        if exc is None or exc.__traceback__ is None:
            print("No traceback has been produced, nothing to debug.", file=sys.stderr)
            return
        _wasipy_pdb.post_mortem(exc)
        return
    if ctx.cell is None:
        # The statement's column in the cell is lost; its line is kept.
        src, lineno = line, ctx.lineno
    else:
        src, lineno = ctx.cell, ctx.lineno
    body, _ = _compile(src, ctx.filename, lineno, value=False)
    _wasipy_pdb.run(body, ctx.ns, ctx.local_ns, breakpoint)


@_line_magic("prun")
@_cell_magic("prun")
def _prun(ctx):
    """Run a statement (or the cell) under the profiler and print the
    statistics: %prun [-s key]... [-l limit] [-q] [-r] [-D file] [-T file] stmt

    -s: sort key (default: time); -l: lines (or a regex) to print; -q: print
    nothing; -r: return the pstats.Stats; -D: dump the stats to a file; -T:
    write the printed report to a file."""
    import cProfile
    import io
    import pstats
    import shlex
    opts = {"s": [], "l": [], "q": False, "r": False, "D": None, "T": None}
    rest = ctx.line.lstrip()
    while rest.startswith("-"):
        m = re.match(r"-([slDT])\s*(\S+)\s*|-([qr]+)(?:\s+|$)", rest)
        if not m:
            break
        if m.group(1) in ("s", "l"):
            opts[m.group(1)].append(m.group(2))
        elif m.group(1):
            opts[m.group(1)] = shlex.split(m.group(2))[0]
        else:
            for flag in m.group(3):
                opts[flag] = True
        rest = rest[m.end():]
    if ctx.cell is None:
        src, lineno = rest, ctx.lineno
    else:
        src, lineno = ctx.cell, ctx.lineno
    body, last = _compile(src, ctx.filename, lineno, value=False)
    prof = cProfile.Profile()
    try:
        prof.runctx(body, ctx.ns, ctx.local_ns if ctx.local_ns is not None else ctx.ns)
    except SystemExit:
        pass
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs().sort_stats(*(opts["s"] or ["time"]))
    limits = []
    for lim in opts["l"]:
        try:
            limits.append(int(lim))
        except ValueError:
            try:
                limits.append(float(lim))
            except ValueError:
                limits.append(lim)
    stats.print_stats(*limits)
    report = out.getvalue().rstrip("\n")
    if not opts["q"]:
        _wasipy_display.publish_display_data({"text/plain": report}, {})
    if opts["D"]:
        stats.dump_stats(opts["D"])
        print(f"\n*** Profile stats marshalled to file {opts['D']!r}.")
    if opts["T"]:
        with open(opts["T"], "w", encoding="utf-8") as f:
            f.write(report + "\n")
        print(f"\n*** Profile printout saved to text file {opts['T']!r}.")
    if opts["r"]:
        return stats
    return None
