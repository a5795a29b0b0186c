"""Cell code that ends its own process, as in native Python.

WASI has no processes to signal: CPython for WASI has no os.kill, and its
os.abort() traps, which the kernel cannot tell from a crash. Code written
for ipykernel (and Jupyter's clients) expect `os.kill(os.getpid(),
signal.SIGTERM)`, `os.abort()` and `os._exit(n)` to end the kernel, and
`os.kill(os.getpid(), signal.SIGINT)` to raise KeyboardInterrupt. Here the
ending calls become a clean exit of the interpreter (proc_exit with the
status a shell would show, 128 + the signal), which the kernel answers by
ending itself; SIGINT runs the SIGINT handler, as the kernel's own
interrupts do. The guest has only its own pid: any other is "no such
process", so nothing outside the sandbox is in reach.
"""

import os
import signal
import sys

from _wasipy_channel import flush_std as flush_std_streams

# Signals whose default action is to do nothing.
_IGNORED_BY_DEFAULT = {getattr(signal, n) for n in ("SIGCHLD", "SIGURG", "SIGWINCH", "SIGCONT") if hasattr(signal, n)}
# Signals that would stop the process, not end it: a stopped kernel only
# hangs its client, so they do nothing here.
_STOPPING = {getattr(signal, n) for n in ("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU") if hasattr(signal, n)}
# Signals that cannot be caught or ignored.
_UNCATCHABLE = {getattr(signal, n) for n in ("SIGKILL", "SIGSTOP") if hasattr(signal, n)}

_real_exit = os._exit


def _exit(status):
    """os._exit: output written so far reaches the notebook (the host
    streams fd 1 and 2; Python's buffers are flushed first), then the
    interpreter ends, and with it the kernel."""
    flush_std_streams()
    _real_exit(status)


def _abort():
    """os.abort: SIGABRT's status, 134."""
    _exit(128 + signal.SIGABRT)


def _deliver(sig, frame):
    sig = int(sig)
    if sig == 0:
        return  # only asks whether the process exists: it does
    if sig in _UNCATCHABLE:
        if sig in _STOPPING:
            return
        _exit(128 + sig)
    try:
        handler = signal.getsignal(sig)
    except (ValueError, OSError):
        handler = signal.SIG_DFL
    if callable(handler) and handler not in (signal.SIG_DFL, signal.SIG_IGN):
        handler(sig, frame)
        return
    if handler == signal.SIG_IGN or sig in _IGNORED_BY_DEFAULT or sig in _STOPPING:
        return
    if sig == signal.SIGINT:
        raise KeyboardInterrupt
    _exit(128 + sig)


def _valid_signal(sig):
    if not isinstance(sig, int):
        raise TypeError(f"an integer is required (got type {type(sig).__name__})")
    if sig < 0 or sig >= getattr(signal, "NSIG", 65):
        raise OSError(22, "Invalid argument")


def kill(pid, sig):
    """os.kill: only the interpreter's own pid (or 0, its process group)
    can be signalled."""
    if not isinstance(pid, int):
        raise TypeError(f"'{type(pid).__name__}' object cannot be interpreted as an integer")
    _valid_signal(sig)
    if pid not in (os.getpid(), 0):
        raise ProcessLookupError(3, "No such process")
    _deliver(sig, sys._getframe(1))


def raise_signal(sig):
    """signal.raise_signal: the same as os.kill(os.getpid(), sig)."""
    _valid_signal(sig)
    _deliver(sig, sys._getframe(1))


def install(shell, router):
    os._exit = _exit
    os.abort = _abort
    os.kill = kill
    signal.raise_signal = raise_signal
