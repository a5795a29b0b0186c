"""The Debug Adapter Protocol server behind JupyterLab's visual debugger.

The kernel hands every `debug_request` of the control channel to the guest
as a DEBUG_REQUEST (handle() answers it with the DAP response); what the
debugger has to say on its own (stopped, continued, output, ...) leaves
as DEBUG_EVENTs, which the kernel publishes as iopub `debug_event`s.

Breakpoints and stepping use sys.monitoring (PEP 669, CPython 3.12+) under
the DEBUGGER tool id, so a detached debugger costs nothing (no event is
on) and an attached one costs one PY_START callback per code object: the
callback turns LINE events on for code whose file has breakpoints and
disables itself for the rest. Global LINE events are on only while a step
or a pause is pending.

A stop happens inside a monitoring callback, in the middle of a cell: the
callback sends `stopped` and then reads the channel (Router.poll with
wait_for_reply, as a guest waiting for the host does), serving the host's
requests: more debug requests (stackTrace, variables, evaluate, ...)
until one resumes (continue, next, stepIn, stepOut, disconnect). An
interrupt read there raises KeyboardInterrupt out of the callback, into
the cell, which ends as an interrupted cell does. CPython generates no
monitoring events while a callback runs, so code evaluated at a stop
(evaluate, rich inspection) never stops itself.

Cells are named as ipykernel names them once the debugger has started
(tmpFilePrefix + murmur2(code, hashSeed) + tmpFileSuffix), so JupyterLab
maps a cell to its "file" by hashing the cell's text itself. The files are
not written: their text is kept here (and in linecache) and served by the
`source` request, so the debugger needs no writable disk.
"""

import linecache
import os
import re
import reprlib
import struct
import sys

import _wasipy_protocol as proto
from _wasipy_interrupt import state as interrupt_state

HASH_SEED = 0xC70F6907  # ipykernel's (compiler.get_tmp_hash_seed)
CELL_PREFIX = "/.wasipy/cells/"  # a directory the guest cannot write: no real file is named
CELL_SUFFIX = ".py"
THREAD_ID = 1  # the guest is single-threaded
RUNTIME_DIR = "/.wasipy/runtime/"
# Where code is not the user's: stepping never stops there. The standard
# library is named twice: where the guest reads it, and by the co_filename
# its code objects carry, which is where its .pyc files were compiled (the
# npm 3.12 build ships them compiled under its build machine's checkout, so
# a step that ran off the end of a cell stopped in json.dumps).
def _stdlib_compiled_dir():
    where = os.path.dirname(linecache.getline.__code__.co_filename)
    # A relative or root name would make every file "not the user's".
    return (where + "/",) if os.path.isabs(where) and where != "/" else ()


_NOT_USER = (RUNTIME_DIR, "/usr/local/lib/", "<frozen ", "<string>") + _stdlib_compiled_dir()
MAX_VALUE = 1000  # characters of a variable's repr shown
MAX_REFS = 100000  # variable references handed out between two resumes
MAX_CELLS = 10000  # dumped cells kept

# Names the variables panel does not show (ipykernel hides the same).
_HIDDEN = frozenset({
    "__name__", "__doc__", "__package__", "__loader__", "__spec__", "__annotations__",
    "__builtins__", "__builtin__", "__display__", "get_ipython", "debugpy", "exit", "quit",
    "In", "Out", "_oh", "_dh", "_", "__", "___", "_ih",
})


def murmur2(data, seed):
    """MurmurHash2 (32-bit, x86) of data (bytes): the hash JupyterLab
    computes of a cell's text to find the file its code runs as."""
    m = 0x5BD1E995
    mask = 0xFFFFFFFF
    n = len(data)
    h = (seed ^ n) & mask
    whole = n - n % 4
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[whole:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def cell_path(code):
    return f"{CELL_PREFIX}{murmur2(code.encode('utf-8', 'surrogatepass'), HASH_SEED)}{CELL_SUFFIX}"


def _accept(name):
    return not (name in _HIDDEN or name.startswith("_i") or (name[:1] == "_" and name[1:2].isdigit()))


# A variable's value as the panel shows it: containers cut short before
# their repr is built (a list of 10**8 items is shown fast), and any one
# value's text cut at MAX_VALUE characters.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxdict = 100
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 100
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = MAX_VALUE


def _safe_repr(value):
    try:
        text = _REPR.repr(value)
    except BaseException as e:  # a user's __repr__ may raise anything
        text = f"<repr failed: {type(e).__name__}>"
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + "..."
    return text


class Debugger:
    def __init__(self, shell, router):
        self.shell = shell
        self.router = router
        self.started = False  # initialize was answered (debugInfo's isStarted)
        self.attached = False  # sys.monitoring is ours
        self.seq = 0
        self.breakpoints = {}  # path -> the breakpoints as the client sent them
        self.lines = {}  # path -> {line: breakpoint state}
        self.cells = {}  # dumped cell path -> code
        self.exception_filters = frozenset()
        self.step = None  # (mode, frame) of a pending next/stepIn/stepOut
        self.pause = False  # stop at the next line of user code
        self.stop = None  # the _Stop while stopped at a breakpoint
        self.refs = {}  # variablesReference -> object or ("scope", frame, kind)
        self.frame_ids = {}  # frameId -> frame, while stopped
        self.user_ns = shell.user_ns
        self._ringing = False  # inside _doorbell

    # ---- the protocol --------------------------------------------------

    def handle(self, req):
        """The DAP response to one request (a dict), never an exception."""
        if not isinstance(req, dict):
            req = {}
        command = req.get("command")
        args = req.get("arguments")
        if not isinstance(args, dict):
            args = {}
        response = {"type": "response", "request_seq": req.get("seq", 0), "command": command,
                    "success": True}
        handler = _COMMANDS.get(command) if isinstance(command, str) else None
        if handler is None:
            response.update(success=False, message=f"unsupported request {command!r}")
        elif not self.started and command not in _STATIC:
            response.update(success=False, message="the debugger is not started (send initialize)")
        else:
            try:
                body = handler(self, args)
            except _Failure as e:
                response.update(success=False, message=str(e))
            except Exception as e:
                response.update(success=False, message=f"{type(e).__name__}: {e}")
            else:
                response["body"] = {} if body is None else body
        self.seq += 1
        response["seq"] = self.seq
        return response

    def event(self, name, body=None):
        self.seq += 1
        self.router.send(proto.event(proto.DEBUG_EVENT, {
            "seq": self.seq, "type": "event", "event": name, "body": body or {}}))

    # ---- requests ------------------------------------------------------

    def initialize(self, args):
        self.started = True
        self.shell.cell_filename = self._name_cell
        return {
            "supportsConfigurationDoneRequest": True,
            "supportsConditionalBreakpoints": True,
            "supportsHitConditionalBreakpoints": True,
            "supportsLogPoints": True,
            "supportsEvaluateForHovers": True,
            "supportsDelayedStackTraceLoading": True,
            "supportsExceptionInfoRequest": True,
            "supportsModulesRequest": True,
            "exceptionBreakpointFilters": [
                {"filter": "raised", "label": "Raised Exceptions", "default": False},
                {"filter": "uncaught", "label": "Uncaught Exceptions", "default": False},
            ],
        }

    def attach(self, args):
        self._attach()
        self.event("initialized")
        self.event("thread", {"reason": "started", "threadId": THREAD_ID})
        return {}

    def disconnect(self, args):
        self.breakpoints, self.lines = {}, {}
        self.exception_filters = frozenset()
        self.step, self.pause, self.started = None, False, False
        self.shell.cell_filename = None
        if self.stop is not None:
            # The callback that stopped detaches once it has resumed.
            self.stop.resume, self.stop.detach = True, True
        else:
            self._detach()
        return {}

    def configurationDone(self, args):
        return {}

    def debugInfo(self, args):
        return {
            "isStarted": self.started,
            "hashMethod": "Murmur2",
            "hashSeed": HASH_SEED,
            "tmpFilePrefix": CELL_PREFIX,
            "tmpFileSuffix": CELL_SUFFIX,
            "breakpoints": [{"source": p, "breakpoints": b} for p, b in self.breakpoints.items()],
            "stoppedThreads": [THREAD_ID] if self.stop is not None else [],
            "richRendering": True,
            "exceptionPaths": ["Python Exceptions"],
            # JupyterLab offers "copy to globals" only when told (its JEP).
            "copyToGlobals": True,
        }

    def dumpCell(self, args):
        code = args.get("code")
        if not isinstance(code, str):
            raise _Failure("dumpCell needs the cell's code")
        path = cell_path(code)
        self._remember(path, code)
        return {"sourcePath": path}

    def setBreakpoints(self, args):
        source = args.get("source") if isinstance(args.get("source"), dict) else {}
        path = source.get("path")
        if not isinstance(path, str) or not path:
            raise _Failure("setBreakpoints needs source.path")
        given = args.get("breakpoints") or []
        if not isinstance(given, list):
            raise _Failure("breakpoints is not a list")
        lines, out = {}, []
        for i, bp in enumerate(given):
            if not isinstance(bp, dict) or type(bp.get("line")) is not int:
                raise _Failure(f"breakpoint {i} has no line")
            state = _Breakpoint(bp)
            lines[bp["line"]] = state
            out.append({"id": len(out) + 1, "verified": True, "line": bp["line"], "source": {"path": path}})
        if lines:
            self.breakpoints[path], self.lines[path] = given, lines
        else:
            self.breakpoints.pop(path, None)
            self.lines.pop(path, None)
        self._refresh()
        return {"breakpoints": out}

    def setExceptionBreakpoints(self, args):
        filters = args.get("filters") or []
        if not isinstance(filters, list):
            raise _Failure("filters is not a list")
        self.exception_filters = frozenset(f for f in filters if f in ("raised", "uncaught"))
        self._refresh()
        return {}

    def threads(self, args):
        return {"threads": [{"id": THREAD_ID, "name": "MainThread"}]}

    def stackTrace(self, args):
        frames = self._stack()
        start = _int(args.get("startFrame"), 0)
        levels = _int(args.get("levels"), 0) or len(frames)
        out = []
        for fid, frame in frames[start:start + levels]:
            code = frame.f_code
            out.append({
                "id": fid,
                "name": getattr(code, "co_qualname", code.co_name),
                "line": frame.f_lineno or code.co_firstlineno,
                "column": 1,
                "source": {"path": code.co_filename, "name": os.path.basename(code.co_filename)},
            })
        return {"stackFrames": out, "totalFrames": len(frames)}

    def scopes(self, args):
        frame = self._frame(args.get("frameId"))
        scopes = [{"name": "Locals", "variablesReference": self._ref(("scope", frame, "locals")), "expensive": False}]
        if frame.f_globals is not frame.f_locals:
            scopes.append({"name": "Globals", "variablesReference": self._ref(("scope", frame, "globals")),
                           "expensive": False})
        return {"scopes": scopes}

    def variables(self, args):
        target = self.refs.get(_int(args.get("variablesReference"), -1))
        if target is None:
            raise _Failure("no such variablesReference")
        children = self._children(target)
        start = max(0, _int(args.get("start"), 0))
        count = _int(args.get("count"), 0)
        if count > 0:
            children = children[start:start + count]
        elif start:
            children = children[start:]
        return {"variables": [self._variable(name, value, expr) for name, value, expr in children]}

    def evaluate(self, args):
        expr = args.get("expression")
        if not isinstance(expr, str):
            raise _Failure("evaluate needs an expression")
        if args.get("frameId") is None and self.stop is None:
            # As debugpy: nothing to evaluate in while no frame is stopped.
            return {"result": "", "variablesReference": 0}
        frame = self._frame(args.get("frameId")) if args.get("frameId") is not None else self.stop.frame
        try:
            value = eval(compile(expr, "<debug>", "eval"), frame.f_globals, frame.f_locals)
        except SyntaxError:
            if args.get("context") != "repl":
                raise
            exec(compile(expr, "<debug>", "exec"), frame.f_globals, frame.f_locals)
            return {"result": "", "variablesReference": 0}
        return {"result": _safe_repr(value), "type": type(value).__name__,
                "variablesReference": self._ref(value) if _has_children(value) else 0}

    def exceptionInfo(self, args):
        exc = self.stop.exception if self.stop is not None else None
        if exc is None:
            raise _Failure("not stopped at an exception")
        return {"exceptionId": type(exc).__name__, "description": str(exc), "breakMode": "always"}

    def continue_(self, args):
        self._resume(None)
        return {"allThreadsContinued": True}

    def next(self, args):
        self._resume("next")

    def stepIn(self, args):
        self._resume("stepIn")

    def stepOut(self, args):
        self._resume("stepOut")

    def pause_(self, args):
        running = self.shell.active_cell is not None
        if running and not self._ringing:
            # The host rang (interrupted) to have this read; the guest read
            # it on its own (it was waiting on the channel): that ring is
            # still to come and must not interrupt the cell.
            interrupt_state.rings += 1
        if running and self.stop is None:
            self.pause = True
            self._refresh()

    def source(self, args):
        source = args.get("source") if isinstance(args.get("source"), dict) else {}
        path = source.get("path")
        if path in self.cells:
            return {"content": self.cells[path]}
        if isinstance(path, str) and os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                return {"content": f.read()}
        raise _Failure("source unavailable")

    def inspectVariables(self, args):
        if self.stop is None:
            self.refs.clear()
        names = sorted(n for n in self.user_ns if isinstance(n, str) and _accept(n))
        return {"variables": [self._variable(n, self.user_ns[n], n) for n in names]}

    def richInspectVariables(self, args):
        name = args.get("variableName")
        if not isinstance(name, str) or not name.isidentifier():
            return {"data": {}, "metadata": {}}
        if self.stop is None:
            result = self.shell.user_expressions({name: name})[name]
            if result.get("status") != "ok":
                return {"data": {}, "metadata": {}}
            data, metadata = result.get("data", {}), result.get("metadata", {})
        else:
            frame = self._frame(args.get("frameId")) if args.get("frameId") is not None else self.stop.frame
            if name in frame.f_locals:
                value = frame.f_locals[name]
            elif name in frame.f_globals:
                value = frame.f_globals[name]
            else:
                raise _Failure(f"no variable {name!r} in that frame")
            data, metadata = self.shell.formatter(value)
        return {"data": data, "metadata": {k: v for k, v in metadata.items() if k in data}}

    def copyToGlobals(self, args):
        src, dst = args.get("srcVariableName"), args.get("dstVariableName")
        if not isinstance(src, str) or not isinstance(dst, str) or not dst.isidentifier():
            raise _Failure("copyToGlobals needs srcVariableName and a dstVariableName")
        frame = self._frame(args.get("srcFrameId"))
        if src not in frame.f_locals:
            raise _Failure(f"no variable {src!r} in that frame")
        self.user_ns[dst] = frame.f_locals[src]
        return {}

    def modules(self, args):
        mods = list(sys.modules.values())
        start = max(0, _int(args.get("startModule"), 0))
        count = _int(args.get("moduleCount"), 0) or len(mods)
        out = []
        for i, module in enumerate(mods[start:start + count], start):
            origin = getattr(getattr(module, "__spec__", None), "origin", None)
            if isinstance(origin, str) and origin.endswith(".py"):
                out.append({"id": i, "name": module.__name__, "path": origin})
        return {"modules": out, "totalModules": len(mods)}

    # ---- cells ---------------------------------------------------------

    def _name_cell(self, code):
        """Shell.cell_filename while started: called as each cell starts."""
        if self.step is not None or self.pause:
            # A step that ran off the end of the last cell ends with it: it
            # must not stop this one at its first line.
            self.step, self.pause = None, False
            self._refresh()
        path = cell_path(code)
        self._remember(path, code)
        return path

    def _remember(self, path, code):
        if path not in self.cells and len(self.cells) >= MAX_CELLS:
            self.cells.pop(next(iter(self.cells)))
        self.cells[path] = code
        # mtime None: linecache.checkcache keeps it (there is no file).
        linecache.cache[path] = (len(code), None, code.splitlines(True), path)

    # ---- sys.monitoring ------------------------------------------------

    def _attach(self):
        if self.attached:
            return
        mon = sys.monitoring
        tool = mon.DEBUGGER_ID
        mon.use_tool_id(tool, "wasipy debugger")
        ev = mon.events
        mon.register_callback(tool, ev.PY_START, self._on_start)
        mon.register_callback(tool, ev.LINE, self._on_line)
        mon.register_callback(tool, ev.RAISE, self._on_raise)
        mon.register_callback(tool, ev.PY_UNWIND, self._on_unwind)
        interrupt_state.doorbell = self._doorbell
        self.attached = True
        self._refresh()

    def _detach(self):
        if not self.attached:
            return
        mon = sys.monitoring
        tool = mon.DEBUGGER_ID
        mon.set_events(tool, 0)
        for event in (mon.events.PY_START, mon.events.LINE, mon.events.RAISE, mon.events.PY_UNWIND):
            mon.register_callback(tool, event, None)
        mon.free_tool_id(tool)
        interrupt_state.doorbell = None
        self.attached = False

    def _doorbell(self):
        """Asked by the SIGINT handler, in user code: if the interrupt was
        the host ringing, serve the debug requests waiting on the channel
        (a pause) and say so; the cell goes on."""
        if self._ringing:
            return False
        self._ringing = True
        try:
            while self.router.poll(0):
                pass
            waiting = [m for m in self.router.inbox if m.get("type") == proto.DEBUG_REQUEST]
            for msg in waiting:
                self.router.inbox.remove(msg)
                self.router.serve(msg)
            return bool(waiting)
        finally:
            self._ringing = False

    def _refresh(self):
        """Turn on the events the current breakpoints, filters and steps
        need (and only those), and undo the DISABLEs of earlier callbacks."""
        if not self.attached:
            return
        mon = sys.monitoring
        ev = mon.events
        wanted = ev.PY_START if self.lines else 0
        if self.step is not None or self.pause:
            wanted |= ev.LINE
        if "raised" in self.exception_filters:
            wanted |= ev.RAISE
        if "uncaught" in self.exception_filters:
            wanted |= ev.PY_UNWIND
        mon.set_events(mon.DEBUGGER_ID, wanted)
        if self.stop is not None:
            # Frames already running: their PY_START has passed.
            frame = self.stop.frame
            while frame is not None:
                self._watch(frame.f_code)
                frame = frame.f_back
        mon.restart_events()

    def _watch(self, code):
        """LINE events for code if its file has breakpoints. True if so."""
        if code.co_filename in self.lines:
            sys.monitoring.set_local_events(sys.monitoring.DEBUGGER_ID, code, sys.monitoring.events.LINE)
            return True
        return False

    def _on_start(self, code, offset):
        if self._watch(code):
            return None
        return sys.monitoring.DISABLE

    def _on_line(self, code, line):
        if self._ringing:
            # A pause served by the doorbell turns LINE on while the
            # runtime still answers it: stopping there, before the reply
            # is out, would leave the client waiting for it.
            return None
        frame = sys._getframe(1)
        if self.step is not None or self.pause:
            if self._step_done(frame):
                self._stop(frame, "pause" if self.pause else "step")
                return None
        bp = self.lines.get(code.co_filename, {}).get(line)
        if bp is not None:
            if bp.hit(self, frame):
                self._stop(frame, "breakpoint")
            return None
        if self.step is None and not self.pause:
            return sys.monitoring.DISABLE
        return None

    def _on_raise(self, code, offset, exc):
        frame = sys._getframe(1)
        if _is_user(code.co_filename) and not isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, StopIteration)):
            self._stop(frame, "exception", exc)

    def _on_unwind(self, code, offset, exc):
        # Uncaught: the exception leaves a cell's own code, for the runtime.
        if "raised" in self.exception_filters or code.co_filename not in self.cells:
            return
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, StopIteration)):
            return
        frame = sys._getframe(1)
        caller = frame.f_back
        if caller is None or caller.f_code.co_filename.startswith(RUNTIME_DIR):
            self._stop(frame, "exception", exc)

    def _step_done(self, frame):
        if not _is_user(frame.f_code.co_filename):
            return False
        if self.pause or self.step is None:
            return True
        mode, origin = self.step
        if mode == "stepIn":
            return True
        if frame is origin:
            return mode == "next"  # stepOut waits for origin to return
        # Is origin still running below frame (frame is deeper)?
        caller = frame.f_back
        while caller is not None and caller is not origin:
            caller = caller.f_back
        if caller is origin:
            return False  # a call made from origin's line: next and stepOut go on
        # origin has returned: frame is one of its callers.
        return mode == "next" or mode == "stepOut"

    # ---- stopped -------------------------------------------------------

    def _stop(self, frame, reason, exc=None):
        """Stop in frame until a request resumes: serve the host meanwhile."""
        if self.stop is not None:
            return
        stop = self.stop = _Stop(frame, exc)
        self.step, self.pause = None, False
        self.refs.clear()
        self.frame_ids.clear()
        self._refresh()  # no global LINE events while stopped
        body = {"reason": reason, "threadId": THREAD_ID, "allThreadsStopped": True}
        if exc is not None:
            body["text"] = f"{type(exc).__name__}: {exc}"
        self.event("stopped", body)
        try:
            while not stop.resume:
                # Serves debug requests (and Go's calls) until one resumes;
                # an interrupt raises KeyboardInterrupt into the cell here.
                self.router.poll(None, wait_for_reply=True)
        finally:
            self.stop = None
            self.refs.clear()
            self.frame_ids.clear()
            if stop.detach:
                self._detach()
            else:
                self._refresh()
            self.event("continued", {"threadId": THREAD_ID, "allThreadsContinued": True})

    def _resume(self, mode):
        if self.stop is None:
            return  # not stopped: nothing to resume
        self.step = (mode, self.stop.frame) if mode else None
        self.stop.resume = True

    def _stack(self):
        if self.stop is None:
            raise _Failure("not stopped")
        if not self.frame_ids:
            frame = self.stop.frame
            while frame is not None and not frame.f_code.co_filename.startswith(RUNTIME_DIR):
                self.frame_ids[len(self.frame_ids) + 1] = frame
                frame = frame.f_back
        return list(self.frame_ids.items())

    def _frame(self, fid):
        self._stack()
        frame = self.frame_ids.get(_int(fid, -1))
        if frame is None:
            raise _Failure("no such frame")
        return frame

    # ---- variables -----------------------------------------------------

    def _ref(self, target):
        if len(self.refs) >= MAX_REFS:
            raise _Failure("too many variables inspected; step or continue to reset")
        ref = len(self.refs) + 1
        self.refs[ref] = target
        return ref

    def _variable(self, name, value, expr):
        var = {"name": name, "value": _safe_repr(value), "type": type(value).__name__,
               "variablesReference": self._ref(value) if _has_children(value) else 0}
        if expr is not None:
            var["evaluateName"] = expr
        return var

    def _children(self, target):
        """[(name, value, evaluateName or None)] of a scope or an object."""
        if isinstance(target, tuple) and len(target) == 3 and target[0] == "scope":
            _, frame, kind = target
            ns = frame.f_locals if kind == "locals" else frame.f_globals
            return [(n, v, n) for n, v in list(ns.items()) if isinstance(n, str) and _accept(n)]
        if isinstance(target, dict):
            return [(_safe_repr(k), v, None) for k, v in list(target.items())]
        if isinstance(target, (list, tuple)):
            return [(str(i), v, None) for i, v in enumerate(target)]
        if isinstance(target, (set, frozenset)):
            return [(str(i), v, None) for i, v in enumerate(target)]
        out = []
        for name in dir(target):
            if name.startswith("__"):
                continue
            try:
                value = getattr(target, name)
            except Exception:
                continue
            if callable(value):
                continue
            out.append((name, value, None))
        return out


class _Stop:
    def __init__(self, frame, exc):
        self.frame = frame
        self.exception = exc
        self.resume = False
        self.detach = False


class _Breakpoint:
    """A breakpoint's condition, hit condition and log message."""

    def __init__(self, spec):
        self.condition = spec.get("condition") or None
        self.log = spec.get("logMessage") or None
        # "N" or "==N": the Nth hit; ">=N" / ">N": from the Nth (after the
        # Nth) on; "%N": every Nth. Anything else is ignored, as debugpy does.
        match = _HIT.match(str(spec.get("hitCondition") or ""))
        self.hit_op, self.hit_target = (match.group(1) or "==", int(match.group(2))) if match else (None, None)
        self.hits = 0

    def hit(self, debugger, frame):
        """Whether to stop here (a log point prints and never stops)."""
        if self.condition:
            try:
                if not eval(self.condition, frame.f_globals, frame.f_locals):
                    return False
            except Exception:
                return True  # as debugpy: a failing condition stops, to show why
        self.hits += 1
        if self.hit_op is not None and not _HIT_OPS[self.hit_op](self.hits, self.hit_target):
            return False
        if self.log:
            debugger.event("output", {"category": "console", "output": _log_text(self.log, frame) + "\n"})
            return False
        return True


_HIT = re.compile(r"^\s*(==|>=|>|%)?\s*(\d+)\s*$")
_HIT_OPS = {
    "==": lambda n, t: n == t,
    ">=": lambda n, t: n >= t,
    ">": lambda n, t: n > t,
    "%": lambda n, t: t > 0 and n % t == 0,
}


def _log_text(template, frame):
    """A log point's message with its {expressions} evaluated in frame."""
    out, i = [], 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            out.append(template[i:])
            break
        k = template.find("}", j)
        if k < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        try:
            out.append(str(eval(template[j + 1:k], frame.f_globals, frame.f_locals)))
        except Exception as e:
            out.append(f"<{type(e).__name__}>")
        i = k + 1
    return "".join(out)


class _Failure(Exception):
    """A request that cannot be served: success false, with this message."""


def _int(v, default):
    return v if type(v) is int else default


def _is_user(filename):
    return not filename.startswith(_NOT_USER)


def _has_children(value):
    if isinstance(value, (str, bytes, bytearray, int, float, complex, bool, type(None))):
        return False
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return len(value) > 0
    return hasattr(value, "__dict__")


# Requests answered whether or not the debugger is started (as ipykernel).
_STATIC = frozenset({"initialize", "debugInfo", "inspectVariables", "richInspectVariables", "modules",
                     "dumpCell", "source", "disconnect"})
_COMMANDS = {
    "initialize": Debugger.initialize, "attach": Debugger.attach, "disconnect": Debugger.disconnect,
    "configurationDone": Debugger.configurationDone, "debugInfo": Debugger.debugInfo,
    "dumpCell": Debugger.dumpCell, "setBreakpoints": Debugger.setBreakpoints,
    "setExceptionBreakpoints": Debugger.setExceptionBreakpoints, "threads": Debugger.threads,
    "stackTrace": Debugger.stackTrace, "scopes": Debugger.scopes, "variables": Debugger.variables,
    "evaluate": Debugger.evaluate, "exceptionInfo": Debugger.exceptionInfo,
    "continue": Debugger.continue_, "next": Debugger.next, "stepIn": Debugger.stepIn,
    "stepOut": Debugger.stepOut, "pause": Debugger.pause_, "source": Debugger.source,
    "inspectVariables": Debugger.inspectVariables, "richInspectVariables": Debugger.richInspectVariables,
    "copyToGlobals": Debugger.copyToGlobals, "modules": Debugger.modules,
}

_debugger = None


def handle(shell, router, request):
    """Answer one DEBUG_REQUEST (the DAP request) with its DAP response."""
    global _debugger
    if _debugger is None:
        _debugger = Debugger(shell, router)
    return _debugger.handle(request)
