"""`obj?` and `obj??` open the frontend's pager (issue 12): the inspection
comes back as a `page` payload in execute_reply, as ipykernel sends it, and
never as output in the cell. Each input runs on wasipy and on Debian's
ipykernel (python3-ipykernel) and the two replies are compared."""

import re

import pytest

import harness
from harness import strip_ansi

DEFINE = "def helped(a, b=2):\n    '''Adds things.'''\n    return a + b"

# (input, what the page must show, what it must not)
CASES = [
    ("helped?", ["helped(a, b=2)", "Adds things."], ["return a + b"]),
    ("?helped", ["helped(a, b=2)", "Adds things."], ["return a + b"]),
    ("%pinfo helped", ["helped(a, b=2)", "Adds things."], ["return a + b"]),
    ("helped??", ["helped(a, b=2)", "return a + b"], []),
    ("%pinfo2 helped", ["helped(a, b=2)", "return a + b"], []),
    ("%timeit?", ["Time"], []),
    # Output before the inspection stays output; the page is the reply's.
    ("print('before')\nhelped?", ["Adds things."], ["return a + b"]),
    # Two inspections in one cell: IPython keeps only the last page.
    ("helped?\nhelped??", ["return a + b"], []),
    # Nothing found: a line on stdout and no page.
    ("no_such_object_here?", None, None),
]


class Reply:
    """What a frontend sees of one cell: payloads, stdout, displayed outputs."""

    def __init__(self, status, payload, stdout, outputs):
        self.status = status
        self.payload = payload
        self.stdout = stdout
        self.outputs = outputs  # msg_types of display_data / execute_result / error

    def pages(self):
        return [p for p in self.payload if p.get("source") == "page"]


def run(kc, code):
    stdout, outputs = [], []

    def hook(msg):
        t = msg["msg_type"]
        if t == "stream" and msg["content"]["name"] == "stdout":
            stdout.append(msg["content"]["text"])
        elif t in ("display_data", "execute_result", "error", "update_display_data"):
            outputs.append(t)

    reply = kc.execute_interactive(code, timeout=harness.REQUEST_TIMEOUT, output_hook=hook)
    c = reply["content"]
    return Reply(c["status"], c.get("payload", []), "".join(stdout), outputs)


@pytest.fixture(scope="module")
def ipykernel(wasipy_env):
    """Debian's ipykernel, the reference."""
    with harness.ipykernel_reference() as (km, kc):
        yield kc


@pytest.fixture(scope="module")
def both(ipykernel, shared_kernel):
    kernels = {"ipykernel": ipykernel, "wasipy": shared_kernel.kc}
    for name, kc in kernels.items():
        r = run(kc, DEFINE)
        assert r.status == "ok", (name, r.__dict__)
    return kernels


@pytest.mark.parametrize("code,shows,hides", CASES, ids=[c[0] for c in CASES])
def test_inspection_is_a_page_payload_like_ipykernel(both, code, shows, hides):
    """Promise: `obj?`, `obj??`, `%pinfo`, `%pinfo2` and `%magic?` answer
    with exactly the payloads ipykernel sends for the same cell (one
    {"source": "page", "data": {"text/plain": ...}, "start": 0}, the last one
    when a cell inspects twice), the same stdout, and no output in the cell;
    the page holds the signature and docstring (and the source for `??`). An
    unknown name prints ipykernel's line and sends no page."""
    ref = run(both["ipykernel"], code)
    got = run(both["wasipy"], code)
    assert ref.status == got.status == "ok", (ref.__dict__, got.__dict__)
    assert got.outputs == ref.outputs == [], (
        f"{code!r}: the inspection must not be output in the cell: wasipy {got.outputs}, ipykernel {ref.outputs}")
    assert got.stdout == ref.stdout, (code, got.stdout, ref.stdout)
    shape = lambda r: [(p["source"], sorted(p["data"]), p.get("start")) for p in r.payload]  # noqa: E731
    assert shape(got) == shape(ref), (
        f"{code!r}: payloads differ:\n wasipy    {shape(got)}\n ipykernel {shape(ref)}")
    if shows is None:
        assert got.pages() == [], got.payload
        return
    [page] = got.pages()
    text = strip_ansi(page["data"]["text/plain"])
    [ref_page] = ref.pages()
    ref_text = strip_ansi(ref_page["data"]["text/plain"])
    for s in shows:
        assert s in text, f"{code!r}: {s!r} missing from wasipy's page:\n{text}"
        assert s in ref_text, f"{code!r}: the reference itself lacks {s!r} (bad case):\n{ref_text}"
    for s in hides:
        assert s not in text, f"{code!r}: {s!r} must not be on the page:\n{text}"
    # The page's fields are titled as IPython titles them, colored the same
    # way (the pager turns the ANSI red titles into styled spans).
    titles = lambda t: re.findall(r"^([A-Z][a-z ]+):", t, re.M)  # noqa: E731
    assert titles(text)[:1] == titles(ref_text)[:1], (titles(text), titles(ref_text))
    assert "\x1b[0;31m" in page["data"]["text/plain"]
