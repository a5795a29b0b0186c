"""The channel to the host: framed messages over the host's file.

The host (Go) serves /.wasipy/host/channel: the guest writes frames of the
guest protocol (_wasipy_protocol) to it and reads the host's. A second
file, /.wasipy/host/deadline, sets a timeout for the next read (the read
then fails with EAGAIN), which is how the guest waits for "the next
message or the event loop's next timer, whichever comes first".

Output written to fd 1 and 2 is streamed by the host on its own: every
message is sent after flushing sys.stdout and sys.stderr, so the host sees
output and messages in the order they were made.

Large buffers cross without being joined or sliced: a message goes out as
its head and then each buffer as it is (os.write of a memoryview), and a
frame's payload is read in one call straight into a bytearray of its size,
whose memoryviews decode() hands on (see docs/BENCHMARKS.md, FFI bytes).

Neither a send nor a receive is torn by an interrupt (_wasipy_interrupt):
one that comes meanwhile is raised once the message is whole.
"""

import io
import os
import sys

import _wasipy_protocol as proto
from _wasipy_interrupt import guarded, raise_pending, state

CHANNEL_PATH = "/.wasipy/host/channel"
DEADLINE_PATH = "/.wasipy/host/deadline"


def flush_std():
    """Flush Python's stdout and stderr, so that what was printed goes out
    before whatever comes next (a message, the process's end)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


# Host files the runtime keeps open, reopened by reopen_host_files() in an
# interpreter started from an image: the image's descriptor numbers were
# the prepared instance's, which a new instance does not have.
_host_files = []


def keep_open(reopen):
    """Register reopen() (it opens a host file and stores the descriptor
    where its user reads it), call it now, and again after a restore."""
    _host_files.append(reopen)
    reopen()


def reopen_host_files():
    """After a restore: open every registered host file again. The old
    descriptor numbers are not closed: in this instance they are not
    ours (or refer to nothing)."""
    for reopen in _host_files:
        reopen()


class Channel:
    """The host's channel. It is opened by connect(), not when made: an
    interpreter image is taken after the runtime is built and before any
    session exists, and started kernels connect to their own host."""

    def __init__(self, path=CHANNEL_PATH, deadline_path=DEADLINE_PATH, connect=True):
        self._path, self._deadline_path = path, deadline_path
        self._fd = self._deadline_fd = -1
        self._buf = bytearray()
        self._reader = None
        if connect:
            self.connect()

    def connect(self):
        """Open the host's files (again, after a restore: see
        reopen_host_files)."""
        self._fd = os.open(self._path, os.O_RDWR)
        self._deadline_fd = os.open(self._deadline_path, os.O_WRONLY)
        self._buf.clear()
        # read(2) straight into a buffer (WASI's CPython has no os.readv).
        self._reader = io.FileIO(self._fd, "r", closefd=False)
        self._reader._wasipy_runtime = True  # not the session's (see _wasipy_snapshot)

    def send(self, msg, buffers=None):
        with guarded():
            flush_std()
            for part in proto.frame_parts(msg, buffers):
                view = memoryview(part)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
        raise_pending()  # the message is out whole: now it is safe

    def recv(self, timeout=None):
        """The next message, or None when timeout (seconds) passes first.

        ProtocolError for a frame that is not a message (it is consumed, so
        the next call reads the frame after it)."""
        with guarded() as was_interruptible:
            if was_interruptible and state.pending and not self._buf:
                # Interrupted on the way here: do not block first.
                state.pending = False
                raise KeyboardInterrupt
            if not self._fill(proto.LENGTH_SIZE, timeout):
                return None
            try:
                size = proto.payload_size(bytes(self._buf[:proto.LENGTH_SIZE]))
            except proto.ProtocolError as e:
                # The host never sends this; past it the stream cannot be
                # followed, so it ends like a closed channel.
                raise EOFError(f"the host's channel is corrupt: {e}") from None
            return self._message(size)

    def _message(self, size):
        """The message whose payload (size bytes) follows the prefix in
        self._buf. The host ends a read at the NUL after the head, so a
        message with buffers is read as its head, then each buffer with
        one read of its length: the buffers are bytes objects made by that
        read, not copied again (ProtocolError for a head that is not a
        message or buffers that do not add up)."""
        start, end = proto.LENGTH_SIZE, proto.LENGTH_SIZE + size
        searched = start
        while True:
            nul = self._buf.find(b"\0", searched, end)
            if nul >= 0 or len(self._buf) >= end:
                break
            searched = len(self._buf)
            self._fill(len(self._buf) + 1, None)
        if nul < 0:
            payload = bytes(self._buf[start:end])
            del self._buf[:end]
            return proto.decode(payload)
        head = bytes(self._buf[start:nul])
        del self._buf[:nul + 1]
        body = end - nul - 1
        try:
            msg = proto.decode_head(head, body)
        except proto.ProtocolError:
            self._skip(body)  # the next frame is read after it
            raise
        msg["buffers"] = [self._take(n) for n in msg.get("buffer_lengths") or ()]
        return msg

    def _take(self, n):
        """The next n bytes of the frame, as bytes."""
        if len(self._buf) >= n:
            b = bytes(self._buf[:n])
            del self._buf[:n]
            return b
        if not self._buf:
            b = os.read(self._fd, n)  # the host serves it whole: no copy
            if len(b) == n:
                return b
            if not b:
                raise EOFError("the host closed the channel")
            self._buf += b
        # In pieces: gather them in place.
        out = bytearray(n)
        got = len(self._buf)
        out[:got] = self._buf
        self._buf.clear()
        view = memoryview(out)
        while got < n:
            k = self._reader.readinto(view[got:])
            if not k:
                raise EOFError("the host closed the channel")
            got += k
        return bytes(out)

    def _skip(self, n):
        """Read past n bytes of the frame."""
        while n:
            if self._buf:
                k = min(n, len(self._buf))
                del self._buf[:k]
            else:
                k = len(os.read(self._fd, min(n, 1 << 20)))
                if not k:
                    raise EOFError("the host closed the channel")
            n -= k

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
