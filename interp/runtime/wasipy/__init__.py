"""What the wasipy kernel offers Python code in its sandbox.

- HostError: raised when Go code that Python called fails.
- GoProxy: a Go value handed to Python without conversion; destroy() it,
  or use it in a with block, when done.
- wasipy.http: HTTP requests done by the host (present when the kernel
  allows network access; see its fetch and fetch_sync).
"""

from _wasipy_ffi import GoProxy
from _wasipy_host import HostError, StdinNotImplementedError

__all__ = ["GoProxy", "HostError", "StdinNotImplementedError"]
