#!/usr/bin/env bash
# bench/run.sh: build the wasipy kernel and run the side-by-side benchmark
# against ipykernel (bench/run.py; see docs/BENCHMARKS.md).
#
#   bench/run.sh [--quick] [--json out.json] [other bench/run.py options]
#
# The interpreter is $WASIPY_PYTHON_WASM, else the one install.sh fetched:
# ${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-~/.local/share}/wasipy}/python.wasm.
# The client side needs Debian's /usr/bin/python3 with python3-jupyter-client,
# python3-psutil and python3-ipykernel ($BENCH_PYTHON to override).
set -euo pipefail

die() {
	printf 'bench/run.sh: error: %s\n' "$*" >&2
	exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

go=$(command -v go || true)
if [[ -z $go && -x /usr/local/go/bin/go ]]; then
	go=/usr/local/go/bin/go
fi
[[ -n $go ]] || die "go not found (install Go or put it on PATH)"

data_dir=${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/wasipy}
wasm=${WASIPY_PYTHON_WASM:-$data_dir/python.wasm}
[[ -f $wasm ]] || die "no python.wasm at $wasm (run ./install.sh, or set WASIPY_PYTHON_WASM)"

python=${BENCH_PYTHON:-/usr/bin/python3}
[[ -x $python ]] || die "$python not found (set BENCH_PYTHON)"

bin=$(mktemp -d "${TMPDIR:-/tmp}/wasipy-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT

# Built as install.sh builds it (static: CGO_ENABLED=0).
(cd "$root" && CGO_ENABLED=0 "$go" build -o "$bin/wasipy-kernel" ./cmd/kernel) ||
	die "building ./cmd/kernel failed"
(cd "$root" && "$go" build -o "$bin/phases" ./bench/phases) ||
	die "building ./bench/phases failed"

"$python" "$root/bench/run.py" \
	--kernel-bin "$bin/wasipy-kernel" \
	--phases-bin "$bin/phases" \
	--python-wasm "$wasm" \
	--go "$go" \
	"$@"
