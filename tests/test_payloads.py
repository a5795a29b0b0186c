"""IPython's payloads and shell API as clients expect them (issue 15):
set_next_input from %load and get_ipython().set_next_input, ask_exit from
exit(), %history and the history manager, object_inspect, is_complete for
IPython's syntax, and connect_request. Each input runs on wasipy and on
Debian's ipykernel (python3-ipykernel) and the replies are compared."""

import json

import pytest

import harness
from harness import strip_ansi


@pytest.fixture(scope="module")
def ipykernel(wasipy_env):
    """Debian's ipykernel, the reference."""
    with harness.ipykernel_reference() as (km, kc):
        yield km, kc


@pytest.fixture(scope="module")
def both(ipykernel, wasipy_env):
    """A fresh wasipy kernel and the reference, so that both number their
    cells alike."""
    k = harness.Kernel.start()
    try:
        yield {"ipykernel": ipykernel[1], "wasipy": k.kc}, {"ipykernel": ipykernel[0], "wasipy": k.km}
    finally:
        k.shutdown()


def run(kc, code):
    """(execute_reply content, stdout, stderr) of one cell."""
    out = {"stdout": [], "stderr": []}

    def hook(msg):
        if msg["msg_type"] == "stream":
            out[msg["content"]["name"]].append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=harness.REQUEST_TIMEOUT, output_hook=hook, allow_stdin=False)
    return reply["content"], "".join(out["stdout"]), "".join(out["stderr"])


def on_both(both, code):
    kernels, _ = both
    return {name: run(kc, code) for name, kc in kernels.items()}


def test_history_options_as_ipykernel(both):
    """Promise: %history prints this session's inputs as ipykernel does,
    with its options: -n numbers, -o outputs, -p >>> prompts, -t the
    translated input, ranges (2-3, 1:3), -g a search, -l the last lines,
    -u unique; the cells are the same in both fresh kernels, so the texts
    must be equal."""
    cells = ["a = 1", "'naïve ☃'", "%time b = 2", "a = 1", "for i in range(2):\n    pass"]
    for cell in cells:
        for name, (reply, _, _) in on_both(both, cell).items():
            assert reply["status"] == "ok", (name, cell, reply)
    for line in ["%history -n -o", "%history -p 1-2", "%history -t 3", "%hist 1:3", "%history -n -g a = ",
                 "%history -g a = -u", "%history -l 2", "%history -n 2 5"]:
        got = on_both(both, line)
        ref, mine = strip_ansi(got["ipykernel"][1]), strip_ansi(got["wasipy"][1])
        # -g searches every session ipykernel has stored; only this one's
        # count for the comparison (its lines have no "session/" prefix).
        if " -g " in line:
            ref = "\n".join(x for x in ref.split("\n") if "/" not in x.split(":")[0])
        assert mine == ref, f"{line}:\n wasipy    {mine!r}\n ipykernel {ref!r}"


def test_hist_f_writes_the_history_with_non_ascii_lines(both):
    """Promise: %hist -f FILE writes the session's inputs to FILE in UTF-8,
    non-ASCII lines included, as ipykernel does."""
    for name, kc in both[0].items():
        run(kc, "s = 'Zoë 🐍 ☃'")
        reply, _, _ = run(kc, "%hist -f hist_out.py -l 1")
        assert reply["status"] == "ok", (name, reply)
        reply, text, _ = run(kc, "print(open('hist_out.py', encoding='utf-8').read(), end='')")
        assert text == "s = 'Zoë 🐍 ☃'\n", (name, text)


def test_set_next_input_payload_as_ipykernel(both):
    """Promise: get_ipython().set_next_input(text) sends a set_next_input
    payload (replace False unless asked), only the last one of a cell, as
    ipykernel; %load FILE sends the file's text after a "# %load FILE" line
    with replace True; exit() keeps its ask_exit payload."""
    cases = [
        "get_ipython().set_next_input('first')\nget_ipython().set_next_input('second ☃')",
        "get_ipython().set_next_input('replaced', replace=True)",
        "open('loadme.py', 'w').write('x = 1\\n\\ndef g():\\n    return x\\n')\n%load loadme.py",
        "%load -r 3-4 loadme.py",
        "%load -s g loadme.py",
        "exit(keep_kernel=True)",
    ]
    for code in cases:
        got = on_both(both, code)
        ref, mine = got["ipykernel"][0], got["wasipy"][0]
        assert mine["status"] == ref["status"] == "ok", (code, mine, ref)
        assert mine["payload"] == ref["payload"], f"{code!r}:\n wasipy    {mine['payload']}\n ipykernel {ref['payload']}"


def test_object_inspect_as_ipykernel(both):
    """Promise: get_ipython().object_inspect gives IPython's info dict
    (found, name, type_name, definition, docstring...) and
    object_inspect_mime a bundle with text/plain, as ipykernel."""
    code = ("def helped(a, b=2):\n    '''Adds things.'''\n    return a + b\n"
            "ip = get_ipython()\ni = ip.object_inspect('helped')\nn = ip.object_inspect('no_such_name')\n"
            "import json\nprint(json.dumps([i['found'], i['name'], i['type_name'], i['definition'], i['docstring'],"
            " i['isclass'], n['found'], n['name'], 'text/plain' in ip.object_inspect_mime('helped')]))")
    got = on_both(both, code)
    ref, mine = got["ipykernel"], got["wasipy"]
    assert mine[0]["status"] == "ok", mine
    assert json.loads(strip_ansi(mine[1])) == json.loads(strip_ansi(ref[1]))


IS_COMPLETE = [
    "%%timeit\na\n\n", "%%timeit\na\n", "%%timeit", "%time x", "x?", "x??", "!ls", "y = %env HOME",
    "if True:\n    %time x", "if True:\n    %time x\n", "x = 1", "for i in range(3):", "x = [1,", "x = )",
    "def f():\n    return 1\n\n", "await x", "%debug", "%pdb on", "  x = 1", ">>> x = 1\n>>> y = 2",
    "In [1]: x = 1", "  %%timeit\n  a\n\n",
]


@pytest.mark.parametrize("code", IS_COMPLETE)
def test_is_complete_as_ipykernel(both, code):
    """Promise: is_complete_reply for IPython's syntax (cell magics end at
    an empty line, line magics, `obj?`, `!cmd`) and plain Python is
    ipykernel's, indent included."""
    kernels, _ = both
    replies = {}
    for name, kc in kernels.items():
        msg_id = kc.is_complete(code)
        replies[name] = kc.get_shell_msg(timeout=harness.REQUEST_TIMEOUT)
        assert replies[name]["parent_header"]["msg_id"] == msg_id
    ref, mine = replies["ipykernel"]["content"], replies["wasipy"]["content"]
    assert mine == ref, f"{code!r}: wasipy {mine}, ipykernel {ref}"


def test_connect_request_answers_the_ports(both):
    """Promise: connect_request (deprecated, still sent by some clients) is
    answered as ipykernel answers it: status ok and the five ports, which
    are the ones the client connected to."""
    kernels, managers = both
    for name, kc in kernels.items():
        msg = kc.session.msg("connect_request", {})
        kc.shell_channel.send(msg)
        reply = kc.get_shell_msg(timeout=harness.REQUEST_TIMEOUT)
        assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
        assert reply["msg_type"] == "connect_reply"
        km = managers[name]
        want = {"status": "ok", "shell_port": km.shell_port, "iopub_port": km.iopub_port,
                "stdin_port": km.stdin_port, "hb_port": km.hb_port, "control_port": km.control_port}
        assert reply["content"] == want, (name, reply["content"])
