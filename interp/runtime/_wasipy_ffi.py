"""Python's side of the Go <-> Python foreign-function interface.

Modules implemented in Go (interp.Module) appear in sys.modules; their
functions send "ffi.call" requests to the host. Values are converted as
documented in interp/ffi.go: JSON for the plain ones, tagged objects for
tuples, sets, dicts with non-str keys, big ints and non-finite floats,
binary buffers for bytes, and handles for everything else: a Python object
Go holds stays in _handles until Go releases it; a Go value Python holds is
a GoProxy until destroy() (or the end of a with block).
"""

import builtins
import math
import sys
import traceback
import types

import _wasipy_protocol as proto
from _wasipy_interrupt import interruptible

# The Router that carries calls into Go (given by install()).
_router = None

_handles = {}
_next_handle = 0


def handle_count():
    return len(_handles)


def release(handle_id):
    _handles.pop(handle_id, None)


def _keep(obj):
    global _next_handle
    _next_handle += 1
    _handles[_next_handle] = obj
    return _next_handle


class GoProxy:
    """A Go value that could not be converted. Release it with destroy()
    or use it as a context manager; callable when the Go value is a
    function."""

    def __init__(self, handle_id, type_name):
        self._id = handle_id
        self._type = type_name

    def __repr__(self):
        state = "destroyed " if self._id is None else ""
        return f"<{state}GoProxy of {self._type}>"

    def destroy(self):
        if self._id is not None:
            _router.request(proto.METHOD_FFI_RELEASE, {"id": self._id})
            self._id = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def __call__(self, *args, **kwargs):
        if self._id is None:
            raise ValueError("the GoProxy was destroyed")
        return _call_sync(proto.METHOD_FFI_PROXY_CALL, {"id": self._id}, args, kwargs)


def encode(value, buffers):
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
    if isinstance(value, (bytes, bytearray, memoryview)):
        buffers.append(bytes(value))
        return {"$bytes": len(buffers) - 1}
    if isinstance(value, list):
        return [encode(v, buffers) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, buffers) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": [encode(v, buffers) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, buffers) for k, v in value.items()}
        return {"$dict": [[encode(k, buffers), encode(v, buffers)] for k, v in value.items()]}
    if isinstance(value, GoProxy):
        if value._id is None:
            raise ValueError("the GoProxy was destroyed")
        return {"$go": value._id}
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
            return GoProxy(v, value.get("type", "?"))
        if tag == "$py":
            return _handles[v]
    return {k: decode(v, buffers) for k, v in value.items()}


def _request_content(base, args, kwargs):
    buffers = []
    content = dict(base, args=encode(list(args), buffers), kwargs=encode(dict(kwargs), buffers))
    return content, buffers


def _call_sync(method, base, args, kwargs):
    content, buffers = _request_content(base, args, kwargs)
    result, out = _router.request(method, content, buffers, with_buffers=True)
    return decode(result, out)


async def _call_async(method, base, args, kwargs):
    content, buffers = _request_content(base, args, kwargs)
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
        parent, _, child = name.rpartition(".")
        if parent:
            pkg = sys.modules.get(parent)
            if pkg is None:
                pkg = types.ModuleType(parent)
                pkg.__path__ = []
                sys.modules[parent] = pkg
            setattr(pkg, child, module)
    return {"status": "ok"}


def _evaluate(fn, buffers_in):
    try:
        with interruptible():
            value = fn()
        out = []
        return {"status": "ok", "value": encode(value, out)}, out
    except BaseException as e:
        return {"status": "error", "ename": type(e).__name__, "evalue": str(e),
                "traceback": traceback.format_exception(e)}


def py_eval(content):
    buffers = content.get("buffers", [])
    args = decode(content.get("args", []), buffers)
    return _evaluate(lambda: eval(content["expr"], {"__builtins__": builtins, "args": args}), buffers)


def py_call(content):
    buffers = content.get("buffers", [])
    args = decode(content.get("args", []), buffers)
    obj = _handles.get(content["id"])
    if obj is None:
        return {"status": "error", "ename": "ValueError", "evalue": "the handle was released", "traceback": []}
    return _evaluate(lambda: getattr(obj, content["method"])(*args), buffers)


def install(shell, router):
    global _router
    _router = router
    router.handlers[proto.FFI_MODULES] = register_modules
    router.handlers[proto.PY_EVAL] = py_eval
    router.handlers[proto.PY_CALL] = py_call
    router.notifications[proto.PY_RELEASE] = lambda msg: release(msg.get("id"))
