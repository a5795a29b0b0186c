"""More display objects: FileLink, FileLinks, Code, IFrame, YouTubeVideo."""

import html
import os

from IPython.core.display import DisplayObject, TextDisplayObject

__all__ = ["FileLink", "FileLinks", "Code", "IFrame", "YouTubeVideo", "VimeoVideo", "ScribdDocument"]


class FileLink:
    """A link to a local file, relative to the notebook's folder."""

    html_link_str = "<a href='%s' target='_blank'>%s</a>"

    def __init__(self, path, url_prefix="", result_html_prefix="", result_html_suffix="<br>"):
        if os.path.isdir(path):
            raise ValueError(f"Cannot display a directory using FileLink. Use FileLinks to display '{path}'.")
        self.path = os.fsdecode(path)
        self.url_prefix = url_prefix
        self.result_html_prefix = result_html_prefix
        self.result_html_suffix = result_html_suffix

    def _format_path(self):
        fp = html.escape(self.url_prefix + self.path, quote=True)
        return "".join([self.result_html_prefix, self.html_link_str % (fp, html.escape(self.path)),
                        self.result_html_suffix])

    def _repr_html_(self):
        if not os.path.exists(self.path):
            return (f"Path (<tt>{html.escape(self.path)}</tt>) doesn't exist (yet?): "
                    "check the path, or run the code that writes it.")
        return self._format_path()

    def __repr__(self):
        return os.path.abspath(self.path)


class FileLinks(FileLink):
    """Links to the files in a folder (and its subfolders)."""

    def __init__(self, path, url_prefix="", included_suffixes=None, result_html_prefix="",
                 result_html_suffix="<br>", notebook_display_formatter=None,
                 terminal_display_formatter=None, recursive=True):
        if os.path.isfile(path):
            raise ValueError(f"Cannot display a file using FileLinks. Use FileLink to display '{path}'.")
        self.path = os.fsdecode(path)
        self.url_prefix = url_prefix
        self.included_suffixes = included_suffixes
        self.result_html_prefix = result_html_prefix
        self.result_html_suffix = result_html_suffix
        self.recursive = recursive

    def _files(self):
        for dirname, subdirs, files in os.walk(self.path):
            subdirs.sort()
            chosen = sorted(f for f in files if not self.included_suffixes
                            or os.path.splitext(f)[1] in self.included_suffixes)
            if chosen:
                yield dirname, chosen
            if not self.recursive:
                break

    def _repr_html_(self):
        if not os.path.exists(self.path):
            return f"Path (<tt>{html.escape(self.path)}</tt>) doesn't exist."
        out = []
        for dirname, files in self._files():
            out.append(html.escape(dirname) + "/<br>")
            for f in files:
                link = html.escape(self.url_prefix + os.path.join(dirname, f), quote=True)
                out.append(f"&nbsp;&nbsp;{self.result_html_prefix}"
                           f"<a href='{link}' target='_blank'>{html.escape(f)}</a>{self.result_html_suffix}")
        return "\n".join(out)

    def __repr__(self):
        out = []
        for dirname, files in self._files():
            out.append(dirname + "/")
            out.extend("  " + f for f in files)
        return "\n".join(out)


class Code(TextDisplayObject):
    """Source code, shown preformatted (no syntax colouring in wasipy)."""

    def __init__(self, data=None, url=None, filename=None, language=None):
        self.language = language
        super().__init__(data=data, url=url, filename=filename)

    def _repr_html_(self):
        lang = f' class="language-{html.escape(self.language, quote=True)}"' if self.language else ""
        return f"<pre><code{lang}>{html.escape(self.data or '')}</code></pre>"

    def _repr_pretty_(self, p, cycle):
        p.text(self.data or "")


class IFrame:
    """A web page in an iframe."""

    iframe = """
        <iframe
            width="{width}"
            height="{height}"
            src="{src}{params}"
            frameborder="0"
            allowfullscreen
            {extras}
        ></iframe>
        """

    def __init__(self, src, width, height, extras=None, **kwargs):
        self.src = src
        self.width = width
        self.height = height
        self.extras = list(extras or [])
        self.params = kwargs

    def _repr_html_(self):
        from urllib.parse import urlencode
        params = "?" + urlencode(self.params) if self.params else ""
        return self.iframe.format(src=self.src, width=self.width, height=self.height,
                                  params=params, extras=" ".join(self.extras))


class YouTubeVideo(IFrame):
    """A YouTube video by id."""

    def __init__(self, id, width=400, height=300, allow_autoplay=False, **kwargs):
        self.id = id
        src = f"https://www.youtube.com/embed/{id}"
        extras = ['allow="autoplay"'] if allow_autoplay else []
        super().__init__(src, width, height, extras=extras, **kwargs)


class VimeoVideo(IFrame):
    def __init__(self, id, width=400, height=300, **kwargs):
        super().__init__(f"https://player.vimeo.com/video/{id}", width, height, **kwargs)


class ScribdDocument(IFrame):
    def __init__(self, id, width=400, height=300, **kwargs):
        super().__init__(f"https://www.scribd.com/embeds/{id}/content", width, height, **kwargs)
