#!/usr/bin/env bash
# Runs every test of wasipy: Go unit tests (race detector on), a short fuzz
# run of the wire parser, the installer, and the end-to-end suite that
# drives the installed kernel with real Jupyter clients; then builds
# CPython 3.13 for WASI (build/python/build.sh) and runs the interpreter's
# own tests and a smoke subset of the suite on it.
#
# It installs what it needs (Debian packages as root, python.wasm with npm)
# and installs the kernelspec into a throw-away Jupyter dir, never the
# user's. Set FUZZTIME (default 20s) to fuzz longer.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$PATH:/usr/local/go/bin"

step() { printf '\n==> %s\n' "$*"; }

step "test dependencies"
bash tests/deps.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# python.wasm is kept where install.sh keeps it for users (a second run
# reuses it); the kernel binary and kernelspec go to throw-away places.
export WASIPY_DATA_DIR="${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/wasipy}"
export JUPYTER_DATA_DIR="$work/jupyter"
export JUPYTER_PATH="$work/jupyter"
export JUPYTER_CONFIG_DIR="$work/jupyter-config"
export JUPYTER_RUNTIME_DIR="$work/jupyter-runtime"
export WASIPY_HISTORY_DIR="$work/history" # never the user's own history

step "install.sh (fetch and verify python.wasm, build, install the kernelspec)"
./install.sh --data-dir "$WASIPY_DATA_DIR" --user
step "install.sh again (must reuse python.wasm)"
./install.sh --data-dir "$WASIPY_DATA_DIR" --user > "$work/install2.log"
cat "$work/install2.log"
grep -qi "reus" "$work/install2.log" || { echo "second install.sh run did not reuse python.wasm" >&2; exit 1; }
test -f "$JUPYTER_DATA_DIR/kernels/wasipy/kernel.json" || { echo "kernelspec not installed" >&2; exit 1; }

export WASIPY_PYTHON_WASM="$WASIPY_DATA_DIR/python.wasm"
export WASIPY_KERNEL="$WASIPY_DATA_DIR/bin/wasipy-kernel"
export WASIPY_REQUIRE_WASM=1

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted" >&2; exit 1; }
# experimental/sys.File's Seek returns an Errno, not an error, which vet's
# stdmethods check cannot know: the sandbox's file type is checked without it.
go vet $(go list ./... | grep -v /interp/sandboxfs)
go vet -stdmethods=false ./interp/sandboxfs/

step "go test -race"
go test -race -count=1 ./...

step "fuzz the wire parser (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime="${FUZZTIME:-20s}" ./protocol/
step "fuzz the ZMTP frame reader (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzReadMsg$' -fuzztime="${FUZZTIME:-20s}" ./protocol/

step "fuzz the guest channel (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzGuestFrames$' -fuzztime="${FUZZTIME:-20s}" ./interp/

step "end-to-end tests with real Jupyter clients"
cd "$root"
/usr/bin/python3 -m pytest tests -v -p no:cacheprovider

# The interpreter built from Debian's sources (docs/BUILDING.md). The build
# is kept in the data dir, so a rerun on the same machine takes seconds.
built="$WASIPY_DATA_DIR/python3.13/python.wasm"
step "build CPython 3.13 for WASI (build/python/build.sh, cached in $WASIPY_DATA_DIR/python3.13)"
build/python/build.sh --data-dir "$WASIPY_DATA_DIR"
step "the built interpreter: interpreter tests and a smoke subset of the end-to-end suite"
# Warm its code and bytecode caches with the real kernel binary first, as
# install.sh does: inside 'go test -race' the worker is the race-enabled
# test binary, whose compile of a cold module can outlast a test's timeout.
"$WASIPY_KERNEL" prepare --python-wasm "$built"
WASIPY_PYTHON_WASM="$built" go test -race -count=1 ./interp/
WASIPY_PYTHON_WASM="$built" WASIPY_REQUIRE_BUILT=1 /usr/bin/python3 -m pytest -v -p no:cacheprovider \
	tests/test_interpreter_build.py tests/test_execute.py tests/test_interrupts.py tests/test_asyncio.py \
	tests/test_streams.py tests/test_complete.py
