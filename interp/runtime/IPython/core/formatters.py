"""Display formatters: one per MIME type, reached through
get_ipython().display_formatter.formatters."""

from _wasipy_display import Formatter as BaseFormatter  # noqa: F401
from _wasipy_display import PlainTextFormatter, formatters  # noqa: F401
from _wasipy_ipshell import DisplayFormatter  # noqa: F401


class FormatterWarning(UserWarning):
    """A formatter failed or returned something invalid."""


def format_display_data(obj, include=None, exclude=None):
    """obj's (data, metadata) bundle."""
    import _wasipy_display
    return _wasipy_display.format(obj, include=include, exclude=exclude)
