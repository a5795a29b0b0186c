"""The shell class (what get_ipython() returns is an instance of it)."""

from _wasipy_ipshell import (  # noqa: F401
    ExecutionInfo,
    ExecutionResult,
    InteractiveShell,
    ZMQInteractiveShell,
)
