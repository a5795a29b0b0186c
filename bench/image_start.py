#!/usr/bin/python3
"""Time from starting a kernel to its connection info, and to its first
kernel_info_reply, playing the gateway; then time its shutdown.

    /usr/bin/python3 bench/image_start.py [--runs 5] MODE [ARGS]

Modes:
  podman IMAGE   `podman run --rm --network host -e KERNEL_ID=... IMAGE`
                 (the image's entrypoint is `wasipy-kernel launch`); extra
                 podman options in $PODMAN_OPTS (split on spaces)
  launch BIN     `BIN launch` on the host, values in the environment
  ipykernel      `python3 -m ipykernel_launcher -f FILE`: no launcher
                 contract; "info" is when the process is started with its
                 connection file (there is nothing to wait for), "ready" its
                 first kernel_info_reply

For wasipy the gateway side is the one of wasipy's provisioner: an RSA key,
a response socket on loopback, the payload decrypted with pycryptodome.
Reported: median and min of each figure over the runs, in seconds.
"""

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "kernelspec", "provisioner"))

from Cryptodome.PublicKey import RSA  # noqa: E402
from jupyter_client import BlockingKernelClient  # noqa: E402
from jupyter_client.connect import write_connection_file  # noqa: E402

from wasipy_provisioner import open_payload  # noqa: E402


def gateway_run(cmd_for, env_extra=None):
    key = RSA.generate(1024)
    pub = base64.b64encode(key.publickey().export_key("DER")).decode()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(120)
    kid = str(uuid.uuid4())
    values = {"KERNEL_ID": kid, "RESPONSE_ADDRESS": "127.0.0.1:%d" % srv.getsockname()[1],
              "PUBLIC_KEY": pub, "PORT_RANGE": "0..0"}
    env = dict(os.environ, **values, **(env_extra or {}))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd_for(values), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conn, _ = srv.accept()
    data = b""
    while True:
        b = conn.recv(65536)
        if not b:
            break
        data += b
    conn.close()
    srv.close()
    t_info = time.monotonic() - t0
    info = open_payload(data, key)
    assert info["kernel_id"] == kid, info
    info["ip"] = "127.0.0.1"
    return proc, info, t0, t_info


def ready_and_shutdown(proc, info, t0):
    kc = BlockingKernelClient()
    kc.load_connection_info(info)
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    t_ready = time.monotonic() - t0
    s0 = time.monotonic()
    kc.shutdown()
    proc.wait(timeout=60)
    t_down = time.monotonic() - s0
    kc.stop_channels()
    return t_ready, t_down


def ipykernel_run():
    d = tempfile.mkdtemp()
    cf = os.path.join(d, "k.json")
    write_connection_file(cf, ip="127.0.0.1", key=uuid.uuid4().hex.encode())
    with open(cf) as f:
        info = json.load(f)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", cf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, info, t0, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("mode", choices=["podman", "launch", "ipykernel"])
    ap.add_argument("target", nargs="?")
    args = ap.parse_args()
    figures = {"info": [], "ready": [], "shutdown": []}
    for _ in range(args.runs):
        if args.mode == "podman":
            opts = os.environ.get("PODMAN_OPTS", "").split()
            run = gateway_run(lambda v: ["podman", *opts, "run", "--rm", "--network", "host",
                                         *[a for k, val in v.items() for a in ("-e", f"{k}={val}")], args.target])
        elif args.mode == "launch":
            run = gateway_run(lambda v: [args.target, "launch"], {"WASIPY_HISTORY_DIR": ""})
        else:
            run = ipykernel_run()
        proc, info, t0, t_info = run
        t_ready, t_down = ready_and_shutdown(proc, info, t0)
        figures["info"].append(t_info)
        figures["ready"].append(t_ready)
        figures["shutdown"].append(t_down)
    for k, v in figures.items():
        print(f"{args.mode:9} {k:8} median {statistics.median(v):.3f} s  min {min(v):.3f} s  (n={len(v)})")


if __name__ == "__main__":
    main()
