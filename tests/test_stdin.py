"""input() and getpass (issue 5): input_request on the stdin channel (with
password set for getpass), the input_reply's value returned to the code,
StdinNotImplementedError when the frontend does not allow stdin, and
KeyboardInterrupt when interrupted while waiting."""

import time
from queue import Empty

import pytest

import harness
from harness import strip_ansi


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


def next_input_request(k, msg_id, timeout=60):
    msg = k.kc.get_stdin_msg(timeout=timeout)
    assert msg["msg_type"] == "input_request", msg
    assert msg["parent_header"]["msg_id"] == msg_id, "input_request's parent is not the execute_request"
    assert msg["parent_header"]["msg_type"] == "execute_request"
    return msg["content"]


def no_more_stdin(k, wait=0.3):
    try:
        msg = k.kc.get_stdin_msg(timeout=wait)
    except Empty:
        return
    raise AssertionError(f"unexpected stdin message: {msg}")


def test_input_round_trip(k):
    mid = k.execute_async("name = input('Your name? ')\nprint('hello', name)\nname", allow_stdin=True)
    req = next_input_request(k, mid)
    assert req == {"prompt": "Your name? ", "password": False}
    k.kc.input("Zoë 🐍")
    r = k.collect(mid)
    assert r.status == "ok", r
    assert r.result_text() == "'Zoë 🐍'"
    # The prompt travels in the input_request only; it is not echoed to stdout.
    assert r.stdout == "hello Zoë 🐍\n"
    no_more_stdin(k)


def test_several_inputs_in_order(k):
    code = ("vals = []\n"
            "for i in range(3):\n"
            "    vals.append(input(f'value {i}: '))\n"
            "empty = input()\n"
            "vals, empty")
    mid = k.execute_async(code, allow_stdin=True)
    for i, answer in enumerate(["a", "", "  spaced  "]):
        assert next_input_request(k, mid)["prompt"] == f"value {i}: "
        k.kc.input(answer)
    req = next_input_request(k, mid)
    assert req["prompt"] == "" and req["password"] is False
    k.kc.input("")
    assert k.collect(mid).result_text() == "(['a', '', '  spaced  '], '')"


def test_output_before_input_is_flushed_first(k):
    """What the cell printed before asking must reach the frontend while
    the kernel waits for the answer (ipykernel flushes too)."""
    mid = k.execute_async("print('line one')\nprint('no newline', end='')\nx = input('? ')\nx", allow_stdin=True)
    next_input_request(k, mid)
    deadline = time.monotonic() + 30
    while "no newline" not in "".join(m["content"].get("text", "") for m in k._iopub[mid]):
        assert time.monotonic() < deadline, f"output before input() was not flushed: {k._iopub[mid]}"
        try:
            k._pump_iopub(timeout=0.5)
        except Empty:
            pass
    k.kc.input("answered")
    r = k.collect(mid)
    assert r.stdout == "line one\nno newline"
    assert r.result_text() == "'answered'"


def test_getpass_sets_password(k):
    mid = k.execute_async("import getpass\nsecret = getpass.getpass('Token: ')\nlen(secret)", allow_stdin=True)
    req = next_input_request(k, mid)
    assert req == {"prompt": "Token: ", "password": True}
    k.kc.input("hunter2")
    r = k.collect(mid)
    assert r.result_text() == "7"
    assert "hunter2" not in r.stdout + r.stderr
    # The default prompt.
    mid = k.execute_async("getpass.getpass()", allow_stdin=True)
    req = next_input_request(k, mid)
    assert req["password"] is True
    assert req["prompt"] == "Password: "
    k.kc.input("x")
    assert k.collect(mid).result_text() == "'x'"


def test_input_inside_a_coroutine(k):
    mid = k.execute_async("import asyncio\nasync def ask():\n    await asyncio.sleep(0.01)\n    return input('in coro: ')\n"
                          "await ask()", allow_stdin=True)
    assert next_input_request(k, mid)["prompt"] == "in coro: "
    k.kc.input("from coro")
    assert k.collect(mid).result_text() == "'from coro'"


@pytest.mark.parametrize("call", ["input('q? ')", "__import__('getpass').getpass('p? ')"])
def test_no_stdin_raises_stdin_not_implemented(k, call):
    r = k.execute(call, allow_stdin=False)
    assert r.status == "error", r
    assert r.reply["ename"] == "StdinNotImplementedError", r
    [err] = r.errors
    assert err["ename"] == "StdinNotImplementedError"
    assert "Cell In[" in strip_ansi("\n".join(err["traceback"]))
    no_more_stdin(k)
    # Code can catch it (ipykernel's class is importable here from wasipy).
    code = ("from wasipy import StdinNotImplementedError\n"
            f"try:\n    {call}\nexcept StdinNotImplementedError:\n    print('no stdin here')")
    assert k.ok(code, allow_stdin=False).stdout == "no stdin here\n"
    no_more_stdin(k)


def test_interrupt_while_waiting_for_input(k):
    k.ok("kept_before_input = 123")
    mid = k.execute_async("got = input('never answered: ')", allow_stdin=True)
    assert next_input_request(k, mid)["prompt"] == "never answered: "
    t0 = time.monotonic()
    iid = k.send("interrupt_request", channel="control")
    reply = k.reply_for(mid)
    print(f"interrupt while in input(): {1000 * (reply['_arrived'] - t0):.1f} ms to the reply")
    assert k.reply_for(iid, channel="control")["content"]["status"] == "ok"
    r = harness.Result(mid, reply, k.iopub_for(mid))
    assert r.status == "error" and r.reply["ename"] == "KeyboardInterrupt", r
    assert k.value("kept_before_input, 'got' in dir()") == "(123, False)"
    # A late answer to the abandoned request must not leak into the next input().
    k.kc.input("late answer")
    mid = k.execute_async("input('fresh: ')", allow_stdin=True)
    assert next_input_request(k, mid)["prompt"] == "fresh: "
    k.kc.input("fresh answer")
    assert k.collect(mid).result_text() == "'fresh answer'"


def test_interrupt_while_a_coroutine_waits_for_input(k):
    """input() called (synchronously) inside an awaited coroutine: the
    interrupt ends the wait at once, with the input() line in the
    traceback, instead of waiting for an answer."""
    mid = k.execute_async(
        "import asyncio\nasync def ask_inside():\n    await asyncio.sleep(0)\n    return input('inside: ')\n"
        "await ask_inside()", allow_stdin=True)
    assert next_input_request(k, mid)["prompt"] == "inside: "
    k.send("interrupt_request", channel="control")
    r = harness.Result(mid, k.reply_for(mid, timeout=10), k.iopub_for(mid))
    assert r.status == "error" and r.reply["ename"] == "KeyboardInterrupt", r
    assert "return input('inside: ')" in strip_ansi("\n".join(r.reply["traceback"]))
    assert k.value("6 * 7") == "42"
