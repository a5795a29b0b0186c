"""ipywidgets on comms (issue 5): Debian's python3-ipywidgets (6.x, with
traitlets and ipython_genutils) mounted read-only with `--path DIR`. An
IntSlider displays (comm_open on target jupyter.widget with its state, then
a widget-view display_data), and its value syncs both ways: this test plays
the frontend's side of the widget protocol through jupyter_client."""

import os
import shutil
import subprocess

import pytest

DIST = "/usr/lib/python3/dist-packages"
PACKAGES = ["ipywidgets", "traitlets", "ipython_genutils"]


def _require_ipywidgets():
    proc = subprocess.run(["dpkg", "-s", "python3-ipywidgets"], capture_output=True, text=True)
    installed = proc.returncode == 0 and "install ok installed" in proc.stdout
    missing = [p for p in PACKAGES if not os.path.isdir(os.path.join(DIST, p))]
    if not installed or missing:
        pytest.fail("Debian's python3-ipywidgets is needed (with python3-traitlets and python3-ipython-genutils): "
                    "apt-get install python3-ipywidgets (tests/deps.sh should install it)", pytrace=False)


@pytest.fixture(scope="module")
def widget_path(wasipy_env):
    _require_ipywidgets()
    import harness
    d = os.path.join(harness.new_workdir(prefix="widget-pkgs-"), "site")
    for p in PACKAGES:
        shutil.copytree(os.path.join(DIST, p), os.path.join(d, p), ignore=shutil.ignore_patterns("__pycache__"))
    return d


@pytest.fixture(scope="module")
def wk(widget_path):
    import harness
    k = harness.Kernel.start(extra_arguments=["--path", widget_path])
    try:
        yield k
    finally:
        k.shutdown()


def shell_send(k, msg_type, content, buffers=None):
    msg = k.kc.session.msg(msg_type, content)
    k.kc.session.send(k.kc.shell_channel.socket, msg, buffers=buffers)
    return msg["header"]["msg_id"]


def state_of(comm_open):
    """The widget state in a comm_open: data.state (protocol 2) or the data
    itself (ipywidgets 6, protocol 1)."""
    data = comm_open["content"]["data"]
    return data.get("state", data)


def test_the_path_is_importable_and_read_only(wk, widget_path):
    assert wk.value(f"import sys\n{widget_path!r} in sys.path") == "True"
    r = wk.ok("import ipywidgets, traitlets\nprint(ipywidgets.__version__, ipywidgets.__file__)")
    version, where = r.stdout.split()
    assert version.startswith("6."), version
    assert where.startswith(widget_path), where
    # The sandbox cannot write there: not a new file, not an existing one,
    # no new folder, no removal.
    for code in [f"open({widget_path!r} + '/x', 'w')",
                 f"open({widget_path!r} + '/ipywidgets/__init__.py', 'a')",
                 f"import os\nos.mkdir({widget_path!r} + '/newdir')",
                 f"import os\nos.remove({widget_path!r} + '/traitlets/__init__.py')"]:
        r = wk.execute(code)
        assert r.status == "error", (code, r)
        print(code.splitlines()[-1], "->", r.reply["ename"], r.reply["evalue"])
        assert wk.value(f"issubclass({r.reply['ename']}, OSError)") == "True", r.reply
    assert sorted(os.listdir(widget_path)) == sorted(PACKAGES)
    assert os.path.getsize(os.path.join(widget_path, "traitlets", "__init__.py")) > 0


def test_int_slider_displays_and_syncs_both_ways(wk):
    # The frontend's version handshake (widgetsnbextension opens this comm
    # when it loads); without it ipywidgets 6 warns that no JS was found.
    wk.ok("import ipywidgets")
    mid = shell_send(wk, "comm_open", {"comm_id": "version-comm", "target_name": "jupyter.widget.version", "data": {}})
    msgs = wk.iopub_for(mid)
    [ver] = [m for m in msgs if m["msg_type"] == "comm_msg"]
    assert ver["content"]["comm_id"] == "version-comm"
    frontend_version = ver["content"]["data"]["version"]
    mid = shell_send(wk, "comm_msg", {"comm_id": "version-comm",
                                      "data": {"validated": True, "frontend_version": frontend_version.lstrip("~^")}})
    wk.iopub_for(mid)

    r = wk.ok("from ipywidgets import IntSlider\ns = IntSlider(value=5, description='n')\ndisplay(s)\ns.model_id")
    model_id = eval(r.result_text())
    assert "Widget Javascript not detected" not in r.stderr, r.stderr
    opens = [m for m in r.of_type("comm_open") if m["content"]["target_name"] == "jupyter.widget"]
    sliders = [m for m in opens if state_of(m).get("_model_name") == "IntSliderModel"]
    assert len(sliders) == 1, [state_of(m).get("_model_name") for m in opens]
    slider = sliders[0]
    assert slider["content"]["comm_id"] == model_id
    state = state_of(slider)
    assert state["value"] == 5 and state["description"] == "n"
    assert (state["min"], state["max"]) == (0, 100)
    # Its layout and style models were opened first and are referenced.
    ids = {m["content"]["comm_id"] for m in opens}
    assert state["layout"].startswith("IPY_MODEL_") and state["layout"][len("IPY_MODEL_"):] in ids
    # The view is displayed.
    [shown] = r.of_type("display_data")
    assert shown["content"]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] == model_id
    assert r.of_type("comm_open")[-1]["header"]["date"] <= shown["header"]["date"]

    # The frontend moves the slider: ipywidgets 6's backbone sync message.
    mid = shell_send(wk, "comm_msg", {"comm_id": model_id, "data": {"method": "backbone", "sync_data": {"value": 7}}})
    msgs = wk.iopub_for(mid)
    assert [m["msg_type"] for m in msgs if m["msg_type"] == "error"] == []
    assert wk.value("s.value") == "7"
    # An observer in the kernel sees frontend changes.
    wk.ok("seen = []\ns.observe(lambda ch: seen.append((ch['old'], ch['new'])), names='value')")
    mid = shell_send(wk, "comm_msg", {"comm_id": model_id, "data": {"method": "backbone", "sync_data": {"value": 8}}})
    wk.iopub_for(mid)
    assert wk.value("seen, s.value") == "([(7, 8)], 8)"

    # The kernel changes the value: an update goes to the frontend.
    r = wk.ok("s.value = 9")
    updates = [m for m in r.of_type("comm_msg") if m["content"]["comm_id"] == model_id]
    assert len(updates) == 1, r.summary()
    data = updates[0]["content"]["data"]
    assert data["method"] == "update"
    assert data["state"]["value"] == 9

    # comm_info lists the widget's comms; closing the widget closes its comm.
    info = wk.request("comm_info_request", {"target_name": "jupyter.widget"}).reply["comms"]
    assert model_id in info
    r = wk.ok("s.close()")
    assert model_id in [m["content"]["comm_id"] for m in r.of_type("comm_close")]
    info = wk.request("comm_info_request", {"target_name": "jupyter.widget"}).reply["comms"]
    assert model_id not in info


def test_widget_callback_output_goes_to_the_comm_message(wk):
    """A button's on_click handler runs when the frontend sends a click; what
    it prints is published with the comm message as parent."""
    r = wk.ok("from ipywidgets import Button\nb = Button(description='go')\n"
              "b.on_click(lambda btn: print('clicked', btn.description))\nb.model_id")
    model_id = eval(r.result_text())
    mid = shell_send(wk, "comm_msg", {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}})
    msgs = wk.iopub_for(mid)
    out = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
    assert out == "clicked go\n", msgs
    assert all(m["parent_header"]["msg_id"] == mid for m in msgs)
