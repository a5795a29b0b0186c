"""What the wasipy kernel offers Python code in its sandbox.

- HostError: raised when Go code that Python called fails.
- GoProxy: a Go value handed to Python without conversion; destroy() it,
  or use it in a with block, when done.
- to_go(value, depth=, default=): conversion options for a value going to
  Go (depth=0 passes a list or dict by reference); to_py(proxy, depth):
  a Go value copied into Python values.
- run_sync(awaitable): wait for an awaitable from synchronous code, even
  inside a cell that is itself awaiting.
- wasipy.http: HTTP requests done by the host (present when the kernel
  allows network access; see its fetch and fetch_sync).
"""

from _wasipy_asyncio import run_sync
from _wasipy_ffi import GoProxy, to_go, to_py
from _wasipy_host import HostError, StdinNotImplementedError

__all__ = ["GoProxy", "HostError", "StdinNotImplementedError", "run_sync", "to_go", "to_py"]
