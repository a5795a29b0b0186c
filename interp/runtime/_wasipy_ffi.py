"""Python's side of the Go <-> Python foreign-function interface.

Modules implemented in Go (interp.Module) appear in sys.modules; their
functions send "ffi.call" requests to the host. Values are converted as
documented in interp/ffi.go: JSON for the plain ones, tagged objects for
tuples, sets, dicts with non-str keys, big ints and non-finite floats,
binary buffers for bytes, and handles for everything else.

Lifetimes: a Python object Go holds stays in _handles until Go releases
it (PyObject.Release, or Go's garbage collector). A Go value Python holds
is a GoProxy; when Python collects the proxy its handle is queued and the
queue is sent to the host (go_release) before the next call into Go and
before the next reply, never from inside the collector. destroy() (or the
end of a with block) lets go at once.
"""

import ast
import builtins
import math
import sys
import traceback
import types
import weakref

import _wasipy_asyncio
import _wasipy_protocol as proto
import _wasipy_rpc
from _wasipy_interrupt import interruptible

# The Router that carries calls into Go and the Shell (given by install()).
_router = None
_shell = None

_handles = {}
_next_handle = 0
# Go handles whose proxies Python collected, not yet told to the host.
# Appended to by GoProxy.__del__ (which may run inside any allocation), so
# nothing else happens there.
_collected = []
# py_await requests running: request id -> task (for py_cancel).
_awaiting = {}


def handle_count():
    return len(_handles)


def release(handle_id):
    _handles.pop(handle_id, None)


def _keep(obj):
    global _next_handle
    _next_handle += 1
    _handles[_next_handle] = obj
    return _next_handle


def _object_of(handle_id):
    return _handles.get(handle_id)


def flush_released():
    """Tell the host which Go handles Python let go of, and how many times
    it had received each."""
    if _collected and _router is not None:
        released = _collected[:]
        del _collected[:len(released)]
        _router.send({"type": proto.GO_RELEASE, "content": {
            "ids": [i for i, _ in released], "counts": [n for _, n in released]}})


# The live proxy of each Go handle: the host sends the same Go value's
# handle again while Python holds it, and it arrives as the same object.
_proxies = weakref.WeakValueDictionary()


def _proxy(handle_id, type_name):
    p = _proxies.get(handle_id)
    if p is not None and p._id == handle_id:
        object.__setattr__(p, "_count", p._count + 1)
        return p
    p = GoProxy(handle_id, type_name)
    _proxies[handle_id] = p
    return p


class GoProxy:
    """A Go value that was not converted: a struct, map, slice, function or
    anything else. Attributes are its fields and methods, items its map
    entries or slice elements; len(), iteration and calls work when the Go
    value supports them; to_py() copies it into Python values. Released
    when Python collects it, or at once by destroy() or a with block.

    One Go value (the same pointer, map, channel or slice) is one GoProxy
    while Python holds it: `a is b`, and == and hash() follow identity."""

    __slots__ = ("_id", "_type", "_count", "__weakref__")

    def __init__(self, handle_id, type_name):
        object.__setattr__(self, "_id", handle_id)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_count", 1)  # times the host sent this handle

    def __repr__(self):
        state = "destroyed " if self._id is None else ""
        return f"<{state}GoProxy of {self._type}>"

    def __del__(self):
        if self._id is not None:
            _collected.append((self._id, self._count))

    def destroy(self):
        """Let the host free the Go value now (idempotent)."""
        if self._id is not None:
            handle, _ = self._id, object.__setattr__(self, "_id", None)
            flush_released()
            _router.request(proto.METHOD_FFI_RELEASE, {"id": handle, "count": self._count})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def _handle(self):
        if self._id is None:
            raise ValueError("the GoProxy was destroyed")
        return self._id

    def __call__(self, *args, **kwargs):
        return _call_sync(proto.METHOD_FFI_PROXY_CALL, {"id": self._handle()}, args, kwargs)

    def _op(self, op, **fields):
        buffers = []
        content = {"id": self._handle(), "op": op}
        for k, v in fields.items():
            content[k] = encode(v, buffers) if k in ("key", "value") else v
        flush_released()
        result, out = _router.request(proto.METHOD_FFI_PROXY_OP, content, buffers, with_buffers=True)
        return decode(result, out)

    def __getattr__(self, name):
        if name.startswith("_"):
            # Python's own protocols (__array__, _repr_html_, ...) are not
            # asked of Go: they would cost a round trip each.
            raise AttributeError(name)
        return self._op("getattr", name=name)

    def __setattr__(self, name, value):
        if name.startswith("_"):
            raise AttributeError(f"cannot set {name} on a GoProxy")
        self._op("setattr", name=name, value=value)

    def __getitem__(self, key):
        return self._op("getitem", key=key)

    def __setitem__(self, key, value):
        self._op("setitem", key=key, value=value)

    def __delitem__(self, key):
        self._op("delitem", key=key)

    def __len__(self):
        return self._op("len")

    def __iter__(self):
        # A slice's elements or a map's keys (in Go's sorted order),
        # fetched in one request.
        return iter(self._op("iter"))

    def __dir__(self):
        return self._op("dir")

    def to_py(self, depth=-1):
        """A copy of the Go value in Python values (structs as dicts of
        their exported fields); depth levels deep, the rest stays proxies."""
        return self._op("to_py", n=depth)


class ToGo:
    """A value with conversion options, as wasipy.to_go makes it."""

    __slots__ = ("value", "depth", "default")

    def __init__(self, value, depth=-1, default=None):
        self.value, self.depth, self.default = value, depth, default


def to_go(value, *, depth=-1, default=None):
    """Mark value for its crossing into Go: containers more than depth
    levels down cross as handles (depth=0: the value itself, by reference,
    so Go sees later changes); default(obj) is asked to convert objects of
    other types (return the object itself to send a handle)."""
    return ToGo(value, depth, default)


def to_py(value, depth=-1):
    """A GoProxy's Go value copied into Python values; other values as they are."""
    if isinstance(value, GoProxy):
        return value.to_py(depth)
    return value


def _add_buffer(buffers, b):
    """b as the next buffer of a message; MemoryError, raised where the
    value is converted, once the buffers pass what one message carries
    (a frame holds a 256 MiB buffer besides its head)."""
    buffers.append(b)
    if len(b) >= 1 << 20 and sum(len(x) for x in buffers) > proto.MAX_BUFFER:
        raise MemoryError(f"{sum(len(x) for x in buffers)} bytes do not cross to Go at once: "
                          f"one message carries at most {proto.MAX_BUFFER}")
    return {"$bytes": len(buffers) - 1}


def encode(value, buffers, depth=-1, default=None):
    if isinstance(value, ToGo):
        return encode(value.value, buffers, value.depth, value.default)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if -(2**53) < value < 2**53:
            return value
        return {"$int": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "nan"}
        if math.isinf(value):
            return {"$float": "inf" if value > 0 else "-inf"}
        return {"$float": value}
    if isinstance(value, (bytes, bytearray)):
        return _add_buffer(buffers, value)  # framed as it is: no copy here
    if isinstance(value, memoryview):
        return _add_buffer(buffers, value.cast("B") if value.contiguous else value.tobytes())
    if isinstance(value, GoProxy):
        return {"$go": value._handle()}
    containers = (list, tuple, set, frozenset, dict)
    if depth == 0 and isinstance(value, containers):
        return _as_handle(value)
    d = depth - 1 if depth > 0 else depth
    if isinstance(value, list):
        return [encode(v, buffers, d, default) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, buffers, d, default) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": [encode(v, buffers, d, default) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, buffers, d, default) for k, v in value.items()}
        return {"$dict": [[encode(k, buffers, d, default), encode(v, buffers, d, default)]
                          for k, v in value.items()]}
    if default is not None:
        converted = default(value)
        if converted is not value:
            return encode(converted, buffers, depth)
    return _as_handle(value)


def _as_handle(value):
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return {"$py": _keep(value), "type": type(value).__name__, "repr": text}


def decode(value, buffers):
    if isinstance(value, list):
        return [decode(v, buffers) for v in value]
    if not isinstance(value, dict):
        return value
    for tag in value:
        if not tag.startswith("$"):
            continue
        v = value[tag]
        if tag == "$int":
            return int(v)
        if tag == "$float":
            return float(v)
        if tag == "$bytes":
            return bytes(buffers[v])
        if tag == "$tuple":
            return tuple(decode(x, buffers) for x in v)
        if tag == "$set":
            return {decode(x, buffers) for x in v}
        if tag == "$dict":
            return {decode(k, buffers): decode(x, buffers) for k, x in v}
        if tag == "$go":
            return _proxy(v, value.get("type", "?"))
        if tag == "$py":
            if v not in _handles:
                raise ValueError("a Python object Go passed was released")
            return _handles[v]
    return {k: decode(v, buffers) for k, v in value.items()}


def _request_content(base, args, kwargs):
    buffers = []
    content = dict(base, args=encode(list(args), buffers), kwargs=encode(dict(kwargs), buffers))
    return content, buffers


def _call_sync(method, base, args, kwargs):
    # "blocking": Python waits here, so its event loop stands still until
    # the call returns; the host fails EvalAsync from inside it at once
    # instead of letting it wait for a loop that cannot run.
    content, buffers = _request_content(dict(base, blocking=True), args, kwargs)
    flush_released()
    result, out = _router.request(method, content, buffers, with_buffers=True)
    return decode(result, out)


async def _call_async(method, base, args, kwargs):
    content, buffers = _request_content(base, args, kwargs)
    flush_released()
    result, out = await _router.request_async(method, content, buffers, with_buffers=True)
    return decode(result, out)


def _make_func(module, name, is_async):
    base = {"module": module, "func": name}
    if is_async:
        async def func(*args, **kwargs):
            return await _call_async(proto.METHOD_FFI_CALL, base, args, kwargs)
    else:
        def func(*args, **kwargs):
            return _call_sync(proto.METHOD_FFI_CALL, base, args, kwargs)
    func.__name__ = func.__qualname__ = name
    func.__module__ = module
    func.__doc__ = f"{name}(*args, **kwargs): implemented in Go by the host" + (" (awaitable)" if is_async else "")
    return func


def _error_class(module, name, base_name):
    base = _wasipy_rpc.HostError
    if base_name:
        b = getattr(builtins, base_name, None)
        if isinstance(b, type) and issubclass(b, Exception):
            base = b
    cls = types.new_class(name, (base,))
    cls.__module__ = module
    cls.__qualname__ = name
    return cls


def register_modules(content):
    """The host's list of Go modules: make each importable."""
    for spec in content.get("modules", []):
        name = spec["name"]
        module = sys.modules.get(name)
        if module is None:
            module = types.ModuleType(name, f"{name}: implemented in Go by the wasipy host")
            sys.modules[name] = module
        for fname in spec.get("funcs", []):
            setattr(module, fname, _make_func(name, fname, False))
        for fname in spec.get("async", []):
            setattr(module, fname, _make_func(name, fname, True))
        for cname, base in (spec.get("errors") or {}).items():
            if cname.isidentifier():
                cls = _error_class(name, cname, base)
                setattr(module, cname, cls)
                _wasipy_rpc.register_error(cls, f"{name}.{cname}")
        parent, _, child = name.rpartition(".")
        if parent:
            pkg = sys.modules.get(parent)
            if pkg is None:
                pkg = types.ModuleType(parent)
                pkg.__path__ = []
                sys.modules[parent] = pkg
            setattr(pkg, child, module)
    if content.get("stdin"):
        _install_stdin()
    return {"status": "ok"}


def _error_reply(e):
    # The exception itself is kept too: if Go hands it back (returns the
    # error from a Func), Python raises this very object again.
    return {"status": "error", "ename": type(e).__name__, "evalue": str(e),
            "traceback": traceback.format_exception(e), "exc": _as_handle(e)}


def _evaluate(fn, ref=False):
    try:
        with interruptible():
            value = fn()
        out = []
        return {"status": "ok", "value": _as_handle(value) if ref else encode(value, out)}, out
    except BaseException as e:
        return _error_reply(e)


def py_eval(content):
    buffers = content.get("buffers", [])
    args = decode(content.get("args", []), buffers)
    return _evaluate(lambda: eval(content["expr"], {"__builtins__": builtins, "args": args}),
                     content.get("ref", False))


def _next(it):
    for v in it:
        return {"done": False, "value": v}
    return {"done": True}


# What py_call's "op" does to the object; a[0] is the positional
# arguments, k the keyword ones, c the request's content.
_OPS = {
    "method": lambda o, a, k, c: getattr(o, c["method"])(*a, **k),
    "call": lambda o, a, k, c: o(*a, **k),
    "getattr": lambda o, a, k, c: getattr(o, c["name"]),
    "setattr": lambda o, a, k, c: setattr(o, c["name"], a[0]),
    "delattr": lambda o, a, k, c: delattr(o, c["name"]),
    "getitem": lambda o, a, k, c: o[a[0]],
    "setitem": lambda o, a, k, c: o.__setitem__(a[0], a[1]),
    "delitem": lambda o, a, k, c: o.__delitem__(a[0]),
    "len": lambda o, a, k, c: len(o),
    "repr": lambda o, a, k, c: repr(o),
    "str": lambda o, a, k, c: str(o),
    "iter": lambda o, a, k, c: iter(o),
    "next": lambda o, a, k, c: _next(o),
    "contains": lambda o, a, k, c: a[0] in o,
}


def py_call(content):
    buffers = content.get("buffers", [])
    args = decode(content.get("args", []), buffers)
    kwargs = decode(content.get("kwargs") or {}, buffers)
    obj = _handles.get(content.get("id"))
    if obj is None:
        return {"status": "error", "ename": "ValueError", "evalue": "the handle was released", "traceback": []}
    op = _OPS.get(content.get("op", "method"))
    if op is None:
        return {"status": "error", "ename": "ValueError", "evalue": f"unknown op {content.get('op')!r}",
                "traceback": []}
    return _evaluate(lambda: op(obj, args, kwargs, content), content.get("ref", False))


_RESULT = "__wasipy_await_result__"


def _compile_await(code):
    """code as a function of a namespace: a coroutine that runs it (top-level
    await allowed) and returns the value of its last expression."""
    tree = ast.parse(code, "<go>", "exec")
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(
            ast.Assign(targets=[ast.Name(_RESULT, ast.Store())], value=last.value), last)
        ast.fix_missing_locations(tree)
    compiled = compile(tree, "<go>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

    async def run(ns):
        ns.pop(_RESULT, None)
        pending = eval(compiled, ns)
        if pending is not None:  # code with await: a coroutine
            await pending
        return ns.pop(_RESULT, None)
    return run


def py_await(content, respond, request_id):
    """Run code with top-level await, or await an object Go holds, as a task
    of the session's loop; answer when it ends. Other requests (and the
    running cell) go on meanwhile."""
    buffers = content.get("buffers", [])
    try:
        if content.get("id"):
            awaitable = _handles.get(content["id"])
            if awaitable is None:
                raise ValueError("the handle was released")

            async def run_one():
                return await awaitable
            coro = run_one()
        else:
            run = _compile_await(content.get("code", ""))
            if content.get("user_ns") and _shell is not None:
                ns = _shell.user_ns
            else:
                ns = {"__builtins__": builtins, "args": decode(content.get("args", []), buffers)}
            coro = run(ns)
    except BaseException as e:
        respond(_error_reply(e))
        return
    loop = _wasipy_asyncio.session_loop()
    task = loop.create_task(coro)
    if request_id is not None:
        _awaiting[request_id] = task

    def done(t):
        _awaiting.pop(request_id, None)
        if t.cancelled():
            # Go stopped waiting (py_cancel) or the task was cancelled: no
            # handle on the exception, which nobody would release.
            respond({"status": "error", "ename": "CancelledError", "evalue": "the task was cancelled",
                     "traceback": []})
            return
        e = t.exception()
        if e is not None:
            respond(_error_reply(e))
            return
        out = []
        try:
            value = encode(t.result(), out)
        except BaseException as err:
            respond(_error_reply(err))
            return
        respond({"status": "ok", "value": value}, out)
    task.add_done_callback(done)


def py_cancel(msg):
    task = _awaiting.get(msg.get("id"))
    if task is not None:
        task.cancel()


class _HostStdin:
    """sys.stdin reading the embedder's reader (interp.Process.SetStdin)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self):
        self._buf = b""
        self._eof = False

    def readable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        import io
        raise io.UnsupportedOperation("the host's stdin has no file descriptor")

    def _more(self, n):
        if self._eof:
            return False
        chunk, bufs = _router.request(proto.METHOD_STDIN_READ, {"n": n}, with_buffers=True)
        chunk = decode(chunk, bufs)
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk or b"")
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _take(self, n):
        data, self._buf = self._buf[:n], self._buf[n:]
        return data.decode("utf-8", "replace")

    def read(self, size=-1):
        if size is None or size < 0:
            while self._more(1 << 16):
                pass
            return self._take(len(self._buf))
        while len(self._buf) < size and self._more(max(size - len(self._buf), 1)):
            pass
        return self._take(size)

    def readline(self, size=-1):
        while b"\n" not in self._buf and self._more(1 << 12):
            pass
        end = self._buf.find(b"\n") + 1 or len(self._buf)
        if size is not None and size >= 0:
            end = min(end, size)
        return self._take(end)

    def readlines(self):
        return list(self)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


def _install_stdin():
    if not isinstance(sys.stdin, _HostStdin):
        sys.stdin = _HostStdin()


def install(shell, router):
    global _router, _shell
    _router, _shell = router, shell
    router.handlers[proto.FFI_MODULES] = register_modules
    router.handlers[proto.PY_EVAL] = py_eval
    router.handlers[proto.PY_CALL] = py_call
    router.deferred[proto.PY_AWAIT] = py_await
    router.notifications[proto.PY_RELEASE] = lambda msg: release(msg.get("id"))
    router.notifications[proto.PY_CANCEL] = py_cancel
    router.before_reply.append(flush_released)
    _wasipy_rpc.set_object_resolver(_object_of)
