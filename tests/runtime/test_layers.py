"""Promise: the guest runtime is layered (channel -> rpc -> shell ->
features -> api -> boot): it has no import cycles, each module imports only
from its own layer or lower ones (lazy imports count), and no module reads
another's changing globals."""

import os
import textwrap

import pytest

import layering
from layering import RUNTIME


@pytest.fixture(scope="module")
def runtime_graph():
    return layering.graph(RUNTIME)


def test_every_module_has_a_layer(runtime_graph):
    mods, _ = runtime_graph
    unplaced = sorted(m for m in mods if layering.layer_of(m) is None)
    assert not unplaced, f"modules in no layer (add them to layering.LAYERS): {unplaced}"


def test_no_import_cycles(runtime_graph):
    _, edges = runtime_graph
    found = [layering.cycle_path(edges, c) for c in layering.cycles(edges)]
    assert not found, "import cycles in the runtime:\n  " + "\n  ".join(found)


def test_imports_only_from_own_or_lower_layers(runtime_graph):
    _, edges = runtime_graph
    bad = [f"{m} ({ml}) imports {t} ({tl}) at line {line}"
           for m, ml, t, tl, line in layering.upward_imports(edges)]
    assert not bad, "imports of a higher layer:\n  " + "\n  ".join(bad)


def test_no_changing_globals_read_across_modules(runtime_graph):
    mods, edges = runtime_graph
    bad = [f"{m} reads {owner}.{name} (line {line}), which {owner} rebinds: pass it, or ask {owner} for it"
           for m, owner, name, line in layering.foreign_global_reads(mods, edges)]
    assert not bad, "\n  ".join(["modules reach another's globals:"] + bad)


def test_the_layers_are_what_the_kernel_starts_with(runtime_graph):
    """The boot module imports each lower layer (so the table is not
    stale), and nothing imports it."""
    _, edges = runtime_graph
    boot = {t for t, _, _ in edges["_wasipy_kernel"]}
    for name in ("_wasipy_protocol", "_wasipy_channel", "_wasipy_rpc", "_wasipy_exec"):
        assert name in boot
    importers = [m for m, deps in edges.items() if any(t == "_wasipy_kernel" for t, _, _ in deps)]
    assert importers == []


# ---- the checks themselves catch what they are for ----------------------------


def _tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return layering.graph(str(tmp_path))


def test_checker_finds_a_lazy_cycle(tmp_path):
    mods, edges = _tree(tmp_path, {
        "_wasipy_a.py": "import _wasipy_b\n",
        "_wasipy_b.py": "def f():\n    import importlib\n    return importlib.import_module('_wasipy_c')\n",
        "_wasipy_c.py": "import sys\nx = sys.modules.get('_wasipy_a')\n",
        "_wasipy_d.py": "import os\n",
    })
    found = layering.cycles(edges)
    assert found == [["_wasipy_a", "_wasipy_b", "_wasipy_c"]]
    assert layering.cycle_path(edges, found[0]) == "_wasipy_a -> _wasipy_b -> _wasipy_c -> _wasipy_a"


def test_checker_finds_an_upward_import(tmp_path, monkeypatch):
    monkeypatch.setattr(layering, "LAYERS", [("low", {"_wasipy_low"}), ("high", {"pkg"})])
    _, edges = _tree(tmp_path, {
        "_wasipy_low.py": "def f():\n    from pkg.sub import thing\n",
        "pkg/__init__.py": "",
        "pkg/sub.py": "from . import other\nimport _wasipy_low\n",
        "pkg/other.py": "",
    })
    assert layering.upward_imports(edges) == [("_wasipy_low", "low", "pkg.sub", "high", 2)]
    # `from . import other` runs the package first: both count.
    assert {t for t, _, _ in edges["pkg.sub"]} == {"pkg", "pkg.other", "_wasipy_low"}


def test_checker_finds_a_foreign_global_read(tmp_path):
    mods, edges = _tree(tmp_path, {
        "_wasipy_owner.py": "state = None\ndef set(v):\n    global state\n    state = v\nCONST = 1\n",
        "_wasipy_user.py": "import _wasipy_owner as o\nfrom _wasipy_owner import CONST\ny = o.state\nz = o.CONST\n",
        "_wasipy_taker.py": "from _wasipy_owner import state\n",
    })
    assert sorted(layering.foreign_global_reads(mods, edges)) == [
        ("_wasipy_taker", "_wasipy_owner", "state", 1),
        ("_wasipy_user", "_wasipy_owner", "state", 3),
    ]


def test_messages_are_built_from_the_protocols_names(runtime_graph):
    """No module but _wasipy_protocol writes a message's kind as a literal
    ({"type": "execute_result"}): the kinds are defined once."""
    import ast

    import _wasipy_protocol as proto

    mods, _ = runtime_graph
    bad = []
    for m, path in mods.items():
        if m == "_wasipy_protocol":
            continue
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if not isinstance(node, ast.Dict):
                continue
            for k, v in zip(node.keys, node.values):
                if (isinstance(k, ast.Constant) and k.value == "type" and isinstance(v, ast.Constant)
                        and v.value in proto.KINDS):
                    bad.append(f"{m}:{node.lineno} {{'type': {v.value!r}}}")
    assert not bad, "message kinds written as literals (use _wasipy_protocol's names):\n  " + "\n  ".join(bad)
