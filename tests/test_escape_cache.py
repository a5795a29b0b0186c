"""Escape tests: the kernel's compiled-code cache (issue #17, section 2).

The cache holds native code that the interpreter worker maps executable,
the stripped python.wasm with the guest-memory addresses the interrupter
writes to, and the runtime's bytecode. An attacker who can write the
cache folder (a notebook whose folder contains it, another process) must
not get any of it used: each test tampers from the host side, as such an
attacker would, then forces the kernel to start a new interpreter.

Every kernel here gets a cache folder and a data folder (where the cache's
key lives) of its own, so tampering never touches the cache that other
tests or the user's kernels share.
"""

import os
import re
import time
from queue import Empty

import harness
import pytest


def _cached_files(cache):
    """Every file the kernel caches (relative paths), not its lock and manifest."""
    out = []
    for dirpath, _, files in os.walk(cache):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), cache)
            if rel not in ("manifest", ".lock"):
                out.append(rel)
    return sorted(out)


def _flip(path, at):
    """Change one byte in place (same inode, same size, mtime put back), the
    stealthiest write a process of the user can make."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _tamper_all(cache):
    """Flip a byte in the middle of every cached file; returns {rel: tampered bytes}."""
    tampered = {}
    for rel in _cached_files(cache):
        path = os.path.join(cache, rel)
        size = os.path.getsize(path)
        if size == 0:
            continue
        _flip(path, size // 2)
        with open(path, "rb") as f:
            tampered[rel] = f.read()
    return tampered


def _log_since(log_path, offset):
    with open(log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def _check_discarded(cache, tampered, log, how):
    """Every tampered file was logged as discarded, and none of them is
    still there with the tampered bytes."""
    assert tampered, "nothing was cached, so nothing was tested"
    wazero = [rel for rel in tampered if rel.startswith("wazero" + os.sep)]
    assert wazero, f"no compiled code in the cache: {sorted(tampered)}"
    for rel, data in tampered.items():
        path = os.path.join(cache, rel)
        if os.path.exists(path):
            with open(path, "rb") as f:
                assert f.read() != data, f"{how}: tampered {rel} is still in the cache, as tampered"
    for rel in wazero + [r for r in tampered if r.startswith("python-")]:
        assert re.search(r"code cache: discarded " + re.escape(rel.replace(os.sep, "/")) + r": contents differ", log), (
            f"{how}: no log line says tampered {rel} was discarded; kernel log:\n{log}"
        )
    # Rebuilt: compiled code is in the cache again for the next start.
    assert any(r.startswith("wazero" + os.sep) for r in _cached_files(cache)), f"{how}: compiled code not rebuilt"


@pytest.fixture
def private_cache_kernel(tmp_path):
    data = tmp_path / "data"
    log_path = tmp_path / "kernel.log"
    log = open(log_path, "wb")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), WASIPY_DATA_DIR=str(data))
    # DefaultCacheDir is $XDG_CACHE_HOME/wasipy.
    cache = tmp_path / "wasipy"
    # --keep-on-exit: os._exit in a cell replaces the interpreter in place
    # (by default it ends the kernel, as with ipykernel).
    k = harness.Kernel.start(env=env, stderr=log, extra_arguments=["--keep-on-exit"])
    try:
        yield k, str(cache), str(log_path)
    finally:
        try:
            k.shutdown()
        finally:
            log.close()


def test_tampered_cache_is_never_run(private_cache_kernel):
    """Promise: bytes of the compiled-code cache changed by anyone but the
    kernel are never used. After a byte is flipped in every cached file
    (native code, stripped module, interrupt addresses, bytecode), an
    interpreter restart forced by the notebook (os._exit) and a kernel
    restart each log every tampered entry as discarded, rebuild the cache,
    and run cells correctly."""
    k, cache, log_path = private_cache_kernel
    assert k.ok("x = 6 * 7\nprint(x)").stdout == "42\n"
    assert os.path.isfile(os.path.join(cache, "manifest")), f"no sealed manifest in {cache}: {_cached_files(cache)}"
    assert os.path.isfile(os.path.join(os.path.dirname(cache), "data", "cache.key"))

    # 1. The interpreter dies; the kernel starts a new one on its own.
    tampered = _tamper_all(cache)
    offset = os.path.getsize(log_path)
    r = k.execute("import os; os._exit(1)")
    assert r.status == "error", r
    assert k.ok("print(sum(range(10)))", timeout=300).stdout == "45\n"
    _check_discarded(cache, tampered, _log_since(log_path, offset), "after os._exit")

    # 2. The frontend restarts the kernel.
    tampered = _tamper_all(cache)
    offset = os.path.getsize(log_path)
    k.km.restart_kernel(now=False)
    k.kc.wait_for_ready(timeout=300)
    k.drain()
    assert k.ok("import json; print(json.dumps([1, 2]))", timeout=300).stdout == "[1, 2]\n"
    _check_discarded(cache, tampered, _log_since(log_path, offset), "after restart_kernel")

    # Interrupts still work: the addresses in use are the real ones.
    msg_id = k.execute_async("print('started', flush=True)\nwhile True: pass")
    deadline = time.monotonic() + 60
    while "started" not in "".join(m["content"].get("text", "") for m in k._iopub[msg_id] if m["msg_type"] == "stream"):
        assert time.monotonic() < deadline, f"the cell never started: {k._iopub[msg_id]}"
        try:
            k._pump_iopub(timeout=1.0)
        except Empty:
            pass
    k.send("interrupt_request", channel="control")
    res = k.collect(msg_id, timeout=60)
    assert res.status == "error" and res.reply["ename"] == "KeyboardInterrupt", res
    assert k.ok("print('alive')").stdout == "alive\n"


def test_forged_manifest_vouches_for_nothing(private_cache_kernel):
    """Promise: a cache manifest not sealed with the kernel's key is
    rejected whole: after the manifest is rewritten to vouch for tampered
    code, a restarted interpreter discards every cached entry (logged),
    rebuilds them and runs cells correctly."""
    k, cache, log_path = private_cache_kernel
    k.ok("pass")
    wazero = [rel for rel in _cached_files(cache) if rel.startswith("wazero" + os.sep)]
    assert wazero
    # Tamper with the code and make the manifest list the new digest, as
    # an attacker who can write the folder but not read the key would.
    import hashlib
    import json

    path = os.path.join(cache, wazero[0])
    old = hashlib.sha256(open(path, "rb").read()).hexdigest()
    _flip(path, os.path.getsize(path) // 2)
    new = hashlib.sha256(open(path, "rb").read()).hexdigest()
    man_path = os.path.join(cache, "manifest")
    seal, body = open(man_path, "rb").read().split(b"\n", 1)
    assert old.encode() in body
    body = body.replace(old.encode(), new.encode())
    with open(man_path, "wb") as f:
        f.write(seal + b"\n" + body)
    json.loads(body)  # still a well-formed manifest, only the seal is wrong

    offset = os.path.getsize(log_path)
    r = k.execute("import os; os._exit(1)")
    assert r.status == "error", r
    assert k.ok("print(2 ** 10)", timeout=300).stdout == "1024\n"
    log = _log_since(log_path, offset)
    assert "code cache: manifest rejected (seal does not match" in log, log
    assert "code cache: discarded " + wazero[0].replace(os.sep, "/") + ": not in the manifest" in log, log
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() != new, "the tampered code is still cached"
