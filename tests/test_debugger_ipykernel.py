"""ipykernel's own debugger tests (Debian's python3-ipykernel ships them as
ipykernel/tests/test_debugger.py), run against wasipy.

Promise: JupyterLab's visual debugger protocol, as ipykernel's suite checks
it (initialize, attach, evaluate, dumpCell, setBreakpoints, debugInfo,
configurationDone, stopping at a breakpoint, stackTrace, scopes, variables,
inspectVariables, richInspectVariables at a breakpoint and outside one),
holds for the wasipy kernel.

Nothing of ipykernel is copied: its test module is imported at run time and
its tests run here with its own `kernel_with_debug` fixture, on top of a
`kernel` fixture that starts the `wasipy` kernelspec the harness installs
instead of ipykernel. The module imports debugpy only to skip itself when
it is missing (wasipy does not use it); without ipykernel's tests or
debugpy, this file skips.
"""

import pytest

import harness

upstream = pytest.importorskip("ipykernel.tests.test_debugger")


@pytest.fixture
def kernel(wasipy_env):
    """What ipykernel's tests call `kernel`: a client of a fresh kernel,
    here a wasipy one."""
    k = harness.Kernel.start()
    try:
        yield k.kc
    finally:
        k.shutdown()


kernel_with_debug = upstream.kernel_with_debug

test_debug_initialize = upstream.test_debug_initialize
test_attach_debug = upstream.test_attach_debug
test_set_breakpoints = upstream.test_set_breakpoints
test_stop_on_breakpoint = upstream.test_stop_on_breakpoint
test_rich_inspect_not_at_breakpoint = upstream.test_rich_inspect_not_at_breakpoint
test_rich_inspect_at_breakpoint = upstream.test_rich_inspect_at_breakpoint


def test_breakpoint_in_cell_with_leading_empty_lines(kernel_with_debug):
    """ipykernel skips this one on Python >= 3.10 (its input transformers
    drop a cell's leading empty lines); wasipy keeps a cell's lines as they
    are, so it runs here, without the skip mark (which only marks: calling
    the function runs it)."""
    upstream.test_breakpoint_in_cell_with_leading_empty_lines(kernel_with_debug)
