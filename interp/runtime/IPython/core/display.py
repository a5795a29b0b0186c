"""Objects that display as HTML, Markdown, LaTeX, SVG, JSON, JavaScript and
images, and the display_*() helpers (wasipy's implementation).

The sandbox has no network: objects given a URL do not fetch it. An Image
with a URL becomes an <img> tag that the browser loads; Javascript with a
URL loads it as a script in the browser.
"""

import os
import sys

from IPython.core.display_functions import (  # noqa: F401
    DisplayHandle,
    clear_output,
    display,
    publish_display_data,
    update_display,
)

__all__ = [
    "display_pretty", "display_html", "display_markdown", "display_svg", "display_png",
    "display_jpeg", "display_webp", "display_latex", "display_json", "display_javascript",
    "display_pdf", "DisplayObject", "TextDisplayObject", "Pretty", "HTML", "Markdown",
    "Math", "Latex", "SVG", "ProgressBar", "JSON", "Javascript", "Image", "Video",
    "set_matplotlib_formats", "set_matplotlib_close",
    "display", "clear_output", "publish_display_data", "update_display", "DisplayHandle",
]


def _safe_exists(path):
    try:
        return os.path.exists(path)
    except Exception:
        return False


def _display_mimetype(mimetype, objs, raw=False, metadata=None):
    if metadata:
        metadata = {mimetype: metadata}
    if raw:
        objs = [{mimetype: obj} for obj in objs]
    display(*objs, raw=raw, metadata=metadata, include=[mimetype])


def display_pretty(*objs, raw=False, metadata=None):
    """Display the text/plain form of objects (raw=True: objs are text)."""
    _display_mimetype("text/plain", objs, raw, metadata)


def display_html(*objs, raw=False, metadata=None):
    """Display the HTML form of objects (raw=True: objs are HTML)."""
    _display_mimetype("text/html", objs, raw, metadata)


def display_markdown(*objs, raw=False, metadata=None):
    _display_mimetype("text/markdown", objs, raw, metadata)


def display_svg(*objs, raw=False, metadata=None):
    _display_mimetype("image/svg+xml", objs, raw, metadata)


def display_png(*objs, raw=False, metadata=None):
    _display_mimetype("image/png", objs, raw, metadata)


def display_jpeg(*objs, raw=False, metadata=None):
    _display_mimetype("image/jpeg", objs, raw, metadata)


def display_webp(*objs, raw=False, metadata=None):
    _display_mimetype("image/webp", objs, raw, metadata)


def display_latex(*objs, raw=False, metadata=None):
    _display_mimetype("text/latex", objs, raw, metadata)


def display_json(*objs, raw=False, metadata=None):
    _display_mimetype("application/json", objs, raw, metadata)


def display_javascript(*objs, raw=False, metadata=None):
    _display_mimetype("application/javascript", objs, raw, metadata)


def display_pdf(*objs, raw=False, metadata=None):
    _display_mimetype("application/pdf", objs, raw, metadata)


class DisplayObject:
    """Base class of objects that hold data to display, given directly, read
    from a file, or (not fetched here) a URL."""

    _read_flags = "r"
    _show_mem_addr = False
    metadata = None

    def __init__(self, data=None, url=None, filename=None, metadata=None):
        if data is not None and hasattr(data, "__fspath__"):
            data = os.fspath(data)
        if data is not None and isinstance(data, str):
            if data.startswith(("http://", "https://")) and url is None:
                url, data = data, None
            elif filename is None and len(data) < 4096 and "\n" not in data and _safe_exists(data):
                filename, data = data, None
        self.url = url
        self.filename = None if filename is None else os.fspath(filename)
        if metadata is not None:
            self.metadata = metadata
        elif self.metadata is None:
            self.metadata = {}
        self.data = data
        self.reload()
        self._check_data()

    def __repr__(self):
        if not self._show_mem_addr:
            cls = type(self)
            return f"<{cls.__module__}.{cls.__name__} object>"
        return super().__repr__()

    def _check_data(self):
        pass

    def _data_and_metadata(self):
        if self.metadata:
            import copy
            return self.data, copy.deepcopy(self.metadata)
        return self.data

    def reload(self):
        """Read the data again from the file (a URL is not fetched)."""
        if self.filename is not None:
            if "b" in self._read_flags:
                with open(self.filename, self._read_flags) as f:
                    self.data = f.read()
            else:
                with open(self.filename, self._read_flags, encoding="utf-8") as f:
                    self.data = f.read()


class TextDisplayObject(DisplayObject):
    """A display object whose data is text."""

    def _check_data(self):
        if self.data is not None and not isinstance(self.data, str):
            raise TypeError(f"{type(self).__name__} expects text, not {self.data!r}")


class Pretty(TextDisplayObject):
    """Text shown as it is (text/plain)."""

    def _repr_pretty_(self, pp, cycle):
        return pp.text(self.data)


class HTML(TextDisplayObject):
    """HTML to render."""

    def __init__(self, data=None, url=None, filename=None, metadata=None):
        if url is not None and data is None and filename is None:
            print(f"wasipy: HTML(url={url!r}) is not fetched: the sandbox has no network", file=sys.stderr)
        super().__init__(data=data, url=url, filename=filename, metadata=metadata)

    def _repr_html_(self):
        return self._data_and_metadata()

    def __html__(self):
        return self._repr_html_()


class Markdown(TextDisplayObject):
    """Markdown to render."""

    def _repr_markdown_(self):
        return self._data_and_metadata()


class Math(TextDisplayObject):
    """A LaTeX formula, shown in display style."""

    def _repr_latex_(self):
        s = r"$\displaystyle %s$" % self.data.strip("$")
        if self.metadata:
            return s, dict(self.metadata)
        return s


class Latex(TextDisplayObject):
    """LaTeX (as MathJax renders it)."""

    def _repr_latex_(self):
        return self._data_and_metadata()


class SVG(DisplayObject):
    """An SVG drawing (text or bytes; anything before <svg is dropped)."""

    _read_flags = "rb"

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, svg):
        if svg is None:
            self._data = None
            return
        if isinstance(svg, (bytes, bytearray)):
            svg = bytes(svg).decode("utf-8")
        start = svg.find("<svg")
        self._data = svg[start:] if start > 0 else svg

    def _repr_svg_(self):
        return self._data_and_metadata()


class ProgressBar(DisplayObject):
    """A progress bar that updates in place: bar.progress = n, or iterate."""

    def __init__(self, total):
        self.total = total
        self._progress = 0
        self.html_width = "60ex"
        self.text_width = 60
        self._display_id = os.urandom(8).hex()

    def __repr__(self):
        fraction = self.progress / self.total if self.total else 1
        filled = "=" * round(fraction * self.text_width)
        return f"[{filled:<{self.text_width}}] {self.progress}/{self.total}"

    def _repr_html_(self):
        return (f"<progress style='width:{self.html_width}' max='{self.total}' "
                f"value='{self.progress}'></progress>")

    def display(self):
        display(self, display_id=self._display_id)

    def update(self):
        display(self, display_id=self._display_id, update=True)

    @property
    def progress(self):
        return self._progress

    @progress.setter
    def progress(self, value):
        self._progress = value
        self.update()

    def __iter__(self):
        self.display()
        self._progress = -1
        return self

    def __next__(self):
        self.progress += 1
        if self.progress < self.total:
            return self.progress
        raise StopIteration()


class JSON(DisplayObject):
    """JSON data shown as a collapsible tree (dict, list, or JSON text)."""

    def __init__(self, data=None, url=None, filename=None, expanded=False, metadata=None, root="root", **kwargs):
        self.metadata = {"expanded": expanded, "root": root}
        if metadata:
            self.metadata.update(metadata)
        if kwargs:
            self.metadata.update(kwargs)
        super().__init__(data=data, url=url, filename=filename)

    def _check_data(self):
        if self.data is not None and not isinstance(self.data, (dict, list)):
            raise TypeError(f"{type(self).__name__} expects JSONable dict or list, not {self.data!r}")

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, data):
        if hasattr(data, "__fspath__"):
            data = os.fspath(data)
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8")
        if isinstance(data, str):
            import json
            data = json.loads(data)
        self._data = data

    def _repr_json_(self):
        return self._data_and_metadata()


class Javascript(TextDisplayObject):
    """JavaScript run by the frontend, after loading `lib` scripts and `css`
    stylesheets (the browser fetches them)."""

    def __init__(self, data=None, url=None, filename=None, lib=None, css=None):
        if isinstance(lib, str):
            lib = [lib]
        if isinstance(css, str):
            css = [css]
        self.lib = list(lib or [])
        self.css = list(css or [])
        if url is not None and data is None and filename is None:
            self.lib.append(url)
            url = None
        super().__init__(data=data, url=url, filename=filename)

    def _repr_javascript_(self):
        code = self.data or ""
        if not self.lib and not self.css:
            return code
        import json
        return (
            "(function () {\n"
            f"  var css = {json.dumps(self.css)}, libs = {json.dumps(self.lib)};\n"
            "  css.forEach(function (href) {\n"
            "    var link = document.createElement('link');\n"
            "    link.rel = 'stylesheet'; link.type = 'text/css'; link.href = href;\n"
            "    document.head.appendChild(link);\n"
            "  });\n"
            "  function load(i) {\n"
            "    if (i >= libs.length) {\n"
            f"{code}\n"
            "      return;\n"
            "    }\n"
            "    var script = document.createElement('script');\n"
            "    script.src = libs[i];\n"
            "    script.onload = function () { load(i + 1); };\n"
            "    document.head.appendChild(script);\n"
            "  }\n"
            "  load(0);\n"
            "})();"
        )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MIMETYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
_EXTENSIONS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "gif": "gif", "webp": "webp"}


def _sniff(data):
    """The image format of raw bytes, or None."""
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:2] == b"\xff\xd8":
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _png_size(data):
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def _jpeg_size(data):
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h = int.from_bytes(data[i + 5:i + 7], "big")
            w = int.from_bytes(data[i + 7:i + 9], "big")
            return w, h
        i += 2 + length
    return None


class Image(DisplayObject):
    """A PNG, JPEG, GIF or WebP image from bytes, a file, or a URL.

    Images from bytes or files are embedded (base64 in the notebook); an
    image from a URL is shown with an <img> tag that the browser loads
    (embed=True for a URL needs the network, which the sandbox has not)."""

    _read_flags = "rb"
    _FMT_JPEG = "jpeg"
    _FMT_PNG = "png"
    _FMT_GIF = "gif"
    _FMT_WEBP = "webp"
    _ACCEPTABLE_EMBEDDINGS = ["jpeg", "png", "gif", "webp"]

    def __init__(self, data=None, url=None, filename=None, format=None, embed=None, width=None,
                 height=None, retina=False, unconfined=False, metadata=None, alt=None):
        if data is not None and hasattr(data, "__fspath__"):
            data = os.fspath(data)
        if isinstance(data, str):
            if data.startswith(("http://", "https://")) and url is None:
                url, data = data, None
            elif filename is None and _safe_exists(data):
                filename, data = data, None
            else:
                import base64
                try:
                    data = base64.b64decode(data, validate=True)
                except ValueError:
                    raise ValueError("Image data as a string must be a URL, a file name or base64") from None
        if filename is None and url is None and data is None:
            raise ValueError("No image data found. Expecting filename, url, or data.")
        if format is None:
            source = filename or url
            if source is not None:
                ext = os.path.splitext(source.split("?")[0])[1].lstrip(".").lower()
                format = _EXTENSIONS.get(ext)
            if format is None and data is not None:
                format = _sniff(bytes(data))
            if format is None and filename is None and url is None:
                raise ValueError("Cannot tell the image format of the data: give format=")
        format = (format or "png").lower()
        if format == "jpg":
            format = "jpeg"
        self.format = format
        self.embed = embed if embed is not None else (url is None)
        if self.embed and self.format not in self._ACCEPTABLE_EMBEDDINGS:
            raise ValueError(f"Cannot embed the '{self.format}' image format")
        if self.embed and url is not None and data is None and filename is None:
            raise ValueError(
                "Image(url=..., embed=True) would download the image, and the sandbox has no network; "
                "use embed=False (the browser loads it) or a local file")
        self.width = width
        self.height = height
        self.retina = retina
        self.unconfined = unconfined
        self.alt = alt
        super().__init__(data=data, url=url, filename=filename, metadata=metadata)
        if self.width is None and self.metadata.get("width"):
            self.width = self.metadata["width"]
        if self.height is None and self.metadata.get("height"):
            self.height = self.metadata["height"]
        if self.alt is None and self.metadata.get("alt"):
            self.alt = self.metadata["alt"]
        if retina:
            self._retina_shape()

    def _retina_shape(self):
        if not self.embed or self.data is None:
            return
        size = _png_size(self.data) if self.format == "png" else (
            _jpeg_size(self.data) if self.format == "jpeg" else None)
        if size:
            self.width, self.height = size[0] // 2, size[1] // 2

    def reload(self):
        if self.embed:
            super().reload()
            if self.retina:
                self._retina_shape()

    @property
    def _mimetype(self):
        return _MIMETYPES.get(self.format, "image/" + self.format)

    def _metadata(self):
        md = {}
        if self.metadata:
            md.update(self.metadata)
        if self.width:
            md["width"] = self.width
        if self.height:
            md["height"] = self.height
        if self.unconfined:
            md["unconfined"] = self.unconfined
        if self.alt:
            md["alt"] = self.alt
        return md

    def _data_and_metadata(self, always_both=False):
        import base64
        b64 = base64.b64encode(bytes(self.data)).decode("ascii")
        md = self._metadata()
        if md or always_both:
            return b64, md
        return b64

    def _repr_html_(self):
        if self.embed:
            return None
        import html
        attrs = [f'src="{html.escape(self.url, quote=True)}"']
        if self.width:
            attrs.append(f'width="{self.width}"')
        if self.height:
            attrs.append(f'height="{self.height}"')
        if self.alt:
            attrs.append(f'alt="{html.escape(str(self.alt), quote=True)}"')
        if self.unconfined:
            attrs.append('class="unconfined"')
        return f"<img {' '.join(attrs)}/>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        if self.embed:
            data, md = self._data_and_metadata(always_both=True)
            return {self._mimetype: data}, ({self._mimetype: md} if md else {})
        return {"text/html": self._repr_html_()}

    def _repr_png_(self):
        if self.embed and self.format == "png":
            return self._binary_and_metadata()
        return None

    def _repr_jpeg_(self):
        if self.embed and self.format == "jpeg":
            return self._binary_and_metadata()
        return None

    def _binary_and_metadata(self):
        md = self._metadata()
        return (bytes(self.data), md) if md else bytes(self.data)


class Video(DisplayObject):
    """A video from a URL or a file (shown by the browser), or embedded in
    the notebook as base64 with embed=True (from a file or bytes)."""

    def __init__(self, data=None, url=None, filename=None, embed=False, mimetype=None, width=None,
                 height=None, html_attributes="controls"):
        if isinstance(data, str) and data.startswith(("http://", "https://")) and url is None:
            url, data = data, None
        elif isinstance(data, str) and filename is None and _safe_exists(data):
            filename, data = data, None
        if data is not None and not embed:
            raise ValueError("To embed video data, use embed=True")
        if url is None and filename is None and data is None:
            raise ValueError("No video data found. Expecting filename, url, or data.")
        self.url, self.filename, self.data = url, filename, data
        self.metadata = {}
        self.embed = embed
        self.mimetype = mimetype
        self.width = width
        self.height = height
        self.html_attributes = html_attributes

    def _repr_html_(self):
        import html
        size = ""
        if self.width:
            size += f' width="{self.width}"'
        if self.height:
            size += f' height="{self.height}"'
        if not self.embed:
            src = html.escape(self.url or self.filename, quote=True)
            return (f'<video src="{src}" {self.html_attributes}{size}>\n'
                    "Your browser does not support the <code>video</code> element.\n</video>")
        import base64
        import mimetypes
        data = self.data
        if data is None:
            with open(self.filename, "rb") as f:
                data = f.read()
        mimetype = self.mimetype or (mimetypes.guess_type(self.filename)[0] if self.filename else None) or "video/mp4"
        b64 = data if isinstance(data, str) else base64.b64encode(data).decode("ascii")
        return (f'<video {self.html_attributes}{size}>\n<source src="data:{mimetype};base64,{b64}" '
                f'type="{mimetype}">\nYour browser does not support the video tag.\n</video>')

    def reload(self):
        pass


def set_matplotlib_formats(*formats, **kwargs):
    raise NotImplementedError("set_matplotlib_formats is not available in wasipy (no inline matplotlib backend)")


def set_matplotlib_close(close=True):
    raise NotImplementedError("set_matplotlib_close is not available in wasipy (no inline matplotlib backend)")
