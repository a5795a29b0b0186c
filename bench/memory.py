#!/usr/bin/env python3
"""Where a process tree's memory goes: /proc/PID/smaps, classified.

    bench/memory.py PID            # PID and all its descendants
    bench/memory.py --json PID

Every mapping of every process falls in exactly one class, and the
classes of a process add up to its RSS and PSS (as `ps` and psutil report
them, from the same smaps):

  binary        the process's own executable (its text, read-only data and
                initialised data): shared between every process of one
                binary, hence PSS well below RSS
  go heap       Go's heap arenas, goroutine stacks included (they are
                allocated from the heap): anonymous read-write mappings in
                the lower quarter of the address space (below 2**46), where
                Go places its arenas by hint (runtime/malloc.go; from Go
                1.26 at a random base, still below 2**46 on amd64 and
                arm64), while the kernel places every mmap without an
                address (libc, wazero, Go's own metadata) top-down from
                just below the stack, far above it
  compiled code anonymous executable mappings: wazero copies the machine
                code of python.wasm there (from its cache) and maps it r-x
  linear memory the guest's linear memory: the single largest anonymous
                read-write mapping outside Go's arenas, if it is at least
                LINEAR_MIN (memory.Fixed reserves the whole cap at once;
                only the touched pages are resident)
  files         any other file-backed mapping (shared libraries, data)
  other         the rest: the binary's zero-initialised data (the
                anonymous mapping right after its own), Go's runtime
                metadata outside the heap (span and bitmap arrays, the arena
                index), thread stacks, vdso...

Only standard library; reading another user's smaps needs the same rights
as ptrace.
"""

import argparse
import json
import os
import re
import sys

CLASSES = ("binary", "go heap", "compiled code", "linear memory", "files",
           "other")

# memory.Fixed reserves the guest's whole memory cap (wasipy's smallest is
# far above this); Go's largest single non-arena mapping on linux/amd64 is
# the 32 MiB arena index, below it.
LINEAR_MIN = 64 << 20

_HEADER = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) [0-9a-f]+ \S+ (\d+)\s*(.*)$")
_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")


def parse_smaps(text):
    """The mappings of one smaps file, in order: dicts with start, end,
    perms, inode, path and the kB fields (Rss, Pss, Size...)."""
    maps = []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            maps.append({"start": int(m[1], 16), "end": int(m[2], 16),
                         "perms": m[3], "inode": int(m[4]),
                         "path": m[5].strip()})
            continue
        f = _FIELD.match(line)
        if f and maps:
            maps[-1][f[1]] = int(f[2])
    return maps


# Go's arena hints stay below this (randHeapAddrBits is 46 on amd64, and
# the fixed hints of other 64-bit ports are lower still); mmap(NULL) on
# x86-64 and arm64 Linux starts near 2**47 and grows down.
GO_ARENA_END = 1 << 46


def go_arena(addr):
    """Whether addr is where Go's allocator puts its heap arenas."""
    return addr < GO_ARENA_END


def classify(maps, exe=None):
    """RSS and PSS per class, in bytes: {class: {"rss": n, "pss": n}}.

    exe is the process's executable (the /proc/PID/exe link); without it,
    the path of the first mapping (the executable comes first in a
    non-PIE Go binary) is taken."""
    if exe is None and maps and maps[0]["path"].startswith("/"):
        exe = maps[0]["path"]
    linear = None
    for mp in maps:
        size = mp["end"] - mp["start"]
        if (mp["inode"] == 0 and mp["perms"].startswith("rw")
                and not go_arena(mp["start"]) and size >= LINEAR_MIN
                and mp["path"] == ""
                and (linear is None or size > linear["end"] - linear["start"])):
            linear = mp
    out = {c: {"rss": 0, "pss": 0} for c in CLASSES}
    binary_end = None
    for mp in maps:
        anon = mp["inode"] == 0
        named = mp["path"] != ""  # [stack], [vdso], [heap], [anon:...]
        if exe and mp["path"] == exe:
            c = "binary"
            binary_end = mp["end"]
        elif anon and not named and mp["start"] == binary_end:
            c = "other"  # the binary's bss, not heap
        elif anon and not named and "x" in mp["perms"]:
            c = "compiled code"
        elif mp is linear:
            c = "linear memory"
        elif (anon and not named and mp["perms"].startswith("rw")
              and go_arena(mp["start"])):
            c = "go heap"
        elif not anon:
            c = "files"
        else:
            c = "other"
        out[c]["rss"] += mp.get("Rss", 0) << 10
        out[c]["pss"] += mp.get("Pss", 0) << 10
    return out


def children(pid):
    """The descendants of pid, found from every process's parent."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces.
        fields = stat[stat.rfind(")") + 2:].split()
        parent[int(d)] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = sorted(c for c, pp in parent.items() if pp == p)
        out.extend(kids)
        todo.extend(kids)
    return out


def process(pid):
    """One process's breakdown: {"pid", "name", "classes"}."""
    with open(f"/proc/{pid}/smaps") as f:
        maps = parse_smaps(f.read())
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = None
    with open(f"/proc/{pid}/comm") as f:
        name = f.read().strip()
    return {"pid": pid, "name": name, "classes": classify(maps, exe)}


def tree(pid):
    """The breakdown of pid and its descendants; processes that end while
    they are read are left out."""
    out = []
    for p in [pid] + children(pid):
        try:
            out.append(process(p))
        except (OSError, ValueError):
            pass
    return out


def table(procs, labels=None):
    """Rows for render: one per class, a column (RSS, PSS) per process and
    for the total. labels names the processes (default: comm and pid)."""
    labels = labels or [f"{p['name']} {p['pid']}" for p in procs]
    head = ["class"]
    for lab in labels + ["total"]:
        head += [f"{lab} RSS", f"{lab} PSS"]
    rows = []
    for c in CLASSES + ("total",):
        row, tr, tp = [c], 0, 0
        for p in procs:
            if c == "total":
                r = sum(v["rss"] for v in p["classes"].values())
                s = sum(v["pss"] for v in p["classes"].values())
            else:
                r, s = p["classes"][c]["rss"], p["classes"][c]["pss"]
            row += [r, s]
            tr, tp = tr + r, tp + s
        rows.append(row + [tr, tp])
    return head, rows


def render(head, rows, markdown=False):
    """Plain or Markdown text of a table, sizes in MiB."""
    cells = [head] + [[r[0]] + [f"{v / 2**20:.1f}" for v in r[1:]]
                      for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        lines += ["| " + " | ".join(c) + " |" for c in cells[1:]]
        return "\n".join(lines)
    w = [max(len(c[i]) for c in cells) for i in range(len(head))]
    return "\n".join("  ".join(c[i].ljust(w[i]) if i == 0 else c[i].rjust(w[i])
                               for i in range(len(c))) for c in cells)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pid", type=int, help="root of the process tree")
    ap.add_argument("--json", action="store_true", help="raw bytes as JSON")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    procs = tree(args.pid)
    if not procs:
        print(f"bench/memory.py: no process {args.pid}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(procs, sys.stdout, indent=2)
        print()
    else:
        print(render(*table(procs), markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
