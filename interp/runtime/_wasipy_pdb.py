"""pdb in the kernel: breakpoint(), pdb.set_trace(), %debug and %pdb, as
in ipykernel.

pdb reads its commands with input(), which the runtime routes to the
frontend as input_requests (_wasipy_host), so the stock debugger already
talks to a notebook or a console. What this module changes, by replacing
pdb.Pdb with a subclass right after pdb's first import:

- an interrupt while pdb waits for a command ends the debugging session
  and the cell with KeyboardInterrupt (stock pdb catches it and prompts
  again, so a notebook user could never leave);
- pdb never installs its own SIGINT handler (it would replace the
  runtime's, which is what turns the kernel's interrupts into
  KeyboardInterrupt inside user code);
- the runtime's frames are skipped, stepping goes from one block of a
  cell to the next (a cell runs as its statements, then its last
  expression), and the debugger lets go when the cell is done, so
  stepping past the end of a cell does not walk into the kernel, nor
  stop in the next cell.

Imported the first time pdb is (see _wasipy_host), or by %debug / %pdb.
"""

import sys

# Frames of modules named so belong to the runtime: the debugger steps over
# them, and a frame they called is the user's outermost one.
_RUNTIME_PREFIX = "_wasipy_"


def _called_by_runtime(frame):
    back = frame.f_back
    return back is None or str(back.f_globals.get("__name__", "")).startswith(_RUNTIME_PREFIX)


# The runtime's functions that run user code for a request (a cell, its
# user_expressions, a comm handler): when one returns, the user's code is
# done and the debugger lets go.
_USER_CODE_RUNNERS = {("_wasipy_exec", "Shell._run"), ("_wasipy_exec", "Shell.user_expressions"),
                      ("_wasipy_exec", "Shell.run_handler.<locals>.run")}


def _ends_user_code(frame):
    code = frame.f_code
    return (frame.f_globals.get("__name__"), getattr(code, "co_qualname", code.co_name)) in _USER_CODE_RUNNERS


def _untrace():
    """Stop tracing, in this thread and in the frames pdb marked."""
    sys.settrace(None)
    frame = sys._getframe(1)
    while frame is not None:
        frame.f_trace = None
        frame = frame.f_back


def debugger_class(base):
    """wasipy's Pdb, a subclass of the standard library's `base`."""

    class Pdb(base):
        __doc__ = base.__doc__

        def __init__(self, completekey="tab", stdin=None, stdout=None, skip=None, nosigint=True,
                     readrc=True):
            # nosigint is always on: see the module's docstring.
            skip = list(skip or ()) + [_RUNTIME_PREFIX + "*"]
            super().__init__(completekey, stdin, stdout, skip=skip, nosigint=True, readrc=readrc)

        def _cmdloop(self):
            try:
                self.allow_kbdint = True
                self.cmdloop()
            except KeyboardInterrupt:
                self.message("--KeyboardInterrupt--")
                # Raised out of the trace function, the interrupt ends the
                # cell at the user's line; tracing must stop first.
                _untrace()
                raise
            finally:
                self.allow_kbdint = False

        def user_call(self, frame, argument_list):
            if _called_by_runtime(frame):
                return  # the start of a cell's block: stop at its first line, not at a "--Call--"
            super().user_call(frame, argument_list)

        def dispatch_return(self, frame, arg):
            if _ends_user_code(frame):
                # The cell is done: what runs next is the kernel's, and the
                # next cell must not stop in a debugger left behind.
                _untrace()
                return None
            if _called_by_runtime(frame) and self.stopframe in (None, frame) and not self.quitting:
                # A cell runs as blocks (its statements, then its last
                # expression, which is displayed): stepping off one block
                # goes on to the next one's first line, as if the cell
                # were one frame, instead of stopping at a "--Return--"
                # in the middle of the cell.
                self.set_step()
                return self.trace_dispatch
            return super().dispatch_return(frame, arg)

    Pdb.__module__ = base.__module__
    Pdb.__qualname__ = base.__qualname__
    return Pdb


def patch(module):
    """Make the pdb module's debugger wasipy's (run once, after pdb's
    first import): set_trace(), breakpoint(), post_mortem(), pm(), run()
    and Pdb() itself all create it."""
    base = module.Pdb
    if getattr(base, "_wasipy", False):
        return
    module.Pdb = debugger_class(base)
    module.Pdb._wasipy = True


def _pdb():
    import pdb  # the import patches it (the hook in _wasipy_host)
    patch(pdb)
    return pdb


def post_mortem(exc):
    """pdb on the frames of exc (an exception, whose __traceback__ starts
    at the user's outermost frame)."""
    debugger = _pdb().Pdb()
    debugger.reset()
    # 3.13's pdb takes the exception (and offers its chained ones);
    # earlier versions take the traceback.
    debugger.interaction(None, exc if sys.version_info >= (3, 13) else exc.__traceback__)


def run(code, globals, locals=None, breakpoint=None):
    """Run code (source or a code object) under the debugger (%debug
    STATEMENT): stopped at its first line, or with breakpoint=(file, line)
    at that line only."""
    debugger = _pdb().Pdb()
    if breakpoint is not None:
        filename, lineno = breakpoint
        error = debugger.set_break(debugger.canonic(filename), lineno)
        if error:
            print(error, file=sys.stderr)
            return
        # Run without stopping until the code reaches that file (what pdb
        # does for the main file of `python -m pdb`, and IPython here).
        debugger._wait_for_mainpyfile = True
        debugger.mainpyfile = debugger.canonic(filename)
        print(f"NOTE: Enter 'c' at the {debugger.prompt.strip()} prompt to continue execution.")
    debugger.run(code, globals, locals)
