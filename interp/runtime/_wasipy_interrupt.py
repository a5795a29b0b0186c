"""When an interrupt may raise KeyboardInterrupt.

The host trips CPython's SIGINT flags while code runs (see
interp/interrupt.go), or sends an in-band interrupt message while the
guest waits on the channel. The handler installed here raises only inside
user code (an `interruptible()` block); the kernel's own code (framing a
message, sending a reply) is never torn by an interrupt: one that comes
then is kept pending and raised as soon as user code goes on (or before
the guest would block waiting on the channel). Pending interrupts are
dropped when a request ends, so none leaks into the next cell.

The lowest layer: the channel consults this state around every read and
write; the rpc layer, the shell and the FFI mark user code with
interruptible().
"""

import signal


class State:
    interruptible = False
    pending = False
    # While a cell with top-level await runs, how to interrupt it: cancel
    # its task, so the traceback shows the line the cell was waiting at.
    on_interrupt = None
    # The host also interrupts to ring: a debugger's pause must be read
    # from the channel while a cell runs without reading it. doorbell(),
    # when set, is asked first in user code: it reads the channel and
    # returns True when the interrupt was such a ring. rings counts rings
    # whose request was already read elsewhere (the guest was waiting on
    # the channel): the next interrupts, in band or not, are theirs.
    doorbell = None
    rings = 0


state = State()


def _rang():
    """Whether the interrupt being taken is the host ringing."""
    if state.rings:
        state.rings -= 1
        return True
    return state.doorbell is not None and state.doorbell()


def _on_sigint(signum, frame):
    if state.interruptible:
        if _rang():
            return
        state.pending = False
        raise KeyboardInterrupt
    state.pending = True


def install_handler():
    signal.signal(signal.SIGINT, _on_sigint)


def raise_pending():
    """Raise a pending interrupt, if user code is what runs."""
    if state.pending and state.interruptible:
        state.pending = False
        if _rang():
            return
        raise KeyboardInterrupt


def drop_pending():
    """Forget an interrupt that came too late for the request that ended."""
    state.pending = False


class interruptible:
    """Marks user code: an interrupt raises KeyboardInterrupt only inside."""

    def __enter__(self):
        self._saved = state.interruptible
        state.interruptible = True
        raise_pending()

    def __exit__(self, *exc):
        state.interruptible = self._saved


class guarded:
    """Marks the runtime's own code inside user code (a message being
    written or read): an interrupt then waits until the block ends."""

    def __enter__(self):
        self._saved = state.interruptible
        state.interruptible = False
        return self._saved

    def __exit__(self, *exc):
        state.interruptible = self._saved
