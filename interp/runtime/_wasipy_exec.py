"""The shell: running cells the way IPython does, and the main loop.

Several statements per cell, the last expression's value shown as Out[n],
the _, __, ___, _N, In and Out history, user_expressions, and tracebacks
that show the user's cells (with their source lines) and hide the kernel's
own frames.

The shell layer sits on the rpc layer and knows no feature: the features
(display, magics, input(), ...) plug into the Shell they are given at
install: the formatter of results (Shell.formatter), input transformers,
request handlers on the Router.
"""

import ast
import builtins
import errno
import contextvars
import io
import linecache
import re
import sys
import tokenize
import traceback
import types
import warnings

import _wasipy_asyncio
import _wasipy_protocol as proto
from _wasipy_channel import flush_std
from _wasipy_interrupt import interruptible, state

# The cell whose code is running in this context. asyncio tasks copy the
# context when they are created, so a task keeps the cell that started it,
# and its output is attributed to that cell even while another cell runs.
current_cell = contextvars.ContextVar("wasipy_cell", default=None)

# The one Shell of this interpreter (set by Shell()). Features are given it
# at install; public packages (comm) that user code imports first find it
# with current_shell().
shell = None


def current_shell():
    """The interpreter's Shell, or None outside the kernel."""
    return shell


def plain_format(value):
    """The formatter until the display feature installs its own."""
    return {"text/plain": repr(value)}, {}

RUNTIME_DIR = "/.wasipy/runtime/"
# The file names of the cells run so far (see Shell.cell_filename).
cell_files = set()
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect
_STDLIB_BUILD_PATH = re.compile(r"^/wlr/build-staging/.*?/Lib/")

# ANSI colours as in IPython's default (Linux) scheme.
_RED, _GREEN, _CYAN, _YELLOW, _BOLD, _RESET = (
    "\x1b[0;31m", "\x1b[0;32m", "\x1b[0;36m", "\x1b[0;33m", "\x1b[1;31m", "\x1b[0m",
)


class Shell:
    def __init__(self, send):
        global shell
        shell = self
        self._send = send
        self.active_cell = None  # parent_id of the execute_request being run
        self.parent_header = {}  # that request's header
        # Hooks other runtime modules install: each takes the cell's source
        # and returns the Python source to run (IPython's input transformers:
        # magics, `obj?`, `!cmd`). Applied in order.
        self.input_transformers = []
        self._seq = 0
        self._labels = {}  # cell file name -> "Cell In[N]"
        self._count = 0
        self.payload = []  # execute_reply payloads of the running cell (ask_exit)
        # Called with the exception after a cell's error was shown, while
        # the cell still runs (so it may ask for input): %pdb on sets it
        # to start the debugger post mortem.
        self.after_error = None
        # (data, metadata) of a value, for Out[n] and user_expressions.
        self.formatter = plain_format
        # Whether the running request allows input() (allow_stdin).
        self.allow_stdin = True
        # How cells are named in code objects and tracebacks: None, or a
        # callable(code) -> file name or None (the debugger names cells by
        # a hash of their code, so the frontend can map them).
        self.cell_filename = None
        self._silent = False
        self._store = True
        main = types.ModuleType("__main__", doc="Automatically created module for the wasipy kernel")
        sys.modules["__main__"] = main
        self.user_ns = main.__dict__
        self.user_ns.update({
            "__builtins__": builtins,
            "In": [""],
            "Out": {},
            "_": "", "__": "", "___": "",
            "_i": "", "_ii": "", "_iii": "",
        })
        self.user_ns["_ih"] = self.user_ns["In"]
        self.user_ns["_oh"] = self.user_ns["Out"]
        self.user_ns["exit"] = self.user_ns["quit"] = _Exiter()
        # Output of asyncio tasks that earlier cells started goes through
        # these while such a task runs (see streams_for_context); the rest of
        # the time sys.stdout is CPython's own fast stream.
        self._task_streams = (_AttributedStream(sys.stdout, "stdout", self),
                              _AttributedStream(sys.stderr, "stderr", self))
        _wasipy_asyncio.set_stream_switch(self.streams_for_context)

    # ---- execute -----------------------------------------------------

    def execute(self, req):
        code = req.get("code", "")
        self.active_cell = req.get("parent_id")
        self.parent_header = req.get("parent_header") or {}
        current_cell.set(self.active_cell)
        try:
            return self._execute(code, req)
        finally:
            self.active_cell = None
            self.parent_header = {}

    def _execute(self, code, req):
        self.payload = []
        self.allow_stdin = bool(req.get("allow_stdin", True))
        self._count = req.get("execution_count", 0)
        self._silent = bool(req.get("silent", False))
        self._store = bool(req.get("store_history", True)) and not self._silent
        if self._store:
            self._store_input(code)
        self._seq += 1
        filename = f"<wasipy-input-{self._seq}>"
        if self.cell_filename is not None:
            filename = self.cell_filename(code) or filename
        cell_files.add(filename)
        self._labels[filename] = f"Cell In[{self._count}]"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)

        try:
            for transform in self.input_transformers:
                code = transform(code)
        except BaseException as e:
            reply = self._report(e, syntax=isinstance(e, SyntaxError))
            reply["user_expressions"] = {}
            return reply
        status = self._run(code, filename)
        reply = {"status": "ok"} if status is None else status
        reply["payload"] = self.payload
        if reply["status"] == "ok":
            reply["user_expressions"] = self.user_expressions(req.get("user_expressions") or {})
        else:
            reply["user_expressions"] = {}
        return reply

    def _run(self, code, filename):
        """Run a cell; return None on success or an error reply."""
        try:
            tree = ast.parse(code, filename, "exec")
            body = tree.body
            last = None
            if body and isinstance(body[-1], ast.Expr) and not _ends_with_semicolon(code):
                last = body.pop()
            flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            blocks = [compile(ast.Module(body=body, type_ignores=[]), filename, "exec", flags)]
            if last is not None:
                blocks.append(compile(ast.Interactive(body=[last]), filename, "single", flags))
        except (SyntaxError, ValueError, OverflowError) as e:
            return self._report(e, syntax=True)
        old_hook = sys.displayhook
        sys.displayhook = self.displayhook
        try:
            with interruptible():
                for block in blocks:
                    self._run_block(block)
        except SystemExit as e:
            return self._report_exit(e)
        except BaseException as e:
            if _is_bdb_quit(e):
                # The user quit the debugger: as in IPython, the cell ends
                # there, with no traceback.
                return {"status": "error", "ename": type(e).__name__, "evalue": str(e), "traceback": []}
            reply = self._report(e)
            # Not after an interrupt (the user wants the cell stopped), nor
            # when the frontend cannot answer the debugger's questions.
            if self.after_error is not None and self.allow_stdin and not isinstance(e, KeyboardInterrupt):
                self._after_error(e)
            return reply
        finally:
            sys.displayhook = old_hook
        return None

    def _after_error(self, exc):
        try:
            with interruptible():
                self.after_error(exc)
        except KeyboardInterrupt:
            pass  # the cell has failed already; the interrupt ends the debugger
        except BaseException as e:
            print("".join(self.format_traceback(e)), file=sys.stderr)

    def _run_block(self, block):
        if not block.co_flags & _CO_COROUTINE:
            # Plain code sees the session's loop as running, so
            # asyncio.create_task() works as in ipykernel.
            with _wasipy_asyncio.running_as_session():
                exec(block, self.user_ns)
            return
        # Top-level await: the cell is a coroutine; run it as a task of the
        # session's loop (other tasks keep running meanwhile).
        loop = _wasipy_asyncio.session_loop()
        task = loop.create_task(eval(block, self.user_ns))
        interrupted = []

        def interrupt():
            # Cancel the cell's task where it waits: the traceback then
            # shows the user's line, not the event loop's.
            interrupted.append(True)
            task.cancel()

        saved, state.on_interrupt = state.on_interrupt, interrupt
        try:
            loop.run_until_complete(task)
        except BaseException as e:
            if not task.done():
                task.cancel()
                try:
                    loop.run_until_complete(task)
                except BaseException:
                    pass
            if interrupted and isinstance(e, _cancelled_error()):
                raise _as_keyboard_interrupt(e) from None
            # The traceback starts at the cell: the event loop's frames
            # that re-raised it are not the user's (and where the standard
            # library has its sources, as in the 3.13 build, they would be
            # shown with their lines).
            raise e.with_traceback(_from_cell_frame(e.__traceback__))
        finally:
            state.on_interrupt = saved

    def _store_input(self, code):
        # As in IPython: while cell N runs, _i is cell N-1's input, _ii
        # cell N-2's, _iii cell N-3's; _iN and In[N] are this cell's.
        ns = self.user_ns
        ns["_iii"], ns["_ii"], ns["_i"] = ns["_ii"], ns["_i"], ns["In"][-1]
        ns["In"].append(code)
        ns[f"_i{self._count}"] = code

    def streams_for_context(self):
        """Called as an asyncio callback starts: when it belongs to a cell
        other than the running one, point sys.stdout/sys.stderr at streams
        that tag its output with that cell. Returns how to undo it, or None."""
        cell = current_cell.get()
        if cell is None or cell == self.active_cell:
            return None
        out, err = self._task_streams
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err

        def restore():
            out.flush()
            err.flush()
            if sys.stdout is out:
                sys.stdout = saved[0]
            if sys.stderr is err:
                sys.stderr = saved[1]
        return restore

    @property
    def execution_count(self):
        return self._count

    def send(self, msg_type, content, buffers=None, metadata=None):
        """Publish an iopub message (display_data, update_display_data,
        clear_output, comm_msg, ...) for the cell being run, or for the cell
        whose task is running."""
        cell = current_cell.get()
        parent = cell if cell is not None and cell != self.active_cell else None
        self._send(proto.event(msg_type, content, parent, metadata), buffers)

    def displayhook(self, value):
        if value is None:
            return
        if isinstance(value, _Exiter):
            value()  # `exit` alone acts like exit(), as IPython's autocall does
            return
        ns = self.user_ns
        if self._store:
            ns["___"], ns["__"], ns["_"] = ns["__"], ns["_"], value
            ns["Out"][self._count] = value
            ns[f"_{self._count}"] = value
        builtins._ = value
        if self._silent:
            return
        data, metadata = self.formatter(value)
        if not data:  # it displayed itself (_ipython_display_)
            return
        self._send(proto.event(proto.EXECUTE_RESULT, {
            "execution_count": self._count, "data": data, "metadata": metadata}))

    def run_handler(self, fn):
        """Run kernel-side code on behalf of a frontend message (comm
        handlers: a widget's callback): interruptible, its output
        attributed to that message, its errors printed, never raised."""
        def run():
            current_cell.set(None)
            try:
                with interruptible(), _wasipy_asyncio.running_as_session():
                    return fn()
            except Exception as e:
                print("".join(self.format_traceback(e)), file=sys.stderr)
                return {"status": "error", "ename": type(e).__name__, "evalue": str(e), "traceback": []}
        return contextvars.copy_context().run(run)

    def user_expressions(self, exprs):
        out = {}
        for name, expr in exprs.items():
            try:
                with interruptible():
                    value = eval(expr, self.user_ns)
                data, metadata = self.formatter(value)
                out[name] = {"status": "ok", "data": data, "metadata": metadata}
            except BaseException as e:
                out[name] = {"status": "error", "ename": type(e).__name__,
                             "evalue": str(e), "traceback": self.format_traceback(e)}
        return out

    # ---- errors ------------------------------------------------------

    def _report(self, exc, syntax=False):
        _explain_quota(exc)
        tb = self.format_traceback(exc, syntax=syntax)
        # As IPython: the last error stays in sys (sys.last_exc and the
        # older three) for %debug and pdb.pm(), its frames starting at the
        # user's (the runtime's own are no place to debug).
        exc.__traceback__ = _from_user_frame(exc.__traceback__)
        if isinstance(exc, MemoryError):
            # The frames' variables are what filled the memory: free them
            # (the frames stay, for %debug to show where it happened).
            traceback.clear_frames(exc.__traceback__)
        sys.last_exc = sys.last_value = exc
        sys.last_type = type(exc)
        sys.last_traceback = exc.__traceback__
        evalue = str(exc)
        if isinstance(exc, SyntaxError) and exc.filename in self._labels:
            evalue = evalue.replace(exc.filename, self._labels[exc.filename])
        content = {"ename": type(exc).__name__, "evalue": evalue, "traceback": tb}
        self._send(proto.event(proto.ERROR, content))
        return dict(status="error", **content)

    def _report_exit(self, exc):
        # Like IPython: SystemExit in a cell does not end the kernel.
        text = ("An exception has occurred, use %tb to see the full traceback.\n\n"
                f"{_RED}SystemExit{_RESET}: {exc}")
        content = {"ename": "SystemExit", "evalue": str(exc), "traceback": [text]}
        self._send(proto.event(proto.ERROR, content))
        return dict(status="error", **content)

    def _label(self, filename):
        if filename in self._labels:
            return self._labels[filename]
        return _STDLIB_BUILD_PATH.sub("<stdlib>/", filename)

    def format_traceback(self, exc, syntax=False):
        """A traceback as a list of (ANSI-coloured) strings, IPython style."""
        frames = []
        if not syntax:
            shown = [fs for fs in traceback.extract_tb(exc.__traceback__)
                     if not fs.filename.startswith(RUNTIME_DIR)]
            key = [(fs.filename, fs.lineno, fs.name) for fs in shown]
            i = 0
            while i < len(shown):
                # Deep recursion (f -> f, or a -> b -> a) shows one round of
                # the cycle and a note, as IPython does, not a thousand frames.
                period, repeats = _repeating(key, i)
                for fs in shown[i:i + period]:
                    frames.append(self._format_frame(fs))
                if repeats > 1:
                    names = ", ".join(f"{fs.name} at line {fs.lineno}" for fs in shown[i:i + period])
                    frames.append(f"    [... skipping similar frames: {names} ({repeats - 1} times)]")
                i += period * repeats
        name = type(exc).__name__
        if name == "UsageError":  # as IPython: a magic's usage, no frames
            return [f"{_RED}UsageError{_RESET}: {exc}"]
        lines = []
        if frames:
            lines.append(_RED + "-" * 75 + _RESET)
            lines.append(f"{_RED}{name}{_RESET}{' ' * max(1, 42 - len(name))}Traceback (most recent call last)")
            lines.extend(frames)
        lines.append(self._format_exception_only(exc))
        return lines

    def _format_frame(self, fs):
        label = self._label(fs.filename)
        if fs.filename in self._labels:
            head = f"{_CYAN}{label}{_RESET}, line {fs.lineno}"
            if fs.name != "<module>":
                head += f", in {_CYAN}{fs.name}{_RESET}"
        else:
            head = f"File {_GREEN}{label}:{fs.lineno}{_RESET}, in {_CYAN}{fs.name}{_RESET}"
        out = [head]
        lines = linecache.getlines(fs.filename)
        if fs.lineno and lines:
            start = max(1, fs.lineno - 2)
            end = min(len(lines), fs.lineno + 2)
            for n in range(start, end + 1):
                src = lines[n - 1].rstrip("\n")
                if n == fs.lineno:
                    out.append(f"{_GREEN}---> {n:<4d}{_RESET}{src}")
                else:
                    out.append(f"{_GREEN}     {n:<4d}{_RESET}{src}")
        return "\n".join(out) + "\n"

    def _format_exception_only(self, exc):
        parts = traceback.format_exception_only(type(exc), exc)
        text = "".join(parts).rstrip("\n")
        if isinstance(exc, SyntaxError) and exc.filename:
            label = self._label(exc.filename)
            text = text.replace(f'File "{exc.filename}", line', f"{label}, line", 1)
        # Colour the "Name: message" line like IPython does.
        head, sep, rest = text.rpartition("\n")
        last = rest if sep else text
        name, colon, msg = last.partition(":")
        last = f"{_RED}{name}{_RESET}{colon}{msg}" if colon else f"{_RED}{last}{_RESET}"
        return (head + "\n" + last) if sep else last


_QUOTA_USAGE = "/.wasipy/quota/usage"


def _explain_quota(exc):
    """The sandbox can only report a write the disk quota refused as EIO
    (its WASI layer knows no ENOSPC/EDQUOT). When the quota refused
    something since the last error we explained, say so under the error,
    and how to raise it."""
    global _quota_refusals_seen
    for e in _chain(exc):
        if not isinstance(e, OSError) or e.errno != errno.EIO:
            continue
        try:
            with open(_QUOTA_USAGE) as f:
                used, limit, files, max_files, refusals = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            return
        if refusals <= _quota_refusals_seen:
            return
        _quota_refusals_seen = refusals
        parts = []
        if limit:
            parts.append(f"{used / 2**20:.1f} of {limit / 2**20:.1f} MiB written")
        if max_files:
            parts.append(f"{files} of {max_files} files and folders made")
        e.add_note("No space left: the session's disk quota is used up ("
                   + "; ".join(parts) + "). Delete files to free it, or start the kernel with a "
                   "larger --disk-quota SIZE[,FILES] (in the kernelspec's argv).")
        return


_quota_refusals_seen = 0


def _chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_bdb_quit(exc):
    bdb = sys.modules.get("bdb")
    return bdb is not None and isinstance(exc, bdb.BdbQuit)


def _cancelled_error():
    import asyncio
    return asyncio.CancelledError


def _from_cell_frame(tb):
    """tb from its first frame in a cell on, or all of it if none is."""
    first = tb
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in cell_files:
            return tb
        tb = tb.tb_next
    return first


def _from_user_frame(tb):
    """tb from its first frame outside the runtime on, or all of it if
    there is none."""
    first = tb
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(RUNTIME_DIR):
            return tb
        tb = tb.tb_next
    return first


def _as_keyboard_interrupt(cancelled):
    """A KeyboardInterrupt carrying the traceback of the CancelledError that
    was raised inside the cell's coroutine (the one with the user's frames)."""
    exc, seen = cancelled, set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = _from_cell_frame(exc.__traceback__)
        if tb is not None and tb.tb_frame.f_code.co_filename in cell_files:
            return KeyboardInterrupt().with_traceback(tb)
        exc = exc.__context__
    return KeyboardInterrupt()


class _AttributedStream(io.TextIOBase):
    """sys.stdout / sys.stderr: text goes to fd 1 / 2 (streamed live by the
    host), except text written by a task of an earlier cell, which goes
    over the channel tagged with that cell, so the frontend shows it under
    the cell that started the task."""

    def __init__(self, inner, name, shell):
        self._inner = inner
        self._name = name
        self._shell = shell
        self._pending = []  # (cell, text) not yet sent, a line at a time

    def write(self, s):
        cell = current_cell.get()
        if cell is not None and cell != self._shell.active_cell:
            s = str(s)
            if self._pending and self._pending[-1][0] == cell:
                self._pending[-1][1].append(s)
            else:
                self._pending.append((cell, [s]))
            if "\n" in s:
                self._send_pending()
            return len(s)
        return self._inner.write(s)

    def _send_pending(self):
        pending, self._pending = self._pending, []
        for cell, parts in pending:
            self._shell._send(proto.event(proto.STREAM, {"name": self._name, "text": "".join(parts)}, cell))

    def flush(self):
        if self._pending:
            self._send_pending()
        self._inner.flush()

    def fileno(self):
        return self._inner.fileno()

    def isatty(self):
        return False

    def writable(self):
        return True

    @property
    def encoding(self):
        return self._inner.encoding

    @property
    def errors(self):
        return self._inner.errors

    @property
    def buffer(self):
        return self._inner.buffer

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _Exiter:
    """`exit` and `quit` in a cell, as in ipykernel: `exit` alone or
    `exit()` asks the frontend to end the session (a terminal console
    quits; a notebook ignores it). `exit(keep_kernel=True)` keeps the
    kernel running."""

    def __repr__(self):
        return "Use exit() or the notebook's kernel menu to end the session."

    def __call__(self, keep_kernel=False):
        if shell is not None:
            shell.payload.append({"source": "ask_exit", "keepkernel": bool(keep_kernel)})


def _repeating(key, i, longest=6, least=3):
    """(period, repeats) of the cycle of frames starting at key[i]: how many
    times a run of `period` frames repeats back to back; (1, 1) if none
    repeats at least `least` times."""
    for period in range(1, longest + 1):
        block = key[i:i + period]
        if len(block) < period:
            break
        repeats = 1
        while key[i + repeats * period:i + (repeats + 1) * period] == block:
            repeats += 1
        if repeats >= least:
            return period, repeats
    return 1, 1


def _ends_with_semicolon(code):
    """True when the cell's last token (ignoring comments) is ';'."""
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(code).readline)
                if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                  tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError):
        return code.rstrip().endswith(";")
    return bool(toks) and toks[-1].string == ";"


def _last_indent(code):
    """The indentation a console should offer for the line after code."""
    lines = code.splitlines()
    last = lines[-1] if lines else ""
    indent = last[: len(last) - len(last.lstrip())]
    if last.rstrip().endswith(":"):
        indent += "    "
    return indent


def is_complete(code):
    """Classify code for is_complete_request: complete, incomplete or
    invalid, as IPython's check_complete does: IPython's syntax (magics,
    `obj?`, `!cmd`) is judged after the shell's input transformers, a cell
    magic's body ends at an empty line, and top-level await is allowed."""
    if not code.strip():
        return {"status": "complete"}
    if code.rstrip("\n").endswith("\\"):
        return {"status": "incomplete", "indent": _last_indent(code)}
    if code.lstrip().startswith("%%"):
        # A cell magic's body may be anything (another language, data):
        # as in IPython, only an empty last line ends it.
        if not code.splitlines()[-1].strip():
            return {"status": "complete"}
        return {"status": "incomplete", "indent": ""}
    try:
        for transform in (shell.input_transformers if shell is not None else ()):
            code = transform(code)
    except Exception:
        return {"status": "invalid"}
    indent = _last_indent(code)
    last = code.splitlines()[-1] if code.splitlines() else ""
    import codeop  # not at start-up: only consoles ask is_complete

    compiler = codeop.CommandCompiler()
    compiler.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = compiler(code, "<input>", "exec")
        except (SyntaxError, OverflowError, ValueError):
            return {"status": "invalid"}
    if compiled is None:
        return {"status": "incomplete", "indent": indent}
    # Inside an indented block the user may still be typing; an empty line
    # (or one holding only the auto-indent) ends the block, as in IPython.
    if not code.endswith("\n") and last[:1] in (" ", "\t") and last.strip():
        return {"status": "incomplete", "indent": indent}
    return {"status": "complete"}


def serve_forever(router):
    """The main loop: serve the host's requests one at a time; between them
    run the session's event loop, so tasks keep running while idle. Returns
    when the host closes the channel."""
    while True:
        try:
            while router.inbox:
                router.serve(router.inbox.pop(0), outermost=True)
            # Run what the loop has ready, then wait for the next message or
            # the loop's next timer, whichever comes first.
            _wasipy_asyncio.run_ready()
            flush_std()  # a background task's partial line
            if not router.inbox:
                router.poll(_wasipy_asyncio.next_timeout())
        except EOFError:
            return
        except KeyboardInterrupt:
            # An interrupt that arrives between cells interrupts nothing.
            continue
