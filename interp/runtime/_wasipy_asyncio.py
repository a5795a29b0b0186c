"""An asyncio event loop whose waiting is done by the host.

The stock loop cannot start on WASI (it needs socket.socketpair). This one,
like Pyodide's WebLoop, keeps asyncio's own scheduling (BaseEventLoop: call
soon, timers, tasks, futures) and replaces only the wait: instead of a
selector over sockets, it waits on the host channel with the loop's next
deadline as timeout, so messages from the host (replies to host calls,
interrupts) are seen while the loop waits.

The kernel runs one loop for the whole session. Between cells, the main
loop (_wasipy_exec.serve_forever) runs its ready callbacks and timers, so tasks that a
cell created keep running while the kernel is idle. Cells run with this
loop marked as the running loop, so asyncio.create_task() works in plain
(synchronous) cells as in ipykernel; and unlike in ipykernel,
asyncio.run() and loop.run_until_complete() also work there: they drive
the session's loop until their coroutine is done. Inside an awaiting cell
(synchronous library code it calls), they run the loop nested, as
ipykernel does with nest_asyncio; wasipy.run_sync(awaitable) is the
same for any awaitable.
"""

import sys

# The session's loop, made when asyncio is first imported (by a cell or by
# the kernel for a cell with top-level await): importing asyncio costs a
# sixth of a second on this interpreter, so sessions that never use it
# never pay for it.
_loop = None
_runtime = None
# True while a cell's synchronous code runs: a loop made then is marked
# running at once, so `import asyncio; asyncio.create_task(...)` works in
# the same cell.
_in_sync_cell = False
# Called as each callback of the loop starts: returns how to undo what it
# did, or None. The shell points sys.stdout/sys.stderr at the streams of
# the cell the callback belongs to (Shell.streams_for_context).
_stream_switch = None


def set_stream_switch(fn):
    global _stream_switch
    _stream_switch = fn


def current_loop():
    """The session's loop, or None while asyncio has not been imported."""
    return _loop


def session_loop():
    """The session's loop, importing asyncio if needed."""
    if _loop is None:
        import asyncio  # noqa: F401  (the import hook calls install)
        if _loop is None:
            install()
    return _loop


def setup(runtime):
    global _runtime
    _runtime = runtime


def install():
    """Make WasiEventLoop the default loop and create the session's loop.
    Called when asyncio has just been imported."""
    global _loop
    if _loop is not None:
        return _loop
    import asyncio
    import asyncio.events as events

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

        def _process_events(self, event_list):
            pass

        def _write_to_self(self):
            # call_soon_threadsafe wakes the loop; there are no threads to wake from.
            pass

        def _driven_from_sync_code(self):
            """True when a synchronous cell (or code it calls) wants to run
            the loop: the loop is marked running for create_task's sake, but
            nothing is driving it."""
            return events._get_running_loop() is self and not self.is_running()

        def _run_nested(self, future):
            """Run the loop from inside one of its own callbacks (a task's
            step) until future is done, as nest_asyncio does for
            ipykernel: the task that is running is set aside meanwhile, so
            the tasks this runs can enter and leave."""
            future = asyncio.ensure_future(future, loop=self)
            current = asyncio.tasks._current_tasks
            outer = current.pop(self, None)
            stopping = self._stopping
            self._stopping = False
            try:
                while not future.done():
                    self._run_once()
            finally:
                self._stopping = self._stopping or stopping
                if outer is not None:
                    current[self] = outer
            return future.result()

        def run_until_complete(self, future):
            if self.is_running():
                return self._run_nested(future)
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

        # Every callback (a task's step, a timer) runs with the streams of the
        # cell it belongs to (its context's cell).
        def _call_soon(self, callback, args, context):
            return super()._call_soon(_with_cell_streams(callback), args, context)

        def call_at(self, when, callback, *args, context=None):
            return super().call_at(when, _with_cell_streams(callback), *args, context=context)

        def close(self):
            # The session's loop lives as long as the interpreter: a cell
            # that calls loop.close() (asyncio.run's habit) must not end it.
            if self is _loop:
                return
            super().close()

    class _Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self):
            return WasiEventLoop(_runtime)

    original_run = asyncio.run

    def run(main, *, debug=None):
        """asyncio.run that also works inside a cell, and in synchronous
        code called from an awaiting cell (see the module doc)."""
        loop = events._get_running_loop()
        if loop is _loop and loop is not None:
            if debug is not None:
                loop.set_debug(debug)
            return loop.run_until_complete(main)
        return original_run(main, debug=debug)

    asyncio.set_event_loop_policy(_Policy())
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    asyncio.run = run
    module = sys.modules[__name__]
    module.WasiEventLoop = WasiEventLoop
    if _in_sync_cell:
        events._set_running_loop(_loop)
    return _loop


def run_sync(awaitable):
    """Wait for awaitable from synchronous code and return its result
    (Pyodide's run_sync): in a plain cell, in code an awaiting cell calls,
    or between cells. The session's loop runs meanwhile, so other tasks
    (and the awaitable's own) make progress."""
    loop = session_loop()
    return loop.run_until_complete(awaitable)


def _with_cell_streams(callback):
    def run(*args):
        switch = _stream_switch
        restore = switch() if switch is not None else None
        try:
            return callback(*args)
        finally:
            if restore is not None:
                restore()
    return run


def run_ready():
    """Run the callbacks that are ready and the timers that are due, once."""
    loop = _loop
    if loop is None:
        return
    if not loop._ready and not (loop._scheduled and loop._scheduled[0]._when <= loop.time()):
        return
    loop.call_soon(loop.stop)
    loop.run_forever()


def next_timeout():
    """Seconds until the loop has something to do; None when nothing is planned."""
    loop = _loop
    if loop is None:
        return None
    if loop._ready:
        return 0
    if loop._scheduled:
        return max(0.0, loop._scheduled[0]._when - loop.time())
    return None


class running_as_session:
    """Context in which a cell's synchronous code sees the session's loop as
    the running loop (asyncio.create_task, get_running_loop work)."""

    def __enter__(self):
        global _in_sync_cell
        self._was_in_sync = _in_sync_cell
        _in_sync_cell = True
        self._saved = None
        if _loop is not None:
            import asyncio.events as events
            self._saved = events._get_running_loop()
            events._set_running_loop(_loop)

    def __exit__(self, *exc):
        global _in_sync_cell
        _in_sync_cell = self._was_in_sync
        if _loop is not None:
            import asyncio.events as events
            events._set_running_loop(self._saved)
