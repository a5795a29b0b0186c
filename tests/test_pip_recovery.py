"""A kernel killed in the middle of an install leaves a journal in the
site folder; the next kernel start settles it (issue 9: installs are
atomic). pip/journal_test.go kills a real installer at every step; this
checks the kernel's start-up wiring end to end."""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
import pipindex  # noqa: E402


def test_start_rolls_back_interrupted_transaction(wasipy_env, tmp_path):
    """Promise: when a kernel starts on a site folder where a killed
    kernel's transaction had already moved an installed file aside (an
    upgrade of six, interrupted before its commit), the file is put back
    before any cell runs: six imports, and no journal or scratch folder
    is left."""
    import harness

    site, cache = str(tmp_path / "site"), str(tmp_path / "cache")
    folder = str(tmp_path / "wheels")
    with pipindex.Index(folder, pipindex.build(folder)) as index:
        args = ["--allow-net", f"127.0.0.1:{index.port}", "--index-url", index.url + "/simple",
                "--site-dir", site, "--cache-dir", cache]
        k = harness.Kernel.start(extra_arguments=args)
        try:
            r = k.execute("%pip install six")
            assert r.status == "ok", r.stderr
        finally:
            k.shutdown()
        original = open(os.path.join(site, "six.py")).read()
        # What the killed kernel left: its journal, its scratch folders and
        # six.py moved into the trash, no commit record.
        os.makedirs(os.path.join(site, ".wasipy-staging-1"))
        os.makedirs(os.path.join(site, ".wasipy-trash-1"))
        shutil.move(os.path.join(site, "six.py"), os.path.join(site, ".wasipy-trash-1", "six.py"))
        with open(os.path.join(site, ".wasipy-journal"), "w") as f:
            f.write(json.dumps({"staging": ".wasipy-staging-1", "trash": ".wasipy-trash-1"}) + "\n")
            f.write(json.dumps({"move": ["six.py", ".wasipy-trash-1/six.py"]}) + "\n")
        k = harness.Kernel.start(extra_arguments=args)
        try:
            assert k.value("import six\nsix.__version__") == "'1.16.0'"
        finally:
            k.shutdown()
    assert open(os.path.join(site, "six.py")).read() == original
    left = [n for n in os.listdir(site) if n.startswith(".wasipy-") and n != ".wasipy-lock"]
    assert left == [], left
