"""`jupyter console --kernel wasipy` (Debian's jupyter-console) driven
through a pipe: code runs, output shows, and `exit` ends the session."""

import os
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
    assert "Python 3.12" in out, out  # the kernel's banner


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
