"""Writing magics: register_line_magic and friends for functions, the
Magics base class with @magics_class and @line_magic / @cell_magic /
@line_cell_magic for classes (register with ip.register_magics)."""

import _wasipy_ipshell
from _wasipy_magics import UsageError  # noqa: F401

__all__ = ["Magics", "magics_class", "line_magic", "cell_magic", "line_cell_magic",
           "register_line_magic", "register_cell_magic", "register_line_cell_magic",
           "needs_local_scope", "no_var_expand", "on_off", "UsageError"]


def on_off(tag):
    return "ON" if tag else "OFF"


def needs_local_scope(func):
    """The magic gets the caller's local namespace as local_ns=."""
    func.needs_local_scope = True
    return func


def no_var_expand(func):
    """Accepted for compatibility (wasipy does not expand $variables)."""
    func._ipython_no_var_expand = True
    return func


def _method_decorator(kind):
    def decorator(arg=None):
        def mark(func, name=None):
            func._wasipy_magic_kinds = getattr(func, "_wasipy_magic_kinds", []) + [(kind, name or func.__name__)]
            return func
        if callable(arg):
            return mark(arg)
        return lambda func: mark(func, arg)
    decorator.__name__ = f"{kind}_magic"
    return decorator


line_magic = _method_decorator("line")
cell_magic = _method_decorator("cell")
line_cell_magic = _method_decorator("line_cell")


def magics_class(cls):
    """Class decorator: collect the methods marked @line_magic etc."""
    table = {"line": {}, "cell": {}}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            for kind, name in getattr(value, "_wasipy_magic_kinds", ()):
                for k in (("line", "cell") if kind == "line_cell" else (kind,)):
                    table[k][name] = attr
    cls.magics = table
    cls.registered = True
    return cls


class Magics:
    """Base class for a set of magics (methods marked with @line_magic...)."""

    magics = {"line": {}, "cell": {}}
    registered = False
    shell = None

    def __init__(self, shell=None, **kwargs):
        if not self.__class__.registered:
            raise ValueError("Magics subclass without registration - did you forget to apply @magics_class?")
        if shell is not None:
            self.shell = shell
        self.options_table = {}
        self.magics = {kind: {name: getattr(self, attr) for name, attr in table.items()}
                       for kind, table in type(self).magics.items()}

    def arg_err(self, func):
        print("Error in arguments:")
        print(func.__doc__)

    def parse_options(self, arg_str, opt_str, *long_opts, **kw):
        """getopt-style options: (opts, args). opts maps each option given
        to its value ('' for a flag); args is a string (mode='list': a list)."""
        import getopt
        import shlex
        mode = kw.get("mode", "string")
        list_all = kw.get("list_all", False)
        posix = kw.get("posix", True)
        try:
            argv = shlex.split(arg_str, posix=posix)
        except ValueError as e:
            raise UsageError(str(e)) from None
        try:
            opts, args = getopt.getopt(argv, opt_str, list(long_opts))
        except getopt.GetoptError as e:
            raise UsageError(f'{e.msg} ( allowed: "{opt_str}" {" ".join(long_opts)})') from None
        found = _wasipy_ipshell._Struct()
        for name, value in opts:
            name = name.lstrip("-")
            if list_all:
                found.setdefault(name, []).append(value)
            elif name in found:
                existing = found[name]
                found[name] = existing + [value] if isinstance(existing, list) else [existing, value]
            else:
                found[name] = value
        if mode == "list":
            return found, args
        return found, " ".join(args)

    def default_option(self, fn, optstr):
        self.options_table[fn] = optstr


def _register(kind, arg):
    def reg(func, name=None):
        import IPython.core.getipython as g
        ip = g.get_ipython()
        if ip is None:
            raise RuntimeError("register magics inside the wasipy kernel")
        ip.register_magic_function(func, kind, name or func.__name__)
        return func
    if callable(arg):
        return reg(arg)
    return lambda func: reg(func, arg)


def register_line_magic(arg):
    """Decorator: the function (line) -> value becomes a line magic."""
    return _register("line", arg)


def register_cell_magic(arg):
    """Decorator: the function (line, cell) -> value becomes a cell magic."""
    return _register("cell", arg)


def register_line_cell_magic(arg):
    """Decorator: the function (line, cell=None) becomes both."""
    return _register("line_cell", arg)
