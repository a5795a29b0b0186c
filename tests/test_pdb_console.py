"""pdb in `jupyter console --kernel wasipy` (issue 15), on a
pseudo-terminal: the console shows pdb's prompt for the kernel's
input_requests, the user steps through code and prints values, and Ctrl-C
at the pdb prompt interrupts the kernel, which ends the debugger and the
cell and goes on serving."""

import os

import pytest

import harness

CONSOLE = "/usr/bin/jupyter-console"


def _expect(c, pattern, what, timeout=60):
    import pexpect

    try:
        c.expect(pattern, timeout=timeout)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        screen = harness.strip_ansi(c.before if isinstance(c.before, str) else "")
        raise AssertionError(f"{what} ({type(e).__name__}); the terminal showed:\n{screen[-1500:]}") from None


def test_console_steps_through_code_in_pdb():
    """Promise: in jupyter console, breakpoint() gives a "(Pdb) " prompt;
    `p` prints a value, `n` steps to the next line (shown with its source),
    `c` lets the cell finish with its result; Ctrl-C at the pdb prompt ends
    the debugger with KeyboardInterrupt and the next prompt works."""
    try:
        import pexpect
    except ImportError:
        pytest.fail("pexpect is missing: install Debian's python3-pexpect")
    if not os.path.exists(CONSOLE):
        pytest.fail(f"{CONSOLE} is missing: install Debian's jupyter-console (tests/run.sh does)")
    env = dict(os.environ, TERM="dumb")
    c = pexpect.spawn(CONSOLE, ["--simple-prompt", "--kernel", "wasipy"], env=env,
                      cwd=harness.new_workdir("console-pdb-"), encoding="utf-8", timeout=60,
                      dimensions=(40, 200))
    tree = []
    try:
        _expect(c, r"In \[1\]: ", "no first prompt", timeout=120)
        tree = harness.process_tree(c.pid)
        # pdb's output comes on iopub and its prompt on stdin: the console
        # may show them in either order, so each step waits for the output
        # only (keys typed early wait in the terminal until pdb asks).
        # A module with a function to step into (the console's simple
        # prompt takes one line per cell).
        c.send("open('stepper.py', 'w').write('def g(x):\\n    y = x * 2\\n    return y + 2\\n')\r")
        _expect(c, r"In \[2\]: ", "the module was not written")
        c.send("import stepper; breakpoint(); r = stepper.g(20)\r")
        _expect(c, r"\(Pdb\) ", "breakpoint() showed no pdb prompt")
        c.send("p 20 * 3\r")
        _expect(c, r"60\r?\n", "`p 20 * 3` printed no 60")
        c.send("s\r")
        _expect(c, r"stepper.py\(1\)g\(\)\s+-> def g\(x\):", "`s` did not step into g")
        c.send("n\r")
        _expect(c, r"-> y = x \* 2", "`n` showed no next line")
        c.send("n\r")
        _expect(c, r"-> return y \+ 2", "`n` showed no next line")
        c.send("p y\r")
        _expect(c, r"40\r?\n", "`p y` printed no 40")
        c.send("c\r")
        _expect(c, r"In \[3\]: ", "`c` did not let the cell finish")
        c.send("r\r")
        _expect(c, r"Out\[3\]: 42", "the cell that was stepped through did not run to its end")
        _expect(c, r"In \[4\]: ", "no prompt after Out[3]")
        c.send("breakpoint(); z = 1\r")
        _expect(c, r"\(Pdb\) ", "the second breakpoint() showed no pdb prompt")
        c.sendintr()
        _expect(c, r"KeyboardInterrupt", "Ctrl-C at the pdb prompt did not end it with KeyboardInterrupt")
        _expect(c, r"In \[\d+\]: ", "no prompt after the interrupted debugger")
        c.send("print('z' in dir(), 6 * 7)\r")
        _expect(c, r"False 42", "the kernel did not carry on after the interrupted debugger")
        c.send("exit\r")  # the ask_exit payload ends the console
        c.expect(pexpect.EOF, timeout=60)
    finally:
        c.close(force=True)
        import psutil
        psutil.wait_procs(harness.alive(tree), timeout=30)
        for p in harness.alive(tree):
            p.kill()
