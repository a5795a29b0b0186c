"""Completion (complete_request) and inspection (inspect_request).

Imported on the first request, so it stays out of the interpreter's
start-up. Everything here reads the user's namespace without running the
user's code where it can avoid it:

- an expression before a dot is resolved only when it is a plain chain of
  names, attribute lookups and literal subscripts of builtin containers
  (`a.b[0]["k"].c`), with static attribute lookup: properties and other
  descriptors of user classes are never run, and neither are
  `__getattr__` / `__getattribute__` hooks;
- attributes are listed with dir() and classified from the raw class and
  instance dictionaries, never by getattr();
- the only user code that may run is what the user's own types ask for:
  `__dir__`, a Mapping's `keys()`, `_ipython_key_completions_()`, and for
  inspection the `str()` of the inspected object.

The interpreter is built with -O0, so the hot paths (10k names) lean on
C-level helpers: sorted(), bisect, map() over dict lookups, and caches
keyed by type.

cursor_pos counts code points (protocol 5.2+), which is how Python indexes
str, so offsets here are plain string indices.
"""

import bisect
import builtins
import itertools
import keyword
import linecache
import os
import re
import sys
import types

import inspect as _inspect  # loaded at start-up by the display module already

__all__ = ["complete", "inspect", "inspect_text", "LINE_MAGICS", "CELL_MAGICS"]

# ---------------------------------------------------------------------------
# Magics the kernel supports. The magics module may publish its own lists as
# `line_magics` / `cell_magics` (names, or dicts keyed by name); these are
# the fallback.

LINE_MAGICS = ("cd", "env", "load_ext", "lsmagic", "pwd", "reset", "run",
               "time", "timeit", "who", "whos")
CELL_MAGICS = ("capture", "html", "javascript", "latex", "markdown",
               "time", "timeit", "writefile")
# Magics whose argument is a path: name -> only directories.
_PATH_MAGICS = {"cd": True, "run": False, "load": False, "writefile": False}

# ---------------------------------------------------------------------------
# Types reported in metadata._jupyter_types_experimental (the names jedi and
# IPython use, which JupyterLab knows).

FUNCTION, CLASS, MODULE, KEYWORD, INSTANCE = "function", "class", "module", "keyword", "instance"
PATH, MAGIC, PARAM, PROPERTY, DICT_KEY = "path", "magic", "param", "property", "dict key"

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"

_FUNCTION_TYPES = (
    types.FunctionType, types.BuiltinFunctionType, types.MethodType,
    types.BuiltinMethodType, types.MethodDescriptorType, types.WrapperDescriptorType,
    types.MethodWrapperType, types.ClassMethodDescriptorType, classmethod, staticmethod,
)
# Descriptors whose __get__ is the interpreter's own and runs no user code.
_SAFE_DESCRIPTORS = (
    types.FunctionType, types.BuiltinFunctionType, types.MethodDescriptorType,
    types.WrapperDescriptorType, types.ClassMethodDescriptorType,
    types.MemberDescriptorType, types.GetSetDescriptorType, classmethod, staticmethod,
)
_SAFE_GETATTRIBUTE = (object.__getattribute__, type.__getattribute__, types.ModuleType.__getattribute__)
# Containers whose literal subscripts are evaluated (their __getitem__ is C).
_SAFE_CONTAINERS = (dict, list, tuple, str, bytes)


class _KindByType(dict):
    """type -> completion type of its instances (depends on the type only)."""

    def __missing__(self, t):
        if issubclass(t, type):
            kind = CLASS
        elif issubclass(t, types.ModuleType):
            kind = MODULE
        elif issubclass(t, _FUNCTION_TYPES) or _has_call(t):
            kind = FUNCTION
        elif t is property or _has_get(t) and not issubclass(t, (types.MemberDescriptorType, types.GetSetDescriptorType)):
            kind = PROPERTY if _has_set(t) or t.__name__ == "cached_property" else INSTANCE
        else:
            kind = INSTANCE
        if len(self) > 2000:  # user classes come and go: bound the cache
            self.clear()
        self[t] = kind
        return kind


def _has_call(t):
    return any("__call__" in vars(k) for k in t.__mro__[:-1])


def _has_get(t):
    return any("__get__" in vars(k) for k in t.__mro__[:-1])


def _has_set(t):
    return any("__set__" in vars(k) or "__delete__" in vars(k) for k in t.__mro__[:-1])


_kind_by_type = _KindByType()


def _kind(value):
    return _kind_by_type[type(value)]


# ---------------------------------------------------------------------------
# Cached name lists.

_KEYWORDS = sorted(set(keyword.kwlist) | {"match", "case"})
_builtins_cache = (None, None, None)  # (len, sorted names, kinds)


def _builtin_names():
    global _builtins_cache
    d = builtins.__dict__
    if _builtins_cache[0] != len(d):
        names = sorted(k for k in d if isinstance(k, str))
        kinds = {k: (KEYWORD if k in ("True", "False", "None") else _kind(d[k])) for k in names}
        _builtins_cache = (len(d), names, kinds)
    return _builtins_cache[1], _builtins_cache[2]


_modules_cache = (None, None)  # (key, names)


def _top_level_modules():
    """Importable top-level module names: sys.path (cached, except the
    working directory, which is read each time), builtin modules and what
    is already imported."""
    global _modules_cache
    import pkgutil

    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    fixed = [p for p in sys.path if isinstance(p, str) and p not in ("", ".", cwd)]
    key = tuple(fixed)
    if _modules_cache[0] != key:
        names = set(sys.builtin_module_names)
        for info in pkgutil.iter_modules(fixed):
            names.add(info.name)
        _modules_cache = (key, names)
    names = set(_modules_cache[1])
    try:
        for info in pkgutil.iter_modules(["."]):
            names.add(info.name)
    except Exception:
        pass
    names.update(m for m in sys.modules if "." not in m)
    return sorted(n for n in names if not n.startswith("_wasipy") and n.isidentifier())


# ---------------------------------------------------------------------------
# Scanning the code before the cursor.

_LEX = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<str>(?:(?<!\w)(?P<prefix>[rRbBuUfF]{1,2}))?(?P<quote>'''|\"\"\"|'|\"))
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
""", re.X)
_STR_END = {
    "'": re.compile(r"(?:[^'\\\n]|\\[\s\S])*('|\n)"),
    '"': re.compile(r'(?:[^"\\\n]|\\[\s\S])*("|\n)'),
    "'''": re.compile(r"(?:[^'\\]|\\[\s\S]|'(?!''))*'''"),
    '"""': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"""'),
}


class _Scan:
    __slots__ = ("comment", "string", "brackets", "last_string")

    def __init__(self):
        self.comment = False
        self.string = None  # (content_start, quote, prefix, quote_start) when inside one
        self.brackets = []  # positions of unclosed ( [ {
        self.last_string = None  # (end, prefix) of the last complete string


def _scan(text, pos=0):
    """Scan text[pos:] for comments, strings and brackets (positions are
    indices into text)."""
    s = _Scan()
    n = len(text)
    search = _LEX.search
    while True:
        m = search(text, pos)
        if m is None:
            return s
        kind = m.lastgroup
        if kind == "comment":
            if m.end() >= n:
                s.comment = True
                return s
            pos = m.end()
        elif kind == "open":
            s.brackets.append(m.start())
            pos = m.end()
        elif kind == "close":
            if s.brackets:
                s.brackets.pop()
            pos = m.end()
        else:
            quote = m.group("quote")
            prefix = (m.group("prefix") or "").lower()
            body = m.end()
            e = _STR_END[quote].match(text, body)
            if e is None:
                s.string = (body, quote, prefix, m.start("quote"))
                return s
            pos = e.end()
            s.last_string = (pos, prefix)


# A chain of names, attribute lookups and literal subscripts, at the end.
_CHAIN = re.compile(
    r"(?<!\w)[^\W\d]\w*(?:[ \t]*\.[ \t]*[^\W\d]\w*"
    r"|[ \t]*\[[ \t]*(?:-?\d+|'[^'\\\n]*'|\"[^\"\\\n]*\")[ \t]*\])*[ \t]*$")
_CHAIN_PART = re.compile(r"[^\W\d]\w*|\[[ \t]*(-?\d+|'[^'\\\n]*'|\"[^\"\\\n]*\")[ \t]*\]")
_WORD = re.compile(r"\w*$")
_TAIL = 2000  # how far back an expression is looked for


def _chain_before(text, end):
    """The chain expression ending at text[:end] (trailing blanks allowed),
    as (start, parts), or None when what precedes it is not a plain chain."""
    lo = max(0, end - _TAIL)
    m = _CHAIN.search(text, lo, end)
    if m is None:
        return None
    start = m.start()
    if start > 0:
        before = text[start - 1]
        if before in ".)]}'\"" or before.isalnum() or before == "_":
            return None  # a call's result, a subscript of one, a literal: not evaluated
    parts = []
    for p in _CHAIN_PART.finditer(m.group()):
        lit = p.group(1)
        if lit is None:
            parts.append(p.group())
        else:
            parts.append(_Subscript(int(lit) if lit[0] not in "'\"" else lit[1:-1]))
    return start, parts


class _Subscript:
    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


class _Unresolved(Exception):
    pass


def _lookup_name(shell, name):
    ns = shell.user_ns
    if name in ns:
        return ns[name], "Interactive"
    d = builtins.__dict__
    if name in d:
        return d[name], "Python builtin"
    raise _Unresolved(name)


def _static_attr(obj, name, final=False):
    """obj.name without running user code. With final=True, a property or
    other descriptor is returned itself instead of refusing."""
    try:
        raw = _inspect.getattr_static(obj, name)
    except AttributeError:
        raise _Unresolved(name) from None
    if isinstance(obj, types.ModuleType):
        return raw
    traw = type(raw)
    if not _has_get(traw):
        return raw  # a plain value (instance or class dict)
    if isinstance(raw, _SAFE_DESCRIPTORS):
        if type(obj).__getattribute__ in _SAFE_GETATTRIBUTE:
            try:
                return getattr(obj, name)
            except Exception:
                raise _Unresolved(name) from None
    if final:
        return raw
    raise _Unresolved(name)


def _resolve(shell, parts, final=False):
    """Resolve a chain; returns (obj, namespace label)."""
    obj, where = _lookup_name(shell, parts[0])
    last = len(parts) - 1
    for i, p in enumerate(parts[1:], 1):
        if isinstance(p, _Subscript):
            if type(obj) not in _SAFE_CONTAINERS:
                raise _Unresolved("subscript")
            try:
                obj = obj[p.key]
            except Exception:
                raise _Unresolved("subscript") from None
        else:
            obj = _static_attr(obj, p, final=final and i == last)
        where = None
    return obj, where


# ---------------------------------------------------------------------------
# complete


def complete(shell, content):
    code = content.get("code") or ""
    pos = content.get("cursor_pos")
    if not isinstance(pos, int) or pos > len(code) or pos < 0:
        pos = len(code)
    try:
        start, items = _complete(shell, code, pos)
    except Exception:
        start, items = pos, ([], [])
    return _reply(items, start, pos)


def _reply(items, start, end):
    matches, kinds = items[0], items[1]
    sigs = items[2] if len(items) > 2 else None
    meta = [{"text": t, "type": k, "start": start, "end": end} for t, k in zip(matches, kinds)]
    if sigs:
        for entry, sig in zip(meta, sigs):
            if sig is not None:
                entry["signature"] = sig
    return {
        "status": "ok",
        "matches": matches,
        "cursor_start": start,
        "cursor_end": end,
        "metadata": {"_jupyter_types_experimental": meta},
    }


_IMPORT = re.compile(r"[ \t]*import[ \t]+(?P<rest>.*)$")
_FROM = re.compile(r"[ \t]*from[ \t]+(?P<mod>[\w.]*)$")
_FROM_KW = re.compile(r"[ \t]*from[ \t]+\.*[\w.]*[ \t]+(?P<word>\w*)$")
_FROM_IMPORT = re.compile(r"[ \t]*from[ \t]+(?P<mod>\.*[\w.]*)[ \t]+import[ \t]+\(?(?P<rest>.*)$")
_CELL_MAGIC = re.compile(r"%%(\w*)$")
_LINE_MAGIC = re.compile(r"(?:[ \t]*|[ \t]*[\w.,\[\] \t]*=[ \t]*)%(\w*)$")
_MAGIC_ARGS = re.compile(r"[ \t]*(%%?)(\w+)[ \t]+(?P<rest>.*)$")


def _complete(shell, code, pos):
    text = code[:pos]
    line_start = text.rfind("\n") + 1
    line = text[line_start:]

    # Magics: names, then the arguments of the ones that take a path or a module.
    if "%" in line:
        r = _complete_magic(shell, text, line, pos)
        if r is not None:
            return r

    scan = _scan(text)
    if scan.comment:
        return pos, ([], [])
    if scan.string is not None:
        return _complete_in_string(shell, code, text, pos, scan)

    m = _FROM_IMPORT.match(line)
    if m:
        return _complete_from_import(m.group("mod"), m.group("rest"), pos)
    m = _FROM.match(line)
    if m:
        return _complete_module_path(m.group("mod"), pos)
    m = _FROM_KW.match(line)
    if m:
        word = m.group("word")
        names = ["import"] if "import".startswith(word) else []
        return pos - len(word), (names, [KEYWORD] * len(names))
    m = _IMPORT.match(line)
    if m:
        rest = m.group("rest")
        last = rest.rsplit(",", 1)[-1].lstrip()
        if re.fullmatch(r"[\w.]*", last):
            return _complete_module_path(last, pos)
        return pos, ([], [])

    return _complete_python(shell, text, pos, scan)


def _magic_lists():
    line, cell = LINE_MAGICS, CELL_MAGICS
    mod = sys.modules.get("_wasipy_magics")
    if mod is not None:
        line = _names_of(getattr(mod, "line_magics", None)) or line
        cell = _names_of(getattr(mod, "cell_magics", None)) or cell
    return line, cell


def _names_of(x):
    try:
        if x:
            return sorted(str(k) for k in x)
    except Exception:
        pass
    return None


def _complete_magic(shell, text, line, pos):
    line_magics, cell_magics = _magic_lists()
    first_line = not text[: len(text) - len(line)].strip()
    m = _CELL_MAGIC.fullmatch(line.lstrip()) if first_line else None
    if m:
        word = m.group(1)
        names = ["%%" + n for n in cell_magics if n.startswith(word)]
        return pos - len(word) - 2, (names, [MAGIC] * len(names))
    m = _LINE_MAGIC.fullmatch(line)
    if m:
        word = m.group(1)
        names = ["%" + n for n in line_magics if n.startswith(word)]
        if first_line and not line[:1].isspace() and "=" not in line:
            # On a cell's first line, %ti offers the cell magics too (as IPython).
            names += ["%%" + n for n in cell_magics if n.startswith(word)]
        return pos - len(word) - 1, (names, [MAGIC] * len(names))
    m = _MAGIC_ARGS.match(line)
    if m and (m.group(1) == "%" or first_line):
        name, rest = m.group(2), m.group("rest")
        if name in _PATH_MAGICS:
            frag = rest.rsplit(None, 1)[-1] if rest and not rest[-1].isspace() else ""
            return _complete_path(frag, pos, dirs_only=_PATH_MAGICS[name])
        if name == "load_ext":
            return _complete_module_path(rest.strip(), pos)
    return None


# -- strings ------------------------------------------------------------------


def _complete_in_string(shell, code, text, pos, scan):
    body, quote, prefix, qstart = scan.string
    typed = text[body:]
    if "f" in prefix:
        # Inside the braces of an f-string: complete the expression there.
        brace = typed.rfind("{")
        if brace >= 0 and "}" not in typed[brace:] and not typed[:brace + 1].endswith("{{"):
            lo = body + brace + 1
            return _complete_python(shell, text, pos, _scan(text, lo), lo=lo)
    if scan.brackets and text[scan.brackets[-1]] == "[" and not text[scan.brackets[-1] + 1:qstart].strip():
        r = _complete_dict_keys(shell, code, text, pos, scan.brackets[-1], typed, quote, prefix)
        if r is not None:
            return r
    if "\n" in typed:
        return pos, ([], [])
    return _complete_path(typed, pos)


def _keys_of(obj):
    """Keys offered for obj[...]: a dict's (or Mapping's) keys, or what
    _ipython_key_completions_ returns."""
    hook = _inspect.getattr_static(type(obj), "_ipython_key_completions_", None)
    if hook is not None:
        return list(obj._ipython_key_completions_())
    if isinstance(obj, dict):
        return list(dict.keys(obj)) if type(obj).keys is dict.keys else list(obj.keys())
    import collections.abc
    if isinstance(obj, collections.abc.Mapping):
        return list(obj.keys())
    return None


def _container_at(shell, text, bracket):
    chain = _chain_before(text, bracket)
    if chain is None:
        return None
    try:
        obj, _ = _resolve(shell, chain[1])
        return _keys_of(obj)
    except Exception:
        return None


def _complete_dict_keys(shell, code, text, pos, bracket, typed, quote, prefix):
    keys = _container_at(shell, text, bracket)
    if keys is None:
        return None
    want = bytes if "b" in prefix else str
    after = code[pos:]
    suffix = ""
    if after.startswith(quote):
        rest = after[len(quote):]
    else:
        suffix = quote
        rest = after
    if not rest.lstrip(" \t").startswith("]"):
        suffix += "]"
    matches = []
    for k in keys:
        if not isinstance(k, want):
            continue
        s = k.decode("ascii", "backslashreplace") if want is bytes else k
        if not s.startswith(typed):
            continue
        if "r" not in prefix:
            s = s.replace("\\", "\\\\")
        s = s.replace(quote, "\\" + quote) if len(quote) == 1 else s
        matches.append(s + suffix)
    matches.sort()
    return pos - len(typed), (matches, [DICT_KEY] * len(matches))


def _complete_path(frag, pos, dirs_only=False):
    head, sep, base = frag.rpartition("/")
    where = head + sep
    real = os.path.expanduser(where) if where.startswith("~") else where
    out = []
    try:
        with os.scandir(real or ".") as it:
            for e in it:
                name = e.name
                if not name.startswith(base) or (name.startswith(".") and not base.startswith(".")):
                    continue
                try:
                    is_dir = e.is_dir()
                except OSError:
                    is_dir = False
                if dirs_only and not is_dir:
                    continue
                out.append(name + "/" if is_dir else name)
    except OSError:
        pass
    out.sort()
    return pos - len(base), (out, [PATH] * len(out))


# -- imports ------------------------------------------------------------------


def _submodules(package):
    import importlib.util
    import pkgutil

    try:
        spec = importlib.util.find_spec(package)
    except Exception:
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted({i.name for i in pkgutil.iter_modules(list(spec.submodule_search_locations))})


def _complete_module_path(dotted, pos):
    """import a.b.c| / from a.b| : module names."""
    head, dot, word = dotted.rpartition(".")
    if dot:
        if not head or head.startswith("."):
            return pos, ([], [])
        names = _submodules(head)
        # Modules imported under a package's name without being in it (os.path).
        cut = len(head) + 1
        names += [m[cut:] for m in list(sys.modules)
                  if m.startswith(head) and m[cut - 1:cut] == "." and "." not in m[cut:]]
        names = sorted(set(names))
    else:
        names = _top_level_modules()
    names = [n for n in names if n.startswith(word) and (word.startswith("_") or not n.startswith("_"))]
    return pos - len(word), (names, [MODULE] * len(names))


def _complete_from_import(mod, rest, pos):
    """from mod import a, b| : the module's names and submodules."""
    last = rest.rsplit(",", 1)[-1].lstrip(" \t(")
    if not re.fullmatch(r"\w*", last) or mod.startswith("."):
        return pos, ([], [])
    word = last
    entries = {}
    module = sys.modules.get(mod)
    if module is None:
        module = _quiet_import(mod)
    if module is not None:
        d = getattr(module, "__dict__", {})
        for n in dir(module):
            entries[n] = _kind(d[n]) if n in d else INSTANCE
    for n in _submodules(mod):
        entries.setdefault(n, MODULE)
    names = sorted(n for n in entries if n.startswith(word) and (word.startswith("_") or not n.startswith("_")))
    return pos - len(word), (names, [entries[n] for n in names])


def _quiet_import(name):
    """Import a module for `from name import` completion, as IPython does,
    without letting it print into the notebook."""
    import importlib
    import io

    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = io.StringIO()
    try:
        return importlib.import_module(name)
    except BaseException:
        return None
    finally:
        sys.stdout, sys.stderr = out, err


# -- Python names and attributes --------------------------------------------------


def _complete_python(shell, text, pos, scan, lo=0):
    word = _WORD.search(text, max(lo, pos - 200)).group()
    if word[:1].isdigit():
        return pos, ([], [])
    wstart = pos - len(word)
    i = wstart
    while i > lo and text[i - 1] in " \t":
        i -= 1
    if i > lo and text[i - 1] == "." and not (i > lo + 1 and text[i - 2] == "."):
        return wstart, _attributes(shell, text, i - 1, word, scan, lo)
    params = _params(shell, text, wstart, word, scan, lo)
    names, kinds = _global_names(shell, word)
    if params:
        names = params + names
        kinds = [PARAM] * len(params) + kinds
    if not word and scan.brackets and scan.brackets[-1] == i - 1 and text[i - 1] == "[":
        # d[| : the keys, quoted, before the names.
        keys = _container_at(shell, text, i - 1)
        if keys:
            quoted = [repr(k) for k in sorted((k for k in keys if isinstance(k, (str, bytes))),
                                              key=lambda k: (isinstance(k, bytes), k))]
            names = quoted + names
            kinds = [DICT_KEY] * len(quoted) + kinds
    return wstart, (names, kinds, _signatures(shell, names, kinds, word))


def _prefix_range(sorted_names, word):
    if not word:
        return sorted_names
    lo = bisect.bisect_left(sorted_names, word)
    hi = bisect.bisect_left(sorted_names, word[:-1] + chr(ord(word[-1]) + 1), lo)
    return sorted_names[lo:hi]


def _global_names(shell, word):
    ns = shell.user_ns
    try:
        user = sorted(ns)
    except TypeError:  # a non-str key somebody put in globals()
        user = sorted(k for k in ns if isinstance(k, str))
    user = _prefix_range(user, word)
    bnames, bkinds = _builtin_names()
    bmatch = _prefix_range(bnames, word)
    kw = _prefix_range(_KEYWORDS, word)
    names = sorted(set(user).union(bmatch, kw)) if bmatch or kw else user
    if word == "":  # private names only once the user types an underscore
        names = [n for n in names if n[:1] != "_"]
    elif word[0] == "_" and word[:2] != "__":
        names = sorted(names, key=lambda n: (n[:2] == "__", n))
    if not names and word:
        # Nothing with that case: try ignoring case (valueerr -> ValueError).
        low = word.lower()
        names = sorted({n for n in (*ns, *bnames, *_KEYWORDS)
                        if isinstance(n, str) and n.lower().startswith(low)})
    # Kinds with C-level maps (10k names), then the few builtins and keywords.
    values = list(map(ns.get, names, itertools.repeat(_MISSING)))
    kinds = list(map(_kind_by_type.__getitem__, map(type, values)))
    i = -1
    for _ in range(values.count(_MISSING)):
        i = values.index(_MISSING, i + 1)
        kinds[i] = bkinds.get(names[i], KEYWORD)
    return names, kinds


def _attributes(shell, text, dot, word, scan, lo):
    """Attributes of the expression ending at text[dot] == '.'."""
    empty = ([], [])
    end = dot
    while end > lo and text[end - 1] in " \t":
        end -= 1
    if scan.last_string is not None and scan.last_string[0] == end:
        obj = b"" if "b" in scan.last_string[1] else ""
    else:
        chain = _chain_before(text, end)
        if chain is None or chain[0] < lo:
            return empty
        try:
            obj, _ = _resolve(shell, chain[1])
        except _Unresolved:
            return empty
    try:
        names = dir(obj)
    except Exception:
        return empty
    raw = _raw_attributes(obj)
    show_private = word.startswith("_")
    names = [n for n in names if isinstance(n, str) and n.startswith(word)
             and (show_private or n[:1] != "_")]
    if show_private and not word.startswith("__"):
        names.sort(key=lambda n: (n[:2] == "__", n))
    kinds = []
    for n in names:
        v = raw.get(n, _MISSING)
        kinds.append(INSTANCE if v is _MISSING else _kind(v))
    return names, kinds


_MISSING = object()


def _raw_attributes(obj):
    """name -> raw value as stored (not bound, properties not run), from the
    instance dict and the dicts along the MRO (of a class: its own MRO,
    then its metaclass's)."""
    if isinstance(obj, types.ModuleType):
        return obj.__dict__
    merged = {}
    if isinstance(obj, type):
        mros = [type(obj).__mro__, obj.__mro__]
    else:
        mros = [type(obj).__mro__]
    for mro in mros:
        for klass in reversed(mro):
            try:
                merged.update(type.__getattribute__(klass, "__dict__"))
            except Exception:
                pass
    if not isinstance(obj, type):
        try:
            d = object.__getattribute__(obj, "__dict__")
            if isinstance(d, dict):
                merged.update(d)
        except Exception:
            pass
    return merged


def _params(shell, text, wstart, word, scan, lo):
    """name= for the parameters of the call the cursor is in."""
    if not scan.brackets or text[scan.brackets[-1]] != "(":
        return []
    paren = scan.brackets[-1]
    if paren < lo:
        return []
    j = wstart
    while j > paren + 1 and text[j - 1] in " \t\n":
        j -= 1
    if j != paren + 1 and text[j - 1] != ",":
        return []
    chain = _chain_before(text, paren)
    if chain is None:
        return []
    try:
        fn, _ = _resolve(shell, chain[1])
        sig = _inspect.signature(fn)
    except Exception:
        return []
    kinds = (_inspect.Parameter.POSITIONAL_OR_KEYWORD, _inspect.Parameter.KEYWORD_ONLY)
    return [p.name + "=" for p in sig.parameters.values() if p.kind in kinds and p.name.startswith(word)]


_MAX_SIGNATURES = 8
_MAX_SIGNATURE_MATCHES = 50


def _signatures(shell, names, kinds, word):
    """Signatures for a few function matches (JupyterLab shows them)."""
    if len(names) > _MAX_SIGNATURE_MATCHES or FUNCTION not in kinds:
        return None
    out = [None] * len(names)
    ns = shell.user_ns
    done = 0
    for i, (n, k) in enumerate(zip(names, kinds)):
        if k != FUNCTION:
            continue
        v = ns[n] if n in ns else builtins.__dict__.get(n)
        try:
            out[i] = str(_inspect.signature(v))
        except Exception:
            pass
        done += 1
        if done >= _MAX_SIGNATURES:
            break
    return out


# ---------------------------------------------------------------------------
# inspect


def inspect(shell, content):
    code = content.get("code") or ""
    pos = content.get("cursor_pos")
    if not isinstance(pos, int) or pos > len(code) or pos < 0:
        pos = len(code)
    level = 1 if content.get("detail_level") else 0
    text = None
    try:
        for expr in _inspect_candidates(code, pos):
            text = inspect_text(shell, expr, level)
            if text is not None:
                break
    except Exception:
        text = None
    if text is None:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}


_WORD_AFTER = re.compile(r"\w*")


def _inspect_candidates(code, pos):
    """Expressions to inspect for the cursor, best first: the callee of the
    call the cursor is in (as IPython does), then the dotted name the
    cursor touches."""
    text = code[:pos]
    scan = _scan(text)
    out = []
    if scan.comment:
        return out
    for b in reversed(scan.brackets):
        if text[b] == "(":
            c = _chain_before(text, b)
            if c is not None:
                out.append(_squeeze(text[c[0]:b]))
            break
    if scan.string is None:
        end = _WORD_AFTER.match(code, pos).end()
        c = _chain_before(code, end)
        if c is not None and c[0] <= pos:
            out.append(_squeeze(code[c[0]:end]))
    return out


def _squeeze(expr):
    return re.sub(r"[ \t]+", "", expr)


def inspect_text(shell, expr, detail_level=0):
    """The `obj?` (detail_level 0) or `obj??` (1) text for a dotted
    expression, IPython-style with ANSI red headers; None when the
    expression names nothing."""
    expr = expr.strip()
    chain = _chain_before(expr, len(expr))
    if chain is None or chain[0] != 0:
        return None
    try:
        obj, where = _resolve(shell, chain[1], final=True)
    except _Unresolved:
        return None
    return _info(shell, obj, expr, where, detail_level)


def _info(shell, obj, name, namespace, level):
    fields = []
    isclass = isinstance(obj, type)
    iscallable = isinstance(obj, _FUNCTION_TYPES) or isinstance(obj, type)
    tname = type(obj).__name__
    source = _source(shell, obj) if level else None
    doc = _doc(obj)

    if iscallable:
        if isclass:
            sig = _signature(obj)
            if sig is not None:
                fields.append(("Init signature", name + sig))
        else:
            sig = _signature(obj)
            if sig is not None:
                fields.append(("Signature", name + sig))
        if source:
            fields.append(("Source", source))
        else:
            fields.append(("Docstring", doc or "<no docstring>"))
            if isclass:
                init = _init_doc(obj)
                if init:
                    fields.append(("Init docstring", init))
        f = _file(shell, obj)
        if f:
            fields.append(("File", f))
        fields.append(("Type", tname))
        if isclass:
            subs = _subclasses(obj)
            if subs:
                fields.append(("Subclasses", subs))
    else:
        if callable(obj) and not isinstance(obj, types.ModuleType):
            sig = _signature(obj)
            if sig is not None:
                fields.append(("Call signature", name + sig))
        fields.append(("Type", tname))
        form = _string_form(obj)
        if form is not None:
            fields.append(("String form", form))
        if namespace and namespace != "Interactive":
            fields.append(("Namespace", namespace))
        length = _length(obj)
        if length is not None:
            fields.append(("Length", str(length)))
        f = _file(shell, obj)
        if f:
            fields.append(("File", f))
        if source:
            fields.append(("Source", source))
        else:
            own = _own_doc(obj)
            class_doc = None
            if not isinstance(obj, (types.ModuleType, property)):
                class_doc = _inspect.getdoc(type(obj))
            if own:
                fields.append(("Docstring", own))
            elif class_doc:
                fields.append(("Docstring", class_doc))
            else:
                fields.append(("Docstring", "<no docstring>"))
            if own and class_doc and own != class_doc and not isinstance(obj, types.ModuleType):
                fields.append(("Class docstring", class_doc))
    return _layout(fields)


def _layout(fields):
    width = max(len(t) for t, _ in fields) + 2
    out = []
    for title, value in fields:
        head = _RED + title + ":" + _RESET
        if "\n" in value or title in ("Source",):
            out.append(head + "\n" + value.rstrip("\n"))
        else:
            out.append(head + " " * (width - len(title) - 1) + value)
    return "\n".join(out) + "\n"



def _signature(obj):
    try:
        return str(_inspect.signature(obj))
    except Exception:
        return None


def _doc(obj):
    try:
        return _inspect.getdoc(obj)
    except Exception:
        return None


def _own_doc(obj):
    """The object's docstring when it is not just its class's."""
    try:
        if isinstance(obj, (types.ModuleType, property)):
            d = obj.__doc__
        else:
            d = _inspect.getattr_static(obj, "__doc__", None)
            if d is type(obj).__dict__.get("__doc__"):
                return None
    except Exception:
        return None
    return _inspect.cleandoc(d) if isinstance(d, str) else None


def _init_doc(cls):
    init = cls.__dict__.get("__init__")
    if init is None or not isinstance(init, types.FunctionType):
        return None
    return _inspect.getdoc(init)


def _string_form(obj):
    try:
        s = str(obj)
    except Exception:
        return None
    if len(s) > 200:
        s = s[:100] + "<...>" + s[-100:]
    return s


def _length(obj):
    if isinstance(obj, (str, bytes, list, tuple, dict, set, frozenset, bytearray, range)) or (
            not isinstance(obj, type) and _inspect.getattr_static(type(obj), "__len__", None) is not None):
        try:
            return len(obj)
        except Exception:
            return None
    return None


def _subclasses(cls):
    try:
        subs = type.__subclasses__(cls)
    except Exception:
        return None
    if not subs:
        return None
    names = [s.__name__ for s in subs[:10]]
    return ", ".join(names) + (", ..." if len(subs) > 10 else "")


def _cell_label(shell, filename):
    labels = getattr(shell, "_labels", None) or {}
    return labels.get(filename)


def _file(shell, obj):
    target = obj.fget if isinstance(obj, property) and obj.fget else obj
    try:
        f = _inspect.getfile(target)
    except Exception:
        f = None
        if isinstance(target, type):
            f = _class_cell(target)
    if not f:
        return None
    label = _cell_label(shell, f)
    if label:
        return label
    if f.startswith("/wlr/build-staging/") or f.startswith("<frozen "):
        mod = _inspect.getmodule(target)
        mf = getattr(mod, "__file__", None)
        if isinstance(mf, str):
            return mf
    return f


def _class_cell(cls):
    """The cell a class defined in a cell came from: its methods know."""
    for v in vars(cls).values():
        v = getattr(v, "__func__", v)
        if isinstance(v, property):
            v = v.fget
        code = getattr(v, "__code__", None)
        if code is not None:
            return code.co_filename
    return None


def _source(shell, obj):
    target = obj.fget if isinstance(obj, property) and obj.fget else obj
    if isinstance(target, types.MethodType):
        target = target.__func__
    try:
        return _inspect.getsource(target)
    except Exception:
        pass
    if isinstance(target, type):
        return _class_source(target)
    return None


def _class_source(cls):
    """Source of a class defined in a cell (inspect looks for a module file
    that __main__ does not have): parse the cell its methods came from."""
    import ast

    filename = _class_cell(cls)
    if not filename:
        return None
    lines = linecache.getlines(filename)
    if not lines:
        return None
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return None
    want = cls.__qualname__.split(".")
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == want[-1]:
            found = node  # the last definition wins, like at run time
    if found is None:
        return None
    first = found.lineno
    if found.decorator_list:
        first = min(d.lineno for d in found.decorator_list)
    return "".join(lines[first - 1:found.end_lineno])
