"""A jupyter_client kernel provisioner for wasipy: the kernel picks its ports.

jupyter_client's LocalProvisioner picks five free ports, writes them into a
connection file and starts the kernel, which binds them a moment later. In
between, another kernel started at the same time can take one of them
(parallel nbconvert or papermill runs fail with "address already in use").
This provisioner starts `wasipy-kernel launch` instead, the gateways'
launcher contract on loopback: the kernel binds its own sockets first and
then sends their ports, encrypted for this provisioner, to a response
socket the provisioner listens on. Nothing is picked before it is bound.

It uses only jupyter_client and pycryptodome (Debian: python3-jupyter-client,
python3-pycryptodome). The kernelspec keeps the plain
`--connection-file {connection_file}` argv, which this provisioner rewrites,
so the same kernel.json runs without it (drop metadata.kernel_provisioner).
"""

import asyncio
import base64
import json
import os
import socket
import time

from Cryptodome.Cipher import AES, PKCS1_v1_5
from Cryptodome.PublicKey import RSA
from Cryptodome.Random import get_random_bytes
from Cryptodome.Util.Padding import unpad
from jupyter_client.launcher import launch_kernel
from jupyter_client.provisioning import LocalProvisioner
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Bool, Float, Unicode

__version__ = "0.1.0"

# A payload is a few hundred bytes; anything much larger is not a kernel's.
MAX_PAYLOAD = 64 * 1024
# RSA key size: the gateways' own (1024 bits). The key wraps one AES key,
# for one report on loopback, during the seconds of a start; 2048 bits
# would cost half a second of every start (pycryptodome's generation).
RSA_BITS = 1024
# The arguments of the kernel's connection-file mode that launch mode replaces.
CONNECTION_FILE_FLAGS = ("-f", "--connection-file")
# The kernel's flag that makes a restart keep its process.
RESTART_IN_PLACE_FLAG = "--restart-in-place"
# How long a forced restart waits for the kernel's shutdown_reply before it
# kills the process instead (a kernel that does not answer its control
# channel is stuck beyond what a fresh interpreter cures).
FORCED_RESTART_WAIT = 5.0


class WasipyProvisioner(LocalProvisioner):
    """Starts wasipy-kernel in launch mode and waits for its connection info."""

    launch_timeout = Float(
        float(os.environ.get("WASIPY_LAUNCH_TIMEOUT", "120")),
        config=True,
        help="Seconds to wait for the kernel's connection info (default $WASIPY_LAUNCH_TIMEOUT, else 120).",
    )
    port_range = Unicode(
        "0..0",
        config=True,
        help="Ports the kernel may bind, LOWER..UPPER; 0..0 lets the system pick free ones.",
    )

    restart_in_place = Bool(
        True,
        config=True,
        help="Restart the kernel in its process (a fresh interpreter, the same sockets) instead of launching a new one.",
    )

    _response = None
    _private_key = None
    _previous = None  # (ports, key) of the kernel a restart replaces
    # The kernel took a restart in place: until the next launch_kernel, the
    # old kernel counts as gone (poll, wait) and the process is kept.
    _in_place = False
    # kill() was called on a live kernel; cleanup(restart) settles it.
    _kill_pending = False

    async def pre_launch(self, **kwargs):
        km = self.parent
        extra = kwargs.pop("extra_arguments", [])
        self._close_response()
        if km is not None:
            # format_kernel_cmd substitutes {resource_dir} and the like, and
            # the connection file's name, which launch_argv takes out again.
            cmd = km.format_kernel_cmd(extra_arguments=extra)
            connection_file = km.connection_file
            ip = km.ip if km.transport == "tcp" and km.ip else "127.0.0.1"
        else:
            cmd = self.kernel_spec.argv + extra
            connection_file = "{connection_file}"
            ip = "127.0.0.1"
        self.ip = ip
        cmd = launch_argv(cmd, connection_file, ip, self.restart_in_place)
        kwargs = await KernelProvisionerBase.pre_launch(self, cmd=cmd, **kwargs)
        env = kwargs["env"]
        env["KERNEL_ID"] = self.kernel_id
        env["PORT_RANGE"] = self.port_range
        if self._previous:
            # A restart: the new kernel tries the old ports and key first,
            # so clients connected to the old one (a notebook server's
            # websocket streams) keep working, as after jupyter_client's own
            # restarts. The kernel still reports what it bound.
            ports, key = self._previous
            env["WASIPY_LAUNCH_PORTS"] = ",".join(str(p) for p in ports)
            env["WASIPY_LAUNCH_KEY"] = key
        return kwargs

    async def launch_kernel(self, cmd, **kwargs):
        if self._in_place:
            self._in_place = False
            if self.process is not None and self.process.poll() is None:
                # The kernel restarted in its process: same sockets, same
                # key. It serves requests once its fresh interpreter is up.
                return self.connection_info
            self.log.warning("wasipy provisioner: the kernel exited during a restart in place; launching a new one")
            self.process = None
        # The response socket and the key the report is sealed with are
        # made only for a real launch: a restart in place needs neither
        # (generating the key alone costs tens of milliseconds).
        self._private_key = RSA.generate(RSA_BITS)
        public_key = base64.b64encode(self._private_key.publickey().export_key("DER")).decode()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        sock.setblocking(False)
        self._response = sock
        # The values that let a process forge this kernel's report go in the
        # environment, which other users cannot read, not in argv.
        env = dict(kwargs.get("env") or os.environ)
        env["RESPONSE_ADDRESS"] = "127.0.0.1:%d" % sock.getsockname()[1]
        env["PUBLIC_KEY"] = public_key
        kwargs["env"] = env
        scrubbed = LocalProvisioner._scrub_kwargs(kwargs)
        self.process = launch_kernel(cmd, **scrubbed)
        self.pid = self.process.pid
        try:
            self.pgid = os.getpgid(self.pid)
        except OSError:
            self.pgid = None
        try:
            info = await self._receive()
        except BaseException:
            await self.kill()
            self.process.wait()
            raise
        finally:
            self._close_response()
        self.connection_info = info
        self._previous = (
            [info[n] for n in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")],
            info["key"].decode(),
        )
        return info

    async def _receive(self):
        """Waits for the kernel's report; fails early if the kernel exits."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.launch_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    "wasipy-kernel sent no connection info within %.0f s" % self.launch_timeout
                )
            if self.process.poll() is not None:
                raise RuntimeError(
                    "wasipy-kernel exited with status %s before sending its connection info"
                    % self.process.returncode
                )
            try:
                conn, _ = await asyncio.wait_for(loop.sock_accept(self._response), min(left, 0.5))
            except asyncio.TimeoutError:
                continue
            try:
                data = await asyncio.wait_for(read_all(loop, conn), 10)
                info = open_payload(data, self._private_key)
            except Exception as e:  # a bad report is dropped; the kernel's may still come
                self.log.warning("wasipy provisioner: dropped a bad report: %s", e)
                continue
            finally:
                conn.close()
            if info.get("kernel_id") != self.kernel_id:
                self.log.warning(
                    "wasipy provisioner: dropped a report for kernel %r pid %r",
                    info.get("kernel_id"),
                    info.get("pid"),
                )
                continue
            return connection_info(info, self.ip)

    def _close_response(self):
        if self._response is not None:
            self._response.close()
            self._response = None

    def _alive(self):
        return self.process is not None and self.process.poll() is None

    async def shutdown_requested(self, restart=False):
        """jupyter_client sent shutdown_request: with restart, the kernel
        (started with --restart-in-place) answers it and keeps its process."""
        if restart and self.restart_in_place and self._alive():
            self._in_place = True
        await super().shutdown_requested(restart=restart)

    async def poll(self):
        if self._in_place or self._kill_pending:
            return 0  # the old kernel counts as gone; the process is settled in cleanup
        return await super().poll()

    async def wait(self):
        if self._in_place or self._kill_pending:
            return 0
        return await super().wait()

    async def kill(self, restart=False):
        """jupyter_client's forced shutdown (restart_kernel(now=True), a
        stuck cell) calls kill without saying whether a restart follows;
        cleanup(restart) says it. So a live kernel is not killed here: the
        kill is settled in cleanup, by a restart in place or for real."""
        if self.restart_in_place and self._alive() and not self._in_place:
            self._kill_pending = True
            return
        await super().kill(restart=restart)

    async def terminate(self, restart=False):
        if self._in_place or self._kill_pending:
            return  # settled in cleanup
        await super().terminate(restart=restart)

    async def _settle_kill(self, restart):
        """A forced restart asks the kernel for a restart in place on its
        control channel, which it serves whatever the cell does, and the
        kernel stops its interpreter's process; a forced shutdown, or a
        kernel that does not answer, is killed."""
        self._kill_pending = False
        if restart and self._alive():
            if await asyncio.to_thread(self._request_restart, FORCED_RESTART_WAIT):
                self._in_place = True
                return
            self.log.warning("wasipy provisioner: the kernel did not answer a restart request; killing it")
        await super().kill(restart=restart)
        try:
            await asyncio.wait_for(super().wait(), 5)  # reaps it, as jupyter_client would have
        except asyncio.TimeoutError:
            self.log.warning("wasipy provisioner: the killed kernel (pid %s) has not exited", self.pid)

    def _request_restart(self, timeout):
        """Sends shutdown_request{restart: true} on the control channel,
        signed with the kernel's key (only holders of the key may restart
        it), and waits for its signed shutdown_reply."""
        import zmq

        km = self.parent
        info = self.connection_info
        if km is None or not info.get("control_port"):
            return False
        session = km.session
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        try:
            sock.connect("tcp://%s:%d" % (info.get("ip", self.ip), info["control_port"]))
            msg = session.msg("shutdown_request", content={"restart": True})
            session.send(sock, msg)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sock.poll(int(left * 1000)):
                    return False
                try:
                    _, reply = session.recv(sock, mode=0)
                except Exception as e:  # a bad signature, a malformed message
                    self.log.warning("wasipy provisioner: dropped a bad reply: %s", e)
                    continue
                if (
                    reply is not None
                    and reply.get("msg_type") == "shutdown_reply"
                    and reply.get("parent_header", {}).get("msg_id") == msg["header"]["msg_id"]
                ):
                    return True
        finally:
            sock.close()
            ctx.term()

    async def cleanup(self, restart=False):
        self._close_response()
        if self._kill_pending:
            await self._settle_kill(restart)
        if not restart:
            self._previous = None
            self._in_place = False
        await super().cleanup(restart=restart)


def launch_argv(argv, connection_file, ip, restart_in_place=False):
    """Rewrites a kernelspec's connection-file argv into launch mode.

    [kernel, --connection-file, FILE, flags...] becomes
    [kernel, launch, --ip, IP, flags...], with --restart-in-place after IP
    when restart_in_place; an argv already in launch mode keeps its flags.
    """
    if not argv:
        raise ValueError("the kernelspec has an empty argv")
    rest = list(argv[1:])
    if rest[:1] == ["launch"]:
        rest = rest[1:]
    out = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in CONNECTION_FILE_FLAGS and i + 1 < len(rest):
            i += 2
            continue
        if a.startswith("--connection-file=") or a == connection_file or a == RESTART_IN_PLACE_FLAG:
            i += 1
            continue
        out.append(a)
        i += 1
    head = [argv[0], "launch", "--ip", ip]
    if restart_in_place:
        head.append(RESTART_IN_PLACE_FLAG)
    return head + out


async def read_all(loop, conn):
    """Reads a connection until its end, at most MAX_PAYLOAD bytes."""
    conn.setblocking(False)
    chunks = []
    size = 0
    while True:
        b = await loop.sock_recv(conn, 4096)
        if not b:
            return b"".join(chunks)
        size += len(b)
        if size > MAX_PAYLOAD:
            raise ValueError("report larger than %d bytes" % MAX_PAYLOAD)
        chunks.append(b)


def open_payload(data, private_key):
    """Decrypts a launcher payload of version 1 (what the gateways read)."""
    envelope = json.loads(base64.b64decode(data, validate=True))
    if envelope.get("version") != 1:
        raise ValueError("payload version %r, want 1" % envelope.get("version"))
    sentinel = get_random_bytes(16)
    aes_key = PKCS1_v1_5.new(private_key).decrypt(base64.b64decode(envelope["key"]), sentinel)
    if aes_key is sentinel or len(aes_key) not in (16, 24, 32):
        raise ValueError("payload key does not decrypt")
    plain = AES.new(aes_key, AES.MODE_ECB).decrypt(base64.b64decode(envelope["conn_info"]))
    info = json.loads(unpad(plain, 16))
    if not isinstance(info, dict):
        raise ValueError("connection info is not an object")
    return info


def connection_info(info, ip):
    """The KernelConnectionInfo jupyter_client wants, from a checked report."""
    out = {"ip": ip, "transport": "tcp"}
    for name in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        port = info.get(name)
        if type(port) is not int or not 0 < port < 65536:  # bool is an int too
            raise ValueError("%s %r is not a port" % (name, port))
        out[name] = port
    if info.get("signature_scheme") != "hmac-sha256" or not isinstance(info.get("key"), str):
        raise ValueError("the report has no hmac-sha256 key")
    out["signature_scheme"] = "hmac-sha256"
    out["key"] = info["key"].encode()
    return out
