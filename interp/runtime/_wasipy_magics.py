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
its magics.

The kernel imports this module at start-up, so it holds only the
transformer and the registry. The magics themselves live in
_wasipy_magiclib and the get_ipython() object in _wasipy_ipshell, each
imported the first time it is needed. Both import this module, so it does
not import them: install() is given how to load them.
"""

import builtins
import importlib
import os
import re
import sys

import _wasipy_display
import _wasipy_protocol as proto

_ME = "__import__('_wasipy_magics')"

# The kernel's Shell (_wasipy_exec.Shell), and the IPython-like object on it
# (made by the first get_ipython() call).
_core = None
_ip = None
# Given by install(): load_library() imports wasipy's magics (registering
# them) and returns their module; make_ipython(shell) makes the object
# get_ipython() returns.
_load_library = None
_make_ipython = None


def core():
    """The kernel's Shell, or None outside the kernel."""
    return _core


def _library():
    if _load_library is None:
        raise UsageError("wasipy's magics need the wasipy kernel")
    return _load_library()


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
        if self.func is None:
            # One of wasipy's own magics, not loaded yet.
            _library()  # registers the real ones
            table = line_magics if self.kind == "line" else cell_magics
            real = table.get(self.name)
            if real is None or real.func is None:
                raise UsageError(f"magic {self!r} failed to load")
            return real.run(ctx)
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


# name -> Magic. wasipy's own magics are there from the start (so that
# completion and %lsmagic know them), loaded when first run.
line_magics = {}
cell_magics = {}

_BUILTIN_LINE = ("time", "timeit", "who", "who_ls", "whos", "reset", "env", "set_env", "cd", "pwd", "run",
                 "load_ext", "unload_ext", "reload_ext", "lsmagic", "pinfo", "pinfo2", "config", "precision",
                 "xmode", "matplotlib", "pprint", "history", "hist", "prun", "pdb", "debug", "load")
_BUILTIN_CELL = ("time", "timeit", "capture", "html", "HTML", "markdown", "javascript", "js", "latex", "svg",
                 "writefile", "file", "prun", "debug")


def register_line_magic(name, func, internal=False):
    """Add a line magic: func(line) (or func(ctx) for internal ones)."""
    line_magics[name] = Magic("line", name, func, internal)


def register_cell_magic(name, func, internal=False):
    """Add a cell magic: func(line, cell) (or func(ctx) for internal ones)."""
    cell_magics[name] = Magic("cell", name, func, internal)


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
    if re.match(r"(pip3?|python3?(\.\d+)? -m pip)(\s|$)", cmd):
        raise UsageError(importlib.import_module("_wasipy_pip").SHELL_HINT)
    raise _no_shell(f"!{cmd}")


def _help(target, level):
    """`obj?` (level 0) and `obj??` (level 1): the inspection as output."""
    return _library()._help(target, level, sys._getframe(1))


# Names in the namespace at start-up: %who does not list them.
_hidden = set()


# ---- input transformation ------------------------------------------------

_CANDIDATE = re.compile(r"^[ \t]*[%!?]|\?[ \t]*\r?$|=[ \t]*[%!]", re.M)
_CELL_MAGIC = re.compile(r"%%([A-Za-z_]\w*)(.*)$")
_LINE_MAGIC = re.compile(r"([ \t]*)%([A-Za-z_]\w*)(.*)$")
_ASSIGN = re.compile(r"([ \t]*)([A-Za-z_][\w.\[\]'\", \t*]*?)[ \t]*=[ \t]*(%|!!?)(.*)$")
_SHELL_LINE = re.compile(r"([ \t]*)!!?(.*)$")
_HELP = re.compile(r"([ \t]*)(\?\??)?(%{0,2}[A-Za-z_][\w.]*)(\?\??)?[ \t]*$")


_INDENT = re.compile(r"^[ \t]+")
_CLASSIC_PROMPT = re.compile(r"^(>>>|\.\.\.)( |$)")
_CLASSIC_FIRST = re.compile(r"^>>>( |$)")
_IPYTHON_PROMPT = re.compile(r"^(In \[\d+\]: |\s*\.{3,}: ?)")


def _strip_prompts(lines, prompt, first=None):
    """Code pasted with its prompts (>>> / ... or In [1]: / ...:): strip
    them, as IPython does, when the first line has one (or the second,
    for a paste that starts after the first prompt)."""
    first = first or prompt
    i = _first_code_line(lines)
    if i is None:
        return lines
    if first.match(lines[i]) or (i + 1 < len(lines) and prompt.match(lines[i + 1])):
        return [prompt.sub("", line, count=1) for line in lines]
    return lines


def _first_code_line(lines):
    for i, line in enumerate(lines):
        if line.strip():
            return i
    return None


def _cleanup(code):
    """IPython's clean-up of a cell before anything else: a common
    indentation of the first line removed from the lines that have it,
    then pasted prompts. Lines stay lines, so line numbers hold."""
    if code[:1] not in (" ", "\t", "\r", "\n", ">", ".", "I"):
        # Most cells: no indentation, no prompt on the first two lines.
        nl = code.find("\n")
        second = code[nl + 1:nl + 9].lstrip(" \t") if nl >= 0 else ""
        if not second.startswith((">>>", "...", "In [")):
            return code
    lines = code.split("\n")
    i = _first_code_line(lines)
    if i is None:
        return code
    m = _INDENT.match(lines[i])
    if m:
        space = m.group(0)
        lines = [line[len(space):] if line.startswith(space) else line for line in lines]
    lines = _strip_prompts(lines, _CLASSIC_PROMPT, _CLASSIC_FIRST)
    lines = _strip_prompts(lines, _IPYTHON_PROMPT)
    return "\n".join(lines)


def transform(code):
    """IPython syntax to Python, line for line (registered on the Shell)."""
    code = _cleanup(code)
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


# ---- no shell ------------------------------------------------------------------

_SHELL_COMMANDS = {"system", "sx", "alias", "ls", "cat", "cp", "mv", "rm", "rmdir", "mkdir",
                   "less", "man", "clear", "ll", "lf", "lk", "lx", "ldir", "more", "conda", "mamba"}
_SCRIPT_CELLS = {"bash", "sh", "script", "perl", "ruby", "python", "python2", "python3", "pypy",
                 "system", "sx", "cmd", "powershell"}


# ---- get_ipython() ----------------------------------------------------------


def get_ipython():
    """The shell object of this kernel (None before install())."""
    global _ip
    if _ip is None and _core is not None and _make_ipython is not None:
        _ip = _make_ipython(_core)
        _ip.user_ns_hidden.update({k: _core.user_ns.get(k) for k in _hidden if k in _core.user_ns})
        _ip.events.trigger("shell_initialized", _ip)
    return _ip


# ---- cell events ------------------------------------------------------------


def _wrap_execute(execute):
    def run(req):
        # Without a get_ipython() object there are no callbacks to call
        # (the cell that makes it may register some: they run after it).
        info = None
        ip = _ip
        if ip is not None:
            try:
                info = ip._wasipy_before_execute(req)
            except BaseException:
                pass
        reply = execute(req)
        ip = _ip
        if ip is not None:
            try:
                ip._wasipy_after_execute(req, info, reply)
            except BaseException:
                pass
        return reply
    run.__wrapped__ = execute
    return run


def _hook_events(core, router):
    """Fire the cell events around each execute request. The router's
    handler table holds Shell.execute; wrap the entry there (and the Shell's
    attribute, for a table built later)."""
    handlers = getattr(router, "handlers", None)
    if isinstance(handlers, dict) and proto.EXECUTE in handlers:
        handlers[proto.EXECUTE] = _wrap_execute(handlers[proto.EXECUTE])
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


def enter_session(shell):
    """The session's working directory is known now (a prepared
    interpreter was built in another): start %cd's history with it."""
    shell.user_ns["_dh"] = [os.getcwd()]


def install(shell, router, load_library, make_ipython):
    """Set up IPython compatibility on the kernel's Shell: the input
    transformer, display() and get_ipython() as builtins, the cell events,
    wasipy's magics (registered by name, loaded when first used by
    load_library()); make_ipython(shell) makes get_ipython()'s object."""
    global _core, _load_library, _make_ipython
    _core = shell
    _load_library, _make_ipython = load_library, make_ipython
    shell.input_transformers.append(_apply_ipython_transformers)
    builtins.display = _wasipy_display.display
    builtins.get_ipython = get_ipython
    shell.user_ns.setdefault("_dh", [os.getcwd()])
    _hidden.update(shell.user_ns)
    _hidden.update(("get_ipython", "exit", "quit", "In", "Out"))
    _hook_events(shell, router)
    for name in _BUILTIN_LINE:
        line_magics.setdefault(name, Magic("line", name, None, internal=True))
    for name in _BUILTIN_CELL:
        cell_magics.setdefault(name, Magic("cell", name, None, internal=True))
    # %snapshot too.
    line_magics.setdefault("snapshot", Magic("line", "snapshot", lambda line: importlib.import_module("_wasipy_snapshot").magic(line, UsageError)))
    # %pip lives in its own module, loaded when first used.
    line_magics.setdefault("pip", Magic("line", "pip", lambda line: importlib.import_module("_wasipy_pip").magic(line, UsageError)))
