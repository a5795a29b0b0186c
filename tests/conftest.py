"""pytest wiring for wasipy's end-to-end tests.

Environment:
  WASIPY_KERNEL        the built kernel binary; when unset it is built with
                       `go build ./cmd/kernel` into a session temp dir.
  WASIPY_PYTHON_WASM   the interpreter; when unset, the data dir's
                       (${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-~/.local/share}/wasipy})
                       built python3.13/python.wasm, else its npm python.wasm.
                       A missing interpreter fails every test with the reason.

The session writes the kernelspec into a private Jupyter path (JUPYTER_PATH,
JUPYTER_DATA_DIR and friends point into a temp dir) before any test imports
a Jupyter client, and every kernel runs in its own temp working directory.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


_setup_error = None


def pytest_configure(config):
    global _setup_error
    try:
        harness.setup_env()
    except harness.SetupError as e:
        _setup_error = str(e)


@pytest.fixture(scope="session", autouse=True)
def wasipy_env():
    """The session's kernel binary, interpreter and Jupyter path.

    At the end of the session, no process started by the tests may remain.
    """
    if _setup_error:
        pytest.fail(f"wasipy test setup failed: {_setup_error}", pytrace=False)
    env = harness.setup_env()
    yield env
    left = harness.session_processes()
    if left:
        for p in left:
            try:
                p.kill()
            except Exception:
                pass
        pytest.fail(f"processes started by the tests were still running at the end: {harness.describe(left)}",
                    pytrace=False)


@pytest.fixture
def kernel(wasipy_env):
    """A fresh kernel for tests whose state matters; shut down (and checked
    for leftover processes) afterwards."""
    k = harness.Kernel.start()
    try:
        yield k
    finally:
        k.shutdown()


@pytest.fixture(scope="module")
def shared_kernel(wasipy_env):
    """One kernel for a whole module, for tests that do not depend on state."""
    k = harness.Kernel.start()
    try:
        yield k
    finally:
        k.shutdown()


@pytest.fixture
def start_kernel(wasipy_env):
    """Start extra kernels inside a test; all are shut down afterwards."""
    started = []

    def start(**kwargs):
        k = harness.Kernel.start(**kwargs)
        started.append(k)
        return k

    yield start
    errors = []
    for k in started:
        try:
            k.shutdown()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, errors
