"""Pretty printing, with IPython's printer API (p.text, p.breakable,
p.group, ...): pretty(obj), pprint(obj), and for_type() to register a
printer for a type."""

import sys

import _wasipy_display
from _wasipy_display import PrettyPrinter

__all__ = ["pretty", "pprint", "PrettyPrinter", "RepresentationPrinter", "for_type", "for_type_by_name"]

MAX_SEQ_LENGTH = _wasipy_display.MAX_SEQ_LENGTH


def pretty(obj, verbose=False, max_width=79, newline="\n", max_seq_length=MAX_SEQ_LENGTH):
    """obj's pretty form as a string."""
    p = PrettyPrinter(max_width, max_seq_length)
    p.pretty(obj)
    return p.getvalue().replace("\n", newline)


def pprint(obj, verbose=False, max_width=79, newline="\n", max_seq_length=MAX_SEQ_LENGTH):
    """Print obj's pretty form."""
    sys.stdout.write(pretty(obj, verbose, max_width, newline, max_seq_length) + newline)
    sys.stdout.flush()


class RepresentationPrinter(PrettyPrinter):
    """A printer writing to `output` when flushed."""

    def __init__(self, output, verbose=False, max_width=79, newline="\n", singleton_pprinters=None,
                 type_pprinters=None, deferred_pprinters=None, max_seq_length=MAX_SEQ_LENGTH):
        super().__init__(max_width, max_seq_length)
        self.output = output
        self.newline = newline
        self.verbose = verbose

    def flush(self):
        text = self.getvalue()
        self.output.write(text.replace("\n", self.newline))
        self._root.items.clear()
        self._root._flat = None


def for_type(typ, func):
    """Register func(obj, p, cycle) as the text/plain printer of typ; return
    the previous one."""
    return _wasipy_display.formatters["text/plain"].for_type(typ, func)


def for_type_by_name(type_module, type_name, func):
    return _wasipy_display.formatters["text/plain"].for_type_by_name(type_module, type_name, func)
