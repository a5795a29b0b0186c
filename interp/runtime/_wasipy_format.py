"""The formatter behind _wasipy_display.format(): IPython's pretty printer
for text/plain (long containers wrap at 79 columns, one item a line;
_repr_pretty_; printers registered with for_type()), one Formatter per MIME
type, the _repr_*_ protocol with its checks and warnings, and capture.

Imported on first use (the first value shown), not at start-up: compiling
it costs the -O0 interpreter tens of milliseconds.
"""

import sys

import _wasipy_protocol as proto
import _wasipy_publish
from _wasipy_publish import flush_std_streams, publish_display_data
from _wasipy_publish import jsonable as _jsonable

# ---- pretty printing (text/plain) ---------------------------------------

MAX_WIDTH = 79
MAX_SEQ_LENGTH = 1000


class _Group:
    __slots__ = ("items", "_flat")

    def __init__(self):
        self.items = []
        self._flat = None

    def flat(self):
        """Width of the group printed on one line (inf with a hard break)."""
        if self._flat is None:
            w = 0
            for it in self.items:
                if it.__class__ is str:
                    w += len(it)
                elif it.__class__ is _Break:
                    w += float("inf") if it.hard else len(it.sep)
                else:
                    w += it.flat()
            self._flat = w
        return self._flat


class _Break:
    __slots__ = ("sep", "indent", "hard")

    def __init__(self, sep, indent, hard):
        self.sep, self.indent, self.hard = sep, indent, hard


class _Context:
    def __init__(self, enter, leave):
        self._enter, self._leave = enter, leave

    def __enter__(self):
        self._enter()

    def __exit__(self, *exc):
        self._leave()


class PrettyPrinter:
    """The `p` handed to _repr_pretty_(self, p, cycle) and to text/plain
    printers registered with for_type(): text(), breakable(), break_(),
    begin_group()/end_group(), group(), indent(), pretty().

    The layout is decided when the whole object is known: a group is put on
    one line when it fits (with what follows it up to the next break),
    otherwise every break of the group becomes a new line.
    """

    def __init__(self, max_width=MAX_WIDTH, max_seq_length=MAX_SEQ_LENGTH, printers=None):
        self.max_width = max_width
        self.max_seq_length = max_seq_length
        self.indentation = 0
        self._root = _Group()
        self._groups = [self._root]
        self._stack = []  # ids of the objects being printed (cycle detection)
        self._printers = printers if printers is not None else _plain

    # -- the IPython printer API --

    def text(self, obj):
        if obj:
            self._groups[-1].items.append(str(obj))

    def breakable(self, sep=" "):
        self._groups[-1].items.append(_Break(sep, self.indentation, False))

    def break_(self):
        self._groups[-1].items.append(_Break("", self.indentation, True))

    def begin_group(self, indent=0, open=""):
        self.text(open)
        g = _Group()
        self._groups[-1].items.append(g)
        self._groups.append(g)
        self.indentation += indent

    def end_group(self, dedent=0, close=""):
        if len(self._groups) > 1:
            self._groups.pop()
        self.indentation -= dedent
        self.text(close)

    def group(self, indent=0, open="", close=""):
        return _Context(lambda: self.begin_group(indent, open), lambda: self.end_group(indent, close))

    def indent(self, indent):
        def enter():
            self.indentation += indent

        def leave():
            self.indentation -= indent
        return _Context(enter, leave)

    def flush(self):
        pass

    def pretty(self, obj):
        """Add obj's pretty form (the printers' way to recurse)."""
        oid = id(obj)
        cycle = oid in self._stack
        self._stack.append(oid)
        try:
            self._dispatch(obj, cycle)
        finally:
            self._stack.pop()

    # -- dispatch, in IPython's order: along the MRO, a printer registered
    # for the class, then the class's own _repr_pretty_, then its own
    # __repr__; the builtin printers are registered printers too. --

    def _dispatch(self, obj, cycle):
        printers = self._printers
        cls = _class_of(obj)
        if printers.singletons:
            fn = printers.singletons.get(id(obj))
            if fn is not None:
                return fn(obj, self, cycle)
        try:
            mro = cls.__mro__
        except AttributeError:
            mro = (cls,)
        for klass in mro:
            fn = printers._lookup_class(klass)
            if fn is not None:
                return fn(obj, self, cycle)
            d = getattr(klass, "__dict__", {})
            if "_repr_pretty_" in d and callable(getattr(klass, "_repr_pretty_", None)):
                return obj._repr_pretty_(self, cycle)
            if klass is not object and callable(d.get("__repr__")):
                return _repr_lines(obj, self, cycle)
        return _default_object(obj, self, cycle)

    # -- layout --

    def getvalue(self):
        out = []
        col = 0
        width = self.max_width

        def emit(group, broken, trailing):
            nonlocal col
            items = group.items
            for i, it in enumerate(items):
                kind = it.__class__
                if kind is str:
                    out.append(it)
                    col += len(it)
                elif kind is _Break:
                    if broken or it.hard:
                        out.append("\n" + " " * it.indent)
                        col = it.indent
                    else:
                        out.append(it.sep)
                        col += len(it.sep)
                elif not broken:
                    emit(it, False, 0)
                else:
                    trail = 0
                    for nxt in items[i + 1:]:
                        if nxt.__class__ is str:
                            trail += len(nxt)
                        elif nxt.__class__ is _Break:
                            break
                        else:
                            trail += nxt.flat()
                    else:
                        trail += trailing
                    emit(it, col + it.flat() + trail > width, trail)

        emit(self._root, self._root.flat() > width, 0)
        return "".join(out)


def _class_of(obj):
    try:
        return obj.__class__
    except Exception:
        return type(obj)


def _repr_lines(obj, p, cycle):
    """An object's own repr; a multi-line repr keeps the current indent."""
    text = repr(obj)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i:
            p.break_()
        p.text(line)


def _default_object(obj, p, cycle):
    # IPython's short form of object.__repr__: <module.Class at 0x...>.
    cls = _class_of(obj)
    name = getattr(cls, "__qualname__", getattr(cls, "__name__", "object"))
    mod = getattr(cls, "__module__", None)
    if mod and mod != "builtins":
        name = f"{mod}.{name}"
    p.text(f"<{name} at 0x{id(obj):x}>")


def _sequence(open, close, one_tuple=False):
    def printer(obj, p, cycle):
        if cycle:
            return p.text(open + "..." + close)
        p.begin_group(len(open), open)
        for i, item in enumerate(obj):
            if i:
                p.text(",")
                p.breakable()
            if i >= p.max_seq_length:
                p.text("...")
                break
            p.pretty(item)
        if one_tuple and len(obj) == 1:
            p.text(",")
        p.end_group(len(open), close)
    return printer


def _set(obj, p, cycle):
    cls = type(obj)
    if not obj:
        return p.text(f"{cls.__name__}()")
    if cycle:
        return p.text("{...}")
    open, close = ("{", "}") if cls is set else (f"{cls.__name__}({{", "})")
    items = list(obj)
    if len(items) <= p.max_seq_length:
        try:
            items = sorted(items)
        except Exception:
            pass
    _sequence(open, close)(items, p, False)


def _dict_items(obj, p, open, close):
    p.begin_group(len(open), open)
    for i, key in enumerate(obj):
        if i:
            p.text(",")
            p.breakable()
        if i >= p.max_seq_length:
            p.text("...")
            break
        p.pretty(key)
        p.text(": ")
        p.pretty(obj[key])
    p.end_group(len(open), close)


def _dict(obj, p, cycle):
    if cycle:
        return p.text("{...}")
    _dict_items(obj, p, "{", "}")


def _named_dict(obj, p, cycle):
    # OrderedDict({...}), Counter({...})
    name = type(obj).__name__
    if cycle:
        return p.text(f"{name}(...)")
    if not obj:
        return p.text(f"{name}()")
    if name == "Counter":
        obj = dict(obj.most_common())
    _dict_items(obj, p, name + "({", "})")


def _defaultdict(obj, p, cycle):
    if cycle:
        return p.text("defaultdict(...)")
    with p.group(12, "defaultdict(", ")"):
        p.pretty(obj.default_factory)
        p.text(",")
        p.breakable()
        _dict(dict(obj), p, False)


def _deque(obj, p, cycle):
    if cycle:
        return p.text("deque([...])")
    _sequence("deque([", "])" if obj.maxlen is None else f"], maxlen={obj.maxlen})")(obj, p, False)


def _view(obj, p, cycle):
    name = type(obj).__name__
    _sequence(name + "([", "])")(list(obj), p, cycle)


def _type(obj, p, cycle):
    if type(obj).__repr__ is not type.__repr__:
        return _repr_lines(obj, p, cycle)
    name = getattr(obj, "__qualname__", None) or obj.__name__
    mod = getattr(obj, "__module__", None)
    if isinstance(mod, str) and mod not in ("builtins", "exceptions"):
        name = f"{mod}.{name}"
    p.text(name)


def _function(obj, p, cycle):
    name = getattr(obj, "__qualname__", None) or obj.__name__
    mod = getattr(obj, "__module__", None)
    if isinstance(mod, str) and mod not in ("builtins", "exceptions"):
        name = f"{mod}.{name}"
    try:
        import inspect
        name += str(inspect.signature(obj))
    except Exception:
        pass
    p.text(f"<function {name}>")


def _float(obj, p, cycle):
    fmt = _plain.float_format
    if fmt:
        try:
            return p.text(fmt % obj)
        except Exception:
            pass
    p.text(repr(obj))


def _builtin_printers():
    import collections
    import types

    table = {
        list: _sequence("[", "]"),
        tuple: _sequence("(", ")", one_tuple=True),
        dict: _dict,
        set: _set,
        frozenset: _set,
        float: _float,
        type: _type,
        types.FunctionType: _function,
        types.BuiltinFunctionType: _function,
        collections.OrderedDict: _named_dict,
        collections.Counter: _named_dict,
        collections.defaultdict: _defaultdict,
        collections.deque: _deque,
        type({}.keys()): _view,
        type({}.values()): _view,
        type({}.items()): _view,
    }
    for simple in (int, str, bytes, bool, type(None), complex, range, slice):
        table[simple] = _repr_lines
    return table


def pretty(obj, max_width=MAX_WIDTH, max_seq_length=MAX_SEQ_LENGTH):
    """obj's text/plain form, pretty-printed like IPython's printer."""
    if not _plain.pprint:
        return repr(obj)
    p = PrettyPrinter(max_width, max_seq_length)
    p.pretty(obj)
    return p.getvalue()


# ---- formatters: one per MIME type, extensible with for_type() ----------


class Formatter:
    """A MIME type's formatter, as reached through
    get_ipython().display_formatter.formatters[mime]: printers registered
    for a type (by class or by "module.Name") win over the object's own
    _repr_*_ method."""

    def __init__(self, format_type, method):
        self.format_type = format_type
        self.print_method = method
        self.enabled = True
        self.type_printers = {}
        self.deferred_printers = {}  # (module, name) -> printer
        self.singleton_printers = {}

    @property
    def singletons(self):
        return self.singleton_printers

    def for_type(self, typ, func=None):
        """Register func as the printer for typ (a class or "module.Name");
        return the printer it replaces. Without func, just look it up."""
        if isinstance(typ, str):
            mod, _, name = typ.rpartition(".")
            return self.for_type_by_name(mod, name, func)
        old = self.type_printers.get(typ)
        if old is None:
            old = self.deferred_printers.get((getattr(typ, "__module__", None), getattr(typ, "__name__", None)))
        if func is not None:
            self.type_printers[typ] = func
        return old

    def for_type_by_name(self, type_module, type_name, func=None):
        key = (type_module, type_name)
        old = self.deferred_printers.get(key)
        if func is not None:
            self.deferred_printers[key] = func
        return old

    def pop(self, typ, default=KeyError):
        if isinstance(typ, str):
            mod, _, name = typ.rpartition(".")
            key = (mod, name)
            if key in self.deferred_printers:
                return self.deferred_printers.pop(key)
            for cls in list(self.type_printers):
                if (cls.__module__, cls.__name__) == key:
                    return self.type_printers.pop(cls)
        else:
            if typ in self.type_printers:
                return self.type_printers.pop(typ)
            key = (getattr(typ, "__module__", None), getattr(typ, "__name__", None))
            if key in self.deferred_printers:
                return self.deferred_printers.pop(key)
        if default is KeyError:
            raise KeyError(f"No registered printer for {typ!r}")
        return default

    def __contains__(self, typ):
        return self._lookup_class(typ) is not None if isinstance(typ, type) else False

    def _lookup_class(self, cls):
        fn = self.type_printers.get(cls)
        if fn is None and self.deferred_printers:
            key = (getattr(cls, "__module__", None), getattr(cls, "__name__", None))
            fn = self.deferred_printers.pop(key, None)
            if fn is not None:
                self.type_printers[cls] = fn
        return fn

    def lookup_by_type(self, typ):
        for cls in getattr(typ, "__mro__", (typ,)):
            fn = self._lookup_class(cls)
            if fn is not None:
                return fn
        raise KeyError(f"No registered printer for {typ!r}")

    def lookup(self, obj):
        fn = self.singleton_printers.get(id(obj))
        return fn if fn is not None else self.lookup_by_type(_class_of(obj))

    def _printer_for(self, obj):
        if self.singleton_printers and id(obj) in self.singleton_printers:
            return self.singleton_printers[id(obj)]
        for cls in getattr(_class_of(obj), "__mro__", ()):
            fn = self._lookup_class(cls)
            if fn is not None:
                return fn
        return None

    def __call__(self, obj):
        """The formatted value, or None (raises what the printer raises)."""
        if not self.enabled:
            return None
        fn = self._printer_for(obj)
        if fn is not None:
            return fn(obj)
        if self.print_method is None:
            return None
        method = _real_method(obj, self.print_method)
        return None if method is None else method()


class PlainTextFormatter(Formatter):
    """text/plain: the pretty printer. Registered printers take
    (obj, p, cycle) as in IPython."""

    def __init__(self):
        super().__init__("text/plain", None)
        self.pprint = True
        self.float_format = ""
        self.float_precision = ""
        self.max_width = MAX_WIDTH
        self.max_seq_length = MAX_SEQ_LENGTH
        self.newline = "\n"
        self._builtins_loaded = False

    def _lookup_class(self, cls):
        if not self._builtins_loaded:
            self._builtins_loaded = True
            for k, v in _builtin_printers().items():
                self.type_printers.setdefault(k, v)
        return super()._lookup_class(cls)

    def __call__(self, obj):
        if not self.pprint:
            return repr(obj)
        p = PrettyPrinter(self.max_width, self.max_seq_length, self)
        p.pretty(obj)
        return p.getvalue()


# In IPython's order; the order of the keys of a bundle follows it.
_plain = PlainTextFormatter()
formatters = {"text/plain": _plain}
for _mime, _method in (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("application/pdf", "_repr_pdf_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
):
    formatters[_mime] = Formatter(_mime, _method)
del _mime, _method

# _repr_mimebundle_(include=, exclude=) and _ipython_display_(): printers can
# be registered for types here too.
mimebundle_formatter = Formatter("mimebundle", "_repr_mimebundle_")
ipython_display_formatter = Formatter("ipython_display", "_ipython_display_")

_BINARY = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}


def _warn(message, exc=None):
    """A FormatterWarning on stderr, with the user's traceback (kernel
    frames hidden) when there is an exception."""
    lines = [f"FormatterWarning: {message}"]
    if exc is not None:
        shell = _wasipy_publish.bound_shell()
        try:
            if shell is not None:
                lines.extend(shell.format_traceback(exc))
            else:
                import traceback
                lines.append("".join(traceback.format_exception(exc)).rstrip("\n"))
        except Exception:
            pass
    try:
        sys.stderr.write("\n".join(lines) + "\n")
    except Exception:
        pass


def _check(mime, value, obj):
    """A formatter's return value as JSON-ready data, or None (with a
    warning) when it has the wrong type."""
    if value is None:
        return None
    if mime in _BINARY:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return _wasipy_publish.b64(bytes(value))
        if isinstance(value, str):
            return value  # already base64
    elif mime == "application/json":
        if isinstance(value, str):
            import json
            try:
                return json.loads(value)
            except ValueError:
                pass
        elif isinstance(value, (dict, list)):
            return value
    elif mime.startswith("text/") or mime.endswith("+xml") or mime.endswith("javascript"):
        if isinstance(value, str):
            return value
        if isinstance(value, (bytes, bytearray)):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                pass
    else:
        return _jsonable(value)
    _warn(f"{mime} formatter returned invalid type {type(value)} for object: {_short_repr(obj)}")
    return None


def _short_repr(obj):
    try:
        text = repr(obj)
    except Exception:
        return f"<{type(obj).__name__} object>"
    return text if len(text) <= 60 else text[:57] + "..."


def _split(value):
    """(data, metadata) from a _repr_*_ result that may be a pair."""
    if isinstance(value, tuple) and len(value) == 2:
        return value[0], value[1]
    return value, None


def format(obj, include=None, exclude=None):
    """Return (data, metadata): obj's MIME bundle and its metadata.

    include / exclude limit the MIME types. An object with
    _ipython_display_ displays itself: it is called and ({}, {}) returned.
    """
    try:
        if _ipython_display(obj):
            return {}, {}
    except Exception as e:
        _warn("Exception in _ipython_display_; showing the object's other representations", e)

    def wanted(mime):
        return (not include or mime in include) and (not exclude or mime not in exclude)

    data, metadata = {}, {}
    try:
        bundle = mimebundle_formatter_call(obj, include, exclude)
    except Exception as e:
        _warn(f"Exception in _repr_mimebundle_ of {_short_repr(obj)}", e)
        bundle = None
    if bundle is not None:
        bundle, md = _split(bundle)
        if isinstance(md, dict):
            metadata.update(md)
        if isinstance(bundle, dict):
            for mime, value in bundle.items():
                if wanted(mime):
                    value = _check(mime, value, obj)
                    if value is not None:
                        data[mime] = value
        else:
            _warn(f"_repr_mimebundle_ returned {type(bundle)}, expected a dict, for object: {_short_repr(obj)}")

    for mime, formatter in formatters.items():
        if mime in data or not wanted(mime) or not formatter.enabled:
            continue
        try:
            value = formatter(obj)
        except NotImplementedError:
            continue
        except Exception as e:
            _warn(f"Exception in {mime} formatter: {type(e).__name__}: {e}", e)
            if mime == "text/plain":
                data[mime] = _fallback_plain(obj)
            continue
        value, md = _split(value)
        value = _check(mime, value, obj)
        if value is None:
            continue
        data[mime] = value
        if md:
            metadata[mime] = md
    return data, metadata


def _ipython_display(obj):
    """Let obj display itself; True when it did."""
    fn = ipython_display_formatter._printer_for(obj)
    if fn is not None:
        fn(obj)
        return True
    if not ipython_display_formatter.enabled:
        return False
    method = _real_method(obj, "_ipython_display_")
    if method is None:
        return False
    method()
    return True


def _real_method(obj, name):
    """obj's bound method `name`, or None: never for classes, and never for
    objects that answer every attribute (proxies, mocks)."""
    if isinstance(obj, type):
        return None
    try:
        if getattr(obj, "_wasipy_no_such_attribute_", None) is not None:
            return None
        method = getattr(obj, name, None)
    except Exception:
        return None
    return method if callable(method) else None


def mimebundle_formatter_call(obj, include, exclude):
    fn = mimebundle_formatter._printer_for(obj)
    if fn is not None:
        return fn(obj, include=include, exclude=exclude) if _takes_include(fn) else fn(obj)
    if not mimebundle_formatter.enabled:
        return None
    method = _real_method(obj, "_repr_mimebundle_")
    return None if method is None else method(include=include, exclude=exclude)


def _takes_include(fn):
    code = getattr(fn, "__code__", None)
    return code is not None and "include" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def _fallback_plain(obj):
    try:
        return repr(obj)
    except Exception:
        cls = _class_of(obj)
        return f"<{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')} object at 0x{id(obj):x}>"


def plain(obj):
    """text/plain for obj (the pretty form; its repr if that fails)."""
    try:
        return _plain(obj)
    except Exception:
        return _fallback_plain(obj)


# ---- capture (%%capture, IPython.utils.capture) -------------------------


class RichOutput:
    """One captured display message, able to display itself again."""

    def __init__(self, data=None, metadata=None, transient=None, update=False):
        self.data = data or {}
        self.metadata = metadata or {}
        self.transient = transient or {}
        self.update = update

    def display(self):
        publish_display_data(self.data, self.metadata, transient=self.transient, update=self.update)

    def _ipython_display_(self):
        self.display()

    def __repr__(self):
        return f"<RichOutput {sorted(self.data)}>"


class CapturedIO:
    """What a capture collected: stdout, stderr (strings) and outputs (a list
    of RichOutput). show(), or calling it, replays everything."""

    def __init__(self, stdout=None, stderr=None, outputs=None):
        self._stdout = stdout
        self._stderr = stderr
        self._outputs = outputs if outputs is not None else []

    def __str__(self):
        return self.stdout

    @property
    def stdout(self):
        return self._stdout.getvalue() if self._stdout is not None else ""

    @property
    def stderr(self):
        return self._stderr.getvalue() if self._stderr is not None else ""

    @property
    def outputs(self):
        return list(self._outputs)

    def show(self):
        if self.stdout:
            sys.stdout.write(self.stdout)
            sys.stdout.flush()
        if self.stderr:
            sys.stderr.write(self.stderr)
            sys.stderr.flush()
        for out in self._outputs:
            out.display()

    __call__ = show


class capture_output:
    """Context manager capturing stdout, stderr and displayed outputs."""

    def __init__(self, stdout=True, stderr=True, display=True):
        self.stdout = stdout
        self.stderr = stderr
        self.display = display
        self._saved = None

    def __enter__(self):
        import io
        self._saved = (sys.stdout, sys.stderr)
        out = io.StringIO() if self.stdout else None
        err = io.StringIO() if self.stderr else None
        flush_std_streams()
        if out is not None:
            sys.stdout = out
        if err is not None:
            sys.stderr = err
        self._captured = CapturedIO(out, err)
        if self.display:
            _wasipy_publish.captures.append(self)
        return self._captured

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self._saved
        if self.display and self in _wasipy_publish.captures:
            _wasipy_publish.captures.remove(self)
        return False

    def _receive(self, msg_type, content):
        outputs = self._captured._outputs
        if msg_type == proto.CLEAR_OUTPUT:
            outputs.clear()
            return
        outputs.append(RichOutput(content.get("data"), content.get("metadata"),
                                  content.get("transient"), msg_type == proto.UPDATE_DISPLAY_DATA))
