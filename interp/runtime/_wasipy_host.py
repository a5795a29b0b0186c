"""What the host (the Go kernel) does for Python: input() and getpass
through the frontend, and the errors that cross from Go."""

import builtins
import sys

import _wasipy_kernel


class HostError(Exception):
    """An error raised by Go code that Python called."""


class StdinNotImplementedError(NotImplementedError):
    """input() in a request that does not allow stdin (as in ipykernel)."""


_ERRORS = {"HostError": HostError, "StdinNotImplementedError": StdinNotImplementedError}


def make_error(type_name, message):
    """The exception for an error the host reported."""
    cls = _ERRORS.get(type_name)
    if cls is None:
        cls = getattr(builtins, type_name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            cls = HostError
    return cls(message)


class _Stdin:
    allowed = True


stdin = _Stdin()


def _ask(prompt, password):
    if not stdin.allowed:
        raise StdinNotImplementedError(
            "raw_input was called, but this frontend does not support input requests.")
    prompt = "" if prompt is None else str(prompt)
    sys.stdout.flush()
    sys.stderr.flush()
    return _wasipy_kernel.runtime.request("input", {"prompt": prompt, "password": password})


def input(prompt=""):
    """input() through the frontend's stdin channel."""
    return _ask(prompt, False)


def getpass(prompt="Password: ", stream=None):
    """getpass.getpass() through the frontend, with the answer hidden."""
    return _ask(prompt, True)


def install(shell):
    builtins.input = input
    import getpass as _getpass
    _getpass.getpass = getpass
