"""IPython's exception classes."""

from _wasipy_magics import UsageError  # noqa: F401


class IPythonCoreError(Exception):
    pass


class TryNext(IPythonCoreError):
    """Try the next hook."""


class InputRejected(Exception):
    """Input rejected by an AST transformer."""


def __getattr__(name):
    if name == "StdinNotImplementedError":
        import _wasipy_host
        return _wasipy_host.StdinNotImplementedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
