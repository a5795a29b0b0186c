"""Escape suite, the wire (#17 sections 4 and 6): the kernel's ZeroMQ sockets
against peers on the same machine that do not hold the key.

Anyone on the machine can connect to a kernel's TCP ports; only the HMAC key
authenticates messages, and a message can only be checked once it has been
read. These tests attack the kernel as such a peer would, with plain TCP
sockets speaking ZMTP 3.0 (greeting, NULL handshake, frames), while a real
jupyter_client keeps using the kernel. Each test states its promise.

The figures behind the bounds (zmtp.DefaultLimits, protocol/RATIONALE.md):
frames and messages over 256 MiB are refused from their header; bytes held
for connections that have not sent a signed request are charged to a 64 MiB
budget shared by all sockets; 64 connections per socket; a message must
arrive within 10 s plus 1 s per MiB once started; iopub and heartbeat peers
may send 64 KiB at most.
"""

import socket
import struct
import threading
import time

import psutil
import pytest

import harness

MiB = 1 << 20
BUDGET = 64 * MiB  # protocol.DefaultLimits().Unverified
MAX_CONNECTIONS = 64  # protocol.DefaultLimits().MaxConnections


@pytest.fixture(scope="module")
def k(wasipy_env, tmp_path_factory):
    """One kernel for the module, its stderr (the kernel's log) in a file."""
    log_path = tmp_path_factory.mktemp("wire") / "kernel.log"
    with open(log_path, "w") as log:
        kernel = harness.Kernel.start(stderr=log)
    kernel.log_path = log_path
    try:
        yield kernel
    finally:
        kernel.shutdown()


def kernel_log(k):
    return k.log_path.read_text(errors="replace")


def tree_rss(k):
    """Resident bytes of the kernel process and its interpreter worker."""
    total = 0
    for p in k.tree():
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def assert_serving(k, what):
    """The real client is served on shell, control and iopub, and the
    heartbeat beats."""
    r = k.request("kernel_info_request")
    assert r.reply["status"] == "ok", f"after {what}: {r.reply}"
    r = k.request("kernel_info_request", channel="control")
    assert r.reply["status"] == "ok", f"after {what}: {r.reply}"
    assert k.ok("6 * 7").result_text() == "42", f"after {what}, a cell no longer runs"
    assert k.kc.hb_channel.is_beating(), f"after {what}, the heartbeat stopped"


# ---- a raw ZMTP 3.0 peer ------------------------------------------------------


class Closed(Exception):
    """The kernel closed the connection."""


class Peer:
    """A plain TCP connection to one of the kernel's ports, speaking ZMTP 3.0
    with the NULL mechanism, as an attacker without the key would."""

    def __init__(self, k, port="shell_port", socket_type=b"DEALER", identity=b"", handshake=True):
        info = k.km.get_connection_info(session=False)
        if info["transport"] != "tcp":
            pytest.skip("needs the tcp transport")
        self.sock = socket.create_connection((info["ip"], info[port]), timeout=30)
        self.buf = b""
        if handshake:
            self.handshake(socket_type, identity)

    @staticmethod
    def greeting():
        # Signature, version 3.0, NULL mechanism, as-server 0, filler.
        return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31

    @staticmethod
    def ready(socket_type, identity):
        props = b""
        for name, value in ((b"Socket-Type", socket_type), (b"Identity", identity)):
            props += bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
        body = b"\x05READY" + props
        return bytes([0x04, len(body)]) + body

    def handshake(self, socket_type, identity):
        self.sock.sendall(self.greeting())
        got = self._read(64)
        assert got[0] == 0xFF and got[10] == 3, f"not a ZMTP 3 greeting: {got!r}"
        self.sock.sendall(self.ready(socket_type, identity))
        flags, body = self._frame()
        assert flags & 0x04 and body.startswith(b"\x05READY"), f"no READY from the kernel: {body!r}"

    def _read(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except ConnectionResetError as e:
                raise Closed() from e
            if not chunk:
                raise Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self):
        flags = self._read(1)[0]
        if flags & 0x02:
            size = struct.unpack(">Q", self._read(8))[0]
        else:
            size = self._read(1)[0]
        return flags, self._read(size)

    @staticmethod
    def frame_header(size, more=False):
        return bytes([(0x01 if more else 0) | 0x02]) + struct.pack(">Q", size)

    def send_frames(self, frames):
        out = b""
        for i, f in enumerate(frames):
            out += self.frame_header(len(f), more=i < len(frames) - 1) + f
        self.sock.sendall(out)

    def recv_message(self, timeout):
        """The next message's frames (commands skipped); None when nothing
        came within timeout. Raises Closed when the kernel closed."""
        self.sock.settimeout(timeout)
        try:
            frames = []
            while True:
                flags, body = self._frame()
                if flags & 0x04:
                    continue
                frames.append(body)
                if not flags & 0x01:
                    return frames
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(30)

    def closed_by_kernel(self, timeout):
        """Whether the kernel closes the connection within timeout (whatever
        it sends before is read and discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(1 << 16):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def send_until_refused(sock, data, limit):
    """Send data repeatedly until the kernel stops the connection or limit
    bytes went out; returns the bytes sent."""
    sent = 0
    sock.settimeout(30)
    try:
        while sent < limit:
            sock.sendall(data)
            sent += len(data)
    except (BrokenPipeError, ConnectionResetError, socket.timeout, TimeoutError):
        pass
    return sent


# ---- (a) size: huge frames and messages that never end ----------------------------------


def test_huge_unsigned_frames_are_refused_from_their_header(k):
    """Promise: a frame that announces more than the frame cap (256 MiB) is
    refused from its header, before anything is allocated for it; the peer is
    disconnected and the kernel's process tree does not grow (measured: the
    attack of #17, three peers each announcing 1 GiB and sending data, grew it
    by 5.4 GiB). The real client is served throughout."""
    base = tree_rss(k)
    peers = []
    for port in ["shell_port", "shell_port", "shell_port", "control_port", "stdin_port"]:
        p = Peer(k, port)
        p.sock.sendall(Peer.frame_header(1 << 30, more=True))
        send_until_refused(p.sock, b"\x00" * MiB, 16 * MiB)
        peers.append(p)
    try:
        for p in peers:
            assert p.closed_by_kernel(10), "the kernel kept a peer that announced a 1 GiB frame"
        grown = tree_rss(k) - base
        print(f"tree grew by {grown / MiB:.1f} MiB after five peers announced 1 GiB frames")
        assert grown < 32 * MiB, f"the kernel tree grew by {grown / MiB:.0f} MiB after refused 1 GiB frames"
        assert_serving(k, "1 GiB frame headers")
        assert "frame of 1073741824 bytes over the limit" in kernel_log(k), "the refusal is not logged"
    finally:
        for p in peers:
            p.close()


def test_unfinished_messages_are_bounded_and_memory_handed_back(k):
    """Promise: what peers without the key can make the kernel hold with
    messages they never finish is bounded by the 64 MiB budget shared by all
    connections, whatever the number of peers: twelve peers each sending a
    40 MiB frame of an unfinished message grow the kernel tree by less than
    twice the budget plus 32 MiB (the tree's growth is measured at its peak);
    once they are gone, the memory goes back to the system (within 32 MiB of
    where it started)."""
    base = tree_rss(k)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss(k))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    peers = [Peer(k, port) for port in ["shell_port"] * 8 + ["control_port"] * 2 + ["stdin_port"] * 2]
    body = b"\x00" * (40 * MiB)

    def attack(p):
        try:
            p.sock.sendall(Peer.frame_header(len(body), more=True) + body)
        except OSError:
            pass

    threads = [threading.Thread(target=attack, args=(p,)) for p in peers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        time.sleep(0.5)
        stop.set()
        sampler.join()
        grown = peak[0] - base
        print(f"tree grew by {grown / MiB:.1f} MiB at its peak under 12 x 40 MiB unfinished messages")
        assert grown < 2 * BUDGET + 32 * MiB, f"the kernel tree grew by {grown / MiB:.0f} MiB"
        refused = sum(p.closed_by_kernel(0.5) for p in peers)
        assert refused >= len(peers) - 1, f"only {refused} of {len(peers)} peers were refused; the budget fits one"
        assert "budget for unverified peers" in kernel_log(k)
        assert_serving(k, "unfinished messages holding the budget")
    finally:
        for p in peers:
            p.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and tree_rss(k) - base >= 32 * MiB:
        time.sleep(0.2)
    after = tree_rss(k) - base
    print(f"tree is {after / MiB:.1f} MiB above where it started once the peers left")
    assert after < 32 * MiB, f"the memory was not handed back: still {after / MiB:.0f} MiB above the start"
    assert_serving(k, "the budget coming back")


def test_endless_stream_of_medium_frames_is_cut_off(k):
    """Promise: a peer without the key that streams 1 MiB frames of one
    message that never ends is disconnected once it has used the budget: it
    gets nowhere near the 256 MiB message cap, let alone unbounded."""
    p = Peer(k)
    try:
        sent = send_until_refused(p.sock, Peer.frame_header(MiB, more=True) + b"\x00" * MiB, 512 * MiB)
        print(f"cut off after {sent / MiB:.0f} MiB")
        assert sent < BUDGET + 32 * MiB, f"the kernel took {sent / MiB:.0f} MiB of one unsigned message"
        assert p.closed_by_kernel(10)
        assert_serving(k, "an endless message")
    finally:
        p.close()


def test_iopub_and_heartbeat_peers_may_send_little(k):
    """Promise: subscribers and heartbeat peers only ever need a few bytes;
    a frame over 64 KiB from either is refused from its header, and the real
    client's iopub and heartbeat go on."""
    peers = [Peer(k, "iopub_port", b"SUB"), Peer(k, "hb_port", b"REQ")]
    try:
        for p in peers:
            p.sock.sendall(Peer.frame_header(MiB))
            p.sock.sendall(b"\x00" * (128 << 10))
        for p in peers:
            assert p.closed_by_kernel(10), "a 1 MiB frame on iopub or heartbeat was accepted"
        assert_serving(k, "large frames on iopub and heartbeat")
    finally:
        for p in peers:
            p.close()


# ---- (b) connection flood -----------------------------------------------------------------


def test_connection_flood_is_capped(k):
    """Promise: a socket keeps at most 64 connections (handshakes in
    progress count); further ones are closed at once and logged, and the
    connections already there (the real client's) keep being served. When
    the flood leaves, new clients get in again."""
    info = k.km.get_connection_info(session=False)
    if info["transport"] != "tcp":
        pytest.skip("needs the tcp transport")
    flood = []
    try:
        for _ in range(3 * MAX_CONNECTIONS):
            s = socket.create_connection((info["ip"], info["shell_port"]), timeout=30)
            flood.append(s)
        closed = 0
        for s in flood:
            s.settimeout(0.3)
            try:
                while True:
                    if not s.recv(4096):
                        closed += 1
                        break
            except (socket.timeout, TimeoutError):
                pass
            except ConnectionResetError:
                closed += 1
        # The real client holds one shell slot.
        assert closed >= len(flood) - MAX_CONNECTIONS + 1, f"only {closed} of {len(flood)} connections were refused"
        assert "too many connections" in kernel_log(k)
        assert_serving(k, "a connection flood")
    finally:
        for s in flood:
            s.close()
    # The slots come back: a second client connects and is served.
    from jupyter_client import BlockingKernelClient

    other = BlockingKernelClient()
    other.load_connection_info(k.km.get_connection_info())
    other.start_channels()
    try:
        other.wait_for_ready(timeout=30)
    finally:
        other.stop_channels()


# ---- (c) identity theft ----------------------------------------------------------------


def test_stolen_routing_identity_gets_nothing(k):
    """Promise: a peer that claims the routing identity of the real client
    (jupyter_client uses its session id, which every iopub message carries)
    on shell, stdin and control does not get it while the client holds it,
    as with libzmq's ROUTER (the newcomer is held back, neither read from nor
    sent anything): the thief, connecting again and again, never receives
    the client's execute_reply or input_request, and the client receives
    both."""
    r = k.ok("'who am I'")
    stolen = r.iopub[0]["parent_header"]["session"].encode()  # what any subscriber sees
    assert stolen == k.kc.session.bsession

    got = []
    stop = threading.Event()

    def thief(port):
        # Each connection listens for a second, then the thief tries anew
        # (in case a fresh connection fared better).
        while not stop.is_set():
            try:
                p = Peer(k, port, identity=stolen)
            except (Closed, OSError, AssertionError):
                continue
            try:
                for _ in range(5):
                    if stop.is_set():
                        break
                    frames = p.recv_message(0.2)
                    if frames is not None:
                        got.append((port, frames))
            except (Closed, OSError):
                pass
            finally:
                p.close()

    thieves = [threading.Thread(target=thief, args=(port,), daemon=True)
               for port in ["shell_port", "stdin_port", "control_port"]]
    for t in thieves:
        t.start()
    try:
        time.sleep(0.5)
        mid = k.execute_async("answer = input('secret? ')\nanswer", allow_stdin=True)
        req = k.kc.get_stdin_msg(timeout=60)
        assert req["msg_type"] == "input_request", req
        assert req["parent_header"]["msg_id"] == mid
        k.kc.input("hunter2")
        res = k.collect(mid)
        assert res.status == "ok", res
        assert res.result_text() == "'hunter2'"
        r = k.request("kernel_info_request", channel="control")
        assert r.reply["status"] == "ok"
    finally:
        stop.set()
        for t in thieves:
            t.join(10)
    assert not got, f"the thief received {len(got)} message(s) meant for the client: {got[:2]!r}"
    assert "routing identity already in use" in kernel_log(k)
    assert_serving(k, "identity theft")


# ---- (d) slow peers -------------------------------------------------------------------


def test_slow_peers_are_cut_off(k):
    """Promise: a peer cannot hold a connection slot or budget forever by
    being slow: a handshake must end within 10 s (slowloris on the greeting)
    and a message within 10 s plus 1 s per MiB announced once its first byte
    is in (a frame trickled a byte at a time). An idle connection between
    messages is not cut off."""
    slow_greeting = Peer(k, handshake=False)
    slow_message = Peer(k)
    idle = Peer(k, identity=b"idle-peer")
    stop = threading.Event()

    def trickle():
        greeting = Peer.greeting()
        slow_message.sock.sendall(Peer.frame_header(1000, more=True))
        for i in range(40):
            if stop.wait(0.5):
                return
            try:
                if i < len(greeting):
                    slow_greeting.sock.sendall(greeting[i:i + 1])
                slow_message.sock.sendall(b"x")
            except OSError:
                pass

    t = threading.Thread(target=trickle, daemon=True)
    start = time.monotonic()
    t.start()
    try:
        assert slow_greeting.closed_by_kernel(16), "a handshake trickled a byte at a time was never cut off"
        assert time.monotonic() - start < 16
        assert slow_message.closed_by_kernel(16 - (time.monotonic() - start) + 1), \
            "a message trickled a byte at a time was never cut off"
        took = time.monotonic() - start
        assert took < 17, f"the slow message was cut off after {took:.1f}s"
        # The idle peer, connected as long, is still there.
        assert not idle.closed_by_kernel(0.2), "an idle connection was cut off"
        assert_serving(k, "slow peers")
    finally:
        stop.set()
        t.join(5)
        for p in (slow_greeting, slow_message, idle):
            p.close()


# ---- (d) replaying what the kernel signed ------------------------------------------------------


def test_replayed_kernel_comm_message_is_refused(k):
    """Promise: a comm message the kernel sent (which any iopub subscriber
    receives, signed with the key) does not reach the kernel's comms when a
    peer sends it back on shell: the comm's on_msg in the notebook never sees
    it, while a real client's comm_msg still does."""
    sub = Peer(k, "iopub_port", b"SUB")
    try:
        sub.send_frames([b"\x01"])  # subscribe to everything (ZMTP 3.0)
        time.sleep(0.3)
        r = k.ok("import comm\nwire_got = []\nwire_c = comm.create_comm(target_name='wire-replay')\n"
                 "wire_c.on_msg(lambda m: wire_got.append(m['content']['data']))\n"
                 "wire_c.send({'n': 1})\nwire_c.comm_id")
        comm_id = r.result_text().strip("'")
        replay = None
        deadline = time.monotonic() + 30
        while replay is None and time.monotonic() < deadline:
            frames = sub.recv_message(1)
            if frames and b"comm_msg" in frames[0] and comm_id.encode() in frames[-1]:
                replay = frames[1:]  # without the topic
        assert replay is not None, "the comm_msg was not seen on iopub"
    finally:
        sub.close()
    thief = Peer(k, identity=b"replayer")
    try:
        thief.send_frames(replay)
        time.sleep(0.5)
    finally:
        thief.close()
    # The real client's message goes through, and shows the comm works.
    k.kc.shell_channel.send(k.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"from": "client"}}))
    deadline = time.monotonic() + 30
    got = []
    while time.monotonic() < deadline:
        got = k.eval("wire_got")
        if got:
            break
        time.sleep(0.2)
    assert got == [{"from": "client"}], f"the comm received {got!r}: a replayed kernel message reached it"
    assert "replayed" in kernel_log(k)
