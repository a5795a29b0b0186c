"""argparse-based argument parsing for magics:

    @magic_arguments()
    @argument('-o', '--option', help='...')
    @argument('name')
    def mymagic(self, line):
        args = parse_argstring(mymagic, line)
"""

from _wasipy_magics import UsageError

__all__ = ["magic_arguments", "argument", "argument_group", "kwds", "parse_argstring", "defaults"]


def _parser_class():
    import argparse

    class MagicArgumentParser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError(message)

    return MagicArgumentParser


def construct_parser(magic_func):
    kwds = getattr(magic_func, "argcmd_kwds", {})
    name = getattr(magic_func, "argcmd_name", None) or magic_func.__name__
    parser = _parser_class()(prog=f"%{name}", add_help=False, **kwds)
    group = None
    for deco in magic_func.decorators[::-1]:
        result = deco.add_to_parser(parser, group)
        if result is not None:
            group = result
    magic_func.__doc__ = (magic_func.__doc__ or "") + "\n" + parser.format_help()
    return parser


def parse_argstring(magic_func, argstring):
    """Parse the magic's line with the parser its decorators describe."""
    import shlex
    return magic_func.parser.parse_args(shlex.split(argstring))


def real_name(magic_func):
    return getattr(magic_func, "argcmd_name", None) or magic_func.__name__


class ArgDecorator:
    def __call__(self, func):
        if not hasattr(func, "decorators"):
            func.decorators = []
        func.decorators.append(self)
        return func

    def add_to_parser(self, parser, group):
        return None


class magic_arguments(ArgDecorator):
    """Mark the function as having argparse arguments (the outermost decorator)."""

    def __init__(self, name=None):
        self.name = name

    def __call__(self, func):
        if not hasattr(func, "decorators"):
            func.decorators = []
        if self.name is not None:
            func.argcmd_name = self.name
        func.parser = construct_parser(func)
        return func


class argument(ArgDecorator):
    """An argument, as for ArgumentParser.add_argument()."""

    def __init__(self, *args, **kwds):
        self.args, self.kwds = args, kwds

    def add_to_parser(self, parser, group):
        (group or parser).add_argument(*self.args, **self.kwds)
        return None


class defaults(ArgDecorator):
    def __init__(self, **kwds):
        self.kwds = kwds

    def add_to_parser(self, parser, group):
        parser.set_defaults(**self.kwds)
        return None


class argument_group(ArgDecorator):
    """Start a group of arguments (the arguments above it in the source)."""

    def __init__(self, *args, **kwds):
        self.args, self.kwds = args, kwds

    def add_to_parser(self, parser, group):
        return parser.add_argument_group(*self.args, **self.kwds)


class kwds(ArgDecorator):
    """Keyword arguments for the ArgumentParser."""

    def __init__(self, **kwds):
        self.kwds = kwds

    def __call__(self, func):
        func = super().__call__(func)
        func.argcmd_kwds = self.kwds
        return func
