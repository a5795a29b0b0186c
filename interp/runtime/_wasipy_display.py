"""Turning Python objects into Jupyter MIME bundles, and publishing them.

One formatter, format(), serves the value of a cell's last expression
(Out[n]), display() and user_expressions: text/plain always (pretty-printed
like IPython's printer: long containers wrap at 79 columns, one item a
line), plus whatever rich forms the object offers through IPython's
protocol (_repr_mimebundle_, _repr_html_, ... each optionally returning
(data, metadata), and _ipython_display_). A repr method that raises does
not stop the others: a FormatterWarning and the traceback go to stderr.

display(), update_display(), clear_output() and DisplayHandle publish
through _wasipy_publish, which install() binds to the Shell. The IPython shim
(IPython.display, IPython.lib.pretty, ...) is a thin layer over this module.

The kernel imports this module at start-up, so it stays small: the
formatter itself (pretty printer, per-MIME formatters, capture) lives in
_wasipy_format, imported on the first format() call; its public names
(formatters, PrettyPrinter, pretty, plain, capture_output, ...) are
reachable here too.
"""

from _wasipy_publish import (  # noqa: F401  (this module is their public home)
    b64 as _b64, clear_output, flush_std_streams, jsonable as _jsonable, publish_display_data, send)


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


def install(shell, router=None):
    """Publish through shell, and format its results (Out[n],
    user_expressions) with format()."""
    import _wasipy_publish
    _wasipy_publish.bind(shell)
    shell.formatter = format
