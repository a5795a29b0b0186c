"""Publishing display messages: where display(), clear_output() and the
formatter's captures send what they make.

The sink is the Shell that install() (_wasipy_display) binds; outside the
kernel (no Shell), display data is printed as plain text. An active
capture (%%capture, IPython.utils.capture.capture_output) receives the
messages instead of the frontend: the innermost one.
"""

import _wasipy_protocol as proto
from _wasipy_channel import flush_std as flush_std_streams  # noqa: F401  (public here)

_shell = None

# Active captures, innermost last. Each has _receive(msg_type, content).
captures = []


def bind(shell):
    """Send through shell (Shell.send) from now on."""
    global _shell
    _shell = shell


def bound_shell():
    """The Shell messages go to, or None outside the kernel."""
    return _shell


def b64(value):
    import base64  # not at start-up: most sessions never display bytes
    return base64.b64encode(value).decode("ascii")


def jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b64(bytes(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def send(msg_type, content):
    """Publish a display message for the running request (or hand it to the
    innermost capture)."""
    if captures:
        captures[-1]._receive(msg_type, content)
        return
    flush_std_streams()
    shell = _shell
    if shell is None:
        # Outside the kernel: a plain-text fallback.
        if msg_type in (proto.DISPLAY_DATA, proto.UPDATE_DISPLAY_DATA):
            text = content.get("data", {}).get("text/plain")
            if text is not None:
                print(text)
        return
    shell.send(msg_type, content)


def publish_display_data(data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
    """Publish a MIME bundle as display_data (update_display_data with
    update=True; that needs transient={"display_id": ...})."""
    content = {
        "data": jsonable(dict(data)),
        "metadata": jsonable(dict(metadata or {})),
        "transient": dict(transient or {}),
    }
    send(proto.UPDATE_DISPLAY_DATA if update else proto.DISPLAY_DATA, content)


def clear_output(wait=False):
    """Clear the output area; with wait=True, only when new output arrives."""
    if captures:
        captures[-1]._receive(proto.CLEAR_OUTPUT, {"wait": bool(wait)})
        return
    flush_std_streams()
    shell = _shell
    if shell is None:
        print("\033[2K\r", end="", flush=True)
        return
    shell.send(proto.CLEAR_OUTPUT, {"wait": bool(wait)})
