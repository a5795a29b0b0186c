#!/usr/bin/env bash
# The browser suite (issue 12): headless Chromium, driven by playwright-core,
# works through the classic Notebook UI (Debian's jupyter-notebook 6.4) on a
# wasipy kernel built from this tree, and checks what a person sees.
#
# Installs what it needs (Debian packages as root, playwright-core with
# `npm ci`; never a downloaded browser), builds the kernel (or takes
# $WASIPY_KERNEL), installs its kernelspec into a throw-away Jupyter dir,
# starts the server on 127.0.0.1 with a random token, runs the suite and
# always stops the server and everything it started.
#
# Environment:
#   WASIPY_KERNEL               a kernel binary built from this tree (else built here)
#   WASIPY_PYTHON_WASM          the interpreter (else the data dir's, as tests/harness.py)
#   WASIPY_BROWSER_ARTIFACTS    where screenshots go (default tests/browser/artifacts)
#   WASIPY_BROWSER_ONLY         run only the tests whose name matches (node --test-name-pattern)
#
# With --update-docs-img, a passing run also copies the screenshots the
# README shows into docs/img/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PATH="$PATH:/usr/local/go/bin"

step() { printf '\n==> %s\n' "$*"; }

update_docs=0
case "${1:-}" in
--update-docs-img) update_docs=1 ;;
"") ;;
*) echo "usage: tests/browser/run.sh [--update-docs-img]" >&2; exit 2 ;;
esac

step "browser suite: dependencies"
packages=(chromium jupyter-notebook python3-notebook python3-ipywidgets python3-widgetsnbextension
	libjs-mathjax fonts-mathjax)
# Node.js may come from elsewhere (NodeSource's nodejs carries its own npm
# and conflicts with Debian's): Debian's is installed only when none is.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
bash "$here/../deps.sh" "${packages[@]}"
# playwright-core drives the system Chromium; it never downloads a browser
# (that is the `playwright` package's install step, which is not used).
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

work=$(mktemp -d -t wasipy-browser-XXXXXX)
server_pid=""
suite_pid=""
cleanup() {
	local rc=$?
	[ -n "$suite_pid" ] && kill -KILL -- "-$suite_pid" 2>/dev/null || true
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		# The server ends its kernels on SIGTERM; whatever is left of its
		# process group (kernels, their workers) is killed after 20 s.
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$server_pid" 2>/dev/null || true
	fi
	if [ $rc -ne 0 ] && [ -f "$work/server.log" ]; then
		cp "$work/server.log" "$artifacts/notebook-server.log" 2>/dev/null || true
		echo "notebook server log: $artifacts/notebook-server.log" >&2
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

artifacts=${WASIPY_BROWSER_ARTIFACTS:-$here/artifacts}
mkdir -p "$artifacts"
# Only what an earlier run left (the folder may be one the caller named).
find "$artifacts" -maxdepth 1 -type f \( -name '*.png' -o -name '*.html' -o -name '*.log' \) -delete

step "browser suite: the kernel from this tree and its kernelspec"
kernel=${WASIPY_KERNEL:-}
if [ -z "$kernel" ]; then
	kernel="$work/bin/wasipy-kernel"
	(cd "$root" && go build -o "$kernel" ./cmd/kernel)
fi
wasm=${WASIPY_PYTHON_WASM:-}
if [ -z "$wasm" ]; then
	data=${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/wasipy}
	wasm="$data/python3.13/python.wasm"
	[ -f "$wasm" ] || wasm="$data/python.wasm"
fi
[ -f "$wasm" ] || { echo "python.wasm not found at $wasm: run ./install.sh or set WASIPY_PYTHON_WASM" >&2; exit 1; }

export JUPYTER_PATH="$work/jupyter"
export JUPYTER_DATA_DIR="$work/jupyter-data"
export JUPYTER_CONFIG_DIR="$work/jupyter-config"
export JUPYTER_RUNTIME_DIR="$work/jupyter-runtime"
export IPYTHONDIR="$work/ipython"
export WASIPY_HISTORY_DIR="$work/history"
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_CONFIG_DIR/nbconfig" "$JUPYTER_RUNTIME_DIR" "$IPYTHONDIR" "$work/notebooks"

# ipywidgets and what it imports, copied from Debian's dist-packages and
# mounted read-only in the sandbox with --path (as tests/test_widgets.py).
site="$work/site"
mkdir -p "$site"
for p in ipywidgets traitlets ipython_genutils; do
	cp -r "/usr/lib/python3/dist-packages/$p" "$site/"
done
spec="$JUPYTER_PATH/kernels/wasipy"
"$kernel" kernelspec --write "$spec" --python-wasm "$wasm" >/dev/null
# --path goes before --connection-file (the last two arguments).
python3 - "$spec/kernel.json" "$site" <<'EOF'
import json, sys
path, site = sys.argv[1:]
spec = json.load(open(path))
spec["argv"][1:1] = ["--path", site]
json.dump(spec, open(path, "w"), indent=1)
EOF
# The widgets' notebook extension, enabled in this throw-away config only.
echo '{"load_extensions": {"jupyter-js-widgets/extension": true}}' >"$JUPYTER_CONFIG_DIR/nbconfig/notebook.json"
display_name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["display_name"])' "$spec/kernel.json")
echo "kernel $kernel, interpreter $wasm ($display_name)"

step "browser suite: the notebook server"
token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
allow_root=""
[ "$(id -u)" -eq 0 ] && allow_root=--allow-root # CI runs as root
# setsid: the server leads its own process group, so cleanup can end the
# kernels it started even if it dies first.
setsid /usr/bin/jupyter-notebook --no-browser $allow_root --ip=127.0.0.1 --port="$port" --port-retries=0 \
	--NotebookApp.token="$token" --NotebookApp.password= --notebook-dir="$work/notebooks" \
	>"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for i in $(seq 300); do
	if python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1] + "/api/status", headers={"Authorization": "token " + sys.argv[2]}), timeout=2)' "$base" "$token" 2>/dev/null; then
		break
	fi
	kill -0 "$server_pid" 2>/dev/null || { echo "the notebook server exited:" >&2; cat "$work/server.log" >&2; exit 1; }
	[ "$i" -lt 300 ] || { echo "the notebook server did not answer within 60 s:" >&2; cat "$work/server.log" >&2; exit 1; }
	sleep 0.2
done
echo "server $base (log $work/server.log)"

step "browser suite: Chromium drives the notebook"
echo "screenshots: $artifacts"
only=()
[ -n "${WASIPY_BROWSER_ONLY:-}" ] && only=(--test-name-pattern="$WASIPY_BROWSER_ONLY")
start=$(date +%s)
set +e
# In its own process group too, so cleanup can end a browser left behind.
WASIPY_NOTEBOOK_URL="$base" WASIPY_NOTEBOOK_TOKEN="$token" WASIPY_KERNEL_DISPLAY_NAME="$display_name" \
	WASIPY_BROWSER_ARTIFACTS="$artifacts" WASIPY_BROWSER_PROFILE="$work/chromium-profile" \
	setsid timeout --kill-after=10 600 node --test --test-concurrency=1 --test-timeout=180000 --test-reporter=spec \
	"${only[@]}" "$here"/*.test.mjs &
suite_pid=$!
wait "$suite_pid"
rc=$?
set -e
echo "browser suite: $(($(date +%s) - start)) s; screenshots in $artifacts"
[ $rc -eq 124 ] && echo "browser suite: timed out after 600 s" >&2
if [ $rc -eq 0 ] && [ $update_docs -eq 1 ]; then
	# step screenshot -> the README's picture
	while read -r from to; do
		cp "$artifacts/$from" "$root/docs/img/$to"
		echo "docs/img/$to <- $from"
	done <<-'EOF'
		outputs-06-markdown-latex.png notebook-rich-output.png
		outputs-09-traceback.png notebook-traceback.png
		kernel-01-input-typed.png notebook-input.png
		assist-01-pager.png notebook-pager.png
		widgets-03-slider-dragged.png notebook-widgets.png
	EOF
fi
exit $rc
