"""What the host (the Go kernel) does for Python: input() and getpass
through the frontend, and the errors that cross from Go."""

import builtins
import sys

import _wasipy_protocol as proto
from _wasipy_channel import keep_open
from _wasipy_rpc import HostError, register_error  # noqa: F401  (HostError: public here too)


class StdinNotImplementedError(NotImplementedError):
    """input() in a request that does not allow stdin (as in ipykernel)."""


register_error(StdinNotImplementedError)

# What input() needs, given by install(): the Shell (whether the running
# request allows stdin) and the Router (to ask the host).
_shell = None
_router = None


def _ask(prompt, password):
    if _shell is None or _router is None:
        raise RuntimeError("input() through the frontend needs the wasipy kernel")
    if not _shell.allow_stdin:
        raise StdinNotImplementedError(
            "raw_input was called, but this frontend does not support input requests.")
    prompt = "" if prompt is None else str(prompt)
    sys.stdout.flush()
    sys.stderr.flush()
    return _router.request(proto.METHOD_INPUT, {"prompt": prompt, "password": password})


def input(prompt=""):
    """input() through the frontend's stdin channel."""
    return _ask(prompt, False)


def getpass(prompt="Password: ", stream=None):
    """getpass.getpass() through the frontend, with the answer hidden."""
    return _ask(prompt, True)


def _after_getpass(module):
    module.getpass = getpass


def _after_pdb(module):
    # breakpoint(), pdb.set_trace(): the kernel's debugger (_wasipy_pdb).
    import _wasipy_pdb
    _wasipy_pdb.patch(module)


def _after_asyncio(module):
    # The host-driven event loop becomes the default.
    import _wasipy_asyncio
    _wasipy_asyncio.install()


# module name -> fn(module), run right after its first import.
_AFTER_IMPORT = {"asyncio": _after_asyncio, "getpass": _after_getpass, "pdb": _after_pdb}


def after_import(name, fn):
    """Run fn(module) right after module `name` is first imported (a layer
    above registers its adaptations: urllib through wasipy.http)."""
    _AFTER_IMPORT[name] = fn


class _PatchOnImport:
    """Adapts modules right after their first import instead of at
    start-up: asyncio and urllib are costly to import on this
    interpreter, and most sessions never use them."""

    def find_spec(self, name, path, target=None):
        after = _AFTER_IMPORT.get(name)
        if after is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, after)
                return spec
        return None


class _PatchingLoader:
    """Runs the real loader, then the module's after-import step."""

    def __init__(self, loader, after):
        self._loader = loader
        self._after = after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._after(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _install_cpu_clock():
    """time.process_time() and os.times() from the host's CPU clock:
    wasi-libc has none (its times() is the monotonic clock, so CPython's
    process_time ran during sleeps and in the wrong unit)."""
    import os
    import time

    fd = [-1]  # reopened after a restore (keep_open)

    def reopen():
        try:
            fd[0] = os.open("/.wasipy/host/cputime", os.O_RDONLY)
        except OSError:
            fd[0] = -1

    keep_open(reopen)
    if fd[0] < 0:
        return

    def process_time_ns():
        return int(os.pread(fd[0], 32, 0))

    def process_time():
        return process_time_ns() / 1e9

    start = time.monotonic()

    def times():
        cpu = process_time()
        return os.times_result((cpu, 0.0, 0.0, 0.0, time.monotonic() - start))

    time.process_time_ns = time.thread_time_ns = process_time_ns
    time.process_time = time.thread_time = process_time
    os.times = times


def install(shell, router):
    global _shell, _router
    _shell, _router = shell, router
    _install_cpu_clock()
    sys.meta_path.insert(0, _PatchOnImport())
    builtins.input = input
    for name in ("getpass", "pdb"):
        if name in sys.modules:  # imported before the hook: patch it now
            _AFTER_IMPORT[name](sys.modules[name])
