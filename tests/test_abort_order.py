"""The abort window after a failed cell, compared with ipykernel.

When a cell fails and its execute_request has stop_on_error (the default),
ipykernel answers the failed cell first (its execute_reply, then its idle
status), then takes the requests that were already waiting, in the order
they came: each execute_request among them gets an "aborted" reply, any
other request is served as usual, each between its own busy and idle.
Requests sent after that run normally. The test runs the same scenario on
both kernels and compares what each sends, in order, on shell and iopub.
"""

import time
from queue import Empty

import harness


def cell(code):
    """An execute_request's content with every field (ipykernel 6 needs
    them all)."""
    return {"code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}


# Sent while the failing cell still runs, so they wait behind it.
QUEUED = [
    ("queued_execute", "execute_request", cell("print('must not run')")),
    ("kernel_info", "kernel_info_request", {}),
    ("complete", "complete_request", {"code": "pri", "cursor_pos": 3}),
    ("is_complete", "is_complete_request", {"code": "x = ("}),
    ("queued_execute_2", "execute_request", cell("print('must not run either')")),
]
FAILING = "import time\ntime.sleep(1.5)\nraise ValueError('stop here')"
IOPUB_KEPT = {"status", "execute_input", "error", "stream", "execute_result"}


def run_scenario(kc, send_after="queued_execute_2"):
    """Send the failing cell and the queued requests at once, then one more
    cell once the reply to send_after has arrived; return the shell replies
    and the iopub messages (of those requests) in the order they
    arrived."""
    names = {}

    def send(name, msg_type, content):
        msg = kc.session.msg(msg_type, content)
        kc.shell_channel.send(msg)
        names[msg["header"]["msg_id"]] = name

    send("failing", "execute_request", cell(FAILING))
    for name, msg_type, content in QUEUED:
        send(name, msg_type, content)

    replies, iopub = [], []
    deadline = time.monotonic() + harness.REQUEST_TIMEOUT
    sent_after = False
    while time.monotonic() < deadline:
        try:
            m = kc.get_shell_msg(timeout=0.05)
            name = names.get(m["parent_header"].get("msg_id"))
            if name:
                replies.append((name, m["msg_type"], m["content"]["status"]))
                if name == send_after and not sent_after:
                    send("after", "execute_request", cell("print('runs')"))
                    sent_after = True
        except Empty:
            pass
        while True:
            try:
                m = kc.get_iopub_msg(timeout=0.01)
            except Empty:
                break
            name = names.get(m["parent_header"].get("msg_id"))
            if name and m["msg_type"] in IOPUB_KEPT:
                detail = m["content"].get("execution_state") or m["content"].get("ename") or m["content"].get("text", "")
                iopub.append((name, m["msg_type"], detail))
        if ("after", "status", "idle") in iopub and any(r[0] == "after" for r in replies):
            break
    return replies, iopub


EXPECTED_REPLIES = [
    ("failing", "execute_reply", "error"),
    ("queued_execute", "execute_reply", "aborted"),
    ("kernel_info", "kernel_info_reply", "ok"),
    ("complete", "complete_reply", "ok"),
    ("is_complete", "is_complete_reply", "incomplete"),
    ("queued_execute_2", "execute_reply", "aborted"),
    ("after", "execute_reply", "ok"),
]


def test_abort_window_matches_ipykernel(kernel):
    """Promise: after a failed cell (stop_on_error), the kernel sends the
    failed cell's execute_reply and idle status first, then answers the
    requests that were queued behind it in order (execute_requests
    "aborted", other requests served), each between its own busy and idle,
    exactly as ipykernel does; a cell sent after the failure runs."""
    ours = run_scenario(kernel.kc)

    with harness.ipykernel_reference() as (_, kc):
        theirs = run_scenario(kc)

    assert theirs[0] == EXPECTED_REPLIES, f"ipykernel itself changed: {theirs[0]}"
    assert ours[0] == theirs[0], f"shell replies differ from ipykernel's:\nours:   {ours[0]}\ntheirs: {theirs[0]}"
    assert ours[1] == theirs[1], f"iopub differs from ipykernel's:\nours:   {ours[1]}\ntheirs: {theirs[1]}"
    # The statuses nest nowhere: each request's busy..idle closes before
    # the next one's opens.
    statuses = [(name, state) for name, typ, state in ours[1] if typ == "status"]
    for i in range(0, len(statuses), 2):
        assert statuses[i][1] == "busy" and statuses[i + 1] == (statuses[i][0], "idle"), statuses
    assert not [m for m in ours[1] if "must not run" in m[2]], ours[1]


def test_request_sent_after_the_failed_reply_runs(kernel):
    """Promise: the abort window covers only the requests that were waiting
    when the cell failed; a cell the client sends as soon as it sees the
    failed cell's reply runs (after the queued requests, in order).
    ipykernel opens its window just after sending the reply, so there a
    fast local client's next cell is sometimes aborted too; wasipy opens it
    before the reply leaves, so the outcome never depends on that race."""
    replies, iopub = run_scenario(kernel.kc, send_after="failing")
    assert replies == EXPECTED_REPLIES, replies
    assert ("after", "stream", "runs\n") in iopub, iopub
