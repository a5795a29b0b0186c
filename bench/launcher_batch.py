#!/usr/bin/python3
"""Many `jupyter nbconvert --execute` runs started at once, per kernel.

    /usr/bin/python3 bench/launcher_batch.py --kernel-bin BIN --python-wasm WASM \
        [--runs 32] [--notebook examples/tour.ipynb] [--kernel wasipy-gw ...]

Kernels (each run alone, one after the other, so they never compete):
  wasipy-gw  wasipy through its provisioner (`wasipy-kernel launch`: the
             kernel binds its ports, then reports them)
  wasipy     wasipy started from a connection file (jupyter_client picks
             the ports, the kernel binds them later)
  python3    Debian's ipykernel, started from a connection file

For each: N nbconvert processes start together in one folder, each writing
its own output; reported are the runs that failed, those whose error says
"Address already in use" (the port race), the wall time of the batch and
notebooks per minute. The Jupyter paths are private temp folders.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NBCONVERT = "/usr/bin/jupyter-nbconvert"


def setup(root, kernel_bin, wasm):
    site = os.path.join(root, "site")
    subprocess.run([sys.executable, os.path.join(REPO, "kernelspec", "provisioner", "install_provisioner.py"), site],
                   check=True)
    kernels = os.path.join(root, "jupyter", "kernels")
    for name, engine in (("wasipy-gw", "provisioner"), ("wasipy", "local")):
        subprocess.run([kernel_bin, "kernelspec", "--write", os.path.join(kernels, name), "--engine", engine,
                        "--python-wasm", wasm], check=True, capture_output=True)
    env = os.environ.copy()
    env.update({
        "PYTHONPATH": site,
        "JUPYTER_PATH": os.path.join(root, "jupyter"),
        "JUPYTER_DATA_DIR": os.path.join(root, "data"),
        "JUPYTER_RUNTIME_DIR": os.path.join(root, "runtime"),
        "JUPYTER_CONFIG_DIR": os.path.join(root, "config"),
        "IPYTHONDIR": os.path.join(root, "ipython"),
        "WASIPY_HISTORY_DIR": "",
    })
    return env


def batch(kernel, runs, notebook, env, root):
    work = os.path.join(root, "work-" + kernel)
    os.makedirs(work)
    nb = os.path.join(work, "nb.ipynb")
    shutil.copyfile(notebook, nb)
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            [NBCONVERT, "--to", "notebook", "--execute", "--allow-errors",
             f"--ExecutePreprocessor.kernel_name={kernel}", "--ExecutePreprocessor.startup_timeout=600",
             "--ExecutePreprocessor.timeout=600", "--output", f"out-{i}", nb],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for i in range(runs)
    ]
    errs = [p.communicate()[1] for p in procs]
    took = time.monotonic() - t0
    failed = [e for p, e in zip(procs, errs) if p.returncode != 0]
    race = [e for e in failed if "Address already in use" in e or "address already in use" in e]
    return {"kernel": kernel, "runs": runs, "failed": len(failed), "port_race": len(race),
            "seconds": round(took, 1), "notebooks_per_min": round((runs - len(failed)) * 60 / took, 1),
            "first_error": failed[0][-800:] if failed else ""}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel-bin", required=True)
    ap.add_argument("--python-wasm", required=True)
    ap.add_argument("--runs", type=int, default=32)
    ap.add_argument("--notebook", default=os.path.join(REPO, "examples", "tour.ipynb"))
    ap.add_argument("--kernel", action="append", help="wasipy-gw, wasipy, python3 (default: all three)")
    ap.add_argument("--json")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="wasipy-batch-")
    try:
        env = setup(root, os.path.abspath(args.kernel_bin), os.path.abspath(args.python_wasm))
        results = []
        for k in args.kernel or ["wasipy-gw", "wasipy", "python3"]:
            r = batch(k, args.runs, args.notebook, env, root)
            results.append(r)
            print(f"{k:10} {r['runs']} runs: {r['failed']} failed ({r['port_race']} port race), "
                  f"{r['seconds']} s, {r['notebooks_per_min']} notebooks/min", flush=True)
            if r["first_error"]:
                print("  first error:", r["first_error"].strip().splitlines()[-1], flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
