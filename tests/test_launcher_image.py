"""The kernel image's file tree (build/image/build.sh --rootfs), run the
way a container runtime runs it: its own root, its /proc, UID 1000, the
image's environment and entrypoint, the gateway's values in the
environment. Needs root (chroot, mounts in a private namespace), as
building the image does.
"""

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import time
import uuid

import pytest

import harness

sys.path.insert(0, os.path.join(harness.REPO, "kernelspec", "provisioner"))

BUILD = os.path.join(harness.REPO, "build", "image", "build.sh")
SHELLS = ("bin/sh", "bin/bash", "bin/dash", "usr/bin/sh", "usr/bin/env", "bin/busybox")


@pytest.fixture(scope="module")
def image_tree(wasipy_env, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("building the image tree needs root (chroot and mounts), as build/image/build.sh says")
    d = tmp_path_factory.mktemp("image")
    fs, cfg = d / "rootfs", d / "config.json"
    env = dict(os.environ, WASIPY_PYTHON_WASM=wasipy_env["python_wasm"])
    proc = subprocess.run([BUILD, "--rootfs", str(fs), "--config-json", str(cfg)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return fs, json.loads(cfg.read_text())


def _enter_image(fs, cfg):
    """What a container runtime does before it runs the entrypoint, done
    with the host's kernel (the image has no tools): a private mount
    namespace with /proc and /dev/null, the image's tree as root, its
    working folder, its user with no supplementary groups. Runs in the
    child between fork and exec."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newns, ms_rec, ms_private, ms_bind = 0x00020000, 0x4000, 1 << 18, 0x1000

    def check(rc, what):
        if rc != 0:
            raise OSError(ctypes.get_errno(), what)

    check(libc.unshare(clone_newns), "unshare")
    check(libc.mount(b"none", b"/", None, ms_rec | ms_private, None), "mount --make-rprivate /")
    check(libc.mount(b"proc", str(fs / "proc").encode(), b"proc", 0, None), "mount proc")
    check(libc.mount(b"/dev/null", str(fs / "dev/null").encode(), None, ms_bind, None), "mount /dev/null")
    os.chroot(fs)
    os.chdir(cfg["WorkingDir"])
    uid, gid = (int(x) for x in cfg["User"].split(":"))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def _tree(path):
    """Every file under path with its size and modification time."""
    out = {}
    for dirpath, _, files in os.walk(path):
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            out[os.path.relpath(os.path.join(dirpath, f), path)] = (st.st_size, st.st_mtime_ns)
    return out


def test_image_contents(image_tree):
    """Promise: the image holds a static kernel binary, python.wasm with its
    standard library and a baked cache owned by UID 1000, and no shell."""
    fs, cfg = image_tree
    assert cfg["User"] == "1000:1000"
    assert cfg["Entrypoint"] == ["/usr/local/bin/wasipy-kernel", "launch"]
    for shell in SHELLS:
        assert not os.path.lexists(fs / shell), shell
    binary = (fs / "usr/local/bin/wasipy-kernel").read_bytes()
    assert binary[:4] == b"\x7fELF"
    assert b"/lib64/ld-linux" not in binary and b"/lib/ld-linux" not in binary, "the binary is dynamically linked"
    assert (fs / "opt/wasipy/python3.13/python.wasm").read_bytes()[:4] == b"\0asm"
    cache = fs / "opt/wasipy/cache/wasipy"
    assert os.stat(cache).st_uid == 1000
    assert (cache / "manifest").exists()
    assert any(n.startswith("python-") and n.endswith(".wasm") for n in os.listdir(cache)), os.listdir(cache)
    key = fs / "opt/wasipy/data/cache.key"
    st = os.stat(key)
    assert st.st_uid == 1000 and stat.S_IMODE(st.st_mode) == 0o600


def test_image_entrypoint_reports_and_serves(image_tree):
    """Promise: the image's entrypoint, with the gateway's values in its
    environment only (as a pod gets them), reports its connection info to
    the response address and serves a cell, as UID 1000, and its first
    start compiles nothing (the baked cache is used as it is)."""
    from Cryptodome.PublicKey import RSA
    from jupyter_client import BlockingKernelClient

    from wasipy_provisioner import open_payload

    fs, cfg = image_tree
    cache = fs / "opt/wasipy/cache/wasipy"
    compiled_before = {k: v for k, v in _tree(cache).items() if k.startswith(("wazero", "python-"))}
    key = RSA.generate(1024)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    kid = str(uuid.uuid4())
    env = cfg["Env"] + [
        "KERNEL_ID=" + kid,
        "EG_RESPONSE_ADDRESS=127.0.0.1:%d" % srv.getsockname()[1],
        "PUBLIC_KEY=" + base64.b64encode(key.publickey().export_key("DER")).decode(),
        "PORT_RANGE=0..0",
        "KERNEL_IP=127.0.0.1",
        harness.SESSION_MARK_VAR + "=" + os.environ[harness.SESSION_MARK_VAR],
    ]
    (fs / "dev/null").touch()
    t0 = time.monotonic()
    proc = subprocess.Popen(cfg["Entrypoint"], env=dict(e.split("=", 1) for e in env),
                            preexec_fn=lambda: _enter_image(fs, cfg), stderr=subprocess.PIPE, text=True)
    try:
        srv.settimeout(0.5)
        deadline = time.monotonic() + 120
        while True:
            try:
                conn, _ = srv.accept()
                break
            except socket.timeout:
                assert proc.poll() is None, f"the entrypoint exited with {proc.returncode}: {proc.stderr.read()}"
                assert time.monotonic() < deadline, "no connection info within 120 s"
        conn.settimeout(10)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.close()
        took = time.monotonic() - t0
        info = open_payload(data, key)
        assert info["kernel_id"] == kid
        kc = BlockingKernelClient()
        kc.load_connection_info(dict(info, ip="127.0.0.1", key=info["key"].encode()))
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        reply = kc.execute("import os\nprint(os.getcwd(), sum(range(10)))", reply=True, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        out = ""
        while True:
            m = kc.get_iopub_msg(timeout=10)
            if m["msg_type"] == "stream":
                out += m["content"]["text"]
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" \
                    and m["parent_header"].get("msg_id") == reply["parent_header"]["msg_id"]:
                break
        assert out == "/home/kernel 45\n", out
        kc.shutdown()
        proc.wait(timeout=30)
        kc.stop_channels()
        print(f"connection info {took:.3f} s after start")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.close()
        os.unlink(fs / "dev/null")
    assert proc.returncode == 0, proc.stderr.read()
    compiled_after = {k: v for k, v in _tree(cache).items() if k.startswith(("wazero", "python-"))}
    assert compiled_after == compiled_before, "the first start compiled code: the baked cache was not used"
