"""Each kernelspec is its own package environment (issue 9: "a host folder
per environment, default under the data dir, per kernelspec")."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import pipindex  # noqa: E402


def _err(r):
    return "\n".join(f"{e['ename']}: {e['evalue']}" for e in r.errors) + r.stderr


def test_two_kernelspecs_do_not_share_packages(wasipy_env, tmp_path):
    """Promise: without --site-dir, %pip installs into the data dir's
    site/KERNEL_NAME, so two kernelspecs never see each other's packages:
    one whose folder `wasipy-kernel kernelspec --write` put in its argv,
    and one written by hand (no --site-dir) whose kernel takes the folder
    from the kernel_name of its connection file."""
    import harness

    data = str(tmp_path / "data")
    env = {**os.environ, "WASIPY_DATA_DIR": data}
    kernels = os.path.join(wasipy_env["jupyter_path"], "kernels")
    spec_a = os.path.join(kernels, "pip-env-a")
    subprocess.run([wasipy_env["kernel"], "kernelspec", "--write", spec_a,
                    "--python-wasm", wasipy_env["python_wasm"]], env=env, check=True, capture_output=True)
    spec = json.load(open(os.path.join(spec_a, "kernel.json")))
    assert spec["argv"][spec["argv"].index("--site-dir") + 1] == os.path.join(data, "site", "pip-env-a"), spec["argv"]
    # The second kernelspec, as a user might write it: no --site-dir.
    i = spec["argv"].index("--site-dir")
    spec_b = dict(spec, argv=spec["argv"][:i] + spec["argv"][i + 2:], display_name="pip env b")
    os.makedirs(os.path.join(kernels, "pip-env-b"))
    with open(os.path.join(kernels, "pip-env-b", "kernel.json"), "w") as f:
        json.dump(spec_b, f)

    folder = str(tmp_path / "wheels")
    with pipindex.Index(folder, pipindex.build(folder)) as index:
        net = ["--allow-net", f"127.0.0.1:{index.port}", "--index-url", index.url + "/simple"]

        def start(name):
            return harness.Kernel.start(configure=lambda km: setattr(km, "kernel_name", name),
                                        extra_arguments=net, env=env)

        a = start("pip-env-a")
        try:
            b = start("pip-env-b")
            try:
                r = a.execute("%pip install six")
                assert r.status == "ok", _err(r)
                r = b.execute("%pip install tomli")
                assert r.status == "ok", _err(r)
                probe = ("import importlib.util as u\n"
                         "u.find_spec('six') is not None, u.find_spec('tomli') is not None")
                assert a.value(probe) == "(True, False)"
                assert b.value(probe) == "(False, True)"
                assert "six" not in b.ok("%pip list").stdout
            finally:
                b.shutdown()
        finally:
            a.shutdown()
    assert os.path.isfile(os.path.join(data, "site", "pip-env-a", "six.py"))
    assert os.path.isdir(os.path.join(data, "site", "pip-env-b", "tomli"))
    assert not os.path.exists(os.path.join(data, "site", "pip-env-b", "six.py"))
