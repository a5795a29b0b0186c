"""An asyncio event loop whose waiting is done by the host.

The stock loop cannot start on WASI (it needs socket.socketpair). This one,
like Pyodide's WebLoop, keeps asyncio's own scheduling (BaseEventLoop: call
soon, timers, tasks, futures) and replaces only the wait: instead of a
selector over sockets, it waits on the host channel with the loop's next
deadline as timeout, so messages from the host (replies to host calls,
interrupts) are seen while the loop waits.

The kernel runs one loop for the whole session. Between cells, the main
loop of _wasipy_kernel runs its ready callbacks and timers, so tasks that a
cell created keep running while the kernel is idle. Cells run with this
loop marked as the running loop, so asyncio.create_task() works in plain
(synchronous) cells as in ipykernel; and unlike in ipykernel,
asyncio.run() and loop.run_until_complete() also work there: they drive
the session's loop until their coroutine is done.
"""

import asyncio
import asyncio.events as events
import sys


class _ChannelSelector:
    """The one piece of a selector that BaseEventLoop._run_once uses."""

    def __init__(self, runtime):
        self._runtime = runtime

    def select(self, timeout=None):
        # None: wait until a message; 0: just look.
        self._runtime.poll(timeout)
        return []

    def close(self):
        pass


class WasiEventLoop(asyncio.BaseEventLoop):
    def __init__(self, runtime):
        super().__init__()
        self._selector = _ChannelSelector(runtime)
        self._runtime = runtime

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        # call_soon_threadsafe wakes the loop; there are no threads to wake from.
        pass

    def _driven_from_sync_code(self):
        """True when a synchronous cell (or code it calls) wants to run the
        loop: the loop is marked running for create_task's sake, but nothing
        is driving it."""
        return events._get_running_loop() is self and not self.is_running()

    def run_until_complete(self, future):
        if self._driven_from_sync_code():
            events._set_running_loop(None)
            try:
                return super().run_until_complete(future)
            finally:
                events._set_running_loop(self)
        return super().run_until_complete(future)

    def run_forever(self):
        if self._driven_from_sync_code():
            events._set_running_loop(None)
            try:
                return super().run_forever()
            finally:
                events._set_running_loop(self)
        return super().run_forever()

    def close(self):
        # The session's loop lives as long as the interpreter: a cell that
        # calls loop.close() (asyncio.run's habit) must not end it.
        if self is _session_loop:
            return
        super().close()


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return WasiEventLoop(_runtime)


_runtime = None
_session_loop = None
_original_run = asyncio.run


def _run(main, *, debug=None):
    """asyncio.run that also works inside a cell (see the module doc)."""
    loop = events._get_running_loop()
    if loop is _session_loop and loop is not None and not loop.is_running():
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    return _original_run(main, debug=debug)


def install(runtime):
    """Make WasiEventLoop the default loop and return the session's loop."""
    global _runtime, _session_loop
    _runtime = runtime
    asyncio.set_event_loop_policy(_Policy())
    _session_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_session_loop)
    asyncio.run = _run
    return _session_loop


def run_ready(loop):
    """Run the callbacks that are ready and the timers that are due, once."""
    if not loop._ready and not (loop._scheduled and loop._scheduled[0]._when <= loop.time()):
        return
    loop.call_soon(loop.stop)
    loop.run_forever()


def next_timeout(loop):
    """Seconds until the loop has something to do; None when nothing is planned."""
    if loop._ready:
        return 0
    if loop._scheduled:
        return max(0.0, loop._scheduled[0]._when - loop.time())
    return None


class running_as_session:
    """Context in which a cell's synchronous code sees the session's loop as
    the running loop (asyncio.create_task, get_running_loop work)."""

    def __init__(self, loop):
        self._loop = loop

    def __enter__(self):
        self._saved = events._get_running_loop()
        events._set_running_loop(self._loop)

    def __exit__(self, *exc):
        events._set_running_loop(self._saved)
