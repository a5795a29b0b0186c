"""The wire protocol, seen from Debian's jupyter_client and from raw pyzmq
sockets: kernel_info_reply, busy/idle around every request, execute_input,
comm_info, signature checks, malformed messages and the heartbeat."""

import hashlib
import os
import socket
import struct
import hmac
import json
import time
import uuid

import psutil
import pytest
import zmq
from jupyter_client.session import Session

import harness

RAW_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


# ---- raw sockets -----------------------------------------------------------


def _conn(k):
    return k.km.get_connection_info(session=False)


def _url(info, port_name):
    if info["transport"] == "ipc":
        return f"ipc://{info['ip']}-{info[port_name]}"
    return f"tcp://{info['ip']}:{info[port_name]}"


class Raw:
    """A raw DEALER socket on the kernel's shell or control port."""

    def __init__(self, k, channel="shell"):
        self.info = _conn(k)
        key = self.info["key"]
        self.key = key.encode() if isinstance(key, str) else key
        self.scheme = self.info.get("signature_scheme", "hmac-sha256")
        self.session = Session(key=self.key, signature_scheme=self.scheme, username="raw-test")
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IDENTITY, f"raw-{uuid.uuid4().hex}".encode())
        self.sock.connect(_url(self.info, f"{channel}_port"))

    def close(self):
        self.sock.close(0)

    def sign(self, parts, key=None):
        h = hmac.new(self.key if key is None else key, digestmod=hashlib.sha256)
        for p in parts:
            h.update(p)
        return h.hexdigest().encode()

    def parts(self, msg_type, content=None, msg_id=None):
        """Header, parent, metadata and content frames of a request."""
        header = self.session.msg_header(msg_type)
        if msg_id:
            header["msg_id"] = msg_id
        header["date"] = header["date"].isoformat() if hasattr(header["date"], "isoformat") else header["date"]
        enc = lambda o: json.dumps(o).encode()  # noqa: E731
        return header["msg_id"], [enc(header), enc({}), enc({}), enc(content or {})]

    def send_frames(self, frames):
        self.sock.send_multipart(frames)

    def send_valid(self, msg_type, content=None):
        msg_id, parts = self.parts(msg_type, content)
        self.send_frames([b"<IDS|MSG>", self.sign(parts)] + parts)
        return msg_id

    def recv(self, timeout_ms=RAW_TIMEOUT_MS):
        """The next reply, checked against the connection key."""
        if not self.sock.poll(timeout_ms):
            raise AssertionError(f"no reply on the raw socket within {timeout_ms / 1000}s")
        frames = self.sock.recv_multipart()
        idents, rest = self.session.feed_identities(frames, copy=True)
        return self.session.deserialize(rest, content=True, copy=True)  # checks the signature


def assert_served_after(k, raw, bad_ids, what):
    """Send a valid kernel_info_request after messages that must be dropped:
    the first reply on the socket must be the valid one's (the kernel reads
    a connection in order, so an answer to a dropped message would come
    first), and no iopub message may have a dropped message as parent."""
    good = raw.send_valid("kernel_info_request")
    reply = raw.recv()
    assert reply["parent_header"].get("msg_id") == good, (
        f"after {what}, the first reply was {reply['msg_type']} to {reply['parent_header'].get('msg_id')}, "
        f"not to the valid request {good}"
    )
    assert reply["msg_type"] == "kernel_info_reply"
    k.iopub_for(good)
    for bad in bad_ids:
        assert bad not in k._iopub, f"{what}: the kernel published {k._iopub[bad]} for a message it must drop"
    # And the regular client still works.
    r = k.request("kernel_info_request")
    assert r.reply_msg["msg_type"] == "kernel_info_reply"


# ---- kernel_info -----------------------------------------------------------


def test_kernel_info_reply(k):
    r = k.request("kernel_info_request")
    msg = r.reply_msg
    assert msg["msg_type"] == "kernel_info_reply"
    assert msg["parent_header"]["msg_id"] == r.msg_id
    c = msg["content"]
    assert c["status"] == "ok"
    major, minor = (int(x) for x in c["protocol_version"].split(".")[:2])
    assert (major, minor) >= (5, 3), c["protocol_version"]
    assert msg["header"]["version"].startswith("5."), msg["header"]
    assert c["implementation"] == "wasipy"
    assert isinstance(c["implementation_version"], str) and c["implementation_version"]
    li = c["language_info"]
    assert li["name"] == "python"
    # The interpreter's real version, whichever interpreter the session runs.
    real = k.eval("__import__('platform').python_version()")
    assert li["version"] == real, (li, real)
    assert li["mimetype"] == "text/x-python"
    assert li["file_extension"] == ".py"
    assert li["pygments_lexer"] in ("ipython3", "python3", "python"), li
    cm = li["codemirror_mode"]
    if isinstance(cm, dict):
        assert cm["name"] in ("ipython", "python"), cm
    else:
        assert cm in ("ipython", "python"), cm
    assert isinstance(c["banner"], str) and real in c["banner"], (c["banner"], real)
    assert isinstance(c["help_links"], list) and c["help_links"], c
    for link in c["help_links"]:
        assert set(link) >= {"text", "url"} and link["url"].startswith("http"), link


def test_language_version_is_the_interpreters(k):
    li = k.request("kernel_info_request").reply["language_info"]
    assert k.eval("__import__('platform').python_version()") == li["version"]


# ---- status around every request ---------------------------------------------

REQUESTS = [
    ("execute_request", {"code": "1+1", "silent": False, "store_history": True, "user_expressions": {},
                         "allow_stdin": False, "stop_on_error": True}, "shell", "execute_reply"),
    ("kernel_info_request", {}, "shell", "kernel_info_reply"),
    ("is_complete_request", {"code": "x = ("}, "shell", "is_complete_reply"),
    ("comm_info_request", {}, "shell", "comm_info_reply"),
    ("kernel_info_request", {}, "control", "kernel_info_reply"),
    ("interrupt_request", {}, "control", "interrupt_reply"),
]


@pytest.mark.parametrize("msg_type,content,channel,reply_type", REQUESTS,
                         ids=[f"{c}-{t}" for t, _, c, _ in REQUESTS])
def test_busy_idle_around_request(k, msg_type, content, channel, reply_type):
    r = k.request(msg_type, content, channel)
    assert r.reply_msg["msg_type"] == reply_type
    assert r.reply_msg["parent_header"]["msg_id"] == r.msg_id
    statuses = [m["content"]["execution_state"] for m in r.of_type("status")]
    assert statuses == ["busy", "idle"], r.summary()
    assert r.iopub[0]["msg_type"] == "status" and r.iopub[0]["content"]["execution_state"] == "busy", r.summary()
    assert r.iopub[-1]["content"]["execution_state"] == "idle"
    for m in r.iopub:
        assert m["parent_header"]["msg_id"] == r.msg_id
        assert m["parent_header"]["msg_type"] == msg_type


def test_execute_input_on_iopub(k):
    code = "a_value = 6 * 7\na_value"
    r = k.execute(code)
    assert r.status == "ok"
    inputs = r.of_type("execute_input")
    assert len(inputs) == 1, r.summary()
    assert inputs[0]["content"]["code"] == code
    assert inputs[0]["content"]["execution_count"] == r.count
    # execute_input comes right after busy, before any output.
    assert [m["msg_type"] for m in r.iopub[:2]] == ["status", "execute_input"], r.summary()
    assert r.result_text() == "42"


def test_is_complete_reply_indent(k):
    r = k.request("is_complete_request", {"code": "for i in range(3):"})
    assert r.reply == {"status": "incomplete", "indent": "    "} or (
        r.reply["status"] == "incomplete" and r.reply["indent"].strip() == "" and len(r.reply["indent"]) == 4
    ), r.reply
    assert k.request("is_complete_request", {"code": "1 +* 2"}).reply["status"] == "invalid"
    assert k.request("is_complete_request", {"code": "x = 1"}).reply["status"] == "complete"


# What ipykernel answers (measured with Debian's python3-ipykernel): a line
# holding only indentation ends a block, which is what terminal frontends
# send when Enter is pressed on the auto-indented empty line.
IS_COMPLETE_LIKE_IPYTHON = [
    ("for i in range(2):\n    print(i)\n    ", "complete"),
    ("def f():\n    return 1\n  ", "complete"),
    ("class A:\n    def f(self):\n        pass\n    ", "complete"),
    ("x = 1\n   ", "complete"),
    ("for i in range(2):\n    print(i)\n", "complete"),
    ("if True:\n    pass\n\n", "complete"),
    ("for i in range(2):\n    ", "incomplete"),
    ("for i in range(2):\n    print(i)", "incomplete"),
    ("x = (1,\n", "incomplete"),
]


@pytest.mark.parametrize("code,status", IS_COMPLETE_LIKE_IPYTHON, ids=[repr(c) for c, _ in IS_COMPLETE_LIKE_IPYTHON])
def test_is_complete_like_ipython(k, code, status):
    r = k.request("is_complete_request", {"code": code})
    assert r.reply["status"] == status, r.reply


def test_comm_info_empty(k):
    r = k.request("comm_info_request", {})
    assert r.reply["status"] == "ok"
    assert r.reply["comms"] == {}
    r = k.request("comm_info_request", {"target_name": "jupyter.widget"})
    assert r.reply["status"] == "ok"
    assert r.reply["comms"] == {}


def test_shell_and_control_replies_are_signed_with_the_key(k):
    raw = Raw(k, "control")
    try:
        msg_id = raw.send_valid("kernel_info_request")
        reply = raw.recv()  # Session.deserialize raises on a bad signature
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["msg_type"] == "kernel_info_reply"
        k.iopub_for(msg_id)
    finally:
        raw.close()


# ---- signatures and malformed messages -----------------------------------------


@pytest.mark.parametrize("channel", ["shell", "control"])
def test_bad_signature_is_dropped(k, channel):
    raw = Raw(k, channel)
    try:
        bad_ids = []
        # Signed with the wrong key.
        mid, parts = raw.parts("kernel_info_request")
        raw.send_frames([b"<IDS|MSG>", raw.sign(parts, key=b"not-the-key")] + parts)
        bad_ids.append(mid)
        # An execute with the wrong key must not run.
        mid, parts = raw.parts("execute_request", {"code": "print('must not run')", "silent": False})
        raw.send_frames([b"<IDS|MSG>", raw.sign(parts, key=b"not-the-key")] + parts)
        bad_ids.append(mid)
        # No signature at all.
        mid, parts = raw.parts("kernel_info_request")
        raw.send_frames([b"<IDS|MSG>", b""] + parts)
        bad_ids.append(mid)
        # A valid signature of other content (content tampered after signing).
        mid, parts = raw.parts("kernel_info_request")
        sig = raw.sign(parts)
        parts[3] = b'{"tampered": true}'
        raw.send_frames([b"<IDS|MSG>", sig] + parts)
        bad_ids.append(mid)
        assert_served_after(k, raw, bad_ids, f"badly signed messages on {channel}")
    finally:
        raw.close()


MALFORMED = {
    "missing delimiter": lambda raw, sig, parts: [sig] + parts,
    "too few frames": lambda raw, sig, parts: [b"<IDS|MSG>", sig] + parts[:2],
    "only the delimiter": lambda raw, sig, parts: [b"<IDS|MSG>"],
    "empty message": lambda raw, sig, parts: [b""],
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_framing_is_dropped(k, case):
    raw = Raw(k, "shell")
    try:
        mid, parts = raw.parts("kernel_info_request")
        raw.send_frames(MALFORMED[case](raw, raw.sign(parts), parts))
        assert_served_after(k, raw, [mid], case)
    finally:
        raw.close()


def _bad_json_cases(raw):
    mid, (header, parent, metadata, content) = raw.parts("kernel_info_request")
    return mid, {
        "header not JSON": [b"{not json", parent, metadata, content],
        "content not JSON": [header, parent, metadata, b"\xff\xfe garbage"],
        "header is a list": [b"[1, 2, 3]", parent, metadata, content],
        "content is a string": [header, parent, metadata, b'"just a string"'],
        "msg_type is a number": [header.replace(b'"msg_type": "kernel_info_request"', b'"msg_type": 7'),
                                 parent, metadata, content],
        "parent is a number": [header, b"12", metadata, content],
        "header without msg_type": [json.dumps({k: v for k, v in json.loads(header).items() if k != "msg_type"}).encode(),
                                    parent, metadata, content],
        "msg_id is a number": [json.dumps(dict(json.loads(header), msg_id=12345)).encode(), parent, metadata, content],
        "metadata is a list": [header, parent, b"[]", content],
    }


@pytest.mark.parametrize("case", ["header not JSON", "content not JSON", "header is a list",
                                  "content is a string", "msg_type is a number", "parent is a number",
                                  "header without msg_type", "msg_id is a number", "metadata is a list"])
def test_bad_json_is_dropped(k, case):
    raw = Raw(k, "shell")
    try:
        mid, cases = _bad_json_cases(raw)
        parts = cases[case]
        if case == "msg_type is a number":
            assert b'"msg_type": 7' in parts[0], parts[0]
        # Correctly signed, so only the parser can reject it.
        raw.send_frames([b"<IDS|MSG>", raw.sign(parts)] + parts)
        assert_served_after(k, raw, [mid], case)
    finally:
        raw.close()


def test_extra_buffers_are_accepted(k):
    """Binary buffers after the content frame are part of the message."""
    raw = Raw(k, "shell")
    try:
        mid, parts = raw.parts("kernel_info_request")
        raw.send_frames([b"<IDS|MSG>", raw.sign(parts)] + parts + [b"\x00\x01binary", b""])
        reply = raw.recv()
        assert reply["parent_header"]["msg_id"] == mid
        assert reply["msg_type"] == "kernel_info_reply"
        k.iopub_for(mid)
    finally:
        raw.close()


def test_unknown_message_type_keeps_kernel_serving(k):
    raw = Raw(k, "shell")
    try:
        mid = raw.send_valid("no_such_request", {})
        good = raw.send_valid("kernel_info_request")
        # A reply to the unknown type is allowed (ipykernel logs and drops it);
        # the valid request must still be answered.
        while True:
            reply = raw.recv()
            if reply["parent_header"].get("msg_id") == good:
                break
            assert reply["parent_header"].get("msg_id") == mid, reply
        k.iopub_for(good)
    finally:
        raw.close()


# ---- heartbeat -----------------------------------------------------------------


def test_heartbeat_echoes(k):
    info = _conn(k)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(_url(info, "hb_port"))
    try:
        for i in range(5):
            payload = f"ping-{i}-{uuid.uuid4().hex}".encode()
            sock.send(payload)
            assert sock.poll(RAW_TIMEOUT_MS), "heartbeat did not answer"
            assert sock.recv() == payload
    finally:
        sock.close(0)
    assert k.kc.is_alive()


def test_heartbeat_channel_of_jupyter_client(k):
    hb = k.kc.hb_channel
    assert hb.is_alive()
    deadline = time.monotonic() + 30
    # is_beating turns true once a beat came back.
    while not hb.is_beating():
        assert time.monotonic() < deadline, "jupyter_client's heartbeat channel never saw a beat"
        time.sleep(0.1)


# ---- connection files: transports and keys -------------------------------------


def _roundtrip(k):
    r = k.ok("print('over', 'the wire')\n6 * 7")
    assert r.stdout == "over the wire\n"
    assert r.result_text() == "42"
    assert k.request("kernel_info_request", channel="control").reply["implementation"] == "wasipy"
    assert k.kc.is_alive()


def test_ipc_transport(start_kernel):
    root = harness.setup_env()["root"]
    k = start_kernel(manager_kwargs={"transport": "ipc", "ip": os.path.join(root, f"ipc-{uuid.uuid4().hex[:8]}")})
    assert _conn(k)["transport"] == "ipc"
    _roundtrip(k)


def test_other_key_in_connection_file(start_kernel):
    def configure(km):
        km.session.key = uuid.uuid4().hex.encode() + b"-another-key"

    k = start_kernel(configure=configure)
    assert _conn(k)["key"].endswith(b"-another-key") if isinstance(_conn(k)["key"], bytes) else \
        _conn(k)["key"].endswith("-another-key")
    _roundtrip(k)


def test_empty_key_means_no_signing(start_kernel):
    """An empty key in the connection file turns authentication off: the
    kernel accepts and sends messages with an empty signature."""
    def configure(km):
        km.session.key = b""

    k = start_kernel(configure=configure)
    assert _conn(k)["key"] in (b"", "")
    _roundtrip(k)


def test_rejected_messages_are_logged(start_kernel, tmp_path):
    log_path = tmp_path / "kernel.log"
    with open(log_path, "w") as log:
        k = start_kernel(stderr=log)
    raw = Raw(k, "shell")
    try:
        mid, parts = raw.parts("kernel_info_request")
        raw.send_frames([b"<IDS|MSG>", raw.sign(parts, key=b"wrong")] + parts)
        mid2, parts = raw.parts("kernel_info_request")
        raw.send_frames([raw.sign(parts)] + parts)  # no delimiter
        assert_served_after(k, raw, [mid, mid2], "a bad signature and a missing delimiter")
    finally:
        raw.close()
    text = log_path.read_text()
    lines = [l for l in text.splitlines() if "signature" in l.lower()]
    assert lines, f"no log line about the bad signature in the kernel's stderr:\n{text}"
    assert any("delimiter" in l.lower() or "<ids|msg>" in l.lower() for l in text.splitlines()), \
        f"no log line about the missing delimiter:\n{text}"


# ---- several clients ----------------------------------------------------------------


def _dealer(k, identity=None, **opts):
    raw = Raw(k, "shell")
    raw.sock.close(0)
    raw.sock = raw.ctx.socket(zmq.DEALER)
    raw.sock.setsockopt(zmq.LINGER, 0)
    if identity:
        raw.sock.setsockopt(zmq.IDENTITY, identity)
    for opt, value in opts.items():
        raw.sock.setsockopt(getattr(zmq, opt), value)
    return raw


def test_zmtp_heartbeats_from_clients_are_answered(k):
    """libzmq clients may turn on ZMTP heartbeats (PING/PONG commands); the
    kernel must answer them, or libzmq drops the connection."""
    from zmq.utils.monitor import recv_monitor_message

    raw = _dealer(k, HEARTBEAT_IVL=100, HEARTBEAT_TIMEOUT=500, HEARTBEAT_TTL=1000)
    mon = raw.sock.get_monitor_socket()
    try:
        raw.sock.connect(_url(raw.info, "shell_port"))
        events = []
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            if mon.poll(100):
                events.append(zmq.Event(recv_monitor_message(mon)["event"]).name)
        assert "HANDSHAKE_SUCCEEDED" in events, events
        assert "DISCONNECTED" not in events, f"the connection dropped while ZMTP heartbeats ran: {events}"
        mid = raw.send_valid("kernel_info_request")
        assert raw.recv()["parent_header"]["msg_id"] == mid
        k.iopub_for(mid)
    finally:
        raw.sock.disable_monitor()
        mon.close(0)
        raw.close()


def test_reused_identity_stays_with_its_holder(k):
    """A second connection with an identity in use is held back (libzmq's ROUTER):
    it gets nothing while the first is connected, and is served, in order, once it has gone."""
    ident = b"same-" + uuid.uuid4().hex.encode()
    a = _dealer(k, identity=ident)
    b = _dealer(k, identity=ident)
    try:
        a.sock.connect(_url(a.info, "shell_port"))
        mid = a.send_valid("kernel_info_request")
        assert a.recv()["parent_header"]["msg_id"] == mid
        k.iopub_for(mid)
        b.sock.connect(_url(b.info, "shell_port"))
        waiting = b.send_valid("kernel_info_request")
        with pytest.raises(AssertionError, match="no reply"):
            b.recv(timeout_ms=1000)
        mid = a.send_valid("kernel_info_request")
        assert a.recv()["parent_header"]["msg_id"] == mid
        a.close()
        assert b.recv()["parent_header"]["msg_id"] == waiting
        k.iopub_for(waiting)
    finally:
        a.close()
        b.close()


def test_second_client_sees_iopub(k):
    """A second frontend (its own session, as `jupyter console --existing`
    would be) sees the iopub traffic of the first one's requests."""
    from jupyter_client import BlockingKernelClient

    other = BlockingKernelClient()
    other.load_connection_info(k.km.get_connection_info())
    assert other.session.session != k.kc.session.session
    other.start_channels()
    try:
        other.wait_for_ready(timeout=harness.START_TIMEOUT)
        while True:
            try:
                other.get_iopub_msg(timeout=0.3)
            except Exception:
                break
        r = k.ok("print('to everyone')")
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = other.get_iopub_msg(timeout=60)
            if m["parent_header"].get("msg_id") != r.msg_id:
                continue
            seen.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        assert [m["msg_type"] for m in seen] == [m["msg_type"] for m in r.iopub], seen
        assert any(m["msg_type"] == "stream" and m["content"]["text"] == "to everyone\n" for m in seen)
    finally:
        other.stop_channels()


def test_stalled_subscriber_does_not_starve_others(k):
    """A subscriber that never reads must not block iopub for everyone else
    for good: 35 MB of output (more than socket buffers hold) still reaches
    the reading client, complete."""
    ctx = zmq.Context.instance()
    stalled = ctx.socket(zmq.SUB)
    stalled.setsockopt(zmq.LINGER, 0)
    stalled.setsockopt(zmq.RCVHWM, 1)
    stalled.setsockopt(zmq.RCVBUF, 4096)
    stalled.setsockopt(zmq.SUBSCRIBE, b"")
    stalled.connect(_url(_conn(k), "iopub_port"))
    try:
        k.ok("'subscribed'")
        code = "import sys\nfor i in range(70):\n    sys.stdout.write(str(i % 10) * 500000 + '\\n')"
        t0 = time.monotonic()
        r = k.ok(code, timeout=240)
        took = time.monotonic() - t0
        assert r.stdout == "".join(str(i % 10) * 500000 + "\n" for i in range(70))
        assert took < 60, f"a stalled subscriber held up the other client's output for {took:.1f}s"
        assert k.ok("'still flowing'").result_text() == "'still flowing'"
    finally:
        stalled.close(0)


def test_stray_stdin_message_is_ignored(k):
    msg = k.kc.session.msg("input_reply", {"value": "nobody asked"})
    k.kc.stdin_channel.send(msg)
    assert k.value("1 + 1") == "2"


# ---- raw TCP: the ZMTP layer under the messages --------------------------------------


def _zmtp_greeting():
    # ZMTP 3.0: signature, version 3.0, NULL mechanism, as-server 0, filler.
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def _zmtp_ready(socket_type=b"DEALER"):
    body = b"\x05READY" + bytes([11]) + b"Socket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    return bytes([0x04, len(body)]) + body


def _tcp(k, port="shell_port"):
    info = _conn(k)
    if info["transport"] != "tcp":
        pytest.skip("needs the tcp transport")
    s = socket.create_connection((info["ip"], info[port]), timeout=30)
    return s


def test_silent_tcp_connections_do_not_block(k):
    """Peers that connect and never finish the ZMTP handshake must not hold
    up anyone else."""
    silent = [_tcp(k) for _ in range(3)] + [_tcp(k, "control_port"), _tcp(k, "iopub_port"), _tcp(k, "hb_port")]
    half = _tcp(k)
    half.sendall(_zmtp_greeting()[:10])
    try:
        assert k.request("kernel_info_request").reply["status"] == "ok"
        assert k.request("kernel_info_request", channel="control").reply["status"] == "ok"
        assert k.ok("print('served')").stdout == "served\n"
        assert k.kc.is_alive()
    finally:
        for s in silent + [half]:
            s.close()


@pytest.mark.parametrize("size", [1 << 62, 1 << 31], ids=["2^62", "2GiB"])
def test_huge_frame_length_is_refused(k, size):
    """A frame that announces an enormous length must not make the kernel
    allocate it (or die): the connection is dropped, others are served."""
    s = _tcp(k)
    try:
        s.sendall(_zmtp_greeting())
        got = b""
        while len(got) < 64:
            chunk = s.recv(64 - len(got))
            assert chunk, "the kernel closed the connection during the greeting"
            got += chunk
        assert got[0] == 0xFF and got[10] == 3, got
        s.sendall(_zmtp_ready())
        s.sendall(b"\x02" + struct.pack(">Q", size) + b"x" * 1000)
        assert k.request("kernel_info_request").reply["status"] == "ok"
        assert k.ok("1 + 1").result_text() == "2"
        rss = psutil.Process(k.pid).memory_info().rss
        assert rss < 1 << 30, f"the kernel process grew to {rss >> 20} MiB"
    finally:
        s.close()
