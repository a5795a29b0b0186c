"""The fast tier: the guest runtime (interp/runtime) on the host's CPython.

Only the runtime's own modules (_wasipy_*) are made importable, by a finder
that knows no other name: its public shims (IPython, comm, ipykernel,
wasipy) must never shadow the host's real packages, which the end-to-end
tier (run in the same process by `pytest tests/`) uses.
"""

import importlib.abc
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = os.path.join(ROOT, "interp", "runtime")


class _RuntimeFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if "." in name or not name.startswith("_wasipy_"):
            return None
        file = os.path.join(RUNTIME, name + ".py")
        if not os.path.isfile(file):
            return None
        return importlib.util.spec_from_file_location(name, file)


if not any(isinstance(f, _RuntimeFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _RuntimeFinder())
