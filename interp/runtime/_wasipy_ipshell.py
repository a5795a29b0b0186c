"""The object get_ipython() returns in wasipy, and what hangs off it: the
pieces of IPython's InteractiveShell that notebooks and libraries touch
(user_ns, kernel, display_pub, display_formatter, events, magics_manager,
extension_manager, run_line_magic, run_cell_magic, push, ...).

Created on the first get_ipython() call, not at start-up.
"""

import os
import re
import sys

import _wasipy_display
import _wasipy_magics
import _wasipy_protocol as proto
import _wasipy_publish
from _wasipy_magics import (Magic, UsageError, _Ctx, _find, _frame_globals, _frame_locals, cell_magics,
                            line_magics)


def _lib():
    import _wasipy_magiclib
    return _wasipy_magiclib


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
        return set(_lib()._loaded_extensions)

    def load_extension(self, module_str):
        return _lib().load_extension(module_str)

    def unload_extension(self, module_str):
        return _lib().unload_extension(module_str)

    def reload_extension(self, module_str):
        _lib()._reload_ext(_Ctx("reload_ext", module_str, None, "<magic>", 1, None))


class _IOPubSocket:
    """get_ipython().kernel.iopub_socket: no socket, only what Session.send
    recognises as the iopub channel (the guest never reaches the kernel's
    sockets)."""

    def __repr__(self):
        return "<wasipy iopub socket>"


# What Session.send may publish: the kinds cell code already emits through
# print() and display(), which the kernel checks and shapes (display.Shape)
# and counts against the output cap like any other output.
_SESSION_KINDS = (proto.STREAM, proto.DISPLAY_DATA, proto.UPDATE_DISPLAY_DATA, proto.CLEAR_OUTPUT, proto.EXECUTE_RESULT)


def _msg_id_of(parent):
    """The msg_id of a parent given as a message ({"header": {...}}) or a
    header, as ipykernel's extract_header accepts; None when there is none."""
    if not isinstance(parent, dict):
        return None
    header = parent.get("header", parent)
    msg_id = header.get("msg_id") if isinstance(header, dict) else None
    return msg_id if isinstance(msg_id, str) and msg_id else None


class Session:
    """get_ipython().kernel.session: the part of jupyter_client's Session
    that code written for ipykernel uses to publish its own messages,
    session.send(kernel.iopub_socket, "display_data", content, parent=...).
    Only iopub, only the kinds in _SESSION_KINDS; the kernel signs and sends
    them, so the guest holds no key and no socket."""

    def __init__(self, shell):
        self._shell = shell
        self.session = os.urandom(16).hex()
        self.username = "username"

    def msg_header(self, msg_type):
        import datetime
        return {"msg_id": os.urandom(16).hex(), "msg_type": msg_type, "username": self.username,
                "session": self.session, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "version": "5.3"}

    def msg(self, msg_type, content=None, parent=None, header=None, metadata=None):
        """A message as a dict, as Session.msg builds it (nothing is sent)."""
        header = dict(header) if header else self.msg_header(msg_type)
        parent_header = {}
        if isinstance(parent, dict):
            parent_header = dict(parent.get("header", parent))
        return {"header": header, "msg_id": header["msg_id"], "msg_type": header["msg_type"],
                "parent_header": parent_header, "content": {} if content is None else content,
                "metadata": dict(metadata or {})}

    def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None, track=False,
             header=None, metadata=None):
        """Publish a message on iopub for the request parent names (the
        running cell when there is none) and return it as a dict."""
        if not isinstance(stream, _IOPubSocket):
            raise ValueError("wasipy: session.send publishes on kernel.iopub_socket only")
        if isinstance(msg_or_type, dict):
            msg = msg_or_type
            msg_type = msg.get("header", {}).get("msg_type") or msg.get("msg_type")
            content = msg.get("content", {}) if content is None else content
            parent = parent if parent is not None else msg.get("parent_header")
        else:
            msg_type = msg_or_type
            msg = None
        if msg_type not in _SESSION_KINDS:
            raise ValueError(f"wasipy: session.send cannot publish {msg_type!r} "
                             f"(only {', '.join(_SESSION_KINDS)})")
        if not isinstance(content, dict):
            raise TypeError(f"content must be a dict, not {type(content).__name__}")
        if msg is None:
            msg = self.msg(msg_type, content, parent, header, metadata)
        self._publish(msg_type, content, _msg_id_of(parent))
        return msg

    def _publish(self, msg_type, content, parent_id):
        import _wasipy_exec
        # The request the output belongs to travels as the cell context the
        # runtime already tags output with (an earlier cell's id: that
        # cell's output area, as in ipykernel; the kernel only honours ids
        # of requests it has seen recently).
        token = _wasipy_exec.current_cell.set(parent_id) if parent_id else None
        try:
            if msg_type == proto.STREAM:
                name, text = content.get("name"), content.get("text")
                if name not in ("stdout", "stderr") or not isinstance(text, str):
                    raise ValueError("a stream message needs name 'stdout' or 'stderr' and a str text")
                stream = sys.stdout if name == "stdout" else sys.stderr
                stream.write(text)
                stream.flush()
            else:
                _wasipy_display.send(msg_type, _wasipy_publish.jsonable(dict(content)))
        finally:
            if token is not None:
                _wasipy_exec.current_cell.reset(token)


class _Kernel:
    """get_ipython().kernel: the pieces of ipykernel's Kernel that libraries
    touch (the comm manager, the parent message, the session)."""

    def __init__(self, shell):
        self.shell = shell
        self.session = Session(shell)
        self.iopub_socket = _IOPubSocket()
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
        """The Jupyter message being answered: {"header": ...} of the
        execute_request running now (ipywidgets' Output widget uses it)."""
        header = self.shell._core.parent_header
        return {"header": dict(header)} if header else {}

    @property
    def _parent_header(self):
        return self.get_parent()

    def do_one_iteration(self):
        pass


class InteractiveShell:
    """The base class of the object get_ipython() returns."""

    @classmethod
    def instance(cls, *args, **kwargs):
        ip = _wasipy_magics.get_ipython()
        if ip is None:
            raise RuntimeError("the wasipy kernel has not started its shell")
        return ip

    @classmethod
    def initialized(cls):
        return _wasipy_magics.core() is not None

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
        self._history_manager = None
        self.config = _Struct(IPKernelApp=_Struct(), InteractiveShell=_Struct())
        self.input_transformers_cleanup = []
        self.input_transformers_post = []
        self.user_ns_hidden = {}
        self.autocall = 0
        self.automagic = False
        self.colors = "Linux"
        self.profile = "default"
        self.parent = None
        self.last_execution_succeeded = True
        self.last_execution_result = None
        self._magic_seq = 0

    def __repr__(self):
        return f"<{__name__}.{type(self).__name__} object at 0x{id(self):x}>"

    @property
    def history_manager(self):
        """This session's history (_wasipy_magiclib.HistoryManager), made
        when first asked for: the magics' module is not loaded before."""
        if self._history_manager is None:
            self._history_manager = _lib().HistoryManager(self._core)
        return self._history_manager

    @history_manager.setter
    def history_manager(self, value):
        self._history_manager = value

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

    @property
    def parent_header(self):
        """The message being answered, as ipykernel's shell keeps it (the
        whole message, which session.send's parent= accepts); {} between
        requests."""
        header = self._core.parent_header
        if not header:
            return {}
        return {"header": dict(header), "msg_id": header.get("msg_id"), "msg_type": header.get("msg_type"),
                "parent_header": {}, "metadata": {}, "content": {}}

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
                _wasipy_magics._hidden.add(name)

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
        _lib()._exec_file(fname, ns)

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
        self._magic_seq += 1
        filename = f"<magic-{magic_name}-{self._magic_seq}>"
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
        return _lib()._transform_all(raw_cell)

    def run_cell(self, raw_cell, store_history=False, silent=False, shell_futures=True, cell_id=None):
        """Run code in the namespace; the value of a final expression is
        displayed. Returns an ExecutionResult (errors are shown, not raised)."""
        info = ExecutionInfo(raw_cell, store_history, silent, shell_futures, cell_id)
        result = ExecutionResult(info)
        filename = f"<run_cell-{id(result):x}>"
        import linecache
        linecache.cache[filename] = (len(raw_cell), None, raw_cell.splitlines(True), filename)
        try:
            body, last = _lib()._compile(raw_cell, filename, 1, value=not silent)
        except Exception as e:
            result.error_before_exec = e
            self.showtraceback(e)
            return result
        try:
            value = _lib()._run(body, last, self.user_ns)
            result.result = value
            if value is not None and not silent:
                _wasipy_display.display(value)
        except Exception as e:
            result.error_in_exec = e
            self.showtraceback(e)
        return result

    def system(self, cmd):
        raise _wasipy_magics._no_shell(f"!{cmd}")

    system_raw = system_piped = system

    def getoutput(self, cmd, split=True, depth=0):
        raise _wasipy_magics._no_shell(f"!!{cmd}")

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
        self._core.send(proto.ERROR, {"ename": type(exc).__name__, "evalue": str(exc), "traceback": tb})

    def showsyntaxerror(self, filename=None, running_compiled_code=False):
        self.showtraceback()

    def set_next_input(self, text, replace=False):
        """Put text in the frontend's next input cell (replace=True: in
        place of this one): a set_next_input payload, one per cell."""
        _lib().set_next_input(text, replace)

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
        _lib()._matplotlib(_Ctx("matplotlib", gui or "", None, "<magic>", 1, None))
        return gui or "inline", gui or "inline"

    def has_trait(self, name):
        return hasattr(self, name)

    def object_inspect_text(self, oname, detail_level=0):
        return _lib()._inspect_text(oname, detail_level) or ""

    def object_inspect(self, oname, detail_level=0):
        """IPython's info dict of a dotted name in the namespace (what
        `obj?` shows, field by field); found=False when it names nothing."""
        return _object_info(self, oname, detail_level)

    def object_inspect_mime(self, oname, detail_level=0, omit_sections=()):
        """The inspection of oname as a MIME bundle (text/plain, text/html),
        as IPython returns it; KeyError when oname names nothing."""
        text = _lib()._inspect_text(oname, detail_level)
        if not text:
            raise KeyError(f"{oname} not found")
        import html
        plain = _ANSI.sub("", text)
        return {"text/plain": text, "text/html": f"<pre>{html.escape(plain)}</pre>"}

    # -- the debugger --

    @property
    def call_pdb(self):
        """Whether the debugger starts after a cell's error (%pdb)."""
        return self._core.after_error is not None

    @call_pdb.setter
    def call_pdb(self, value):
        if not isinstance(value, (bool, int)):
            raise ValueError("new call_pdb value must be boolean")
        import _wasipy_pdb
        self._core.after_error = _wasipy_pdb.post_mortem if value else None

    pdb = call_pdb

    def debugger(self, force=False):
        """The post-mortem debugger on the last error (%debug)."""
        if not (force or self.call_pdb):
            return
        self.run_line_magic("debug", "")

    # The cell events around each execute request (_wasipy_magics fires them).
    def _wasipy_before_execute(self, req):
        return _pre_run(self, req)

    def _wasipy_after_execute(self, req, info, reply):
        _post_run(self, req, info, reply)


# ---- inspection ---------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The keys of IPython's info dict (IPython.core.oinspect.info_fields).
_INFO_FIELDS = ("type_name", "base_class", "string_form", "namespace", "length", "file", "definition",
                "docstring", "source", "init_definition", "class_docstring", "init_docstring", "call_def",
                "call_docstring", "subclasses", "ismagic", "isalias", "isclass", "found", "name")


def _object_info(ip, oname, detail_level):
    import builtins
    import inspect
    # As IPython: every field None but name and found when nothing is
    # found; isclass only set (True) for a class.
    info = dict.fromkeys(_INFO_FIELDS)
    info.update(name=oname, found=False)
    head, *rest = oname.split(".") if oname else [""]
    if oname.startswith("%"):
        magic = line_magics.get(oname.lstrip("%")) or cell_magics.get(oname.lstrip("%"))
        if magic is None:
            return info
        info.update(found=True, ismagic=True, type_name="Magic function",
                    docstring=inspect.cleandoc(magic.__doc__ or "") or None)
        return info
    if head in ip.user_ns:
        obj, namespace = ip.user_ns[head], "Interactive"
    elif hasattr(builtins, head):
        obj, namespace = getattr(builtins, head), "Python builtin"
    else:
        return info
    try:
        for attr in rest:
            obj = getattr(obj, attr)
    except Exception:
        return info

    def safe(fn):
        try:
            return fn()
        except Exception:
            return None

    isclass = inspect.isclass(obj)
    info.update(found=True, ismagic=False, isalias=False, isclass=True if isclass else None, namespace=namespace, type_name=type(obj).__name__,
                base_class=str(type(obj)), docstring=safe(lambda: inspect.getdoc(obj)),
                file=safe(lambda: inspect.getsourcefile(obj) or inspect.getfile(obj)))
    if not callable(obj) or not isclass and not inspect.isroutine(obj):
        info["string_form"] = safe(lambda: _wasipy_display.plain(obj)[:200])
        info["length"] = safe(lambda: str(len(obj)))
    sig = safe(lambda: str(inspect.signature(obj)))
    if isclass:
        info["init_definition"] = oname + sig if sig is not None else None
        info["init_docstring"] = safe(lambda: inspect.getdoc(obj.__init__))
        info["subclasses"] = safe(lambda: ", ".join(c.__name__ for c in type.__subclasses__(obj)[:10])) or None
    elif inspect.isroutine(obj):
        info["definition"] = oname + sig if sig is not None else None
    elif callable(obj):
        info["call_def"] = oname + sig if sig is not None else None
        info["call_docstring"] = safe(lambda: inspect.getdoc(type(obj).__call__))
    if not isclass and not inspect.isroutine(obj) and not inspect.ismodule(obj):
        info["class_docstring"] = safe(lambda: inspect.getdoc(type(obj)))
    if detail_level:
        info["source"] = safe(lambda: inspect.getsource(obj))
    return info


# ---- cell events ------------------------------------------------------------


def _pre_run(ip, req):
    silent = bool(req.get("silent", False))
    ip.events.trigger("pre_execute")
    info = None
    if not silent:
        info = ExecutionInfo(req.get("code", ""), bool(req.get("store_history", True)), silent,
                             cell_id=(req.get("cell_id") or None))
        ip.events.trigger("pre_run_cell", info)
    return info


def _post_run(ip, req, info, reply):
    ok = isinstance(reply, dict) and reply.get("status") == "ok"
    ip.last_execution_succeeded = ok
    ip.events.trigger("post_execute")
    if info is None:
        if req.get("silent"):
            return
        info = ExecutionInfo(req.get("code", ""), bool(req.get("store_history", True)), False,
                             cell_id=(req.get("cell_id") or None))
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
