"""IPython's input syntax and magics, and the shell object get_ipython()
returns.

An input transformer (registered on the Shell by install()) rewrites the
IPython-only lines of a cell into calls of this module, one line for one
line, so that tracebacks still point at the user's raw cell:

    %time f(x)          ->  __import__('_wasipy_magics')._line('time', 'f(x)')
    y = %env HOME       ->  y = __import__('_wasipy_magics')._line('env', 'HOME')
    %%capture out\\n...  ->  __import__('_wasipy_magics')._cell('capture', 'out', '...', 2)
    obj?  / obj??       ->  __import__('_wasipy_magics')._help('obj', 0 / 1)
    !ls                 ->  __import__('_wasipy_magics')._system('ls')  (an error: no shell)

Code that a magic runs (%time, %%timeit, %%capture, ...) is compiled with
the cell's file name and line numbers, so its tracebacks show the cell.

Magics are looked up at run time, so a cell can load an extension and use
its magics. Importing this module is cheap; the magics import what they
need when they run.
"""

import builtins
import os
import re
import sys

import _wasipy_display

_ME = "__import__('_wasipy_magics')"

# The kernel's Shell (_wasipy_exec.Shell) and the IPython-like facade on it.
_core = None
_ip = None
_magic_seq = 0


class UsageError(Exception):
    """A magic was misused (IPython.core.error.UsageError)."""


# Tracebacks end with "UsageError: ...", as in IPython, not with this
# module's private name.
UsageError.__module__ = "builtins"


def _no_shell(what):
    return UsageError(
        f"{what}: there is no shell in the sandbox. wasipy runs Python in WebAssembly, "
        "where no other program can be started; use Python instead (os, shutil, pathlib, open)."
    )


# ---- the registry ----------------------------------------------------------


class _Ctx:
    """What a magic gets: its line (and cell), where its code comes from (to
    compile it with the cell's name and line numbers) and the namespaces."""

    __slots__ = ("name", "line", "cell", "filename", "lineno", "local_ns", "_globals")

    def __init__(self, name, line, cell, filename, lineno, local_ns, globals=None):
        self.name, self.line, self.cell = name, line, cell
        self.filename, self.lineno, self.local_ns = filename, lineno, local_ns
        self._globals = globals

    @property
    def ns(self):
        """The namespace the magic was called from (a cell's: the user's;
        a file's run by %run: that file's)."""
        if self._globals is not None:
            return self._globals
        return _core.user_ns if _core is not None else sys.modules["__main__"].__dict__


class Magic:
    """A registered magic. Called as IPython calls them: f(line) for a line
    magic, f(line, cell) for a cell magic."""

    def __init__(self, kind, name, func, internal=False, needs_local_scope=False):
        self.kind, self.name, self.func = kind, name, func
        self.internal = internal
        self.needs_local_scope = needs_local_scope or getattr(func, "needs_local_scope", False)
        self.__doc__ = getattr(func, "__doc__", None)

    def run(self, ctx):
        if self.internal:
            return self.func(ctx)
        kwargs = {"local_ns": ctx.local_ns} if self.needs_local_scope else {}
        if self.kind == "cell":
            return self.func(ctx.line, ctx.cell, **kwargs)
        return self.func(ctx.line, **kwargs)

    def __call__(self, line="", cell=None, local_ns=None):
        frame = sys._getframe(1)
        ctx = _Ctx(self.name, line, cell, frame.f_code.co_filename, frame.f_lineno, local_ns,
                   _frame_globals(frame))
        return self.run(ctx)

    def __repr__(self):
        prefix = "%%" if self.kind == "cell" else "%"
        return f"<magic {prefix}{self.name}>"


line_magics = {}
cell_magics = {}


def register_line_magic(name, func, internal=False):
    """Add a line magic: func(line) (or func(ctx) for internal ones)."""
    line_magics[name] = Magic("line", name, func, internal)


def register_cell_magic(name, func, internal=False):
    """Add a cell magic: func(line, cell) (or func(ctx) for internal ones)."""
    cell_magics[name] = Magic("cell", name, func, internal)


def _line_magic(*names):
    def deco(f):
        for n in names:
            line_magics[n] = Magic("line", n, f, internal=True)
        return f
    return deco


def _cell_magic(*names):
    def deco(f):
        for n in names:
            cell_magics[n] = Magic("cell", n, f, internal=True)
        return f
    return deco


def _find(kind, name):
    table = line_magics if kind == "line" else cell_magics
    m = table.get(name)
    if m is not None:
        return m
    if name in _SHELL_COMMANDS or (kind == "cell" and name in _SCRIPT_CELLS):
        raise _no_shell(("%" if kind == "line" else "%%") + name)
    if kind == "line":
        msg = f"Line magic function `%{name}` not found"
        if name in cell_magics:
            msg += f" (But cell magic `%%{name}` exists, did you mean that instead?)"
    else:
        msg = f"Cell magic `%%{name}` not found"
        if name in line_magics:
            msg += f" (But line magic `%{name}` exists, did you mean that instead?)"
    raise UsageError(msg + ".")


def _frame_locals(frame):
    return None if frame.f_locals is frame.f_globals else frame.f_locals


def _frame_globals(frame):
    """The caller's globals when it runs user code (a cell, a %run file);
    None (the user's namespace) when it is the kernel's own code."""
    if frame.f_code.co_filename.startswith("/.wasipy/runtime/"):
        return None
    return frame.f_globals


def _line(name, line):
    """Run a line magic (called by transformed cells)."""
    frame = sys._getframe(1)
    m = _find("line", name)
    return m.run(_Ctx(name, line, None, frame.f_code.co_filename, frame.f_lineno, _frame_locals(frame),
                      _frame_globals(frame)))


def _cell(name, line, cell, lineno):
    """Run a cell magic whose body starts at line `lineno` of the cell."""
    frame = sys._getframe(1)
    m = _find("cell", name)
    return m.run(_Ctx(name, line, cell, frame.f_code.co_filename, lineno, _frame_locals(frame),
                      _frame_globals(frame)))


def _system(cmd):
    raise _no_shell(f"!{cmd}")


# ---- input transformation ------------------------------------------------

_CANDIDATE = re.compile(r"^[ \t]*[%!?]|\?[ \t]*\r?$|=[ \t]*[%!]", re.M)
_CELL_MAGIC = re.compile(r"%%([A-Za-z_]\w*)(.*)$")
_LINE_MAGIC = re.compile(r"([ \t]*)%([A-Za-z_]\w*)(.*)$")
_ASSIGN = re.compile(r"([ \t]*)([A-Za-z_][\w.\[\]'\", \t*]*?)[ \t]*=[ \t]*(%|!!?)(.*)$")
_SHELL_LINE = re.compile(r"([ \t]*)!!?(.*)$")
_HELP = re.compile(r"([ \t]*)(\?\??)?(%{0,2}[A-Za-z_][\w.]*)(\?\??)?[ \t]*$")


def transform(code):
    """IPython syntax to Python, line for line (registered on the Shell)."""
    if not _CANDIDATE.search(code):
        return code
    lines = code.split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first < len(lines) and lines[first].startswith("%%"):
        m = _CELL_MAGIC.match(lines[first].rstrip("\r"))
        if m and not _is_help(lines[first].rstrip("\r")):
            body = "\n".join(lines[first + 1:])
            if body and not body.endswith("\n"):
                body += "\n"
            call = f"{_ME}._cell({m.group(1)!r}, {m.group(2).strip()!r}, {body!r}, {first + 2})"
            return "\n" * first + call + "\n" * (len(lines) - first - 1)
    out = []
    state = _LexState()
    for line in lines:
        if state.at_start():
            new = _transform_line(line.rstrip("\r"))
            if new is not None:
                out.append(new)
                continue
        state.feed(line)
        out.append(line)
    return "\n".join(out)


def _is_help(line):
    m = _HELP.match(line)
    return m if m and bool(m.group(2)) != bool(m.group(4)) else None


def _transform_line(line):
    stripped = line.lstrip()
    if not stripped:
        return None
    m = _is_help(line)
    if m:
        level = len(m.group(2) or m.group(4)) - 1
        return f"{m.group(1)}{_ME}._help({m.group(3)!r}, {level})"
    c = stripped[0]
    if c == "%":
        if stripped.startswith("%%"):
            m = _CELL_MAGIC.match(stripped)
            if m:
                raise UsageError(f"Cell magic `%%{m.group(1)}` must be on the first line of the cell.")
        else:
            m = _LINE_MAGIC.match(line)
            if m:
                return f"{m.group(1)}{_ME}._line({m.group(2)!r}, {m.group(3).strip()!r})"
        return None
    if c == "!":
        m = _SHELL_LINE.match(line)
        return f"{m.group(1)}{_ME}._system({m.group(2).strip()!r})"
    if "=" in line:
        m = _ASSIGN.match(line)
        if m and not m.group(2).rstrip().endswith("*"):
            indent, target, kind, rest = m.groups()
            if kind == "%":
                mm = re.match(r"([A-Za-z_]\w*)(.*)$", rest)
                if mm:
                    return f"{indent}{target} = {_ME}._line({mm.group(1)!r}, {mm.group(2).strip()!r})"
            else:
                return f"{indent}{target} = {_ME}._system({rest.strip()!r})"
    return None


class _LexState:
    """Just enough of Python's lexer to know whether a physical line starts
    a logical line: not inside a string, brackets or a continuation."""

    __slots__ = ("quote", "depth", "cont")

    def __init__(self):
        self.quote, self.depth, self.cont = None, 0, False

    def at_start(self):
        return self.quote is None and self.depth == 0 and not self.cont

    def feed(self, line):
        quote, depth = self.quote, self.depth
        i, n = 0, len(line)
        comment = False
        while i < n:
            c = line[i]
            if quote:
                if c == "\\":
                    i += 2
                    continue
                if line.startswith(quote, i):
                    i += len(quote)
                    quote = None
                    continue
                i += 1
                continue
            if c == "#":
                comment = True
                break
            if c == "'" or c == '"':
                quote = c * 3 if line.startswith(c * 3, i) else c
                i += len(quote)
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth = max(0, depth - 1)
            i += 1
        body = line.rstrip("\r")
        ends_with_backslash = body.endswith("\\") and not comment
        if quote in ("'", '"') and not ends_with_backslash:
            quote = None  # an unterminated string: a syntax error, Python will say
        self.quote, self.depth = quote, depth
        self.cont = quote is None and ends_with_backslash


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
    if _core is not None:
        for t in _core.input_transformers:
            src = t(src)
    else:
        src = transform(src)
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

    Prints the wall-clock time (the sandbox has no CPU-time clock) and returns
    the value of a final expression."""
    import time
    if ctx.cell is not None and ctx.line.strip():
        raise UsageError("Can't use statement directly after '%%time'!")
    src, lineno = _lines_of(ctx)
    t0 = time.perf_counter()
    body, last = _compile(src, ctx.filename, lineno)
    tc = time.perf_counter() - t0
    ns = ctx.ns
    w0 = time.perf_counter()
    value = _run(body, last, ns, ctx.local_ns)
    wall = time.perf_counter() - w0
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

_hidden = set()  # names in the namespace at start-up: %who does not list them


def _user_names(ctx, types=()):
    ns = ctx.ns
    out = []
    for name in sorted(ns):
        if name.startswith("_") or name in _hidden:
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
        if name not in _hidden:
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


def _help(target, level):
    """`obj?` (level 0) and `obj??` (level 1): the inspection as output."""
    if target.startswith("%"):
        kind = "cell" if target.startswith("%%") else "line"
        name = target.lstrip("%")
        if kind == "line" and name not in line_magics and name in cell_magics:
            kind = "cell"
        text = _magic_doc(kind, name)
    else:
        text = _inspect_text(target, level, sys._getframe(1))
        if text is None:
            print(f"Object `{target}` not found.")
            return None
    _wasipy_display.publish_display_data({"text/plain": text}, {})
    return None


def _inspect_text(target, level, frame=None):
    try:
        import _wasipy_complete
        fn = getattr(_wasipy_complete, "inspect_text", None)
    except ImportError:
        fn = None
    if fn is not None and _core is not None:
        return fn(_core, target, level)
    return _simple_inspect(target, level, frame)


def _simple_inspect(target, level, frame):
    """A small `obj?` for when the completion module is absent."""
    import inspect
    parts = target.split(".")
    ns = dict(builtins.__dict__)
    ns.update(_core.user_ns if _core is not None else {})
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


# ---- no shell ------------------------------------------------------------------

_SHELL_COMMANDS = {"system", "sx", "alias", "ls", "cat", "cp", "mv", "rm", "rmdir", "mkdir",
                   "less", "man", "clear", "ll", "lf", "lk", "lx", "ldir", "more", "conda", "mamba"}
_SCRIPT_CELLS = {"bash", "sh", "script", "perl", "ruby", "python", "python2", "python3", "pypy",
                 "system", "sx", "cmd", "powershell"}


# ---- the shell object get_ipython() returns --------------------------------------


class _Struct(dict):
    """A dict whose keys are attributes too (IPython's Struct, traitlets' Config)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self:
            self[name] = _Struct()
        return self[name]

    def __setattr__(self, name, value):
        self[name] = value


class ExecutionInfo:
    """What pre_run_cell callbacks get."""

    def __init__(self, raw_cell, store_history, silent, shell_futures=True, cell_id=None):
        self.raw_cell = raw_cell
        self.store_history = store_history
        self.silent = silent
        self.shell_futures = shell_futures
        self.cell_id = cell_id

    def __repr__(self):
        cell = self.raw_cell if len(self.raw_cell) <= 50 else self.raw_cell[:50] + ".."
        return (f"<ExecutionInfo object at {id(self):x}, raw_cell=\"{cell}\" store_history={self.store_history} "
                f"silent={self.silent} shell_futures={self.shell_futures} cell_id={self.cell_id}>")


class ExecutionResult:
    """What post_run_cell callbacks get."""

    def __init__(self, info):
        self.info = info
        self.execution_count = None
        self.error_before_exec = None
        self.error_in_exec = None
        self.result = None

    @property
    def success(self):
        return self.error_before_exec is None and self.error_in_exec is None

    def raise_error(self):
        if self.error_before_exec is not None:
            raise self.error_before_exec
        if self.error_in_exec is not None:
            raise self.error_in_exec

    def __repr__(self):
        return (f"<ExecutionResult object at {id(self):x}, execution_count={self.execution_count} "
                f"error_before_exec={self.error_before_exec} error_in_exec={self.error_in_exec} "
                f"info={self.info!r} result={self.result!r}>")


class EventManager:
    """get_ipython().events: register callbacks for pre_execute,
    pre_run_cell, post_execute, post_run_cell."""

    def __init__(self, shell, available_events):
        self.shell = shell
        self.callbacks = {name: [] for name in available_events}

    def register(self, event, function):
        if not callable(function):
            raise TypeError(f"Need a callable, got {function!r}")
        if event not in self.callbacks:
            raise KeyError(f"{event!r} is not one of the known events: {sorted(self.callbacks)}")
        if function not in self.callbacks[event]:
            self.callbacks[event].append(function)

    def unregister(self, event, function):
        try:
            self.callbacks[event].remove(function)
        except ValueError:
            raise ValueError(f"Function {function!r} is not registered as a {event} callback") from None

    def trigger(self, event, *args, **kwargs):
        for func in list(self.callbacks.get(event, ())):
            try:
                func(*args, **kwargs)
            except (Exception, KeyboardInterrupt) as e:
                print(f"Error in callback {func} (for {event}):", file=sys.stderr)
                self.shell.showtraceback(e, to_stderr=True)


AVAILABLE_EVENTS = ("pre_execute", "pre_run_cell", "post_execute", "post_run_cell", "shell_initialized")


class DisplayPublisher:
    """get_ipython().display_pub."""

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        _wasipy_display.publish_display_data(data, metadata, transient=transient, update=update)

    def clear_output(self, wait=False):
        _wasipy_display.clear_output(wait=wait)

    @property
    def is_publishing(self):
        return False


class DisplayFormatter:
    """get_ipython().display_formatter: format() and the per-MIME-type
    formatters (for_type() registers a printer for a type)."""

    @property
    def formatters(self):
        return _wasipy_display.formatters

    @property
    def ipython_display_formatter(self):
        return _wasipy_display.ipython_display_formatter

    @property
    def mimebundle_formatter(self):
        return _wasipy_display.mimebundle_formatter

    @property
    def active_types(self):
        return list(_wasipy_display.formatters)

    def format(self, obj, include=None, exclude=None):
        return _wasipy_display.format(obj, include=include, exclude=exclude)


class MagicsManager:
    """get_ipython().magics_manager."""

    def __init__(self, shell):
        self.shell = shell
        self.registry = {}
        self.auto_magic = False

    @property
    def magics(self):
        return {"line": line_magics, "cell": cell_magics}

    def lsmagic(self):
        return self.magics

    def register(self, *objs):
        for obj in objs:
            if isinstance(obj, type):
                obj = obj(shell=self.shell)
            self.registry[type(obj).__name__] = obj
            for kind in ("line", "cell"):
                for name, method in getattr(obj, "magics", {}).get(kind, {}).items():
                    if isinstance(method, str):
                        method = getattr(obj, method)
                    table = line_magics if kind == "line" else cell_magics
                    table[name] = Magic(kind, name, method)

    def register_function(self, func, magic_kind="line", magic_name=None):
        name = magic_name or func.__name__
        kinds = ("line", "cell") if magic_kind == "line_cell" else (magic_kind,)
        for kind in kinds:
            if kind not in ("line", "cell"):
                raise ValueError(f"magic_kind must be one of line, cell, line_cell, not {magic_kind!r}")
            fn = func
            if magic_kind == "line_cell" and kind == "line":
                def fn(line, _f=func, **kw):
                    return _f(line, None, **kw)
                fn.__doc__ = func.__doc__
                fn.needs_local_scope = getattr(func, "needs_local_scope", False)
            table = line_magics if kind == "line" else cell_magics
            table[name] = Magic(kind, name, fn)

    def register_alias(self, alias_name, magic_name, magic_kind="line", magic_params=None):
        table = line_magics if magic_kind == "line" else cell_magics
        target = _find(magic_kind, magic_name)
        table[alias_name] = target


class ExtensionManager:
    """get_ipython().extension_manager."""

    @property
    def loaded(self):
        return set(_loaded_extensions)

    def load_extension(self, module_str):
        return load_extension(module_str)

    def unload_extension(self, module_str):
        return unload_extension(module_str)

    def reload_extension(self, module_str):
        _reload_ext(_Ctx("reload_ext", module_str, None, "<magic>", 1, None))


class _Kernel:
    """get_ipython().kernel: the pieces of ipykernel's Kernel that libraries
    touch (the comm manager, the parent message, the session)."""

    def __init__(self, shell):
        self.shell = shell
        self.session = None
        self.iopub_socket = None
        self.shell_streams = []

    @property
    def comm_manager(self):
        try:
            import comm
            return comm.get_comm_manager()
        except Exception:
            return None

    @property
    def execution_count(self):
        return self.shell.execution_count

    def get_parent(self, channel=None):
        return {}

    @property
    def _parent_header(self):
        return {}

    def do_one_iteration(self):
        pass


class InteractiveShell:
    """The base class of the object get_ipython() returns."""

    @classmethod
    def instance(cls, *args, **kwargs):
        ip = get_ipython()
        if ip is None:
            raise RuntimeError("the wasipy kernel has not started its shell")
        return ip

    @classmethod
    def initialized(cls):
        return _ip is not None

    @classmethod
    def clear_instance(cls):
        pass


class ZMQInteractiveShell(InteractiveShell):
    """What get_ipython() returns in wasipy: the pieces of IPython's shell
    that notebooks and libraries use. Named like ipykernel's class because
    libraries test the name to know they run in a notebook."""

    def __init__(self, core):
        self._core = core
        self.events = EventManager(self, AVAILABLE_EVENTS)
        self.display_pub = DisplayPublisher()
        self.display_formatter = DisplayFormatter()
        self.magics_manager = MagicsManager(self)
        self.extension_manager = ExtensionManager()
        self.kernel = _Kernel(self)
        self.config = _Struct(IPKernelApp=_Struct(), InteractiveShell=_Struct())
        self.input_transformers_cleanup = []
        self.input_transformers_post = []
        self.user_ns_hidden = {}
        self.autocall = 0
        self.automagic = False
        self.colors = "Linux"
        self.pdb = False
        self.profile = "default"
        self.parent = None
        self.last_execution_succeeded = True
        self.last_execution_result = None

    def __repr__(self):
        return f"<{__name__}.{type(self).__name__} object at 0x{id(self):x}>"

    # -- namespaces --

    @property
    def user_ns(self):
        return self._core.user_ns

    @property
    def user_global_ns(self):
        return self._core.user_ns

    @property
    def user_module(self):
        return sys.modules.get("__main__")

    @property
    def execution_count(self):
        return self._core.execution_count

    def push(self, variables, interactive=True):
        """Add variables to the namespace: a dict, or names (a list or a
        space-separated string) taken from the caller's frame."""
        if isinstance(variables, (str, list, tuple)):
            names = variables.split() if isinstance(variables, str) else variables
            frame = sys._getframe(1)
            found = {}
            for name in names:
                try:
                    found[name] = eval(name, frame.f_globals, frame.f_locals)
                except Exception:
                    print(f"Could not get variable {name} from {frame.f_code.co_name}")
            variables = found
        self.user_ns.update(variables)
        if not interactive:
            for name in variables:
                self.user_ns_hidden[name] = variables[name]
                _hidden.add(name)

    def drop_by_id(self, variables):
        for name, obj in variables.items():
            if name in self.user_ns and self.user_ns[name] is obj:
                del self.user_ns[name]
                self.user_ns_hidden.pop(name, None)

    def ex(self, cmd):
        exec(cmd, self.user_ns)

    def ev(self, expr):
        return eval(expr, self.user_ns)

    def safe_execfile(self, fname, *where, **kw):
        ns = where[0] if where else self.user_ns
        _exec_file(fname, ns)

    # -- magics --

    def run_line_magic(self, magic_name, line, _stack_depth=1):
        frame = sys._getframe(_stack_depth)
        m = _find("line", magic_name)
        return m.run(_Ctx(magic_name, line, None, frame.f_code.co_filename, frame.f_lineno,
                          _frame_locals(frame), _frame_globals(frame)))

    def run_cell_magic(self, magic_name, line, cell):
        import linecache
        frame = sys._getframe(1)
        m = _find("cell", magic_name)
        # The cell's code comes from no file: give it one for tracebacks.
        global _magic_seq
        _magic_seq += 1
        filename = f"<magic-{magic_name}-{_magic_seq}>"
        linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
        return m.run(_Ctx(magic_name, line, cell, filename, 1, _frame_locals(frame), _frame_globals(frame)))

    def magic(self, arg_s):
        name, _, line = arg_s.lstrip("%").partition(" ")
        return self.run_line_magic(name, line, _stack_depth=2)

    def find_line_magic(self, magic_name):
        return line_magics.get(magic_name)

    def find_cell_magic(self, magic_name):
        return cell_magics.get(magic_name)

    def find_magic(self, magic_name, magic_kind="line"):
        return (line_magics if magic_kind == "line" else cell_magics).get(magic_name)

    def register_magics(self, *objs):
        self.magics_manager.register(*objs)

    def register_magic_function(self, func, magic_kind="line", magic_name=None):
        self.magics_manager.register_function(func, magic_kind, magic_name)

    def define_magic(self, name, func):
        self.magics_manager.register_function(lambda line, _f=func: _f(self, line), "line", name)

    # -- running code --

    def transform_cell(self, raw_cell):
        return _transform_all(raw_cell)

    def run_cell(self, raw_cell, store_history=False, silent=False, shell_futures=True, cell_id=None):
        """Run code in the namespace; the value of a final expression is
        displayed. Returns an ExecutionResult (errors are shown, not raised)."""
        info = ExecutionInfo(raw_cell, store_history, silent, shell_futures, cell_id)
        result = ExecutionResult(info)
        filename = f"<run_cell-{id(result):x}>"
        import linecache
        linecache.cache[filename] = (len(raw_cell), None, raw_cell.splitlines(True), filename)
        try:
            body, last = _compile(raw_cell, filename, 1, value=not silent)
        except Exception as e:
            result.error_before_exec = e
            self.showtraceback(e)
            return result
        try:
            value = _run(body, last, self.user_ns)
            result.result = value
            if value is not None and not silent:
                _wasipy_display.display(value)
        except Exception as e:
            result.error_in_exec = e
            self.showtraceback(e)
        return result

    def system(self, cmd):
        raise _no_shell(f"!{cmd}")

    system_raw = system_piped = system

    def getoutput(self, cmd, split=True, depth=0):
        raise _no_shell(f"!!{cmd}")

    # -- output --

    def showtraceback(self, exc_tuple=None, filename=None, tb_offset=None, exception_only=False,
                      running_compiled_code=False, to_stderr=False):
        if isinstance(exc_tuple, BaseException):
            exc = exc_tuple
        elif exc_tuple:
            exc = exc_tuple[1]
        else:
            exc = sys.exc_info()[1]
        if exc is None:
            print("No traceback available to show.", file=sys.stderr)
            return
        if isinstance(exc, UsageError):
            print(f"UsageError: {exc}", file=sys.stderr)
            return
        tb = self._core.format_traceback(exc)
        if to_stderr:
            print("\n".join(tb), file=sys.stderr)
            return
        self._core.send("error", {"ename": type(exc).__name__, "evalue": str(exc), "traceback": tb})

    def showsyntaxerror(self, filename=None, running_compiled_code=False):
        self.showtraceback()

    def set_next_input(self, text, replace=False):
        pass  # wasipy sends no payloads

    def ask_yes_no(self, prompt, default=None, interrupt=None):
        while True:
            answer = input(prompt + " ").strip().lower()
            if not answer and default is not None:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False

    def enable_gui(self, gui=None):
        if gui not in (None, "inline"):
            raise UsageError(f"GUI event loop '{gui}' is not available in wasipy")

    def enable_matplotlib(self, gui=None):
        _matplotlib(_Ctx("matplotlib", gui or "", None, "<magic>", 1, None))
        return gui or "inline", gui or "inline"

    def has_trait(self, name):
        return hasattr(self, name)

    def object_inspect_text(self, oname, detail_level=0):
        return _inspect_text(oname, detail_level) or ""


def get_ipython():
    """The shell object of this kernel (None before install())."""
    return _ip


# ---- cell events ------------------------------------------------------------


def _pre_run(req):
    silent = bool(req.get("silent", False))
    ip = _ip
    ip.events.trigger("pre_execute")
    info = None
    if not silent:
        info = ExecutionInfo(req.get("code", ""), bool(req.get("store_history", True)), silent,
                             cell_id=(req.get("cell_id") or None))
        ip.events.trigger("pre_run_cell", info)
    return info


def _post_run(req, info, reply):
    ip = _ip
    ok = isinstance(reply, dict) and reply.get("status") == "ok"
    ip.last_execution_succeeded = ok
    ip.events.trigger("post_execute")
    if info is None:
        return
    result = ExecutionResult(info)
    result.execution_count = ip.execution_count
    if not ok and isinstance(reply, dict):
        result.error_in_exec = _ReportedError(reply.get("ename", "Error"), reply.get("evalue", ""))
    elif info.store_history:
        result.result = ip.user_ns.get("Out", {}).get(ip.execution_count)
    ip.last_execution_result = result
    ip.events.trigger("post_run_cell", result)


class _ReportedError(Exception):
    """A cell's error as post_run_cell sees it (name and message)."""

    def __init__(self, ename, evalue):
        super().__init__(evalue)
        self.ename = ename

    def __repr__(self):
        return f"{self.ename}({str(self)!r})"


def _wrap_execute(execute):
    def run(req):
        try:
            info = _pre_run(req)
        except BaseException:
            info = None
        reply = execute(req)
        try:
            _post_run(req, info, reply)
        except BaseException:
            pass
        return reply
    run.__wrapped__ = execute
    return run


def _hook_events(core):
    """Fire the cell events around each execute request. The kernel's
    handler table holds Shell.execute; wrap the entry there (and the Shell's
    attribute, for a table built later)."""
    kernel = sys.modules.get("_wasipy_kernel")
    runtime = getattr(kernel, "runtime", None)
    handlers = getattr(runtime, "handlers", None)
    if isinstance(handlers, dict) and "execute" in handlers:
        handlers["execute"] = _wrap_execute(handlers["execute"])
    else:
        core.execute = _wrap_execute(core.execute)


# ---- installation -----------------------------------------------------------


def _apply_ipython_transformers(code):
    """IPython's line-based input_transformers_cleanup / _post hooks."""
    ip = _ip
    if ip is None or not (ip.input_transformers_cleanup or ip.input_transformers_post):
        return transform(code)
    lines = code.splitlines(True)
    for t in ip.input_transformers_cleanup:
        lines = t(lines)
    code = transform("".join(lines))
    lines = code.splitlines(True)
    for t in ip.input_transformers_post:
        lines = t(lines)
    return "".join(lines)


def install(shell):
    """Set up IPython compatibility on the kernel's Shell: the input
    transformer, display() and get_ipython() as builtins, the cell events."""
    global _core, _ip
    _core = shell
    _ip = ZMQInteractiveShell(shell)
    shell.input_transformers.append(_apply_ipython_transformers)
    builtins.display = _wasipy_display.display
    builtins.get_ipython = get_ipython
    shell.user_ns.setdefault("_dh", [os.getcwd()])
    _hidden.update(shell.user_ns)
    _hidden.update(("get_ipython", "exit", "quit", "In", "Out"))
    _ip.user_ns_hidden.update({k: shell.user_ns[k] for k in shell.user_ns})
    _hook_events(shell)
    _ip.events.trigger("shell_initialized", _ip)
