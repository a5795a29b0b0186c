#!/usr/bin/env bash
# Runs every test of wasipy: the installer (which builds CPython 3.13 for
# WASI from Debian's sources, build/python/build.sh, the default
# interpreter), Go unit tests (race detector on), short fuzz runs of the
# wire parser and the guest channel, and the whole end-to-end suite that
# drives the installed kernel with real Jupyter clients on the built
# interpreter; then installs the npm build of CPython 3.12
# (install.sh --prebuilt) and runs the interpreter tests and a smoke subset
# of the suite on it.
#
# It installs what it needs (Debian packages as root, the npm python.wasm
# with npm) and installs the kernelspec into a throw-away Jupyter dir, never
# the user's. The build is kept in the data dir, so a rerun on the same
# machine takes seconds (the first takes about 10 minutes on 2 cores). Set
# FUZZTIME (default 20s) to fuzz longer.
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

# Neither install.sh nor the tests may take an interpreter from the caller's
# environment: each step below names the one it means.
unset WASIPY_PYTHON_WASM WASIPY_KERNEL
# --no-provisioner: the suite drives the kernel through a plain kernelspec
# (a connection file, as most Jupyter installs start it), and installing the
# provisioner would write into root's own site-packages, outside the
# throw-away dirs; tests/test_launcher.py installs it into a folder of its
# own and runs nbclient and KernelManager through it.
step "install.sh (build CPython 3.13 for WASI, build the kernel, install the kernelspec)"
./install.sh --data-dir "$WASIPY_DATA_DIR" --user --no-provisioner
step "install.sh again (must reuse the built python.wasm)"
./install.sh --data-dir "$WASIPY_DATA_DIR" --user --no-provisioner > "$work/install2.log"
cat "$work/install2.log"
grep -qi "reus" "$work/install2.log" || { echo "second install.sh run did not reuse the built python.wasm" >&2; exit 1; }
test -f "$JUPYTER_DATA_DIR/kernels/wasipy/kernel.json" || { echo "kernelspec not installed" >&2; exit 1; }
grep -q '"Python 3.13 (wasipy)"' "$JUPYTER_DATA_DIR/kernels/wasipy/kernel.json" ||
	{ echo "the kernelspec does not name the built Python 3.13" >&2; exit 1; }

built="$WASIPY_DATA_DIR/python3.13/python.wasm"
export WASIPY_PYTHON_WASM="$built"
export WASIPY_KERNEL="$WASIPY_DATA_DIR/bin/wasipy-kernel"
export WASIPY_REQUIRE_WASM=1

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted" >&2; exit 1; }
# experimental/sys.File's Seek returns an Errno, not an error, which vet's
# stdmethods check cannot know: the sandbox's file type is checked without it.
go vet $(go list ./... | grep -v /interp/sandboxfs)
go vet -stdmethods=false ./interp/sandboxfs/

step "the guest runtime's fast tier (host CPython, no interpreter)"
/usr/bin/python3 -m pytest tests/runtime -q -p no:cacheprovider

step "go test -race"
go test -race -count=1 ./...

step "fuzz the wire parser (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime="${FUZZTIME:-20s}" ./protocol/
step "fuzz the ZMTP frame reader (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzReadMsg$' -fuzztime="${FUZZTIME:-20s}" ./protocol/zmtp/

step "fuzz the guest channel (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzGuestFrames$' -fuzztime="${FUZZTIME:-20s}" ./interp/
step "fuzz the guest protocol's frame codec (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime="${FUZZTIME:-20s}" ./interp/internal/guestproto/
step "fuzz the launcher's payload and communication port (${FUZZTIME:-20s} each)"
go test -run='^$' -fuzz='^FuzzOpen$' -fuzztime="${FUZZTIME:-20s}" ./launcher/
go test -run='^$' -fuzz='^FuzzCommRequest$' -fuzztime="${FUZZTIME:-20s}" ./launcher/
step "fuzz the channel's frame splitter (${FUZZTIME:-20s})"
go test -run='^$' -fuzz='^FuzzFrameWriter$' -fuzztime="${FUZZTIME:-20s}" ./interp/internal/channel/
step "fuzz the interpreter image decoder and the module layout reader (${FUZZTIME:-20s} each)"
go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime="${FUZZTIME:-20s}" ./interp/internal/image/
go test -run='^$' -fuzz='^FuzzReadLayout$' -fuzztime="${FUZZTIME:-20s}" ./interp/internal/wasmbin/

step "end-to-end tests with real Jupyter clients (the built CPython 3.13)"
cd "$root"
WASIPY_REQUIRE_BUILT=1 /usr/bin/python3 -m pytest tests -v -p no:cacheprovider

step "browser suite: headless Chromium drives the Notebook UI on the kernel"
tests/browser/run.sh

# The npm build of CPython 3.12 (install.sh --prebuilt) still works: it is
# installed beside the built one (python.wasm in the data dir) and runs the
# interpreter tests and a smoke subset of the suite.
npm_wasm="$WASIPY_DATA_DIR/python.wasm"
step "install.sh --prebuilt (fetch and verify the npm CPython 3.12)"
./install.sh --prebuilt --data-dir "$WASIPY_DATA_DIR" --user --no-provisioner
grep -q '"Python 3.12 (wasipy)"' "$JUPYTER_DATA_DIR/kernels/wasipy/kernel.json" ||
	{ echo "the kernelspec does not name the npm Python 3.12" >&2; exit 1; }
step "the npm interpreter: interpreter tests and a smoke subset of the end-to-end suite"
WASIPY_PYTHON_WASM="$npm_wasm" go test -race -count=1 ./interp/ ./interp/internal/interrupt/
WASIPY_PYTHON_WASM="$npm_wasm" /usr/bin/python3 -m pytest -v -p no:cacheprovider \
	tests/test_execute.py tests/test_interrupts.py tests/test_asyncio.py \
	tests/test_streams.py tests/test_complete.py tests/test_protocol.py \
	tests/test_debugger.py tests/test_debugger_ipykernel.py tests/test_bridge.py \
	tests/test_restart_in_place.py
