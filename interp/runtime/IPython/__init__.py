"""wasipy's stand-in for IPython: the parts notebooks and libraries use
inside a kernel (IPython.display, get_ipython(), magics, pretty printing),
implemented on wasipy's own runtime.

When a real IPython is importable from elsewhere on sys.path (a folder the
user mounted), that one is loaded instead and this package steps aside.
"""

import os as _os
import sys as _sys


def _load_real():
    """Import a real IPython found after this runtime on sys.path; True if
    it replaced this package in sys.modules."""
    import importlib.machinery
    import importlib.util

    here = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    path = []
    for p in _sys.path:
        try:
            if _os.path.abspath(p or _os.curdir) != here:
                path.append(p)
        except (TypeError, ValueError):
            pass
    spec = importlib.machinery.PathFinder.find_spec(__name__, path)
    if spec is None or spec.loader is None:
        return False
    shim = _sys.modules[__name__]
    real = importlib.util.module_from_spec(spec)
    _sys.modules[__name__] = real
    try:
        spec.loader.exec_module(real)
    except Exception as e:
        for name in [n for n in _sys.modules if n == __name__ or n.startswith(__name__ + ".")]:
            del _sys.modules[name]
        _sys.modules[__name__] = shim
        print(f"wasipy: the IPython at {spec.origin} failed to import ({type(e).__name__}: {e}); "
              "using wasipy's own IPython module", file=_sys.stderr)
        return False
    return True


if not _load_real():
    version_info = (8, 0, 0, "")
    __version__ = "8.0.0"
    __wasipy__ = True

    from IPython.core.getipython import get_ipython
    from IPython.core.interactiveshell import InteractiveShell

    def embed(*args, **kwargs):
        raise NotImplementedError("IPython.embed() is not available in wasipy: there is no terminal")

    def start_ipython(*args, **kwargs):
        raise NotImplementedError("start_ipython() is not available in wasipy: the kernel is already running")

    start_kernel = start_ipython

    def __getattr__(name):
        if name in ("display", "core", "lib", "utils", "extensions"):
            import importlib
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
