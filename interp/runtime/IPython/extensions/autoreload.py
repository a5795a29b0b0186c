"""Reload modules changed on disk before each cell runs (wasipy's
autoreload).

    %load_ext autoreload
    %autoreload 2        # reload every changed module before each cell
    %autoreload 1        # only the modules named with %aimport
    %autoreload 0        # off
    %autoreload          # reload the changed modules now
    %aimport mod1, mod2  # mark for mode 1;  %aimport -mod: never reload

A reload updates functions and classes in place (their code and
attributes), so objects made before the change, and names imported with
`from mod import f`, run the new code. Modules of the standard library and
of wasipy's runtime are never reloaded.
"""

import os
import sys

_MODES = {"0": 0, "off": 0, "1": 1, "explicit": 1, "2": 2, "all": 2, "3": 3, "complete": 3}


def _source_file(module):
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith((".py", ".pyc")):
        return None
    if path.startswith(("/.wasipy/", sys.prefix, sys.base_prefix)) or ".zip" in path:
        return None
    if path.endswith(".pyc"):
        path = path[:-1]
    return path


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _update_function(old, new):
    for attr in ("__code__", "__defaults__", "__kwdefaults__", "__doc__", "__annotations__"):
        try:
            setattr(old, attr, getattr(new, attr))
        except (AttributeError, TypeError, ValueError):
            pass
    try:
        old.__dict__.update(new.__dict__)
    except AttributeError:
        pass


def _update_class(old, new):
    for name, value in list(vars(old).items()):
        if name not in vars(new) and name not in ("__dict__", "__weakref__", "__doc__"):
            try:
                delattr(old, name)
            except (AttributeError, TypeError):
                pass
    for name, value in vars(new).items():
        if name in ("__dict__", "__weakref__"):
            continue
        current = vars(old).get(name)
        if _is_function(current) and _is_function(value):
            _update_function(current, value)
            continue
        raw_old = getattr(current, "__func__", None)
        raw_new = getattr(value, "__func__", None)
        if type(current) is type(value) and _is_function(raw_old) and _is_function(raw_new):
            _update_function(raw_old, raw_new)  # classmethod, staticmethod
            continue
        if isinstance(current, property) and isinstance(value, property):
            for part in ("fget", "fset", "fdel"):
                a, b = getattr(current, part), getattr(value, part)
                if _is_function(a) and _is_function(b):
                    _update_function(a, b)
            continue
        try:
            setattr(old, name, value)
        except (AttributeError, TypeError):
            pass


def _is_function(obj):
    return type(obj).__name__ == "function"


def superreload(module):
    """Reload module, then update the functions and classes it had in
    place, so existing references see the new code."""
    import importlib
    old = dict(vars(module))
    importlib.invalidate_caches()
    importlib.reload(module)
    for name, new in list(vars(module).items()):
        prev = old.get(name)
        if prev is None or prev is new or getattr(new, "__module__", None) != module.__name__:
            continue
        if _is_function(prev) and _is_function(new):
            _update_function(prev, new)
            setattr(module, name, prev)
        elif isinstance(prev, type) and isinstance(new, type):
            _update_class(prev, new)
            setattr(module, name, prev)
    return module


class ModuleReloader:
    def __init__(self):
        self.mode = 0
        self.marked = set()  # %aimport'ed
        self.skipped = set()  # %aimport -name
        self.mtimes = {}  # module name -> mtime when last seen

    def snapshot(self):
        for name, module in list(sys.modules.items()):
            path = _source_file(module)
            if path and name not in self.mtimes:
                self.mtimes[name] = _mtime(path)

    def check(self, check_all=True):
        for name, module in list(sys.modules.items()):
            if name in self.skipped or (not check_all and name not in self.marked):
                continue
            path = _source_file(module)
            if not path:
                continue
            mtime = _mtime(path)
            seen = self.mtimes.get(name)
            self.mtimes[name] = mtime
            if seen is None or mtime is None or mtime == seen:
                continue
            try:
                superreload(module)
            except Exception as e:
                print(f"[autoreload of {name} failed: {type(e).__name__}: {e}]", file=sys.stderr)

    def pre_run_cell(self, info=None):
        if self.mode:
            self.check(check_all=self.mode >= 2)


_reloader = None


def _autoreload(line):
    """%autoreload [0|1|2|3|off|explicit|all|complete|now]: see the module doc."""
    arg = line.strip().split()[0] if line.strip() else ""
    if arg in ("", "now"):
        _reloader.check(check_all=True)
        return
    if arg not in _MODES:
        from IPython.core.error import UsageError
        raise UsageError(f"%autoreload: unknown mode {arg!r} (use 0, 1, 2, 3, off, explicit, all, complete or now)")
    _reloader.mode = _MODES[arg]
    _reloader.snapshot()


def _aimport(line):
    """%aimport: list the marked modules; %aimport a, b: import and mark;
    %aimport -a: never reload a."""
    names = [n.strip() for n in line.replace(",", " ").split() if n.strip()]
    if not names:
        print("Modules to reload:\n" + " ".join(sorted(_reloader.marked)))
        print("\nModules to skip:\n" + " ".join(sorted(_reloader.skipped)))
        return
    import importlib
    ip = _ip()
    for name in names:
        if name.startswith("-"):
            _reloader.skipped.add(name[1:])
            _reloader.marked.discard(name[1:])
            continue
        module = importlib.import_module(name)
        _reloader.marked.add(name)
        _reloader.skipped.discard(name)
        path = _source_file(module)
        if path:
            _reloader.mtimes[name] = _mtime(path)
        ip.user_ns[name.split(".")[0]] = sys.modules[name.split(".")[0]]


def _ip():
    from IPython.core.getipython import get_ipython
    return get_ipython()


def load_ipython_extension(ip):
    global _reloader
    if _reloader is None:
        _reloader = ModuleReloader()
    ip.register_magic_function(_autoreload, "line", "autoreload")
    ip.register_magic_function(_aimport, "line", "aimport")
    ip.events.register("pre_run_cell", _reloader.pre_run_cell)


def unload_ipython_extension(ip):
    if _reloader is not None:
        _reloader.mode = 0
        try:
            ip.events.unregister("pre_run_cell", _reloader.pre_run_cell)
        except ValueError:
            pass
