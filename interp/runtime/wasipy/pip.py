"""Installing packages from Python code, as %pip does (micropip-style).

    import wasipy.pip
    await wasipy.pip.install("tabulate>=0.8", index_urls=["http://127.0.0.1:8000/simple"])
    wasipy.pip.list()        # [("tabulate", "0.8.9"), ...]
    wasipy.pip.uninstall("tabulate")

Only pure-Python wheels install (the interpreter cannot load C
extensions). Downloads go through the kernel, to the hosts its --allow-net
option allows; hashes are checked and the kernel writes the files, into a
folder this sandbox can read but not change.
"""

import builtins

import _wasipy_pip
from _wasipy_pip import PipError

__all__ = ["PipError", "freeze", "install", "list", "show", "uninstall"]


async def install(requirements, *, index_urls=None, find_links=(), upgrade=False, deps=True, quiet=False):
    """Resolve and install requirements (a string or a list of them);
    returns the "name-version" of each distribution installed. Downloads
    are awaited (the kernel does them), so other tasks of the event loop
    keep running meanwhile."""
    if isinstance(requirements, str):
        requirements = [requirements]
    return await _wasipy_pip.install_async(builtins.list(requirements), index_urls=index_urls, find_links=builtins.list(find_links),
                               upgrade=upgrade, deps=deps, quiet=quiet)


def uninstall(names):
    """Remove installed distributions; returns the "name-version" of each."""
    if isinstance(names, str):
        names = [names]
    return _wasipy_pip.uninstall(builtins.list(names))


def list():
    """(name, version) of every installed distribution."""
    return _wasipy_pip.list_installed()


def freeze():
    """"name==version" lines of every installed distribution."""
    return _wasipy_pip.freeze()


def show(name):
    """pip show's text for an installed distribution, or None."""
    return _wasipy_pip.show(name)
