"""Requests and replies over the channel, both ways.

The host sends requests (execute, complete, ...: _wasipy_protocol.REQUESTS)
and waits for the REPLY with the same id; handlers for them are registered
by kind in Router.handlers by the layers above. The guest asks the host
for things (input(), calls into Go) with HOST_REQUEST and waits for the
HOST_REPLY with the same rid, serving the host's nested requests meanwhile
(Go calling back into Python from a Go function that Python called).

Errors the host reports are raised as exceptions: HostError, a builtin
exception the host names, or a class a feature registered
(register_error).
"""

import builtins
import sys

import _wasipy_protocol as proto
from _wasipy_interrupt import drop_pending, state


class HostError(Exception):
    """An error raised by Go code that Python called."""


HostError.__module__ = "wasipy"  # where user code imports it from

_errors = {"HostError": HostError}
# Finds the Python object of a handle the host names in an error
# ("object": an exception that passed through Go); set by the FFI.
_object_of = None


def register_error(cls, name=None):
    """Raise cls for a host error of its name (instead of HostError)."""
    _errors[name or cls.__name__] = cls


def set_object_resolver(fn):
    """fn(handle) -> the exception object the host hands back, or None."""
    global _object_of
    _object_of = fn


def make_error(err, depth=0):
    """The exception for an error the host reported (a dict with type,
    message, and optionally object and cause): the very exception object
    when it is one that passed through Go, with the Go error it wrapped
    (%w) as __cause__."""
    if not isinstance(err, dict):
        err = {"message": str(err)}
    obj = err.get("object")
    if obj and _object_of is not None:
        exc = _object_of(obj)
        if isinstance(exc, BaseException):
            return exc
    type_name, message = str(err.get("type", "HostError")), str(err.get("message", ""))
    cls = _errors.get(type_name)
    if cls is None:
        cls = getattr(builtins, type_name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            cls = HostError
    exc = cls(message)
    cause = err.get("cause")
    # The host caps the chain; the depth check keeps a forged one finite.
    if isinstance(cause, dict) and depth < 32:
        exc.__cause__ = make_error(cause, depth + 1)
    return exc


# Host requests served at once even while the guest waits for a reply:
# Go calling into Python from a Go function that Python is waiting on.
_NESTED = frozenset({proto.PY_EVAL, proto.PY_CALL, proto.PY_AWAIT})


class Router:
    """Routes channel messages: requests from the host, replies to the
    guest's own requests, and interrupts."""

    def __init__(self, channel):
        self.channel = channel
        # kind -> handler(content) -> reply content, or (content, buffers)
        self.handlers = {}
        # kind -> fn(msg), for host messages that need no reply (py_release)
        self.notifications = {}
        # kind -> handler(content, respond, request_id): requests answered
        # later, by calling respond(reply, buffers=None) once (py_await)
        self.deferred = {}
        # fns run before each reply is sent (the FFI sends the Go handles
        # Python let go of)
        self.before_reply = []
        # Called once, instead of sending, with a function that sends the
        # next reply to an outermost request (the boot layer holds a cell's
        # reply while the worker takes an image of the interpreter).
        self.pause = None
        self.inbox = []  # host requests that arrived while busy
        self._next_rid = 0
        self._replies = {}  # rid -> reply message, for synchronous waits
        self._futures = {}  # rid -> asyncio future, for async host requests

    def send(self, msg, buffers=None):
        self.channel.send(msg, buffers)

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
        self.channel.send(proto.host_request(rid, method, content), buffers)
        return rid

    @staticmethod
    def _result(reply, with_buffers=False):
        err = reply.get("error")
        if err is not None:
            raise make_error(err)
        content = reply.get("content")
        if with_buffers:
            return content, reply.get("buffers", [])
        return content

    # ---- the channel --------------------------------------------------

    def poll(self, timeout, wait_for_reply=False):
        """Receive and route one message (waiting up to timeout seconds).

        Host requests are queued in the inbox, except while waiting for a
        reply, when they run at once (the host may call back into Python
        from a Go function that Python called). A frame that is no message
        is dropped with a note on the worker's stderr."""
        try:
            msg = self.channel.recv(timeout)
        except proto.ProtocolError as e:
            print(f"wasipy: dropped a malformed message from the host: {e}", file=sys.__stderr__)
            return True
        if msg is None:
            return False
        kind = msg["type"]
        if kind == proto.HOST_REPLY:
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
        elif kind in self.notifications:
            self.notifications[kind](msg)
        elif kind in _NESTED:
            # Go calling into Python, from a Go function that Python is
            # waiting on (synchronously or by await): serve it now.
            self.serve(msg)
        elif kind == proto.INTERRUPT:
            if state.rings:
                state.rings -= 1  # the host rang for a request already read
                return True
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
        if msg["type"] in self.deferred:
            self._serve_deferred(msg)
            return
        handler = self.handlers.get(msg["type"])
        buffers = None
        try:
            if handler is None:
                reply = {"status": "error", "ename": "ValueError",
                         "evalue": f"unknown request {msg['type']!r}", "traceback": []}
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
            drop_pending()  # an interrupt that came too late for this request
            if self.pause is not None:
                # The reply waits (see pause); pause may unwind from here.
                pause, self.pause = self.pause, None
                pause(lambda: self._reply(msg.get("id"), reply, buffers))
                return
        self._reply(msg.get("id"), reply, buffers)

    def _reply(self, request_id, reply, buffers=None):
        for fn in self.before_reply:
            fn()
        try:
            self.channel.send(proto.reply(request_id, reply), buffers)
        except proto.ProtocolError as e:
            # Too large for a frame (nothing was written): the request
            # still gets its answer, and the interpreter lives on.
            self.channel.send(proto.reply(request_id, {
                "status": "error", "ename": "MemoryError", "evalue": str(e), "traceback": []}))

    def _serve_deferred(self, msg):
        request_id, done = msg.get("id"), []

        def respond(reply, buffers=None):
            if not done:  # once: a second answer would reach no request
                done.append(True)
                self._reply(request_id, reply, buffers)

        content = msg.get("content") or {}
        if msg.get("buffers"):
            content = dict(content, buffers=msg["buffers"])
        try:
            self.deferred[msg["type"]](content, respond, request_id)
        except BaseException as e:
            import traceback
            respond({"status": "error", "ename": type(e).__name__, "evalue": str(e),
                     "traceback": traceback.format_exception(e)})
