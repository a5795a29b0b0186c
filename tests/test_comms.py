"""Comms (issue 5) through jupyter_client, both directions: the `comm`
package's API in the kernel (create_comm, get_comm_manager, register_target,
Comm.send/on_msg/on_close/close) with binary buffers, the frontend's
comm_open/comm_msg/comm_close on shell, comm_info_request with and without
target_name, unknown targets, and output attributed to the comm message."""

import pytest

ALL_BYTES = bytes(range(256))


@pytest.fixture(scope="module")
def k(shared_kernel):
    shared_kernel.ok("import comm")
    return shared_kernel


def shell_send(k, msg_type, content, buffers=None):
    """Send a frontend message on shell (with binary buffers); its msg_id."""
    msg = k.kc.session.msg(msg_type, content)
    k.kc.session.send(k.kc.shell_channel.socket, msg, buffers=buffers)
    return msg["header"]["msg_id"]


def of_type(msgs, msg_type):
    return [m for m in msgs if m["msg_type"] == msg_type]


def stdout(msgs):
    return "".join(m["content"]["text"] for m in of_type(msgs, "stream") if m["content"]["name"] == "stdout")


def comm_info(k, target_name=None):
    content = {} if target_name is None else {"target_name": target_name}
    r = k.request("comm_info_request", content)
    assert r.reply_msg["msg_type"] == "comm_info_reply"
    assert r.reply["status"] == "ok", r.reply
    return r.reply["comms"]


# ---- kernel -> frontend ------------------------------------------------------------


def test_kernel_opens_sends_and_closes_with_buffers(k):
    r = k.ok("c1 = comm.create_comm(target_name='k2f', data={'hello': 'frontend'}, metadata={'om': 1},\n"
             f"                      buffers=[b'first', bytearray({ALL_BYTES!r})])\n"
             "c1.comm_id")
    comm_id = eval(r.result_text())
    [opened] = r.of_type("comm_open")
    assert opened["content"]["comm_id"] == comm_id
    assert opened["content"]["target_name"] == "k2f"
    assert opened["content"]["data"] == {"hello": "frontend"}
    assert opened["metadata"] == {"om": 1}
    assert [bytes(b) for b in opened["buffers"]] == [b"first", ALL_BYTES]
    assert opened["parent_header"]["msg_id"] == r.msg_id

    # While open, comm_info lists it (with and without its target name).
    assert comm_info(k)[comm_id] == {"target_name": "k2f"}
    assert comm_id in comm_info(k, "k2f")
    assert comm_id not in comm_info(k, "some-other-target")

    r = k.ok("c1.send({'n': 1}, metadata={'mm': 'x'}, buffers=[memoryview(b'\\x00\\x01\\x02')])\n"
             "c1.send(data={'n': 2})\n"
             "c1.send({'big': True}, buffers=[bytes(1 << 20)])")
    msgs = r.of_type("comm_msg")
    assert [m["content"]["data"] for m in msgs] == [{"n": 1}, {"n": 2}, {"big": True}]
    assert all(m["content"]["comm_id"] == comm_id for m in msgs)
    assert msgs[0]["metadata"] == {"mm": "x"}
    assert [bytes(b) for b in msgs[0]["buffers"]] == [b"\x00\x01\x02"]
    assert msgs[1].get("buffers", []) == []
    assert [len(b) for b in msgs[2]["buffers"]] == [1 << 20]
    assert bytes(msgs[2]["buffers"][0]) == bytes(1 << 20)

    r = k.ok("c1.close({'bye': 1})")
    [closed] = r.of_type("comm_close")
    assert closed["content"] == {"comm_id": comm_id, "data": {"bye": 1}}
    assert comm_id not in comm_info(k)
    # Closing twice sends nothing more.
    assert k.ok("c1.close()").of_type("comm_close") == []


def test_comm_info_lists_every_open_comm(k):
    k.ok("ca = comm.create_comm(target_name='info-a')\ncb = comm.create_comm(target_name='info-b')")
    ids = k.eval("[ca.comm_id, cb.comm_id]")
    all_ = comm_info(k)
    assert all_[ids[0]] == {"target_name": "info-a"} and all_[ids[1]] == {"target_name": "info-b"}
    only_a = comm_info(k, "info-a")
    assert ids[0] in only_a and ids[1] not in only_a
    assert all(v["target_name"] == "info-a" for v in only_a.values())
    k.ok("ca.close(); cb.close()")
    assert not {ids[0], ids[1]} & set(comm_info(k))


# ---- frontend -> kernel ------------------------------------------------------------


ECHO_TARGET = """
log = []
def echo_target(c, msg):
    log.append(('open', msg['content']['data'], [type(b).__name__ for b in msg['buffers']],
                [bytes(b) for b in msg['buffers']]))
    print('target got', msg['content']['data'])
    c.send({'opened': c.comm_id})

    @c.on_msg
    def _on_msg(msg):
        data = msg['content']['data']
        log.append(('msg', data, [type(b).__name__ for b in msg['buffers']], [bytes(b) for b in msg['buffers']]))
        print('handler got', data)
        if data.get('fail'):
            raise RuntimeError('handler failed on purpose')
        c.send({'echo': data}, metadata={'echoed': True}, buffers=[bytes(b)[::-1] for b in msg['buffers']])

    @c.on_close
    def _on_close(msg):
        log.append(('close', msg['content']['data']))
        print('closed with', msg['content']['data'])

comm.get_comm_manager().register_target('echo', echo_target)
"""


def test_frontend_comm_round_trip_with_buffers(k):
    k.ok(ECHO_TARGET)
    comm_id = "frontend-comm-1"

    # comm_open with binary buffers reaches the target; what the target
    # prints and sends has the comm_open as parent.
    mid = shell_send(k, "comm_open", {"comm_id": comm_id, "target_name": "echo", "data": {"x": 1}},
                     buffers=[b"abc", ALL_BYTES])
    msgs = k.iopub_for(mid)
    assert stdout(msgs) == "target got {'x': 1}\n"
    [sent] = of_type(msgs, "comm_msg")
    assert sent["content"] == {"comm_id": comm_id, "data": {"opened": comm_id}}
    assert sent["parent_header"]["msg_id"] == mid
    assert comm_info(k, "echo") == {comm_id: {"target_name": "echo"}}

    # comm_msg with buffers reaches on_msg as memoryviews; the reply comes
    # back on iopub with its buffers.
    mid = shell_send(k, "comm_msg", {"comm_id": comm_id, "data": {"y": [1, 2]}}, buffers=[b"\x00\x01xyz", b""])
    msgs = k.iopub_for(mid)
    assert stdout(msgs) == "handler got {'y': [1, 2]}\n"
    [echo] = of_type(msgs, "comm_msg")
    assert echo["content"] == {"comm_id": comm_id, "data": {"echo": {"y": [1, 2]}}}
    assert echo["metadata"] == {"echoed": True}
    assert [bytes(b) for b in echo["buffers"]] == [b"zyx\x01\x00", b""]
    assert echo["parent_header"]["msg_id"] == mid
    assert all(m["parent_header"]["msg_id"] == mid for m in msgs)

    # A big buffer (2 MiB) both ways.
    big = bytes(range(256)) * (8 << 10)
    mid = shell_send(k, "comm_msg", {"comm_id": comm_id, "data": {"big": 1}}, buffers=[big])
    [echo] = of_type(k.iopub_for(mid), "comm_msg")
    assert bytes(echo["buffers"][0]) == big[::-1]

    # comm_close reaches on_close and the comm is gone.
    mid = shell_send(k, "comm_close", {"comm_id": comm_id, "data": {"reason": "done"}})
    assert stdout(k.iopub_for(mid)) == "closed with {'reason': 'done'}\n"
    assert comm_id not in comm_info(k)

    log = k.eval("[list(x[:3]) for x in log]")
    assert log == [["open", {"x": 1}, ["memoryview", "memoryview"]],
                   ["msg", {"y": [1, 2]}, ["memoryview", "memoryview"]],
                   ["msg", {"big": 1}, ["memoryview"]],
                   ["close", {"reason": "done"}]], log
    assert k.value("log[0][3] == [b'abc', bytes(range(256))], log[1][3] == [b'\\x00\\x01xyz', b'']") == "(True, True)"


def test_kernel_closes_a_frontend_comm(k):
    k.ok("opened = {}\ndef keep(c, msg):\n    opened[c.comm_id] = c\ncomm.get_comm_manager().register_target('keep', keep)")
    mid = shell_send(k, "comm_open", {"comm_id": "kept-1", "target_name": "keep", "data": {}})
    k.iopub_for(mid)
    assert "kept-1" in comm_info(k)
    r = k.ok("opened['kept-1'].send({'from': 'kernel'})\nopened['kept-1'].close({'closing': True})")
    assert [m["content"] for m in r.of_type("comm_msg")] == [{"comm_id": "kept-1", "data": {"from": "kernel"}}]
    assert [m["content"] for m in r.of_type("comm_close")] == [{"comm_id": "kept-1", "data": {"closing": True}}]
    assert "kept-1" not in comm_info(k)


def test_open_to_unknown_target_is_closed(k):
    mid = shell_send(k, "comm_open", {"comm_id": "orphan-1", "target_name": "no-such-target", "data": {"a": 1}})
    msgs = k.iopub_for(mid)
    closes = of_type(msgs, "comm_close")
    assert [m["content"]["comm_id"] for m in closes] == ["orphan-1"], msgs
    assert "orphan-1" not in comm_info(k)
    assert k.value("1 + 1") == "2"


def test_bad_frontend_messages_do_not_break_the_kernel(k):
    # A message for a comm that does not exist, and a handler that raises.
    mid = shell_send(k, "comm_msg", {"comm_id": "never-opened", "data": {}})
    k.iopub_for(mid)
    mid = shell_send(k, "comm_close", {"comm_id": "never-opened", "data": {}})
    k.iopub_for(mid)
    k.ok(ECHO_TARGET)
    mid = shell_send(k, "comm_open", {"comm_id": "failing-1", "target_name": "echo", "data": {}})
    k.iopub_for(mid)
    mid = shell_send(k, "comm_msg", {"comm_id": "failing-1", "data": {"fail": True}})
    msgs = k.iopub_for(mid)
    assert "handler got {'fail': True}" in stdout(msgs)
    # The comm still works after its handler failed.
    mid = shell_send(k, "comm_msg", {"comm_id": "failing-1", "data": {"ok": 1}})
    assert [m["content"]["data"] for m in of_type(k.iopub_for(mid), "comm_msg")] == [{"echo": {"ok": 1}}]
    assert k.value("'still fine'") == "'still fine'"
    shell_send(k, "comm_close", {"comm_id": "failing-1", "data": {}})


def test_comm_api_details(k):
    assert k.value("comm.get_comm_manager() is comm.get_comm_manager()") == "True"
    r = k.ok("cx = comm.create_comm(target_name='fixed', comm_id='my-own-id')\ncx.comm_id, cx.target_name")
    assert r.result_text() == "('my-own-id', 'fixed')"
    assert r.of_type("comm_open")[0]["content"]["comm_id"] == "my-own-id"
    assert k.value("comm.get_comm_manager().get_comm('my-own-id') is cx") == "True"
    r = k.ok("cx.close()\ncomm.get_comm_manager().get_comm('my-own-id') is None")
    assert r.result_text() == "True"
    # The comm target may be unregistered.
    k.ok("comm.get_comm_manager().register_target('gone', lambda c, m: None)\n"
         "comm.get_comm_manager().unregister_target('gone', None)")
    mid = shell_send(k, "comm_open", {"comm_id": "to-gone", "target_name": "gone", "data": {}})
    assert [m["content"]["comm_id"] for m in of_type(k.iopub_for(mid), "comm_close")] == ["to-gone"]


def test_ipykernel_comm_compatibility(k):
    """ipywidgets 6/7 use ipykernel.comm.Comm and get_ipython().kernel.comm_manager."""
    r = k.ok("from ipykernel.comm import Comm\n"
             "ic = Comm(target_name='ipk', data={'v': 1})\n"
             "ic.send({'v': 2})\n"
             "ipk_log = []\n"
             "get_ipython().kernel.comm_manager.register_target('ipk-target', lambda c, m: ipk_log.append(m['content']['data']))\n"
             "ic.comm_id")
    comm_id = eval(r.result_text())
    assert [m["content"]["target_name"] for m in r.of_type("comm_open")] == ["ipk"]
    assert [m["content"]["data"] for m in r.of_type("comm_msg")] == [{"v": 2}]
    assert comm_info(k, "ipk") == {comm_id: {"target_name": "ipk"}}
    mid = shell_send(k, "comm_open", {"comm_id": "ipk-1", "target_name": "ipk-target", "data": {"w": 3}})
    k.iopub_for(mid)
    assert k.value("ipk_log") == "[{'w': 3}]"
    k.ok("ic.close()")
