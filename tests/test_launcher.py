"""The launcher contract through a real jupyter_client host: wasipy's
provisioner (kernelspec/provisioner) starts `wasipy-kernel launch`, which
binds its own ports and reports them, encrypted, on loopback.

The provisioner is installed into a private folder on sys.path and
PYTHONPATH (as install.sh installs it into the Python that runs Jupyter),
with a kernelspec "wasipy-gw" written by `wasipy-kernel kernelspec
--engine provisioner`.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

import harness
from test_nbconvert import NBCONVERT, TOUR, check_tour

GW_KERNEL = "wasipy-gw"
# Parallel nbconvert runs in test_parallel_batch; bench/launcher_batch.py
# runs more (32) for the published figure.
BATCH_RUNS = int(os.environ.get("WASIPY_BATCH_RUNS", "6"))


@pytest.fixture(scope="module")
def provisioner(wasipy_env):
    """Installs the provisioner and the kernelspec that uses it."""
    root = wasipy_env["root"]
    site = os.path.join(root, "provisioner-site")
    subprocess.run([sys.executable, os.path.join(harness.REPO, "kernelspec", "provisioner", "install_provisioner.py"), site],
                   check=True, timeout=60)
    spec_dir = os.path.join(wasipy_env["jupyter_path"], "kernels", GW_KERNEL)
    subprocess.run([wasipy_env["kernel"], "kernelspec", "--write", spec_dir, "--engine", "provisioner",
                    "--python-wasm", wasipy_env["python_wasm"], "--display-name", "wasipy (provisioner)"],
                   check=True, capture_output=True, timeout=60)
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = site + (os.pathsep + old_path if old_path else "")
    sys.path.insert(0, site)
    yield {"site": site, "spec_dir": spec_dir}
    sys.path.remove(site)
    if old_path is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old_path


def _kernel_cmdline(km):
    return psutil.Process(km.provisioner.process.pid).cmdline()


def test_provisioner_runs_notebook_with_nbclient(provisioner, tmp_path):
    """Promise: nbclient, through jupyter_client's KernelManager and the
    kernelspec's metadata.kernel_provisioner, runs the tour notebook on a
    kernel started in launch mode, with the same outputs as a locally
    launched kernel, and the kernel ends with the client."""
    from nbclient import NotebookClient

    from wasipy_provisioner import WasipyProvisioner

    nb = nbformat.read(TOUR, as_version=4)
    client = NotebookClient(nb, kernel_name=GW_KERNEL, timeout=120, startup_timeout=harness.START_TIMEOUT,
                            allow_errors=True, resources={"metadata": {"path": str(tmp_path)}})
    seen = {}

    def on_start(**_):
        seen["provisioner"] = type(client.km.provisioner)
        seen["cmdline"] = _kernel_cmdline(client.km)
        seen["procs"] = harness.process_tree(client.km.provisioner.process.pid)

    client.on_notebook_start = on_start
    client.execute()
    nb.metadata.kernelspec.name = "wasipy"  # check_tour checks the notebook's own kernel name
    check_tour(nb)
    assert seen["provisioner"] is WasipyProvisioner, seen
    assert seen["cmdline"][1] == "launch" and "--connection-file" not in seen["cmdline"], seen["cmdline"]
    assert not harness.alive(seen["procs"]), harness.describe(seen["procs"])


def test_provisioner_interrupt_restart_shutdown(provisioner):
    """Promise: a provisioned kernel is interrupted (interrupt_request),
    restarted (in place: the same process, ports and key, so the client
    made before the restart keeps working, with a fresh interpreter: its
    worker renewed, or a new one for an interpreter built as a command;
    tests/test_restart_in_place.py checks the rest) and shut down with no
    process left, through jupyter_client's own KernelManager."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=GW_KERNEL)
    km.start_kernel(cwd=harness.new_workdir())
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        first = dict(km.get_connection_info())
        first_pid = km.provisioner.process.pid
        first_workers = harness.process_tree(first_pid)[1:]
        msg_id = kc.execute("x = 5\nwhile True:\n    pass")
        time.sleep(1)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
        reply = kc.execute("x * 2", reply=True, timeout=30)
        assert reply["content"]["status"] == "ok"

        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=harness.START_TIMEOUT)
        assert km.provisioner.process.pid == first_pid
        if harness.built_python_version(harness.setup_env()["python_wasm"]):
            # wasipy's build renews the idle interpreter inside its worker.
            assert [p.pid for p in harness.process_tree(first_pid)[1:]] == [p.pid for p in first_workers]
        else:
            _, left = psutil.wait_procs(harness.alive(first_workers), timeout=10)
            assert not harness.alive(left), harness.describe(left)
        reply = kc.execute("x", reply=True, timeout=30)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "NameError", reply["content"]
        second = km.get_connection_info()
        # The old client keeps working: the kernel kept its ports and key.
        assert {k: second[k] for k in first} == first, (first, second)
        reply = kc.execute("print(1 + 1)", reply=True, timeout=30)
        assert reply["content"]["status"] == "ok"
        kc.stop_channels()
    finally:
        procs = harness.process_tree(km.provisioner.process.pid) if km.has_kernel else []
        km.shutdown_kernel(now=False)
        deadline = time.monotonic() + 10
        while harness.alive(procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not harness.alive(procs), harness.describe(procs)


def test_provisioner_reports_kernel_that_cannot_start(provisioner, tmp_path):
    """Promise: a kernel that exits before reporting fails the start at
    once with its exit status, instead of waiting out a timeout."""
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / "wasipy-broken"
    spec_dir.mkdir(parents=True)
    spec = harness.load_json(os.path.join(provisioner["spec_dir"], "kernel.json"))
    spec["argv"] = spec["argv"][:1] + ["--no-such-flag"] + spec["argv"][1:]
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    km = KernelManager(kernel_name="wasipy-broken", kernel_spec_manager=ksm)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with status 2"):
        km.start_kernel(cwd=harness.new_workdir())
    assert time.monotonic() - t0 < 30


def _nbconvert(kernel_name, notebook, outdir, timeout=600):
    t0 = time.monotonic()
    proc = subprocess.run(
        [NBCONVERT, "--to", "notebook", "--execute", "--allow-errors",
         f"--ExecutePreprocessor.kernel_name={kernel_name}", "--ExecutePreprocessor.startup_timeout=300",
         "--output-dir", outdir, notebook],
        cwd=os.path.dirname(outdir), env=os.environ.copy(), capture_output=True, text=True, timeout=timeout,
    )
    return proc, time.monotonic() - t0


def test_parallel_batch(provisioner, tmp_path):
    """Promise: notebooks executed by many `jupyter nbconvert --execute`
    runs started at once, in one folder, all succeed: the kernel binds its
    own ports before anyone is told them, so no run loses a port to another
    (no "address already in use")."""
    if not os.path.exists(NBCONVERT):
        pytest.fail(f"{NBCONVERT} is missing: install Debian's jupyter-nbconvert (tests/run.sh does)")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(BATCH_RUNS) as pool:
        runs = list(pool.map(lambda i: _nbconvert(GW_KERNEL, TOUR, str(tmp_path / f"out{i}")), range(BATCH_RUNS)))
    took = time.monotonic() - t0
    failed = [(p.returncode, p.stderr[-2000:]) for p, _ in runs if p.returncode != 0]
    assert not failed, failed
    for i in range(BATCH_RUNS):
        nb = nbformat.read(str(tmp_path / f"out{i}" / "tour.ipynb"), as_version=4)
        check_tour(nb)
    print(f"{BATCH_RUNS} parallel runs in {took:.1f} s: {BATCH_RUNS * 60 / took:.1f} notebooks/min")


def test_provisioner_rejects_bad_reports(provisioner):
    """Promise: the provisioner's side of the payload accepts what the Go
    kernel seals and rejects what it did not: another key, a wrong
    version, garbage, a report without a signing key or with a port out of
    range, so a forged report cannot point the client elsewhere."""
    import base64 as b64

    from Cryptodome.Cipher import AES, PKCS1_v1_5
    from Cryptodome.PublicKey import RSA
    from Cryptodome.Util.Padding import pad

    from wasipy_provisioner import connection_info, launch_argv, open_payload

    key, other = RSA.generate(1024), RSA.generate(1024)

    def seal(info, to=key, version=1):
        aes = os.urandom(16)
        ct = AES.new(aes, AES.MODE_ECB).encrypt(pad(json.dumps(info).encode(), 16))
        wrapped = PKCS1_v1_5.new(to.publickey()).encrypt(aes)
        env = {"version": version, "key": b64.b64encode(wrapped).decode(), "conn_info": b64.b64encode(ct).decode()}
        return b64.b64encode(json.dumps(env).encode())

    good = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5,
            "key": "k", "signature_scheme": "hmac-sha256", "kernel_id": "x"}
    assert connection_info(open_payload(seal(good), key), "127.0.0.1")["key"] == b"k"
    for bad in (seal(good, to=other), seal(good, version=2), b"!!", b64.b64encode(b"{}")):
        with pytest.raises(Exception):
            open_payload(bad, key)
    for change in ({"shell_port": 0}, {"hb_port": 70000}, {"iopub_port": "2"}, {"stdin_port": True}, {"signature_scheme": "none"},
                   {"key": None}):
        with pytest.raises(ValueError):
            connection_info(open_payload(seal(dict(good, **change)), key), "127.0.0.1")

    assert launch_argv(["/k", "--memory-limit", "1G", "--connection-file", "/r/k.json"], "/r/k.json", "127.0.0.1") == \
        ["/k", "launch", "--ip", "127.0.0.1", "--memory-limit", "1G"]
    assert launch_argv(["/k", "-f", "/r/k.json"], "/r/k.json", "::1") == ["/k", "launch", "--ip", "::1"]
    assert launch_argv(["/k", "launch", "--path", "/p"], "", "127.0.0.1") == ["/k", "launch", "--ip", "127.0.0.1", "--path", "/p"]
    # The provisioner's restart in place: the flag once, wherever the spec had it.
    assert launch_argv(["/k", "--restart-in-place", "-f", "/r/k.json"], "/r/k.json", "127.0.0.1", True) == \
        ["/k", "launch", "--ip", "127.0.0.1", "--restart-in-place"]
