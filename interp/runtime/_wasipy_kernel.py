"""The guest side of wasipy: where the runtime's layers are put together.

The worker builds the runtime with prepare() and then serves a session
with serve(): wasipy_entry.c calls them one after the other (and the
worker may take an image of the interpreter in between, to start later
kernels from), or main() does both for an interpreter built as a plain
command. prepare() builds the layers bottom up; serve() connects to the
host and runs the shell's main loop until the host closes the channel:

    channel   _wasipy_protocol (names, framing), _wasipy_interrupt (when an
              interrupt may raise), _wasipy_channel (the host's file)
    rpc       _wasipy_rpc (requests and replies both ways, host errors)
    shell     _wasipy_exec (running cells, the main loop), _wasipy_asyncio
              (the session's event loop)
    features  display and formatting, magics and get_ipython(), completion,
              comms, input(), the FFI, process signals: each installed on
              the Shell and the Router it is given
    api       the packages user code imports (IPython, ipykernel, comm,
              wasipy)

Each module imports only from its own layer or lower ones, and none reads
another's changing globals: what a layer needs is passed to it, or it
registers callbacks (tests/runtime/test_layers.py checks both). This module
is the only one that knows every layer; it is the top.
"""

import gc
import importlib
import json
import os
import sys
import time

import _wasipy_asyncio
import _wasipy_display
import _wasipy_exec
import _wasipy_ffi
import _wasipy_host
import _wasipy_magics
import _wasipy_process
import _wasipy_snapshot
import _wasipy_protocol as proto
from _wasipy_channel import Channel, flush_std, reopen_host_files
from _wasipy_interrupt import install_handler
from _wasipy_rpc import Router

# Where the worker mounts the runtime.
RUNTIME_DIR = "/.wasipy/runtime"

# The Router of this interpreter (for tests and tools that inspect it from
# a cell; no runtime module reads it).
runtime = None
# Its Shell, built by prepare() for serve().
_shell = None


def python_version():
    """platform.python_version(), without importing platform (14 ms of
    every start on this interpreter): the first word of sys.version."""
    version = sys.version.split()[0]
    return version + ".0" if version.count(".") == 1 else version


def language_info():
    return {
        "name": "python",
        "version": python_version(),
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
        "nbconvert_exporter": "python",
    }


def _lazy(name):
    """Import a runtime module on first use, keeping start-up short."""
    return importlib.import_module(name)


def _make_ipython(shell):
    return _lazy("_wasipy_ipshell").ZMQInteractiveShell(shell)


def _patch_urllib(module):
    # Route urllib's http(s) through the host (wasipy.http).
    try:
        http = _lazy("wasipy.http")
    except ImportError:
        return  # the host has no HTTP module
    http.install_urllib(module)


def _comm_info(content):
    # A session that never imported comm has no comms: answering must not
    # import it (and create a CommManager) behind the user's back.
    if "comm" not in sys.modules:
        return {"comms": {}}
    return sys.modules["comm"].comm_info(content)


def _comm_handler(shell, kind):
    return lambda content: shell.run_handler(lambda: _lazy("comm").handle_request(kind, content))


# The modes of serve(), as wasipy_entry.c and the worker number them.
FRESH = 0  # the instance prepare() ran in
RESTORED = 1  # a new instance holding an image of a prepared one
CONTINUE = 2  # the same instance, after the worker took an image of it

# serve()'s results: the host closed the channel, or the session asked the
# worker to take an image of it now (then serve(CONTINUE) goes on).
CLOSED = 0
TAKE_IMAGE = 2


def prepare():
    """Build everything that does not depend on the session: the layers, the
    shell, the handlers. No channel is open and nothing of the session
    (environment, working directory, mounts) is read, so the worker can take
    an image of the interpreter here and start any kernel from it."""
    global runtime, _shell
    sys.argv = [""]
    # As `python -c` has it: the working directory first (after the
    # runtime's own shims), whatever it is when cells run.
    if "" not in sys.path:
        sys.path.insert(1 if sys.path and sys.path[0].startswith(RUNTIME_DIR) else 0, "")
    install_handler()

    router = runtime = Router(Channel(connect=False))
    _wasipy_asyncio.setup(router)
    shell = _shell = _wasipy_exec.Shell(router.send)
    router.handlers.update({
        proto.EXECUTE: shell.execute,
        proto.IS_COMPLETE: lambda c: _wasipy_exec.is_complete(c.get("code", "")),
        proto.COMPLETE: lambda c: _lazy("_wasipy_complete").complete(shell, c),
        proto.INSPECT: lambda c: _lazy("_wasipy_complete").inspect(shell, c),
        # Loaded by the frontend's first debug request: sessions that never
        # debug never pay for it.
        proto.DEBUG_REQUEST: lambda c: _lazy("_wasipy_debugger").handle(shell, router, c),
    })
    for kind in (proto.COMM_OPEN, proto.COMM_MSG, proto.COMM_CLOSE):
        router.handlers[kind] = _comm_handler(shell, kind)
    router.handlers[proto.COMM_INFO] = _comm_info
    _wasipy_display.install(shell)
    _wasipy_host.install(shell, router)
    _wasipy_host.after_import("urllib.request", _patch_urllib)
    _wasipy_ffi.install(shell, router)
    _wasipy_magics.install(shell, router, lambda: _lazy("_wasipy_magiclib"), _make_ipython)
    _wasipy_process.install(shell, router)
    _wasipy_snapshot.install(take_image)
    if "asyncio" in sys.modules:  # imported by the runtime after all: no hook saw it
        _wasipy_asyncio.install()
    gc.collect()  # what building it left behind is not kept in an image


def _adopt_environ(environ):
    """Make os.environ this instance's environment (environ, from the C
    side), in place: modules hold references to os.environ itself. C's
    environment is already this instance's (wasipy_entry.c)."""
    data = os.environ._data
    data.clear()
    for k, v in environ.items():
        data[os.environ.encodekey(k)] = os.environ.encodevalue(v)


def _reseed():
    """What an image would otherwise share with every kernel started from
    it: the random module's state. (os.urandom and uuid4 read the host's
    randomness on every call.)"""
    if "random" in sys.modules:
        sys.modules["random"].seed()
    if hasattr(time, "tzset"):
        time.tzset()  # TZ may differ from the prepared instance's


def _enter_session(shell):
    workdir = os.environ.get("WASIPY_WORKDIR")
    if workdir:
        try:
            os.chdir(workdir)
        except OSError as e:
            print(f"wasipy: cannot enter {workdir}: {e}", file=sys.stderr)
    _wasipy_magics.enter_session(shell)
    # Folders of packages the kernel was given (--path), after the
    # runtime's own shims and the working directory, before the standard
    # library.
    extra = [p for p in os.environ.get("WASIPY_PATH", "").split(":") if p]
    at = sys.path.index("") + 1 if "" in sys.path else 1
    sys.path[at:at] = extra
    # Installed packages (%pip), after the standard library as site-packages.
    if os.environ.get("WASIPY_SITE"):
        sys.path.append(os.environ["WASIPY_SITE"])


# Where the worker is told which image to take, and says what became of it.
IMAGE_PATH = "/.wasipy/host/image"


class _TakeImage(Exception):
    """Unwinds the session to serve(), which hands control to the worker."""


# The reply held while the worker takes an image: a function sending it.
_held = None


def take_image(name):
    """Have the worker take an image of this interpreter named name, once
    the running cell's code is done and before its reply goes out."""
    with open(IMAGE_PATH, "w") as f:
        f.write(name)

    def pause(send_reply):
        global _held
        _held = send_reply
        raise _TakeImage

    runtime.pause = pause
    print(f"This session will be saved as snapshot {name!r} when this cell's code ends.", flush=True)


def _image_taken():
    """After the worker took the image: say what became of it, then send
    the reply that waited."""
    global _held
    try:
        with open(IMAGE_PATH) as f:
            result = json.load(f)
    except (OSError, ValueError) as e:
        result = {"error": f"no answer from the worker ({e})"}
    if result.get("error"):
        print(f"Snapshot {result.get('name', '')!r} not saved: {result['error']}", file=sys.stderr)
    else:
        print(f"Saved snapshot {result['name']!r} ({result['stored'] / 2**20:.1f} MiB). "
              f"Start a kernel from it with: wasipy-kernel --snapshot {result['name']}")
    send, _held = _held, None
    if send is not None:
        send()


def serve(mode=FRESH, environ=None):
    """Serve the session until the host closes the channel (CLOSED), or
    until a cell asks for an image to be taken (TAKE_IMAGE: the worker
    takes it, then calls serve(CONTINUE))."""
    global _held
    router = runtime
    if mode == RESTORED:
        _adopt_environ(environ or {})
        reopen_host_files()
        _reseed()
        # An image of a session: what was in flight belonged to its kernel.
        _held, router.pause = None, None
        router.inbox.clear()
    if mode != CONTINUE:
        router.channel.connect()
        _enter_session(_shell)
        router.send(proto.hello(language_info()))
    else:
        _image_taken()
    try:
        _wasipy_exec.serve_forever(router)
    except _TakeImage:
        flush_std()
        return TAKE_IMAGE
    return CLOSED


def main():
    """The whole life of an interpreter built as a command (python -c):
    prepared and served in one go."""
    prepare()
    serve(FRESH)
