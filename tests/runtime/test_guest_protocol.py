"""Promise: the runtime's protocol module (_wasipy_protocol) and the Go
half speak the same protocol: every message of the shared fixture
(interp/internal/guestproto/testdata/messages.jsonl) decodes and re-encodes
to the same message, the fixture's kinds and host methods are exactly the
module's, and malformed payloads are refused, not guessed at."""

import base64
import json
import os

import pytest

import _wasipy_protocol as proto
from layering import ROOT

FIXTURE = os.path.join(ROOT, "interp", "internal", "guestproto", "testdata", "messages.jsonl")


def _fixture():
    # Fails (never skips) without the fixture: it is the contract.
    assert os.path.isfile(FIXTURE), f"the guest protocol fixture is missing: {FIXTURE}"
    rows = []
    with open(FIXTURE, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                frame = row["frame"]
                if isinstance(frame, str):
                    frame = json.loads(frame)
                rows.append((n, row["kind"], frame, [base64.b64decode(b) for b in row.get("buffers_b64", [])]))
    assert rows, "the fixture holds no message"
    return rows


def _payload(frame, buffers):
    head = json.dumps(frame, separators=(",", ":")).encode()
    return head if not buffers else b"".join([head, b"\0", *buffers])


def test_every_fixture_message_round_trips():
    for n, kind, frame, buffers in _fixture():
        msg = proto.decode(_payload(frame, buffers))
        assert msg["type"] == kind, f"line {n}"
        assert msg.get("buffers", []) == buffers, f"line {n}"
        head = {k: v for k, v in msg.items() if k != "buffers"}
        assert head == frame, f"line {n}: decoding changed the head"
        # And back: what the guest would write for it decodes the same.
        again = proto.decode(proto.encode({k: v for k, v in head.items() if k != "buffer_lengths"}, buffers))
        assert again == msg, f"line {n}: encode(decode(x)) is not x"
        framed = proto.frame(proto.encode(head, buffers))
        assert proto.payload_size(framed[:proto.LENGTH_SIZE]) == len(framed) - proto.LENGTH_SIZE


def test_the_fixture_covers_exactly_the_modules_kinds():
    kinds = {kind for _, kind, _, _ in _fixture()}
    assert kinds == set(proto.KINDS), (
        f"in the fixture only: {sorted(kinds - proto.KINDS)}; in the module only: {sorted(proto.KINDS - kinds)}")


def test_the_fixture_covers_exactly_the_modules_host_methods():
    methods = {f["method"] for _, kind, f, _ in _fixture() if kind == proto.HOST_REQUEST}
    assert methods == set(proto.HOST_METHODS)


def test_kind_names_are_the_wire_strings():
    # The names the Go side uses on the wire today (interp/process.go).
    assert (proto.HELLO, proto.REPLY, proto.HOST_REQUEST, proto.HOST_REPLY) == (
        "hello", "reply", "host_request", "host_reply")
    assert proto.REQUESTS <= proto.HOST_TO_GUEST
    assert proto.HOST_TO_GUEST & proto.GUEST_TO_HOST == {proto.COMM_OPEN, proto.COMM_MSG, proto.COMM_CLOSE}


def test_hello_says_the_protocol_version():
    msg = proto.hello({"name": "python"})
    assert msg == {"type": "hello", "content": {"name": "python", "protocol": 1}}
    assert proto.PROTOCOL_VERSION == 1


def test_event_parent_and_metadata_only_when_given():
    assert proto.event("stream", {"text": "x"}) == {"type": "stream", "content": {"text": "x"}}
    assert proto.event("comm_msg", {}, "p", {"v": 1}) == {
        "type": "comm_msg", "content": {}, "parent_id": "p", "metadata": {"v": 1}}


def test_encode_sends_unknown_values_as_their_repr():
    class Odd:
        def __repr__(self):
            return "<odd>"

    assert proto.decode(proto.encode({"type": "x", "v": Odd()}))["v"] == "<odd>"


def test_encode_lists_buffer_lengths_from_bytes_likes():
    payload = proto.encode({"type": "comm_msg"}, [b"ab", memoryview(b"c"), bytearray(b"")])
    msg = proto.decode(payload)
    assert msg["buffer_lengths"] == [2, 1, 0]
    assert msg["buffers"] == [b"ab", b"c", b""]


@pytest.mark.parametrize("payload, why", [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "object with a type"),
    (b'{"content": {}}', "object with a type"),
    (b'{"type": 3}', "object with a type"),
    (b'{"type": "x", "buffer_lengths": [2]}', "none follow"),
    (b'{"type": "x", "buffer_lengths": [2]}\0abc', "add up to 2 bytes, but 3"),
    (b'{"type": "x", "buffer_lengths": [4]}\0abc', "add up to 4 bytes, but 3"),
    (b'{"type": "x", "buffer_lengths": [-1, 4]}\0abc', "list of sizes"),
    (b'{"type": "x", "buffer_lengths": "3"}\0abc', "list of sizes"),
    (b'{"type": "x", "buffer_lengths": [true]}\0a', "list of sizes"),
])
def test_malformed_payloads_are_refused(payload, why):
    with pytest.raises(proto.ProtocolError, match=why):
        proto.decode(payload)


def test_frames_over_the_limit_are_refused():
    with pytest.raises(proto.ProtocolError):
        proto.payload_size((proto.MAX_PAYLOAD + 1).to_bytes(4, "big"))
    assert proto.payload_size(proto.MAX_PAYLOAD.to_bytes(4, "big")) == proto.MAX_PAYLOAD
