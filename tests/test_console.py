"""`jupyter console --kernel wasipy` (Debian's jupyter-console) driven
through a pipe: code runs, output shows, and `exit` ends the session."""

import os
import re
import subprocess
import threading
import time

import psutil
import pytest

import harness

CONSOLE = "/usr/bin/jupyter-console"


class Console:
    """jupyter console on pipes; stdout is read by a thread so that stdin
    can stay open while we wait."""

    def __init__(self):
        if not os.path.exists(CONSOLE):
            pytest.fail(f"{CONSOLE} is missing: install Debian's jupyter-console (tests/run.sh does)")
        self.proc = subprocess.Popen(
            [CONSOLE, "--simple-prompt", "--kernel", "wasipy"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=harness.new_workdir("console-"), env=os.environ.copy(), text=True,
        )
        self.chunks = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.chunks.append(line)

    @property
    def output(self):
        return "".join(self.chunks)

    def send(self, text, close=False):
        self.proc.stdin.write(text)
        self.proc.stdin.flush()
        if close:
            self.proc.stdin.close()

    def wait(self, timeout):
        """The exit code, or None when the console did not end in time (it is
        then ended: EOF, then its process tree is killed)."""
        try:
            code = self.proc.wait(timeout=timeout)
            self.reader.join(10)
            return code
        except subprocess.TimeoutExpired:
            pass
        tree = harness.process_tree(self.proc.pid)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for p in reversed(tree):
                try:
                    p.kill()
                except psutil.Error:
                    pass
            self.proc.wait(timeout=30)
        psutil.wait_procs(harness.alive(tree), timeout=15)
        self.reader.join(10)
        return None


def test_console_runs_code_until_end_of_input():
    c = Console()
    # End of input: the console asks whether to exit, reads EOF, exits.
    c.send("print(6*7)\nx = 'wasi'\nx.upper()\n", close=True)
    code = c.wait(120)
    out = c.output
    assert code == 0, f"console did not end on end of input:\n{out}"
    assert "42" in out, out
    assert "'WASI'" in out, out
    assert "Out[3]" in out, out
    # The kernel's banner names the interpreter the session runs.
    assert re.search(r"Python 3\.\d+", out), out
    built = harness.built_python_version(harness.setup_env()["python_wasm"])
    assert built is None or f"Python {built}" in out, (built, out)


def test_console_exit_ends_session():
    c = Console()
    t0 = time.monotonic()
    # stdin stays open: only `exit` can end the console here.
    c.send("print(6*7)\nexit\n")
    code = c.wait(30)
    out = c.output
    assert "42" in out, out
    assert code == 0, f"`exit` did not end jupyter console within 30 s (as it does with ipykernel):\n{out}"
    assert time.monotonic() - t0 < 30


def test_console_shows_errors():
    c = Console()
    c.send("1/0\nprint('after', 2+2)\n", close=True)
    code = c.wait(120)
    out = harness.strip_ansi(c.output)
    assert code == 0, out
    assert "ZeroDivisionError" in out, out
    assert "after 4" in out, out


# ---- a real terminal ----------------------------------------------------------------

ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"  # prompt_toolkit colours the prompt


def _loose(text):
    """A regex for text as a terminal shows it: colour codes may come
    between any two characters."""
    import re

    return ANSI.join(re.escape(ch) for ch in text)


def _prompt(n):
    return _loose(f"In [{n}]:")


def _expect(c, pattern, what, timeout=-1):
    import pexpect

    try:
        c.expect(pattern, timeout=timeout)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        screen = harness.strip_ansi((c.before or "") if isinstance(c.before, str) else "")
        raise AssertionError(f"{what} ({type(e).__name__}); the terminal showed:\n{screen[-1500:]}") from None


def test_console_interactive_terminal(kernel_name="wasipy"):
    """jupyter console on a pseudo-terminal with its full prompt_toolkit UI:
    run a line, type a multi-line block (the console asks the kernel
    is_complete and auto-indents), finish it with an empty line, and leave
    with Ctrl-D."""
    try:
        import pexpect
    except ImportError:
        pytest.fail("pexpect is missing: install Debian's python3-pexpect")
    if not os.path.exists(CONSOLE):
        pytest.fail(f"{CONSOLE} is missing: install Debian's jupyter-console (tests/run.sh does)")
    env = dict(os.environ, TERM="xterm")
    c = pexpect.spawn(CONSOLE, ["--kernel", kernel_name], env=env, cwd=harness.new_workdir("console-pty-"),
                      encoding="utf-8", timeout=30, dimensions=(40, 120))
    tree = []
    try:
        _expect(c, _prompt(1), "no first prompt", timeout=120)
        tree = harness.process_tree(c.pid)
        c.send("print(6*7)\r")
        _expect(c, "42", "print(6*7) showed no 42")
        _expect(c, _prompt(2), "no second prompt")
        # A block: Enter after the header continues, Enter on the
        # auto-indented empty line ends it.
        c.send("for i in range(2):\r")
        _expect(c, _loose("...:"), "no continuation prompt after a block header")
        c.send("print('loop', i * 10)\r")
        c.send("\r")
        _expect(c, "loop 10", "an empty line did not end the block: the console kept asking for more lines "
                "(is_complete_reply for a block whose last line holds only the auto-indent must be "
                "'complete', as ipykernel answers)")
        _expect(c, _prompt(3), "no third prompt")
        c.send("6 * 7\r")
        _expect(c, _loose("Out[3]: 42"), "no Out[3]: 42")
        _expect(c, _prompt(4), "no fourth prompt")
        c.sendcontrol("d")
        _expect(c, "exit", "Ctrl-D did not ask to exit")
        c.send("y\r")
        _expect(c, pexpect.EOF, "the console did not end after confirming exit")
        c.close()
        assert c.exitstatus == 0
    finally:
        tree = tree or harness.process_tree(c.pid)
        if c.isalive():
            c.terminate(force=True)
        _, left = psutil.wait_procs(harness.alive(tree), timeout=15)
        for p in harness.alive(left):
            p.kill()
    assert not harness.alive(tree), f"left running after the console ended: {harness.describe(harness.alive(tree))}"
