"""Turning Python objects into Jupyter MIME bundles, and publishing them.

One formatter, format(), serves the value of a cell's last expression
(Out[n]), display() and user_expressions: text/plain always (pretty-printed
like IPython's printer: long containers wrap at 79 columns, one item a
line), plus whatever rich forms the object offers through IPython's
protocol (_repr_mimebundle_, _repr_html_, ... each optionally returning
(data, metadata), and _ipython_display_). A repr method that raises does
not stop the others: a FormatterWarning and the traceback go to stderr.

display(), update_display(), clear_output() and DisplayHandle publish
through the one Shell (_wasipy_exec.shell). The IPython shim
(IPython.display, IPython.lib.pretty, ...) is a thin layer over this module.

The kernel imports this module at start-up, so it stays small: the
formatter itself (pretty printer, per-MIME formatters, capture) lives in
_wasipy_format, imported on the first format() call; its public names
(formatters, PrettyPrinter, pretty, plain, capture_output, ...) are
reachable here too.
"""

import sys


def _impl():
    import _wasipy_format
    return _wasipy_format


def format(obj, include=None, exclude=None):
    """Return (data, metadata): obj's MIME bundle and its metadata.

    include / exclude limit the MIME types. An object with
    _ipython_display_ displays itself: it is called and ({}, {}) returned.
    """
    return _impl().format(obj, include=include, exclude=exclude)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(_impl(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def _b64(value):
    import base64
    return base64.b64encode(value).decode("ascii")


def _jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _b64(bytes(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ---- publishing ---------------------------------------------------------

# Active captures (%%capture, IPython.utils.capture.capture_output): the
# innermost receives display messages instead of the frontend.
_captures = []


def _shell():
    mod = sys.modules.get("_wasipy_exec")
    return getattr(mod, "shell", None) if mod is not None else None


def flush_std_streams():
    """Flush Python's stdout and stderr, so that what was printed goes out
    before whatever comes next (a display message, the process's end)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def send(msg_type, content):
    """Publish a display message for the running request (or hand it to the
    innermost capture)."""
    if _captures:
        _captures[-1]._receive(msg_type, content)
        return
    flush_std_streams()
    shell = _shell()
    if shell is None:
        # Outside the kernel: a plain-text fallback.
        if msg_type in ("display_data", "update_display_data"):
            text = content.get("data", {}).get("text/plain")
            if text is not None:
                print(text)
        return
    shell.send(msg_type, content)


def publish_display_data(data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
    """Publish a MIME bundle as display_data (update_display_data with
    update=True; that needs transient={"display_id": ...})."""
    content = {
        "data": _jsonable(dict(data)),
        "metadata": _jsonable(dict(metadata or {})),
        "transient": dict(transient or {}),
    }
    send("update_display_data" if update else "display_data", content)


def _new_id():
    import os
    return os.urandom(16).hex()


def display(*objs, include=None, exclude=None, metadata=None, transient=None,
            display_id=None, raw=False, clear=False, **kwargs):
    """Display objects in the output area, like IPython's display().

    raw=True: objs are MIME bundles already. display_id=True makes a new
    id; with an id a DisplayHandle is returned, to update the output later.
    clear=True clears the output area (waiting for the next output) first.
    """
    transient = dict(transient or {})
    metadata = metadata or {}
    if display_id:
        if display_id is True:
            display_id = _new_id()
        transient["display_id"] = display_id
    update = kwargs.pop("update", False)
    if update and "display_id" not in transient:
        raise TypeError("display_id required for update_display")
    if kwargs:
        raise TypeError(f"display() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    if not objs and display_id:
        return DisplayHandle(display_id)
    if clear:
        clear_output(wait=True)
    for obj in objs:
        if raw:
            publish_display_data(obj, metadata, transient=transient, update=update)
            continue
        data, md = format(obj, include=include, exclude=exclude)
        if not data:
            continue  # it displayed itself (_ipython_display_), or nothing was wanted
        if metadata:
            for key, value in metadata.items():
                if isinstance(value, dict) and isinstance(md.get(key), dict):
                    md[key] = {**md[key], **value}
                else:
                    md[key] = value
        publish_display_data(data, md, transient=transient, update=update)
    if display_id:
        return DisplayHandle(display_id)
    return None


def update_display(obj, *, display_id, **kwargs):
    """Update the outputs shown with this display_id (update_display_data)."""
    kwargs["update"] = True
    display(obj, display_id=display_id, **kwargs)


def clear_output(wait=False):
    """Clear the output area; with wait=True, only when new output arrives."""
    if _captures:
        _captures[-1]._receive("clear_output", {"wait": bool(wait)})
        return
    flush_std_streams()
    shell = _shell()
    if shell is None:
        print("\033[2K\r", end="", flush=True)
        return
    shell.send("clear_output", {"wait": bool(wait)})


class DisplayHandle:
    """A handle on a displayed output: update() replaces it in place,
    display() shows another copy that later updates change too."""

    def __init__(self, display_id=None):
        self.display_id = display_id or _new_id()

    def __repr__(self):
        return f"<{type(self).__name__} display_id={self.display_id}>"

    def display(self, obj, **kwargs):
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        update_display(obj, display_id=self.display_id, **kwargs)
