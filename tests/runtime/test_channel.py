"""The guest's channel end on the host's CPython, over a FIFO: frames go
out as the head and then the buffers as they are, and come in with their
buffers read into bytes of their own, whatever pieces the reads return."""

import os
import threading

import pytest

import _wasipy_channel as channel
import _wasipy_protocol as proto


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "channel"
    os.mkfifo(path)
    deadline = tmp_path / "deadline"
    deadline.write_bytes(b"")
    ch = channel.Channel(str(path), str(deadline))
    peer = os.open(path, os.O_RDWR)
    yield ch, peer
    os.close(peer)
    os.close(ch._fd)
    os.close(ch._deadline_fd)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd, n):
    out = bytearray()
    while len(out) < n:
        out += os.read(fd, n - len(out))
    return bytes(out)


def test_send_writes_the_frame_decode_reads(fifo):
    ch, peer = fifo
    big = bytes(range(256)) * 200  # 51,200 bytes: fits the FIFO
    ch.send({"type": "reply", "id": 7}, [b"ab", memoryview(big), bytearray(b"")])
    size = proto.payload_size(_read_exactly(peer, proto.LENGTH_SIZE))
    msg = proto.decode(_read_exactly(peer, size))
    assert msg["id"] == 7 and msg["buffer_lengths"] == [2, len(big), 0]
    assert msg["buffers"] == [b"ab", big, b""]


def test_recv_gathers_buffers_split_across_reads(fifo):
    ch, peer = fifo
    big = os.urandom(3 << 20)  # larger than the FIFO: the writer runs beside
    frame = proto.frame(proto.encode({"type": "py_eval", "id": 1}, [b"xy", big]))
    writer = threading.Thread(target=_write_all, args=(peer, frame))
    writer.start()
    msg = ch.recv()
    writer.join()
    assert msg["type"] == "py_eval"
    assert [bytes(b) for b in msg["buffers"]] == [b"xy", big]
    assert all(type(b) is bytes for b in msg["buffers"])


def test_a_bad_head_is_skipped_and_the_next_frame_read(fifo):
    ch, peer = fifo
    bad = proto.frame(b'{"type":"x","buffer_lengths":[5]}\0' + b"123")  # 5 announced, 3 follow
    good = proto.frame(proto.encode({"type": "y"}, [b"ok"]))
    _write_all(peer, bad + good)
    with pytest.raises(proto.ProtocolError):
        ch.recv()
    msg = ch.recv()
    assert msg["type"] == "y" and msg["buffers"] == [b"ok"]


def test_frame_parts_refuse_a_payload_over_the_limit():
    # A full-size buffer plus a head's whole allowance and one byte more
    # (zero-filled bytes: calloc'd, cheap).
    with pytest.raises(proto.ProtocolError):
        proto.frame_parts({"type": "reply"}, [bytes(proto.MAX_BUFFER), bytes(proto.MAX_HEAD)])
    parts = proto.frame_parts({"type": "reply"}, [bytes(proto.MAX_BUFFER)])
    assert proto.payload_size(parts[0][:proto.LENGTH_SIZE]) == proto.MAX_PAYLOAD - proto.MAX_HEAD + len(parts[0]) - proto.LENGTH_SIZE
