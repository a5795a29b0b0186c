"""The guest side of wasipy: where the runtime's layers are put together.

The worker starts the interpreter with `import _wasipy_kernel;
_wasipy_kernel.main()`. main() builds the layers bottom up and runs the
shell's main loop until the host closes the channel:

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

import importlib
import os
import sys

import _wasipy_asyncio
import _wasipy_display
import _wasipy_exec
import _wasipy_ffi
import _wasipy_host
import _wasipy_magics
import _wasipy_process
import _wasipy_protocol as proto
from _wasipy_channel import Channel
from _wasipy_interrupt import install_handler
from _wasipy_rpc import Router

# The Router of this interpreter (for tests and tools that inspect it from
# a cell; no runtime module reads it).
runtime = None


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
    # Installed packages (%pip), after the standard library as site-packages.
    if os.environ.get("WASIPY_SITE"):
        sys.path.append(os.environ["WASIPY_SITE"])
    install_handler()

    router = runtime = Router(Channel())
    _wasipy_asyncio.setup(router)
    shell = _wasipy_exec.Shell(router.send)
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
    if "asyncio" in sys.modules:  # imported by the runtime after all: no hook saw it
        _wasipy_asyncio.install()
    router.send(proto.hello(language_info()))
    _wasipy_exec.serve_forever(router)
