"""history_request (issue 5): tail, range (session 0 = this kernel, start and
stop), search (glob pattern, unique, n), with output=True giving the result's
text/plain; a history kept by the host in --history-dir, invisible to the
sandbox, that persists across kernels: a second kernel reads the first
kernel's cells as session -1."""

import os

import pytest

import harness

CELLS = [
    "alpha = 1",
    "alpha + 1",
    "print('printed only')",
    "alpha + 1",
    "def beta():\n    return 'b'",
    "beta()",
    "Alpha_upper = 3",
]
OUTPUTS = {"alpha + 1": "2", "beta()": "'b'"}


def hist(k, **content):
    content.setdefault("output", False)
    content.setdefault("raw", True)
    r = k.request("history_request", content)
    assert r.reply_msg["msg_type"] == "history_reply"
    assert r.reply["status"] == "ok", r.reply
    return [list(e) if not isinstance(e[2], list) else [e[0], e[1], list(e[2])] for e in r.reply["history"]]


@pytest.fixture(scope="module")
def history_dir(wasipy_env, tmp_path_factory):
    # Outside the kernels' working directories (the sandbox sees only those).
    return str(tmp_path_factory.mktemp("wasipy-history"))


@pytest.fixture(scope="module")
def first(history_dir):
    """A kernel that ran CELLS; yields (kernel, its session number)."""
    k = harness.Kernel.start(extra_arguments=["--history-dir", history_dir])
    try:
        for code in CELLS:
            k.ok(code)
        entries = hist(k, hist_access_type="tail", n=1)
        assert entries, "no history recorded"
        yield k, entries[-1][0]
    finally:
        k.shutdown()


def test_tail(first):
    k, session = first
    assert hist(k, hist_access_type="tail", n=3) == [
        [session, 5, CELLS[4]], [session, 6, CELLS[5]], [session, 7, CELLS[6]]]
    # With output: [session, line, [input, text/plain of the result or None]].
    assert hist(k, hist_access_type="tail", n=3, output=True) == [
        [session, 5, [CELLS[4], None]], [session, 6, [CELLS[5], "'b'"]], [session, 7, [CELLS[6], None]]]
    # raw=False gives the same source (no input transformations here).
    assert hist(k, hist_access_type="tail", n=2, raw=False) == hist(k, hist_access_type="tail", n=2)
    everything = hist(k, hist_access_type="tail", n=1000)
    assert [e[2] for e in everything if e[0] == session] == CELLS


def test_range_current_session(first):
    k, session = first
    # session 0 is this kernel's; lines [start, stop).
    assert hist(k, hist_access_type="range", session=0, start=2, stop=4, output=True) == [
        [session, 2, ["alpha + 1", "2"]], [session, 3, ["print('printed only')", None]]]
    assert hist(k, hist_access_type="range", session=0, start=1, stop=None) == [
        [session, i + 1, c] for i, c in enumerate(CELLS)]
    assert hist(k, hist_access_type="range", session=session, start=6, stop=7) == [[session, 6, "beta()"]]
    assert hist(k, hist_access_type="range", session=0, start=100, stop=200) == []


def test_search(first):
    k, session = first
    # Glob patterns, case-sensitive; unique drops repeated inputs.
    all_alpha = hist(k, hist_access_type="search", pattern="alpha*", unique=False, n=100)
    assert [e[1:] for e in all_alpha if e[0] == session] == [[1, "alpha = 1"], [2, "alpha + 1"], [4, "alpha + 1"]]
    unique = [e for e in hist(k, hist_access_type="search", pattern="alpha*", unique=True, n=100) if e[0] == session]
    inputs = [e[2] for e in unique]
    assert sorted(inputs) == ["alpha + 1", "alpha = 1"], unique
    assert len(set(inputs)) == len(inputs)
    # n keeps the most recent matches.
    assert hist(k, hist_access_type="search", pattern="alpha*", unique=False, n=1) == [[session, 4, "alpha + 1"]]
    # ? and character classes; output too.
    assert hist(k, hist_access_type="search", pattern="be?a()", output=True) [-1:] == [
        [session, 6, ["beta()", "'b'"]]]
    assert [e[2] for e in hist(k, hist_access_type="search", pattern="[A]lpha*", n=10)] == ["Alpha_upper = 3"]
    assert hist(k, hist_access_type="search", pattern="no such input*", n=10) == []


def test_history_dir_is_invisible_to_the_sandbox(first, history_dir):
    k, _ = first
    assert os.listdir(history_dir), "the history dir holds nothing"
    code = ("import os\n"
            f"print(os.path.exists({history_dir!r}), os.path.exists(os.path.dirname({history_dir!r})))")
    out = k.ok(code).stdout.split()
    assert out[0] == "False", out
    # Nor can user code forge entries through the sandbox's files.
    r = k.execute(f"open({history_dir!r} + '/history.jsonl', 'a').write('forged-' + 'entry')")
    assert r.status == "error"
    with open(os.path.join(history_dir, "history.jsonl"), encoding="utf-8") as f:
        assert "forged-entry" not in f.read()


def test_cells_not_stored_are_not_recorded(first):
    k, session = first
    before = hist(k, hist_access_type="tail", n=1)
    k.ok("not_recorded = 1", store_history=False)
    k.ok("also_not_recorded = 2", silent=True)
    assert hist(k, hist_access_type="tail", n=1) == before
    assert hist(k, hist_access_type="search", pattern="*not_recorded*", n=10) == []


def test_history_persists_across_kernels(first, history_dir):
    k, session = first
    k.shutdown()  # the first kernel ends (shut down again at module end: harmless)
    k2 = harness.Kernel.start(extra_arguments=["--history-dir", history_dir])
    try:
        k2.ok("gamma = 'second kernel'")
        # session -1 is the previous kernel's.
        # (The first kernel ran more cells in the tests above, after CELLS.)
        prev = hist(k2, hist_access_type="range", session=-1, start=1, stop=None, output=True)
        assert {e[0] for e in prev} == {session}, prev
        assert [e[1] for e in prev] == list(range(1, len(prev) + 1)), prev
        assert [e[2][0] for e in prev[:len(CELLS)]] == CELLS
        assert [e[2][1] for e in prev[:len(CELLS)]] == [OUTPUTS.get(c) for c in CELLS]
        # This kernel's own session is new, numbered after the first, and
        # starts at line 1.
        mine = hist(k2, hist_access_type="range", session=0, start=1, stop=None)
        assert len(mine) == 1 and mine[0][0] > session and mine[0][1:] == [1, "gamma = 'second kernel'"], mine
        # tail and search span sessions.
        tail = hist(k2, hist_access_type="tail", n=2)
        assert tail == [[session, prev[-1][1], prev[-1][2][0]], [mine[0][0], 1, "gamma = 'second kernel'"]]
        assert [e[:2] for e in hist(k2, hist_access_type="search", pattern="beta()", n=10)] == [[session, 6]]
    finally:
        k2.shutdown()
