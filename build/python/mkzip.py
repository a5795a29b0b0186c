"""Zip the standard library for the guest: build.sh runs this with the
native build python (the same CPython version as the guest, so the same
bytecode magic).

    mkzip.py LIBDIR ZIPFILE GUEST_LIBDIR

Every module goes in twice: its source (tracebacks show the lines) and its
bytecode, compiled here as an "unchecked-hash" .pyc. zipimport uses such a
.pyc without comparing it with the source's time stamp, which a zip keeps
only to two seconds and in local time, so a checked .pyc could be judged
stale and every start would compile the standard library again. The files
are read-only in the guest, so nothing can make them stale. Code objects
name their files as the guest sees them (GUEST_LIBDIR/...), as a directory
install would.

Directories and files are written in sorted order with a fixed time stamp,
so the same inputs give the same zip.
"""

import os
import py_compile
import sys
import tempfile
import zipfile

FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def main(libdir, zippath, guest_libdir):
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(zippath + ".part", "w", zipfile.ZIP_STORED) as z:
        def add(rel, data):
            info = zipfile.ZipInfo(rel, FIXED_TIME)
            info.external_attr = 0o444 << 16
            z.writestr(info, data)

        count = 0
        for root, dirs, files in os.walk(libdir):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, libdir).replace(os.sep, "/")
                with open(path, "rb") as f:
                    data = f.read()
                add(rel, data)
                if not name.endswith(".py"):
                    continue
                pyc = os.path.join(tmp, "m.pyc")
                try:
                    py_compile.compile(path, cfile=pyc, dfile=f"{guest_libdir}/{rel}", doraise=True,
                                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
                except py_compile.PyCompileError as e:
                    # A few test-like files are not valid Python on purpose
                    # (badsyntax_*): their source is enough.
                    print(f"mkzip.py: not compiled: {rel}: {e.msg.splitlines()[-1]}", file=sys.stderr)
                    continue
                with open(pyc, "rb") as f:
                    add(rel[:-3] + ".pyc", f.read())
                count += 1
    os.replace(zippath + ".part", zippath)
    print(f"mkzip.py: {count} modules into {zippath} ({os.path.getsize(zippath)} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
