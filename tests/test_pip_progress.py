"""%pip's progress for slow downloads, and `await wasipy.pip.install(...)`
leaving the event loop free while it downloads (issue 9), against a
throttled local index: slowpkg's wheels (200 kB each) arrive in 20 pieces
over THROTTLE seconds."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import pipindex  # noqa: E402

THROTTLE = 2.5
SLOW = {"slowpkg-1.0-py3-none-any.whl": THROTTLE, "slowpkg-2.0-py3-none-any.whl": THROTTLE}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("wheels"))
    with pipindex.Index(folder, pipindex.build(folder), slow=SLOW) as ix:
        yield ix


@pytest.fixture(scope="module")
def kernel(wasipy_env, index, tmp_path_factory):
    import harness
    root = tmp_path_factory.mktemp("pipprogress")
    k = harness.Kernel.start(extra_arguments=[
        "--allow-net", f"127.0.0.1:{index.port}", "--index-url", index.url + "/simple",
        "--site-dir", str(root / "site"), "--cache-dir", str(root / "cache")])
    try:
        yield k
    finally:
        k.shutdown()


def _err(r):
    return "\n".join(f"{e['ename']}: {e['evalue']}" for e in r.errors) + r.stderr


def test_slow_download_shows_progress_bar(kernel):
    """Promise: a download that takes more than a moment shows pip's
    "Downloading NAME (SIZE)" line and then a progress bar, one display
    updated in place (update_display_data with its display_id) as bytes
    arrive, ending full; a quick download shows no bar."""
    r = kernel.execute("%pip install slowpkg==1.0")
    assert r.status == "ok", _err(r)
    assert re.search(r"Downloading slowpkg-1\.0-py3-none-any\.whl \(2\d\d\.\d kB\)", r.stdout), r.stdout
    shown = r.of_type("display_data")
    assert len(shown) == 1, [m["content"] for m in shown]
    did = shown[0]["content"]["transient"]["display_id"]
    updates = [m["content"] for m in r.of_type("update_display_data")]
    assert all(u["transient"]["display_id"] == did for u in updates)
    texts = [shown[0]["content"]["data"]["text/plain"]] + [u["data"]["text/plain"] for u in updates]
    # Progress over the throttled seconds: several distinct states, the
    # bytes rising, the last one full.
    done = []
    for t in texts:
        m = re.search(r"━*╸? *([\d.]+)/([\d.]+) kB [\d.]+ [kM]B/s eta \d:\d\d:\d\d", t)
        assert m, t
        done.append((float(m.group(1)), float(m.group(2))))
    assert len(set(done)) >= 4, texts
    assert [d for d, _ in done] == sorted(d for d, _ in done), texts
    assert done[0][0] < done[0][1] and done[-1][0] == done[-1][1], texts
    assert "━" * pipindex_width() in texts[-1], texts[-1]
    assert kernel.value("import slowpkg\nslowpkg.VERSION") == "1"

    quick = kernel.execute("%pip install six")
    assert quick.status == "ok", _err(quick)
    assert "Downloading six-1.16.0-py3-none-any.whl" in quick.stdout, quick.stdout
    assert not quick.of_type("display_data") and not quick.of_type("update_display_data")


def pipindex_width():
    return 40  # the bar's width in _wasipy_pip._Bar


def test_await_install_keeps_event_loop_running(kernel):
    """Promise: while `await wasipy.pip.install(...)` downloads (here for
    THROTTLE seconds), other tasks of the session's event loop keep
    running: a ticker task ticks every 50 ms without a long gap."""
    code = (
        "import asyncio, time, wasipy.pip\n"
        "ticks = []\n"
        "async def ticker():\n"
        "    while True:\n"
        "        ticks.append(time.monotonic())\n"
        "        await asyncio.sleep(0.05)\n"
        "task = asyncio.ensure_future(ticker())\n"
        "await asyncio.sleep(0)\n"
        "t0 = time.monotonic()\n"
        "got = await wasipy.pip.install('slowpkg==2.0', upgrade=True, quiet=True)\n"
        "t1 = time.monotonic()\n"
        "task.cancel()\n"
        "inside = [t for t in ticks if t0 <= t <= t1]\n"
        "gap = max((b - a for a, b in zip([t0] + inside, inside + [t1])), default=t1 - t0)\n"
        "print(got, round(t1 - t0, 2), len(inside), round(gap, 2))\n"
    )
    r = kernel.execute(code)
    assert r.status == "ok", _err(r)
    got, took, n, gap = r.stdout.split()[0:1] + [float(x) for x in r.stdout.split()[1:]]
    assert "slowpkg-2.0" in r.stdout, r.stdout
    assert took >= THROTTLE * 0.8, r.stdout
    assert n >= 15 and gap < 0.6, f"the event loop was blocked: {n} ticks in {took} s, longest gap {gap} s"
    assert kernel.value("import importlib.metadata as md\nmd.version('slowpkg')") == "'2.0'"
