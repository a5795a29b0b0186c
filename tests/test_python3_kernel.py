"""wasipy installed as the `python3` kernel (issue #19): notebooks saved for
ipykernel, whose metadata names `python3`, run unchanged through Jupyter's
own clients (nbclient, `jupyter nbconvert --execute`), in the sandbox.

The kernelspec is installed the way install.sh --kernel-name python3 does it
(`jupyter kernelspec install --name python3` of what `wasipy-kernel
kernelspec --write` wrote), into a private prefix that JUPYTER_PATH puts
before ipykernel's own `python3`.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import harness

NBCONVERT = "/usr/bin/jupyter-nbconvert"


@pytest.fixture(scope="module")
def python3_path(wasipy_env, tmp_path_factory):
    """wasipy installed as `python3` by install.sh --kernel-name python3
    into a private prefix; returns the JUPYTER_PATH value that puts it
    first (before ipykernel's own python3)."""
    root = tmp_path_factory.mktemp("python3-install")
    prefix, data = root / "prefix", root / "data"
    env = dict(os.environ, PATH=os.path.dirname(harness._find_go()) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([os.path.join(harness.REPO, "install.sh"), "--kernel-name", "python3",
                           "--python-wasm", wasipy_env["python_wasm"], "--prefix", str(prefix),
                           "--data-dir", str(data)],
                          cwd=harness.REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"install.sh failed:\n{proc.stdout}\n{proc.stderr}"
    path = str(prefix / "share" / "jupyter")
    assert os.path.isfile(os.path.join(path, "kernels", "python3", "kernel.json")), proc.stdout
    return path + os.pathsep + os.environ["JUPYTER_PATH"]


def test_install_as_python3_keeps_the_wasipy_name(python3_path):
    """Promise: install.sh --kernel-name python3 installs a kernelspec that
    Jupyter finds as `python3` (before ipykernel's), whose display name
    still says wasipy; an invalid name is refused before anything is done."""
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager(kernel_dirs=[os.path.join(p, "kernels") for p in python3_path.split(os.pathsep)])
    spec = ksm.get_kernel_spec("python3")
    assert spec.resource_dir.startswith(python3_path.split(os.pathsep)[0]), spec.resource_dir
    assert "wasipy" in spec.display_name, spec.display_name
    assert os.path.basename(spec.argv[0]) == "wasipy-kernel", spec.argv
    proc = subprocess.run([os.path.join(harness.REPO, "install.sh"), "--kernel-name", "../x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "invalid --kernel-name" in proc.stderr, proc.stderr


@pytest.fixture
def as_python3(python3_path, monkeypatch):
    """In-process Jupyter clients find wasipy as `python3`."""
    monkeypatch.setenv("JUPYTER_PATH", python3_path)
    return python3_path


def python3_notebook(*sources):
    """A notebook as ipykernel saves it: its metadata names python3."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _stdout(cell):
    return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")


def _errors(cell):
    return [o for o in cell.outputs if o["output_type"] == "error"]


# What the notebook checks, cell by cell, and check_outputs verifies.
PLATFORM = "import sys; print(sys.platform)"
HISTORY = ("hm = get_ipython().history_manager\n"
           "print(repr(hm.hist_file), hm.enabled)")
SHIM = textwrap.dedent("""\
    ip = get_ipython()
    msg = ip.kernel.session.send(ip.kernel.iopub_socket, 'display_data',
                                 {'data': {'text/plain': 'sent by session.send', 'text/html': '<b>shim</b>'},
                                  'metadata': {}},
                                 parent=ip.parent_header)
    ip.kernel.session.send(ip.kernel.iopub_socket, 'stream', {'name': 'stdout', 'text': 'streamed by session\\n'},
                           parent=ip.parent_header)
    print(msg['msg_type'], msg['parent_header']['msg_type'])
    """)


def check_outputs(nb):
    platform, history, shim = [c for c in nb.cells if c.cell_type == "code"]
    assert _stdout(platform) == "wasi\n", platform.outputs
    # nbclient passes --HistoryManager.hist_file=:memory: to every kernel.
    assert _stdout(history) == "':memory:' True\n", history.outputs
    displays = [o for o in shim.outputs if o["output_type"] == "display_data"]
    assert [d["data"] for d in displays] == [{"text/plain": "sent by session.send", "text/html": "<b>shim</b>"}], \
        shim.outputs
    assert _stdout(shim) == "streamed by session\ndisplay_data execute_request\n", shim.outputs
    assert not any(_errors(c) for c in nb.cells if c.cell_type == "code")


def test_nbclient_runs_python3_notebook(as_python3, tmp_path):
    """Promise: a notebook saved for ipykernel (kernelspec python3) runs
    unchanged under nbclient when wasipy is installed as python3: the cell
    sees sys.platform 'wasi', nbclient's --HistoryManager.hist_file=:memory:
    is accepted and visible as get_ipython().history_manager.hist_file, and
    get_ipython().kernel.session.send(iopub_socket, 'display_data', ...)
    puts its display in the cell's outputs."""
    from nbclient import NotebookClient

    nb = python3_notebook(PLATFORM, HISTORY, SHIM)
    client = NotebookClient(nb, timeout=120, startup_timeout=harness.START_TIMEOUT,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    assert nb.metadata.kernelspec.name == "python3"
    check_outputs(nb)


def test_nbconvert_executes_python3_notebook(python3_path, tmp_path):
    """Promise: `jupyter nbconvert --to notebook --execute` of a python3
    notebook, with wasipy installed as python3, succeeds (no "flag provided
    but not defined: -HistoryManager.hist_file") and the executed copy holds
    the sandbox's outputs."""
    if not os.path.exists(NBCONVERT):
        pytest.fail(f"{NBCONVERT} is missing: install Debian's jupyter-nbconvert (tests/run.sh does)")
    path = tmp_path / "any.ipynb"
    nbformat.write(python3_notebook(PLATFORM, HISTORY, SHIM), str(path))
    env = dict(os.environ, JUPYTER_PATH=python3_path)
    proc = subprocess.run([NBCONVERT, "--to", "notebook", "--execute", "--output-dir", str(tmp_path / "out"),
                           str(path)], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"nbconvert failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "flag provided but not defined" not in proc.stderr, proc.stderr
    nb = nbformat.read(str(tmp_path / "out" / "any.ipynb"), as_version=4)
    check_outputs(nb)


def test_ipython_options_on_the_command_line(as_python3):
    """Promise: IPython-style options Jupyter passes to a python3 kernel
    are never fatal: HistoryManager.enabled=False and hist_file take effect
    (visible to cell code; with enabled=False history_request finds
    nothing), unknown Class.trait options are ignored, and the kernel
    serves."""
    k = harness.Kernel.start(extra_arguments=["--HistoryManager.enabled=False",
                                              "--HistoryManager.hist_file", ":memory:",
                                              "--IPKernelApp.matplotlib=inline"])
    try:
        r = k.execute("hm = get_ipython().history_manager; print(hm.hist_file, hm.enabled)")
        assert r.status == "ok", r.summary()
        assert r.stdout == ":memory: False\n", r.summary()
        # enabled=False: the kernel keeps no history at all.
        h = k.request("history_request", {"hist_access_type": "tail", "n": 10, "output": False, "raw": True})
        assert h.reply["status"] == "ok" and h.reply["history"] == [], h.reply
    finally:
        k.shutdown()


def test_unknown_plain_flag_still_fails(wasipy_env):
    """Promise: an unknown plain flag (not Class.trait) still ends the
    kernel at once with the flag package's clear message."""
    proc = subprocess.run([wasipy_env["kernel"], "--no-such-flag", "-f", "/nonexistent.json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "flag provided but not defined: -no-such-flag" in proc.stderr


def test_session_send_refuses_other_channels_and_kinds(as_python3):
    """Promise: the iopub shim publishes only on iopub and only the kinds
    cell code may already emit; anything else is a clear error in the cell,
    and the kernel serves on."""
    k = harness.Kernel.start()
    try:
        r = k.execute("ip = get_ipython(); ip.kernel.session.send(ip.kernel.iopub_socket, 'status', "
                      "{'execution_state': 'idle'})")
        assert r.status == "error" and r.errors[0]["ename"] == "ValueError", r.summary()
        r = k.execute("ip = get_ipython(); ip.kernel.session.send(object(), 'display_data', {'data': {}})")
        assert r.status == "error" and "iopub_socket only" in r.errors[0]["evalue"], r.summary()
        r = k.execute("print('alive')")
        assert r.stdout == "alive\n", r.summary()
    finally:
        k.shutdown()


# ---- the client's death ---------------------------------------------------

CLIENT = textwrap.dedent("""\
    import sys
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name=sys.argv[1])
    km.start_kernel(cwd=sys.argv[2])
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    print(km.provisioner.process.pid, flush=True)
    kc.execute("import time\\nprint('running', flush=True)\\ntime.sleep(600)")
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg['msg_type'] == 'stream' and 'running' in msg['content']['text']:
            print('running', flush=True)
            break
    import time
    time.sleep(600)
    """)


def _kill_client_and_check(kernel_name, jupyter_path, tmp_path):
    env = dict(os.environ, JUPYTER_PATH=jupyter_path)
    client = subprocess.Popen([sys.executable, "-c", CLIENT, kernel_name, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = []
    try:
        line = client.stdout.readline()
        assert line.strip().isdigit(), f"the client did not start a kernel: {line!r} {client.stderr.read()}"
        launched = psutil.Process(int(line))
        assert client.stdout.readline().strip() == "running", client.stderr.read()
        procs = harness.process_tree(launched.pid)
        assert any("wasipy-kernel" in " ".join(p.cmdline()) for p in procs), harness.describe(procs)
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=10)
        # ipykernel polls every second; give a loaded machine some slack.
        _, left = psutil.wait_procs(harness.alive(procs), timeout=15)
        left = harness.alive(left)
        assert not left, f"kernel processes outlived the client killed with SIGKILL: {harness.describe(left)}"
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        for p in harness.alive(procs):
            p.kill()


def test_client_killed_leaves_no_kernel(python3_path, tmp_path):
    """Promise: when the client that started the kernel (jupyter_client's
    KernelManager, which sets JPY_PARENT_PID) is killed with SIGKILL while a
    cell runs, the kernel and its interpreter worker end too."""
    _kill_client_and_check("python3", python3_path, tmp_path)


def test_client_killed_leaves_no_kernel_behind_a_shell(wasipy_env, tmp_path):
    """Promise: the same when kernel.json's argv starts the kernel through a
    shell that stays its parent (so the kernel's parent is not the client
    and PR_SET_PDEATHSIG alone could not see the client die)."""
    spec = json.load(open(os.path.join(wasipy_env["jupyter_path"], "kernels", "wasipy", "kernel.json")))
    # `"$0" "$@"; :` keeps the shell alive as the kernel's parent.
    spec["argv"] = ["/bin/sh", "-c", '"$0" "$@"; :'] + spec["argv"]
    path = tmp_path / "jp"
    (path / "kernels" / "wasipy-sh").mkdir(parents=True)
    (path / "kernels" / "wasipy-sh" / "kernel.json").write_text(json.dumps(spec))
    _kill_client_and_check("wasipy-sh", str(path) + os.pathsep + os.environ["JUPYTER_PATH"], tmp_path)


# ---- cell code that ends its own process -----------------------------------

ENDINGS = [
    ("import os\nos._exit(3)", 3),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)", 128 + signal.SIGTERM),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", 128 + signal.SIGKILL),
    ("import os\nos.abort()", 128 + signal.SIGABRT),
    ("import signal\nsignal.raise_signal(signal.SIGTERM)", 128 + signal.SIGTERM),
]


@pytest.mark.parametrize("code,status", ENDINGS, ids=["_exit", "SIGTERM", "SIGKILL", "abort", "raise_signal"])
def test_ending_calls_end_the_kernel(wasipy_env, code, status):
    """Promise: os._exit(n), os.kill(os.getpid(), SIGTERM or SIGKILL),
    os.abort() and signal.raise_signal(SIGTERM) in a cell end the kernel
    process (and its worker), as ipykernel's process ends, with the status
    a shell would show; output printed before is still delivered; the cell
    gets no reply."""
    k = harness.Kernel.start()
    try:
        tree = k.tree()
        msg_id = k.execute_async(f"print('last words', flush=True)\n{code}")
        proc = k.km.provisioner.process
        rc = proc.wait(timeout=60)
        assert rc == status, f"kernel exit status {rc}, want {status}"
        _, left = psutil.wait_procs(harness.alive(tree), timeout=15)
        assert not harness.alive(left), harness.describe(left)
        texts = []
        try:
            while True:
                m = k.kc.get_iopub_msg(timeout=2)
                if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
                    texts.append(m["content"]["text"])
        except Exception:
            pass
        assert "last words\n" in "".join(texts), texts
        with pytest.raises(Exception):
            k.kc.get_shell_msg(timeout=1)
    finally:
        k.shutdown(check=False)


def test_sigint_to_self_raises_keyboard_interrupt(wasipy_env):
    """Promise: os.kill(os.getpid(), SIGINT) raises KeyboardInterrupt in the
    cell (the kernel lives on, its state kept); other pids are out of reach
    (ProcessLookupError), and signal 0 only says the process exists."""
    k = harness.Kernel.start()
    try:
        k.ok("kept = 1")
        r = k.execute("import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nprint('not reached')")
        assert r.status == "error" and r.reply["ename"] == "KeyboardInterrupt", r.summary()
        assert "not reached" not in r.stdout
        r = k.execute("import os, signal\nos.kill(1, signal.SIGKILL)")
        assert r.status == "error" and r.reply["ename"] == "ProcessLookupError", r.summary()
        r = k.execute("os.kill(os.getpid() + 1, signal.SIGTERM)")
        assert r.status == "error" and r.reply["ename"] == "ProcessLookupError", r.summary()
        r = k.execute("print(os.kill(os.getpid(), 0), kept)")
        assert r.stdout == "None 1\n", r.summary()
        assert k.km.is_alive()
    finally:
        k.shutdown()


def test_keep_on_exit_replaces_the_interpreter(wasipy_env):
    """Promise: with --keep-on-exit (wasipy's former behaviour), os._exit
    in a cell replaces the interpreter and the kernel process lives on."""
    k = harness.Kernel.start(extra_arguments=["--keep-on-exit"])
    try:
        pid = k.pid
        r = k.execute("import os\nos._exit(1)")
        assert r.status == "error", r.summary()
        assert k.ok("print('works')").stdout == "works\n"
        assert k.pid == pid and k.km.is_alive()
    finally:
        k.shutdown()


def test_nbclient_sees_the_kernel_die(as_python3, tmp_path):
    """Promise: nbclient running a python3 notebook raises DeadKernelError
    when a cell sends SIGTERM to its own process, and reports
    KeyboardInterrupt (CellExecutionError) for SIGINT."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    nb = python3_notebook("import os, signal\nos.kill(os.getpid(), signal.SIGINT)")
    client = NotebookClient(nb, timeout=120, startup_timeout=harness.START_TIMEOUT,
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError, match="KeyboardInterrupt"):
        client.execute()

    nb = python3_notebook("print('before')", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)",
                          "print('never')")
    client = NotebookClient(nb, timeout=120, startup_timeout=harness.START_TIMEOUT,
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(DeadKernelError):
        client.execute()
    assert _stdout(nb.cells[0]) == "before\n"
    assert nb.cells[2].outputs == []
