"""examples/tour.ipynb executed by Debian's jupyter-nbconvert (as the README
says) and by nbclient's API, with the saved outputs checked exactly."""

import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

import harness

TOUR = os.path.join(harness.REPO, "examples", "tour.ipynb")
NBCONVERT = "/usr/bin/jupyter-nbconvert"


def _streams(outputs, name):
    return "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == name)


def _results(outputs):
    return [o for o in outputs if o["output_type"] == "execute_result"]


def check_tour(nb):
    """The executed tour notebook has exactly the expected outputs."""
    assert nb.metadata.kernelspec.name == "wasipy"
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert len(cells) == 7, [c.source for c in cells]
    hello, result, live, func, stderr_cell, error, after = cells

    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, 8)), counts

    out = hello.outputs
    text = _streams(out, "stdout")
    assert re.fullmatch(r"Hello from wasipy!\nPython 3\.\d+\.\d+\n", text), text
    built = harness.built_python_version(harness.setup_env()["python_wasm"])
    assert built is None or text.startswith(f"Hello from wasipy!\nPython {built}."), (built, text)
    assert text.count("\n") == 2 and not _results(out), out

    [res] = _results(result.outputs)
    assert res["data"]["text/plain"] == "55"
    assert res["execution_count"] == result.execution_count
    assert _streams(result.outputs, "stdout") == ""

    assert _streams(live.outputs, "stdout") == "".join(f"step {i} of 4\n" for i in range(4)) + "done\n"
    assert not _results(live.outputs)

    [res] = _results(func.outputs)
    assert res["data"]["text/plain"] == "'Hello, notebook!'"

    assert _streams(stderr_cell.outputs, "stderr") == "a note on stderr\n"
    [res] = _results(stderr_cell.outputs)
    assert res["data"]["text/plain"] == "['Hello, Ada!', 'Hello, Grace!']"

    errs = [o for o in error.outputs if o["output_type"] == "error"]
    assert len(errs) == 1, error.outputs
    assert errs[0]["ename"] == "ZeroDivisionError"
    assert errs[0]["evalue"] == "division by zero"
    tb = harness.strip_ansi("\n".join(errs[0]["traceback"]))
    assert "1 / 0" in tb and "Cell In[6]" in tb, tb
    assert "/.wasipy/runtime" not in tb

    assert _streams(after.outputs, "stdout") == "still running after the error\n"
    [res] = _results(after.outputs)
    assert res["data"]["text/plain"] == "5"
    assert res["execution_count"] == 7


def _run_nbconvert(tmp_path, extra_args):
    if not os.path.exists(NBCONVERT):
        pytest.fail(f"{NBCONVERT} is missing: install Debian's jupyter-nbconvert (tests/run.sh does)")
    outdir = tmp_path / "out"
    proc = subprocess.run(
        [NBCONVERT, "--to", "notebook", "--execute", *extra_args, "--output-dir", str(outdir), TOUR],
        cwd=harness.REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"nbconvert failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    out = outdir / "tour.ipynb"
    assert out.exists(), proc.stderr
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    return nb


def test_tour_notebook_is_valid():
    nb = nbformat.read(TOUR, as_version=4)
    nbformat.validate(nb)
    ks = nb.metadata.kernelspec
    assert (ks.name, ks.language) == ("wasipy", "python")
    assert re.fullmatch(r"Python 3\.\d+ \(wasipy\)", ks.display_name), ks.display_name
    # Shipped without outputs, so the executed copy is all the kernel's work.
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None


def test_nbconvert_execute_allow_errors(tmp_path):
    nb = _run_nbconvert(tmp_path, ["--allow-errors", "--ExecutePreprocessor.kernel_name=wasipy"])
    check_tour(nb)


def test_nbconvert_readme_command(tmp_path):
    """The README's command: no --allow-errors and no kernel name; the
    notebook's metadata picks the kernel, the error cell is tagged."""
    nb = _run_nbconvert(tmp_path, [])
    check_tour(nb)


def test_nbconvert_fails_on_untagged_error(tmp_path):
    """Without the tag or --allow-errors, nbconvert must report the error
    (the kernel's error reply is what tells it)."""
    nb = nbformat.read(TOUR, as_version=4)
    for c in nb.cells:
        c.metadata.pop("tags", None)
    path = tmp_path / "untagged.ipynb"
    nbformat.write(nb, str(path))
    proc = subprocess.run(
        [NBCONVERT, "--to", "notebook", "--execute", "--output-dir", str(tmp_path / "out"), str(path)],
        cwd=str(tmp_path), env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    assert "ZeroDivisionError" in proc.stderr, proc.stderr


def test_nbclient_api(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(TOUR, as_version=4)
    client = NotebookClient(nb, kernel_name="wasipy", timeout=120, startup_timeout=harness.START_TIMEOUT,
                            allow_errors=True, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    check_tour(nb)
    assert client.km is None or not client.km.has_kernel


def test_nbclient_kernel_runs_in_notebook_folder(tmp_path):
    """Jupyter starts kernels in the notebook's folder: the cell sees it as
    its working directory and can read files next to the notebook."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    (tmp_path / "data.txt").write_text("next to the notebook")
    nb = new_notebook(cells=[new_code_cell("import os\nprint(os.getcwd())\nprint(open('data.txt').read())")],
                      metadata={"kernelspec": {"name": "wasipy", "display_name": "Python 3.12 (wasipy)",
                                               "language": "python"}})
    NotebookClient(nb, timeout=120, startup_timeout=harness.START_TIMEOUT,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = _streams(nb.cells[0].outputs, "stdout")
    assert out == f"{os.path.realpath(tmp_path)}\nnext to the notebook\n"
