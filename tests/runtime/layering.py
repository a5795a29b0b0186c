"""The import graph of the guest runtime, read from its sources with ast
(nothing is imported), and the rules its layers keep."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = os.path.join(ROOT, "interp", "runtime")

# Lowest first. A module may import from its own layer or lower ones.
LAYERS = [
    ("channel", {"_wasipy_protocol", "_wasipy_interrupt", "_wasipy_channel"}),
    ("rpc", {"_wasipy_rpc"}),
    ("shell", {"_wasipy_asyncio", "_wasipy_exec"}),
    ("features", {"_wasipy_publish", "_wasipy_format", "_wasipy_display", "_wasipy_host", "_wasipy_ffi",
                  "_wasipy_process", "_wasipy_magics", "_wasipy_magiclib", "_wasipy_ipshell",
                  "_wasipy_complete", "_wasipy_pip", "_wasipy_debugger", "_wasipy_pdb", "_wasipy_snapshot", "comm"}),
    ("api", {"IPython", "ipykernel", "wasipy"}),
    ("boot", {"_wasipy_kernel"}),
]

# Calls whose first argument names a module to import (or look up).
_IMPORTING_CALLS = {"import_module", "__import__", "_lazy"}


def modules(root):
    """{dotted module name: path} of every .py file under root."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(dirpath, f)
            name = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
            if name.endswith(".__init__"):
                name = name[: -len(".__init__")]
            out[name] = path
    return out


def layer_of(module):
    """(index, layer name) of a module, by its own name or its top package."""
    for i, (name, members) in enumerate(LAYERS):
        if module in members or module.split(".")[0] in members:
            return i, name
    return None


def _resolve(name, mods):
    """The runtime module an imported name refers to (the longest prefix
    that is one), or None for the standard library and the like."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in mods:
            return candidate
    return None


def _relative(module, is_package, level, target):
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([target] if target else []))


def _string_arg(call):
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def imports(module, path, mods):
    """[(imported runtime module, names taken from it with `from`, line)],
    counting imports inside functions and imports by name (importlib,
    __import__, sys.modules lookups): a lazy import is a dependency too."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    is_package = path.endswith("__init__.py")
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _relative(module, is_package, node.level, node.module) if node.level else node.module
            names = tuple(a.name for a in node.names)
            # `from pkg import sub` may take a submodule.
            targets = [(base, names)] + [(f"{base}.{n}", ()) for n in names if f"{base}.{n}" in mods]
        elif isinstance(node, ast.Call):
            fn = node.func
            fname = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else None
            if fname in _IMPORTING_CALLS or (fname == "get" and _is_sys_modules(fn.value)):
                name = _string_arg(node)
                if name:
                    targets = [(name, ())]
        elif isinstance(node, ast.Subscript) and _is_sys_modules(node.value):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                targets = [(node.slice.value, ())]
        for name, names in targets:
            if not name:
                continue
            target = _resolve(name, mods)
            if target is not None and target != module:
                found.append((target, names, node.lineno))
    return found


def _is_sys_modules(node):
    return (isinstance(node, ast.Attribute) and node.attr == "modules"
            and isinstance(node.value, ast.Name) and node.value.id == "sys")


def graph(root):
    mods = modules(root)
    return mods, {m: imports(m, p, mods) for m, p in mods.items()}


def cycles(edges):
    """The import cycles (strongly connected components of more than one
    module), each as a sorted list; Tarjan's algorithm."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in {t for t, _, _ in edges.get(v, ())}:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def cycle_path(edges, members):
    """One cycle through members, as a -> b -> ... -> a (for the message)."""
    members = set(members)
    start = min(members)
    path, seen = [start], {start}

    def walk(v):
        for w, _, _ in edges.get(v, ()):
            if w == start and len(path) > 1:
                return True
            if w in members and w not in seen:
                seen.add(w)
                path.append(w)
                if walk(w):
                    return True
                path.pop()
        return False

    walk(start)
    return " -> ".join(path + [start])


def upward_imports(edges):
    """Imports of a module of a higher layer: [(module, layer, imported, its layer, line)]."""
    bad = []
    for m, deps in edges.items():
        mine = layer_of(m)
        for target, _, line in deps:
            theirs = layer_of(target)
            if mine and theirs and theirs[0] > mine[0]:
                bad.append((m, mine[1], target, theirs[1], line))
    return bad


def rebound_globals(path):
    """Names a module rebinds at run time (`global` statements)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    return {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}


def foreign_global_reads(mods, edges):
    """Reads of another runtime module's changing globals: `mod.name` or
    `from mod import name` where mod rebinds name. [(module, owner, name, line)]"""
    rebound = {m: rebound_globals(p) for m, p in mods.items()}
    bad = []
    for m, path in mods.items():
        for target, names, line in edges[m]:
            for n in names:
                if n in rebound[target]:
                    bad.append((m, target, n, line))
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods and a.name != m:
                        aliases[a.asname or a.name] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr in rebound[aliases[node.value.id]]):
                bad.append((m, aliases[node.value.id], node.attr, node.lineno))
    return bad
