"""The guest side of wasipy: serves the host's requests over the channel.

The host (Go) sends requests as length-prefixed JSON frames on the channel
file (/.wasipy/host/channel) and waits for the matching reply. While a
request runs, the guest sends events (execute_result, error, ...) on the
same channel, and may itself ask the host for things (input(), calls into
Go) and wait for the answer. Output written to fd 1 and 2 is streamed by
the host on its own; every channel message is sent after flushing
sys.stdout and sys.stderr, so the host sees output and messages in the
order they were made.

A message is JSON, optionally followed by a NUL byte and binary buffers
whose lengths are listed in the JSON's "buffer_lengths": bytes cross
without base64.

Between requests the guest is not idle in the Python sense: it runs the
asyncio loop (tasks created by cells keep running), waiting on the channel
with the loop's next deadline as timeout. The host implements that wait.
"""

import json
import os
import platform
import signal
import struct
import sys

CHANNEL_PATH = "/.wasipy/host/channel"
DEADLINE_PATH = "/.wasipy/host/deadline"


class _State:
    """Whether an interrupt may raise KeyboardInterrupt now.

    The host trips CPython's SIGINT flags while code runs (see
    interp/interrupt.go). The handler below raises only inside user code;
    the kernel's own code (framing a message, sending a reply) is never
    torn by an interrupt: an interrupt that comes then is kept pending and
    raised as soon as user code goes on (or before the guest would block
    waiting on the channel). Pending interrupts are dropped when a request
    ends, so none leaks into the next cell.
    """

    interruptible = False
    pending = False
    # While a cell with top-level await runs, how to interrupt it: cancel
    # its task, so the traceback shows the line the cell was waiting at.
    on_interrupt = None


state = _State()


def _on_sigint(signum, frame):
    if state.interruptible:
        state.pending = False
        raise KeyboardInterrupt
    state.pending = True


def raise_pending():
    """Raise a pending interrupt, if user code is what runs."""
    if state.pending and state.interruptible:
        state.pending = False
        raise KeyboardInterrupt


class Interrupted(Exception):
    """The host's in-band interrupt arrived while waiting on the channel."""


class Channel:
    def __init__(self):
        self._fd = os.open(CHANNEL_PATH, os.O_RDWR)
        self._deadline_fd = os.open(DEADLINE_PATH, os.O_WRONLY)
        self._buf = bytearray()

    def send(self, msg, buffers=None):
        saved, state.interruptible = state.interruptible, False
        try:
            _flush_std()
            if buffers:
                buffers = [bytes(b) if not isinstance(b, (bytes, bytearray)) else b for b in buffers]
                msg = dict(msg, buffer_lengths=[len(b) for b in buffers])
            data = json.dumps(msg, default=repr, separators=(",", ":")).encode("utf-8")
            if buffers:
                data = b"".join([data, b"\0", *buffers])
            frame = struct.pack(">I", len(data)) + data
            view = memoryview(frame)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        finally:
            state.interruptible = saved
        raise_pending()  # the message is out whole: now it is safe

    def recv(self, timeout=None):
        """The next message, or None when timeout (seconds) passes first."""
        saved, state.interruptible = state.interruptible, False
        try:
            if saved and state.pending and not self._buf:
                # Interrupted on the way here: do not block first.
                state.pending = False
                raise KeyboardInterrupt
            if not self._fill(4, timeout):
                return None
            (size,) = struct.unpack(">I", self._buf[:4])
            self._fill(4 + size, None)
            data = bytes(self._buf[4 : 4 + size])
            del self._buf[: 4 + size]
        finally:
            state.interruptible = saved
        head, sep, rest = data.partition(b"\0")
        msg = json.loads(head)
        if sep:
            buffers, offset = [], 0
            for n in msg.get("buffer_lengths", []):
                buffers.append(rest[offset : offset + n])
                offset += n
            msg["buffers"] = buffers
        return msg

    def _fill(self, need, timeout):
        while len(self._buf) < need:
            if timeout is not None:
                os.write(self._deadline_fd, b"%d" % max(0, int(timeout * 1e9)))
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return False
            if not chunk:
                raise EOFError("the host closed the channel")
            self._buf += chunk
        return True


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


class Runtime:
    """Routes channel messages: requests from the host, replies to the
    guest's own requests, and interrupts."""

    def __init__(self, channel):
        self.channel = channel
        self.handlers = {}
        self.inbox = []  # host requests that arrived while busy
        self._next_rid = 0
        self._replies = {}  # rid -> reply message, for synchronous waits
        self._futures = {}  # rid -> asyncio future, for async host requests

    # ---- guest -> host requests ---------------------------------------

    def request(self, method, content, buffers=None, with_buffers=False):
        """Ask the host for something and wait for the answer (blocking).

        KeyboardInterrupt while waiting when the user interrupts."""
        rid = self._send_request(method, content, buffers)
        while rid not in self._replies:
            self.poll(None, wait_for_reply=True)
        return self._result(self._replies.pop(rid), with_buffers)

    def request_async(self, method, content, buffers=None, with_buffers=False):
        """Ask the host for something; an asyncio future of the answer."""
        import asyncio
        loop = asyncio.get_event_loop()
        fut = loop.create_future()
        rid = self._send_request(method, content, buffers)
        self._futures[rid] = (fut, with_buffers)
        return fut

    def _send_request(self, method, content, buffers):
        self._next_rid += 1
        rid = self._next_rid
        self.channel.send({"type": "host_request", "rid": rid, "method": method,
                           "content": content}, buffers)
        return rid

    @staticmethod
    def _result(reply, with_buffers=False):
        if reply.get("error") is not None:
            err = reply["error"]
            exc = _host_error(err.get("type", "HostError"), err.get("message", ""))
            raise exc
        content = reply.get("content")
        if with_buffers:
            return content, reply.get("buffers", [])
        return content

    # ---- the channel --------------------------------------------------

    def poll(self, timeout, wait_for_reply=False):
        """Receive and route one message (waiting up to timeout seconds).

        Host requests are queued in the inbox, except while waiting for a
        reply, when they run at once (the host may call back into Python
        from a Go function that Python called)."""
        msg = self.channel.recv(timeout)
        if msg is None:
            return False
        kind = msg.get("type")
        if kind == "host_reply":
            rid = msg.get("rid")
            waiting = self._futures.pop(rid, None)
            if waiting is None:
                self._replies[rid] = msg
            elif not waiting[0].cancelled():
                fut, with_buffers = waiting
                try:
                    fut.set_result(self._result(msg, with_buffers))
                except BaseException as e:
                    fut.set_exception(e)
        elif kind == "py_release":
            import _wasipy_ffi
            _wasipy_ffi.release(msg.get("id"))
        elif kind in ("py_eval", "py_call"):
            # Go calling into Python, from a Go function that Python is
            # waiting on (synchronously or by await): serve it now.
            self.serve(msg)
        elif kind == "interrupt":
            if wait_for_reply:
                # A synchronous wait (input(), a Go call) ends here, even
                # inside a coroutine: the traceback shows the waiting line.
                raise KeyboardInterrupt
            if state.interruptible and state.on_interrupt is not None:
                state.on_interrupt()  # an awaiting cell: cancel its task
            elif state.interruptible:
                raise KeyboardInterrupt
        elif wait_for_reply:
            self.serve(msg)
        else:
            self.inbox.append(msg)
        return True

    def serve(self, msg, outermost=False):
        """Run one host request and send its reply. outermost: a request
        from the main loop (not one nested in a wait of a running request)."""
        handler = self.handlers.get(msg.get("type"))
        buffers = None
        try:
            if handler is None:
                reply = {"status": "error", "ename": "ValueError",
                         "evalue": f"unknown request {msg.get('type')!r}", "traceback": []}
            else:
                content = msg.get("content") or {}
                if msg.get("buffers"):
                    content = dict(content, buffers=msg["buffers"])
                reply = handler(content)
                if isinstance(reply, tuple):
                    reply, buffers = reply
        except BaseException as e:  # a runtime bug must not end the interpreter
            import traceback
            reply = {"status": "error", "ename": type(e).__name__, "evalue": str(e),
                     "traceback": traceback.format_exception(e)}
        if outermost:
            state.pending = False  # an interrupt that came too late for this request
        self.channel.send({"type": "reply", "id": msg.get("id"), "content": reply}, buffers)


def _host_error(type_name, message):
    import _wasipy_host
    return _wasipy_host.make_error(type_name, message)


def language_info():
    return {
        "name": "python",
        "version": platform.python_version(),
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
        "nbconvert_exporter": "python",
    }


def _lazy(name):
    """Import a runtime module on first use, keeping start-up short."""
    import importlib
    return importlib.import_module(name)


runtime = None


def main():
    global runtime
    workdir = os.environ.get("WASIPY_WORKDIR")
    if workdir:
        try:
            os.chdir(workdir)
        except OSError as e:
            print(f"wasipy: cannot enter {workdir}: {e}", file=sys.stderr)
    sys.argv = [""]
    # Folders of packages the kernel was given (--path), after the
    # runtime's own shims and before the standard library.
    extra = [p for p in os.environ.get("WASIPY_PATH", "").split(":") if p]
    at = sys.path.index("") + 1 if "" in sys.path else 1
    sys.path[at:at] = extra
    signal.signal(signal.SIGINT, _on_sigint)

    channel = Channel()
    runtime = Runtime(channel)
    import _wasipy_asyncio
    import _wasipy_exec
    _wasipy_asyncio.setup(runtime)
    shell = _wasipy_exec.Shell(channel.send)
    runtime.handlers.update({
        "execute": shell.execute,
        "is_complete": lambda c: _wasipy_exec.is_complete(c.get("code", "")),
        "complete": lambda c: _lazy("_wasipy_complete").complete(shell, c),
        "inspect": lambda c: _lazy("_wasipy_complete").inspect(shell, c),
    })
    for kind in ("comm_open", "comm_msg", "comm_close"):
        runtime.handlers[kind] = (lambda k: lambda c: shell.run_handler(
            lambda: _lazy("comm").handle_request(k, c)))(kind)
    for name in ("_wasipy_host", "_wasipy_ffi", "_wasipy_magics", "_wasipy_process"):
        try:
            _lazy(name).install(shell)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    if "asyncio" in sys.modules:  # imported by the runtime after all: no hook saw it
        _wasipy_asyncio.install()
    channel.send({"type": "hello", "content": language_info()})

    while True:
        try:
            while runtime.inbox:
                runtime.serve(runtime.inbox.pop(0), outermost=True)
            # Run what the loop has ready, then wait for the next message or
            # the loop's next timer, whichever comes first.
            _wasipy_asyncio.run_ready()
            _flush_std()  # a background task's partial line
            if not runtime.inbox:
                runtime.poll(_wasipy_asyncio.next_timeout())
        except EOFError:
            return
        except KeyboardInterrupt:
            # An interrupt that arrives between cells interrupts nothing.
            continue
