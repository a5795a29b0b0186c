"""%snapshot save NAME: keep this session's interpreter as an image that a
kernel can start from (wasipy-kernel --snapshot NAME).

The worker takes the image between two requests, when nothing of the
session runs: the cell that asked ends its code, then the interpreter hands
control back to the worker (the boot layer does that, see
_wasipy_kernel.take_image), which writes the image and resumes the cell,
which prints what became of it and replies.

Only what lives inside the interpreter can be kept. What lives outside is
refused with a clear error rather than kept broken: open files (their
descriptors belong to this kernel's sandbox), Go values the session holds
(they live in the kernel process), comms (their other end is this
notebook's frontend), a running debugger.
"""

import gc
import io
import re
import sys

# What a name may be: it names a file of the kernel's.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

USAGE = "usage: %snapshot save NAME   (NAME: letters, digits, '.', '_', '-'; at most 64)"

_request = None  # the boot layer's take_image(name), see install


def install(request):
    global _request
    _request = request


def _open_files():
    """Open Python file objects other than the standard streams and the
    runtime's own."""
    own = {id(s) for s in (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)}
    found = {}  # descriptor -> name (a text file, its buffer and its raw file share one)
    for obj in gc.get_objects():
        if isinstance(obj, io.IOBase) and id(obj) not in own:
            try:
                if obj.closed:
                    continue
                fd = obj.fileno()
            except (ValueError, OSError, AttributeError):
                continue
            if fd <= 2 or getattr(obj, "_wasipy_runtime", False):
                continue
            found.setdefault(fd, getattr(obj, "name", fd))
    return [found[fd] for fd in sorted(found)]


def refusals():
    """Why this session cannot be kept now (empty when it can)."""
    why = []
    files = _open_files()
    if files:
        shown = ", ".join(repr(f) for f in files[:5]) + (" ..." if len(files) > 5 else "")
        why.append(f"open files ({shown}): close them first")
    ffi = sys.modules.get("_wasipy_ffi")
    if ffi is not None and ffi.handle_count():
        why.append(f"{ffi.handle_count()} Python objects are held by Go code of the kernel")
    if ffi is not None and len(ffi._proxies):
        why.append(f"{len(ffi._proxies)} Go values are held by this session (wasipy proxies): delete them first")
    comm = sys.modules.get("comm")
    if comm is not None and comm._manager is not None and comm._manager.comms:
        why.append(f"{len(comm._manager.comms)} comms (widgets) are open: their other end is this notebook's frontend")
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None and monitoring.get_tool(monitoring.DEBUGGER_ID) is not None:
        why.append("the debugger is attached: stop debugging first")
    return why


def magic(line, usage_error):
    args = line.split()
    if len(args) != 2 or args[0] != "save":
        raise usage_error(USAGE)
    name = args[1]
    if not NAME.fullmatch(name):
        raise usage_error(f"{name!r} is not a snapshot name. {USAGE}")
    why = refusals()
    if why:
        raise usage_error("this session cannot be kept as a snapshot: " + "; ".join(why))
    if _request is None:
        raise usage_error("snapshots need wasipy's own interpreter build")
    _request(name)
