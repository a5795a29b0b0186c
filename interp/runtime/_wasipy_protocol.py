"""The guest protocol: the names of its messages and how one is encoded.

This is the Python half of the protocol between the worker (Go, interp/)
and the guest runtime; the Go half names the same kinds. Both are checked
against one fixture (interp/internal/guestproto/testdata/messages.jsonl)
by tests/runtime/test_protocol.py.

A message is a JSON object with a "type" (its kind). On the channel it is
a payload: the JSON head, optionally followed by a NUL byte and binary
buffers whose lengths the head lists in "buffer_lengths", so bytes (comm
buffers, FFI bytes) cross without base64. Each payload is preceded by its
length, 4 bytes big-endian (frame(), frame_parts()).

Pure: no I/O, no state, and nothing of the runtime is imported, so every
layer can use it and the host's CPython can test it.
"""

import json
import struct

# Bumped when a kind changes meaning or shape. The guest says it in its
# hello; the host refuses a runtime that speaks another version.
PROTOCOL_VERSION = 1

# ---- host -> guest: requests, each answered by one REPLY with its id ----
EXECUTE = "execute"
IS_COMPLETE = "is_complete"
COMPLETE = "complete"
INSPECT = "inspect"
COMM_OPEN = "comm_open"
COMM_MSG = "comm_msg"
COMM_CLOSE = "comm_close"
COMM_INFO = "comm_info"  # which comms the guest's CommManager holds
FFI_MODULES = "ffi_modules"  # the Go modules to make importable
PY_EVAL = "py_eval"  # Go evaluating Python
PY_CALL = "py_call"  # Go calling a method of a Python object it holds
# A Debug Adapter Protocol request; may arrive while a cell runs (served
# by a guest stopped at a breakpoint, from its wait).
DEBUG_REQUEST = "debug_request"
PY_AWAIT = "py_await"  # Go awaiting Python: code with top-level await, or an awaitable it holds

# ---- host -> guest: not requests (no reply) ----
HOST_REPLY = "host_reply"  # the answer to the guest's HOST_REQUEST (by rid)
INTERRUPT = "interrupt"  # in band, while the guest waits on the channel
PY_RELEASE = "py_release"  # Go released its handle on a Python object
PY_CANCEL = "py_cancel"  # Go stopped waiting for its PY_AWAIT request "id"

# ---- guest -> host ----
HELLO = "hello"  # once, at start: language_info and PROTOCOL_VERSION
REPLY = "reply"
HOST_REQUEST = "host_request"  # the guest asking the host (see HOST_METHODS)
GO_RELEASE = "go_release"  # Python collected proxies of these Go handles ("ids")
# Events of the running request (or, with parent_id, of an earlier one):
EXECUTE_RESULT = "execute_result"
DISPLAY_DATA = "display_data"
UPDATE_DISPLAY_DATA = "update_display_data"
CLEAR_OUTPUT = "clear_output"
ERROR = "error"
STREAM = "stream"  # output of a task that an earlier cell started
DEBUG_EVENT = "debug_event"  # a Debug Adapter Protocol event (stopped, ...)
# COMM_OPEN, COMM_MSG and COMM_CLOSE are events too, when the guest opens
# a comm or sends on one.

HOST_TO_GUEST = frozenset({
    EXECUTE, IS_COMPLETE, COMPLETE, INSPECT, COMM_OPEN, COMM_MSG, COMM_CLOSE, COMM_INFO,
    FFI_MODULES, PY_EVAL, PY_CALL, PY_AWAIT, DEBUG_REQUEST, HOST_REPLY, INTERRUPT, PY_RELEASE, PY_CANCEL,
})
GUEST_TO_HOST = frozenset({
    HELLO, REPLY, HOST_REQUEST, GO_RELEASE, EXECUTE_RESULT, DISPLAY_DATA, UPDATE_DISPLAY_DATA,
    CLEAR_OUTPUT, ERROR, STREAM, DEBUG_EVENT, COMM_OPEN, COMM_MSG, COMM_CLOSE,
})
KINDS = HOST_TO_GUEST | GUEST_TO_HOST

# The kinds the host sends that ask for a REPLY.
REQUESTS = frozenset({
    EXECUTE, IS_COMPLETE, COMPLETE, INSPECT, COMM_OPEN, COMM_MSG, COMM_CLOSE, COMM_INFO,
    FFI_MODULES, PY_EVAL, PY_CALL, PY_AWAIT, DEBUG_REQUEST,
})

# ---- what a HOST_REQUEST asks for ("method") ----
METHOD_INPUT = "input"  # input() / getpass through the frontend
METHOD_FFI_CALL = "ffi.call"  # a function of a Go module
METHOD_FFI_PROXY_CALL = "ffi.proxy_call"  # a Go value Python holds, called
METHOD_FFI_RELEASE = "ffi.release"  # Python released its handle on a Go value
METHOD_FFI_PROXY_OP = "ffi.proxy_op"  # attribute/item/len/iter/to_py of a Go value
METHOD_STDIN_READ = "stdin.read"  # sys.stdin reading the embedder's reader
HOST_METHODS = frozenset({METHOD_INPUT, METHOD_FFI_CALL, METHOD_FFI_PROXY_CALL, METHOD_FFI_RELEASE,
                          METHOD_FFI_PROXY_OP, METHOD_STDIN_READ})

# A length prefix is 4 bytes. A frame carries at most MAX_PAYLOAD bytes: a
# 256 MiB buffer and a head of up to 1 MiB (guestproto.MaxFrame); the host
# refuses larger frames, and so does the guest.
MAX_BUFFER = 256 << 20
MAX_HEAD = 1 << 20
MAX_PAYLOAD = MAX_BUFFER + MAX_HEAD
_LENGTH = struct.Struct(">I")
LENGTH_SIZE = _LENGTH.size


class ProtocolError(ValueError):
    """A payload that is not a message of this protocol."""


def encode(msg, buffers=None):
    """The payload of msg (a dict with a "type"), with buffers (bytes-like)
    after a NUL byte; "buffer_lengths" is set from them. Values JSON cannot
    hold are sent as their repr, as the runtime always did."""
    if buffers:
        buffers = [b if isinstance(b, (bytes, bytearray)) else bytes(b) for b in buffers]
        msg = dict(msg, buffer_lengths=[len(b) for b in buffers])
    head = json.dumps(msg, default=repr, separators=(",", ":")).encode("utf-8")
    if not buffers:
        return head
    return b"".join([head, b"\0", *buffers])


def _byte_view(b):
    """b as a flat memoryview of bytes, copied only when it is not
    contiguous."""
    view = memoryview(b)
    if view.format == "B" and view.ndim == 1 and view.c_contiguous:
        return view
    if view.c_contiguous:
        return view.cast("B")
    return memoryview(view.tobytes())


def frame_parts(msg, buffers=None):
    """msg framed as the pieces to write one after the other: the length
    prefix with the head, then each buffer as it is (not joined: a large
    buffer is not copied on its way out)."""
    views = [_byte_view(b) for b in buffers or ()]
    if views:
        msg = dict(msg, buffer_lengths=[v.nbytes for v in views])
    head = json.dumps(msg, default=repr, separators=(",", ":")).encode("utf-8")
    if views:
        head += b"\0"
    size = len(head) + sum(v.nbytes for v in views)
    if size > MAX_PAYLOAD:
        raise ProtocolError(f"a payload of {size} bytes is over the limit of {MAX_PAYLOAD}")
    return [_LENGTH.pack(size) + head, *views]


def decode(payload):
    """The message in payload, with its buffers under "buffers".

    payload is bytes, or a bytearray the caller gives up: the buffers are
    read-only memoryviews into it, so a large one is not copied here (the
    FFI's bytes() makes the one copy Python code gets).

    ProtocolError when the head is not a JSON object with a string type, or
    when the buffers do not add up to exactly the bytes after the NUL."""
    if not isinstance(payload, (bytes, bytearray)):
        payload = bytes(payload)
    nul = payload.find(b"\0")
    if nul < 0:
        return decode_head(payload, None)
    rest = memoryview(payload).toreadonly()[nul + 1:]
    msg = decode_head(bytes(payload[:nul]), len(rest))
    lengths = msg.get("buffer_lengths") or []
    buffers, offset = [], 0
    for n in lengths:
        buffers.append(rest[offset:offset + n])
        offset += n
    msg["buffers"] = buffers
    return msg


def decode_head(head, body):
    """The message in head (its JSON), which body bytes of buffers follow
    (None: no NUL, so no buffers). ProtocolError when it is not an object
    with a type, or when its buffer_lengths do not add up to body."""
    try:
        msg = json.loads(head)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"the head is not JSON: {e}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str) or not msg["type"]:
        raise ProtocolError("the head is not an object with a type")
    lengths = msg.get("buffer_lengths")
    if lengths is None:
        lengths = []
    if not isinstance(lengths, list) or not all(type(n) is int and n >= 0 for n in lengths):
        raise ProtocolError("buffer_lengths is not a list of sizes")
    if body is None:
        if lengths:
            raise ProtocolError("buffer_lengths lists buffers but none follow")
    elif sum(lengths) != body:
        raise ProtocolError(f"buffer_lengths add up to {sum(lengths)} bytes, but {body} follow")
    return msg


def frame(payload):
    """payload with its length prefix, as written on the channel."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"a payload of {len(payload)} bytes is over the limit of {MAX_PAYLOAD}")
    return _LENGTH.pack(len(payload)) + payload


def payload_size(prefix):
    """The size a 4-byte length prefix announces (ProtocolError past MAX_PAYLOAD)."""
    (size,) = _LENGTH.unpack(prefix)
    if size > MAX_PAYLOAD:
        raise ProtocolError(f"a frame of {size} bytes is announced, over the limit of {MAX_PAYLOAD}")
    return size


# ---- the messages the runtime builds -------------------------------------


def hello(language_info):
    return {"type": HELLO, "content": dict(language_info, protocol=PROTOCOL_VERSION)}


def reply(request_id, content):
    return {"type": REPLY, "id": request_id, "content": content}


def host_request(rid, method, content):
    return {"type": HOST_REQUEST, "rid": rid, "method": method, "content": content}


def event(kind, content, parent_id=None, metadata=None):
    """An event of the running request, or of the earlier cell parent_id."""
    msg = {"type": kind, "content": content}
    if metadata:
        msg["metadata"] = metadata
    if parent_id is not None:
        msg["parent_id"] = parent_id
    return msg
