"""PEP 658/714 metadata files (issue 9, optional part): when the index
serves a wheel's METADATA alone, the resolver reads that for the
candidates it weighs and downloads only the wheels it installs."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import pipindex  # noqa: E402


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("wheels"))
    with pipindex.Index(folder, pipindex.build(folder), metadata=True) as ix:
        yield ix


@pytest.fixture(scope="module")
def kernel(wasipy_env, index, tmp_path_factory):
    import harness
    root = tmp_path_factory.mktemp("pipmeta")
    k = harness.Kernel.start(extra_arguments=[
        "--allow-net", f"127.0.0.1:{index.port}", "--index-url", index.url + "/simple",
        "--site-dir", str(root / "site"), "--cache-dir", str(root / "cache")])
    k.site = str(root / "site")
    try:
        yield k
    finally:
        k.shutdown()


def _err(r):
    return "\n".join(f"{e['ename']}: {e['evalue']}" for e in r.errors) + r.stderr


@pytest.mark.parametrize("kind", ["simple", "json"])
def test_rejected_candidate_wheel_not_downloaded(kernel, index, kind):
    """Promise: with an index that offers PEP 658 metadata (HTML
    data-core-metadata, or PEP 691 JSON core-metadata), the resolver reads
    pickme 2.0's METADATA alone, rejects it (it needs tomli<2, which does
    not exist) and installs 1.0, downloading 1.0's wheel and never 2.0's."""
    kernel.execute("import wasipy.pip\nwasipy.pip.uninstall('pickme') if 'pickme' in dict(wasipy.pip.list()) else None")
    n = len(index.requests)
    r = kernel.execute(f"%pip install pickme --index-url {index.url}/{kind}")
    assert r.status == "ok", _err(r) + r.stdout
    assert "pickme-1.0" in r.stdout, r.stdout
    got = index.requests[n:]
    assert "/files/pickme-2.0-py3-none-any.whl.metadata" in got, got
    assert "/files/pickme-2.0-py3-none-any.whl" not in got, got
    assert any(p.startswith("/files/pickme-1.0-py3-none-any.whl") for p in got), got
    assert "Downloading pickme-2.0-py3-none-any.whl.metadata" in r.stdout, r.stdout


def test_metadata_file_must_match_wheel(kernel):
    """Promise: a wheel whose METADATA differs from the metadata file the
    index served for it (which the resolution relied on) is refused and
    nothing is installed."""
    before = sorted(os.listdir(kernel.site))
    r = kernel.execute("%pip install liar")
    assert r.status == "error", r.stdout
    assert "liar-1.0-py3-none-any.whl" in r.errors[0]["evalue"] and "differs" in r.errors[0]["evalue"], _err(r)
    assert sorted(os.listdir(kernel.site)) == before


def test_awaited_install_prints_each_line_once(kernel, index):
    """Promise: `await wasipy.pip.install(...)`, which resolves again after
    each fetch it awaits, prints pip's lines once each, as %pip does."""
    kernel.execute("import wasipy.pip\nwasipy.pip.uninstall('pickme') if 'pickme' in dict(wasipy.pip.list()) else None")
    r = kernel.execute(f"import wasipy.pip\nawait wasipy.pip.install('pickme', index_urls=['{index.url}/json'])")
    assert r.status == "ok", _err(r)
    lines = [ln.strip() for ln in r.stdout.splitlines()]
    heads = [ln.split(" (")[0] for ln in lines]
    for want in ("Collecting pickme", "Collecting tomli", "Downloading pickme-2.0-py3-none-any.whl.metadata",
                 "Downloading pickme-1.0-py3-none-any.whl.metadata", "Successfully installed pickme-1.0"):
        assert heads.count(want) == 1, (want, lines)
    # The chosen wheel: fetched (or taken from the cache) once.
    got = [h for h in heads if h in ("Downloading pickme-1.0-py3-none-any.whl", "Using cached pickme-1.0-py3-none-any.whl")]
    assert len(got) == 1, lines
