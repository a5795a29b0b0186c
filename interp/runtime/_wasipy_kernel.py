"""The guest side of wasipy: serves the host's requests over the channel.

The host (Go) sends one request at a time as a length-prefixed JSON frame
on the channel file and waits for the matching reply. While a request
runs, the guest sends events (execute_result, error, ...) on the same
channel. Output written to fd 1 and 2 is streamed by the host on its own;
every channel message is sent after flushing sys.stdout and sys.stderr so
that the host sees output and messages in the order they were made.
"""

import builtins
import json
import os
import platform
import struct
import sys

import _wasipy_exec

CHANNEL_PATH = "/.wasipy/host/channel"


class Channel:
    def __init__(self, path=CHANNEL_PATH):
        self._fd = os.open(path, os.O_RDWR)
        self._buf = bytearray()

    def send(self, msg):
        _flush_std()
        data = json.dumps(msg, default=repr).encode("utf-8")
        frame = struct.pack(">I", len(data)) + data
        view = memoryview(frame)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def _fill(self, need):
        while len(self._buf) < need:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                raise EOFError("the host closed the channel")
            self._buf += chunk

    def recv(self):
        self._fill(4)
        (size,) = struct.unpack(">I", self._buf[:4])
        self._fill(4 + size)
        data = bytes(self._buf[4 : 4 + size])
        del self._buf[: 4 + size]
        return json.loads(data)


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


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


def main():
    workdir = os.environ.get("WASIPY_WORKDIR")
    if workdir:
        try:
            os.chdir(workdir)
        except OSError as e:
            print(f"wasipy: cannot enter {workdir}: {e}", file=sys.stderr)
    sys.argv = [""]
    channel = Channel()
    shell = _wasipy_exec.Shell(channel.send)
    handlers = {
        "execute": shell.execute,
        "is_complete": lambda c: _wasipy_exec.is_complete(c.get("code", "")),
        "complete": lambda c: _lazy("_wasipy_complete").complete(shell, c),
        "inspect": lambda c: _lazy("_wasipy_complete").inspect(shell, c),
    }
    channel.send({"type": "hello", "content": language_info()})
    while True:
        try:
            msg = channel.recv()
        except EOFError:
            return
        except KeyboardInterrupt:
            # An interrupt that arrives while idle interrupts nothing.
            continue
        handler = handlers.get(msg.get("type"))
        try:
            if handler is None:
                reply = {"status": "error", "ename": "ValueError",
                         "evalue": f"unknown request {msg.get('type')!r}", "traceback": []}
            else:
                reply = handler(msg.get("content") or {})
        except BaseException as e:  # a runtime bug must not end the interpreter
            import traceback
            reply = {"status": "error", "ename": type(e).__name__, "evalue": str(e),
                     "traceback": traceback.format_exception(e)}
        channel.send({"type": "reply", "id": msg.get("id"), "content": reply})
