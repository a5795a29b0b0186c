"""Turning Python objects into Jupyter MIME bundles.

One formatter serves both the value of a cell's last expression (Out[n])
and display(): text/plain always, plus whatever rich forms the object
offers through IPython's _repr_*_ protocol.
"""

import base64
import json
import pprint
import sys
import warnings

# _repr_*_ method name -> MIME type, in IPython's order.
_REPR_METHODS = [
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_javascript_", "application/javascript"),
    ("_repr_pdf_", "application/pdf"),
]

_BINARY = {"image/png", "image/jpeg", "application/pdf"}


def plain(obj):
    """text/plain: repr, pretty-printed for long containers like IPython."""
    if isinstance(obj, (list, tuple, dict, set, frozenset)):
        try:
            return pprint.pformat(obj, width=79, sort_dicts=False)
        except Exception:
            pass
    return repr(obj)


def _encode(mime, value):
    if mime in _BINARY and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if mime == "application/json" and isinstance(value, str):
        return json.loads(value)
    return value


def _warn_failed(method, exc):
    print(
        f"{type(exc).__name__} in {method}: {exc}\n"
        f"(the other representations are still shown)",
        file=sys.stderr,
    )


def format(obj, include=None, exclude=None):
    """Return (data, metadata) for obj."""
    data, metadata = {}, {}

    def wanted(mime):
        return (include is None or mime in include) and (exclude is None or mime not in exclude)

    method = getattr(type(obj), "_repr_mimebundle_", None)
    if method is not None and not isinstance(obj, type):
        try:
            bundle = obj._repr_mimebundle_(include=include, exclude=exclude)
        except Exception as e:
            _warn_failed("_repr_mimebundle_", e)
            bundle = None
        if isinstance(bundle, tuple) and len(bundle) == 2:
            bundle, md = bundle
            metadata.update(md or {})
        if isinstance(bundle, dict):
            for mime, value in bundle.items():
                if wanted(mime):
                    data[mime] = _encode(mime, value)

    if not isinstance(obj, type):
        for name, mime in _REPR_METHODS:
            if mime in data or not wanted(mime):
                continue
            method = getattr(obj, name, None)
            if method is None or not callable(method):
                continue
            try:
                value = method()
            except Exception as e:
                _warn_failed(name, e)
                continue
            if value is None:
                continue
            if isinstance(value, tuple) and len(value) == 2:
                value, md = value
                if md:
                    metadata[mime] = md
            data[mime] = _encode(mime, value)

    if "text/plain" not in data:
        try:
            data["text/plain"] = plain(obj)
        except Exception as e:
            _warn_failed("__repr__", e)
            data["text/plain"] = f"<{type(obj).__name__} object (repr failed)>"
    return data, metadata
