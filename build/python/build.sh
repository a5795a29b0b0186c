#!/usr/bin/env bash
# build/python/build.sh: build CPython 3.13 for WASI (-O2) from Debian's
# source packages, and install python.wasm with its standard library into
# the wasipy data directory.
#
#   build/python/build.sh [--data-dir D] [--build-dir B] [--force]
#
# Steps (each timed and logged to $build_dir/logs/<step>.log):
#   toolchain  clang-19, lld-19, llvm-19, wasi-libc, the wasm32 compiler-rt
#              (installed with apt-get when missing and we are root)
#   sources-index, src-<package>
#              Debian source packages through a private deb-src list
#              derived from this machine's own apt sources; apt checks each
#              .dsc against the signed index, dpkg-source checks every
#              tarball against the .dsc
#   native     a native CPython of the same version: the "build python"
#              that cross builds need
#   zlib, bzip2, xz, sqlite   static wasm32 libraries
#   cpython    the cross build, -O2, with DWARF kept (interrupts need it)
#   reactor    python.wasm relinked from that build's objects as a WASI
#              reactor with wasipy's entry points (wasipy_entry.c,
#              reactor.mk): the kernel initialises it, takes an image of
#              it, and starts later kernels from that image
#   install    python.wasm and lib/python313.zip (sources and .pyc) into
#              $data_dir/python3.13, swapped in atomically
#
# The result is keyed by the source versions, the flags, the toolchain's
# version and the hash of this folder's files; a rerun whose key matches
# the installed one does nothing, and a rerun after a failure resumes at
# the step that failed. Compile steps run under `nice -n 10`.
# See docs/BUILDING.md.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

# ---- what is built -----------------------------------------------------------

# Source packages and the Debian release each comes from. CPython 3.13 is
# only in trixie; the libraries come from bookworm, except SQLite, whose
# trixie version (3.46) knows WASI itself (no file locking, no WAL).
readonly PY_PKG=python3.13
readonly PY_VERSION_MM=3.13
declare -A SUITE=([python3.13]=trixie [zlib]=bookworm [bzip2]=bookworm [xz-utils]=bookworm [sqlite3]=trixie)
readonly PKGS=(python3.13 zlib bzip2 xz-utils sqlite3)

readonly LLVM=19
readonly TARGET=wasm32-wasi
# -O2: -O3 measured no faster (docs/BUILDING.md); -g keeps the DWARF that
# interp/internal/interrupt/interrupt.go reads to find the signal flags (the kernel runs a
# stripped copy, so the size costs nothing at run time).
OPT_CFLAGS=${WASIPY_PY_OPT:--O2}
readonly OPT_CFLAGS
readonly DEBUG_CFLAGS='-g'
# The guest sees the standard library at $GUEST_PREFIX/lib/python3.13
# (interp/internal/worker/stdlib.go mounts it there, read-only).
readonly GUEST_PREFIX=/usr/local

# ---- arguments -----------------------------------------------------------------

data_dir=${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-${HOME:?HOME is not set}/.local/share}/wasipy}
build_dir=${WASIPY_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasipy/pybuild}
force=0
while (($# > 0)); do
	case $1 in
	--data-dir) data_dir=${2:?--data-dir needs a directory}; shift ;;
	--data-dir=*) data_dir=${1#*=} ;;
	--build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
	--build-dir=*) build_dir=${1#*=} ;;
	--force) force=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p -- "$data_dir" "$build_dir"
data_dir=$(cd -- "$data_dir" && pwd -P)
build_dir=$(cd -- "$build_dir" && pwd -P)
readonly dest="$data_dir/python$PY_VERSION_MM"
readonly logs="$build_dir/logs"
mkdir -p "$logs"

# ---- steps -------------------------------------------------------------------------

say() { printf 'build.sh: %s\n' "$*"; }
die() {
	printf 'build.sh: error: %s\n' "$*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# step NAME "FUNCTION [ARG...]" [INPUT...]: run FUNCTION with its output in
# $logs/NAME.log; say how long it took; on failure name the step, show the
# log's tail and keep the log. A step is skipped when it already succeeded
# with the same inputs. Its key is made of $base (flags and toolchain), the
# function's own text and arguments, and its INPUTs: files of this folder,
# "@STEP" for the key of a step it builds on, or "=TEXT" (a source
# version). So a rerun after a failure resumes at the failed step, and a
# change redoes only the steps that depend on it (a SQLite patch does not
# rebuild the native python).
base=''
step() {
	local name=$1 cmd=$2 t0 rc=0 key_ i
	shift 2
	key_=$({
		printf '%s\n%s\n' "$base" "$cmd"
		declare -f "${cmd%% *}"
		for i in "$@"; do
			case $i in
			@*) cat -- "$build_dir/stamps/${i#@}" ;;
			=*) printf '%s\n' "${i#=}" ;;
			*) printf '%s\n' "${i#"$here/"}" && cat -- "$i" ;;
			esac
		done
	} | sha256sum | cut -d' ' -f1)
	local stamp="$build_dir/stamps/$name"
	if [[ -f $stamp && $(cat "$stamp") == "$key_" ]]; then
		printf 'build.sh: [%s] up to date\n' "$name"
		return
	fi
	rm -f -- "$stamp"
	t0=$(date +%s.%N)
	printf 'build.sh: [%s] ... ' "$name"
	# Started asynchronously so that errexit holds inside the function
	# (bash ignores it for any command on the left of `||`).
	# shellcheck disable=SC2086 # cmd is a function name and its words
	($cmd) >"$logs/$name.log" 2>&1 &
	wait $! || rc=$?
	local secs
	secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if ((rc != 0)); then
		printf 'FAILED after %ss\n' "$secs"
		tail -n 25 "$logs/$name.log" >&2
		die "step '$name' failed (exit $rc); its full log is $logs/$name.log"
	fi
	printf 'done in %ss\n' "$secs"
	printf '%s %s\n' "$name" "$secs" >>"$logs/times"
	mkdir -p "$build_dir/stamps"
	printf '%s\n' "$key_" >"$stamp"
}

# Compilers run niced: the machine is shared with tests.
jobs=$(nproc 2>/dev/null || echo 2)
run_make() { nice -n 10 make -j"$jobs" "$@"; }

CC_WASM="clang-$LLVM --target=$TARGET"
AR_WASM="llvm-ar-$LLVM"
RANLIB_WASM="llvm-ranlib-$LLVM"
WASM_CFLAGS="$OPT_CFLAGS $DEBUG_CFLAGS"
prefix="$build_dir/wasm32"     # the wasm32 libraries: include/, lib/
native="$build_dir/native"     # the build python
src="$build_dir/src"           # unpacked sources
apt_dir="$build_dir/apt"       # the private apt state

# ---- toolchain -----------------------------------------------------------------------

readonly TOOL_DEBS=(clang-$LLVM lld-$LLVM llvm-$LLVM wasi-libc libclang-rt-$LLVM-dev-wasm32 dpkg-dev make gcc pkg-config tcl xz-utils)
toolchain_ok() {
	have "clang-$LLVM" && have "wasm-ld-$LLVM" && have "llvm-ar-$LLVM" && have dpkg-source &&
		have make && have gcc && have tclsh && have pkg-config &&
		[[ -d /usr/include/wasm32-wasi && -n $(compgen -G "/usr/lib/llvm-$LLVM/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a") ]]
}
do_toolchain() {
	if toolchain_ok; then
		echo "toolchain present"
		return
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "missing tools; as root run: apt-get install ${TOOL_DEBS[*]}"
		return 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${TOOL_DEBS[@]}" ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${TOOL_DEBS[@]}"; }
	toolchain_ok
}

# ---- sources -------------------------------------------------------------------------

# debian_mirror: the URI and keyring of this machine's own Debian archive
# entry (the one that carries its release, not -security or -updates), from
# /etc/apt/sources.list(.d). The build adds no host of its own.
debian_mirror() {
	local codename files f
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[[ -n $codename ]] || { echo "no VERSION_CODENAME in /etc/os-release" >&2; return 1; }
	files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
	for f in "${files[@]}"; do
		[[ -f $f ]] || continue
		case $f in
		*.sources)
			# deb822 stanzas: print "URI KEYRING" for a stanza whose Suites
			# has the codename itself.
			awk -v cn="$codename" '
				function flush() {
					if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " cn " ") && uris != "")
						{ split(uris, u, " "); print u[1], (key == "" ? "-" : key); found = 1; exit }
					types = suites = uris = key = ""
				}
				/^[ \t]*#/ { next }
				/^[ \t]*$/ { flush(); next }
				tolower($1) == "types:" { $1 = ""; types = $0 }
				tolower($1) == "suites:" { $1 = ""; suites = $0 }
				tolower($1) == "uris:" { $1 = ""; uris = $0 }
				tolower($1) == "signed-by:" { key = $2 }
				END { if (!found) flush() }' "$f"
			;;
		*)
			# one-line form: deb [opts] URI SUITE COMPONENTS...
			awk -v cn="$codename" '
				$1 == "deb" {
					key = "-"; i = 2
					if ($2 ~ /^\[/) {
						for (; i <= NF; i++) {
							if ($i ~ /^\[?signed-by=/) { k = $i; sub(/^\[?signed-by=/, "", k); sub(/\]$/, "", k); key = k }
							if ($i ~ /\]$/) { i++; break }
						}
					}
					if ($(i + 1) == cn) { print $i, key; exit }
				}' "$f"
			;;
		esac
	done | sed 's/^ *//' | head -n 1
}

apt_opts() {
	printf '%s\n' -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts" \
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Acquire::Languages=none" \
		-o "APT::Get::Only-Source=true"
}

# sources_index: write the private deb-src list and refresh its index.
sources_index() {
	local mirror uri key suites
	mirror=$(debian_mirror) || return 1
	[[ -n $mirror ]] || { echo "found no Debian archive for this release in /etc/apt/sources.list(.d)"; return 1; }
	read -r uri key <<<"$mirror"
	[[ $key != - ]] || key=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	suites=$(printf '%s\n' "${SUITE[@]}" | sort -u)
	: >"$apt_dir/sources.list.new"
	for s in $suites; do
		printf 'deb-src [signed-by=%s] %s %s main\n' "$key" "$uri" "$s" >>"$apt_dir/sources.list.new"
	done
	mv -f "$apt_dir/sources.list.new" "$apt_dir/sources.list"
	cat "$apt_dir/sources.list"
	local -a o
	mapfile -t o < <(apt_opts)
	apt-get -q "${o[@]}" update
}

# resolve_versions: "PKG VERSION" for each package, the newest in its suite.
resolve_versions() {
	local -a o
	mapfile -t o < <(apt_opts)
	local p best v
	for p in "${PKGS[@]}"; do
		best=''
		while read -r v; do
			if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
		done < <(apt-cache "${o[@]}" madison "$p" | awk -F' *[|] *' -v s="${SUITE[$p]}/" '$3 ~ ("Sources$") && index($3, " " s) { print $2 }')
		[[ -n $best ]] || { echo "no source package $p in ${SUITE[$p]}" >&2; return 1; }
		printf '%s %s\n' "$p" "$best"
	done
}

# do_source PKG: download PKG's source package at the version resolved in
# $build_dir/versions and unpack it into $src/PKG.
do_source() {
	local p=$1 v dir dsc patch
	local -a o
	mapfile -t o < <(apt_opts)
	v=$(awk -v p="$p" '$1 == p { print $2 }' "$build_dir/versions")
	dir="$src/$p"
	mkdir -p "$src" "$build_dir/dl/$p"
	# apt checks the .dsc and the tarballs against the signed index.
	(cd "$build_dir/dl/$p" && apt-get -q "${o[@]}" source --download-only "$p=$v")
	dsc="$build_dir/dl/$p/${p}_${v#*:}.dsc"
	[[ -f $dsc ]] || { echo "apt-get source left no $dsc"; return 1; }
	rm -rf -- "$dir"
	# dpkg-source checks every file's size and checksums against the
	# .dsc, and applies Debian's patches (their security fixes too).
	(cd "$build_dir/dl/$p" && dpkg-source --no-copy -x "$dsc" "$dir")
	# Then ours (patches/<package>/, in name order): WASI fixes only.
	for patch in "$here/patches/$p"/*.patch; do
		[[ -f $patch ]] || continue
		echo "applying ${patch#"$here/"}"
		patch -d "$dir" -p1 --forward --batch <"$patch"
	done
}

# ---- native build python -----------------------------------------------------------

do_native() {
	rm -rf -- "$native" && mkdir -p "$native"
	cd "$native"
	# A build tool only (freezing modules, compiling .pyc): -O1 compiles
	# in about half the time of the default -O3.
	nice -n 10 "$src/$PY_PKG/configure" --prefix="$native/install" --without-ensurepip --disable-test-modules OPT='-O1'
	run_make
	./python -c 'import sys; print(sys.version)'
}

# ---- wasm32 libraries --------------------------------------------------------------

wasm_env() {
	export CC="$CC_WASM" AR="$AR_WASM" RANLIB="$RANLIB_WASM" CFLAGS="$WASM_CFLAGS"
}

do_zlib() {
	wasm_env
	local b="$build_dir/b/zlib"
	rm -rf -- "$b" && cp -a "$src/zlib" "$b" && cd "$b"
	# zlib's configure probes by compiling and linking; --static keeps it
	# from trying a shared library.
	CHOST=wasm32 nice -n 10 ./configure --static --prefix="$prefix"
	run_make libz.a
	make install
}

do_bzip2() {
	wasm_env
	local b="$build_dir/b/bzip2"
	rm -rf -- "$b" && cp -a "$src/bzip2" "$b" && cd "$b"
	# bzip2's Makefile builds its command-line tools too; only the library
	# is needed, so compile its seven files directly.
	local f objs=()
	for f in blocksort huffman crctable randtable compress decompress bzlib; do
		nice -n 10 $CC $CFLAGS -D_FILE_OFFSET_BITS=64 -c "$f.c" -o "$f.o"
		objs+=("$f.o")
	done
	$AR rcs libbz2.a "${objs[@]}"
	mkdir -p "$prefix/lib" "$prefix/include"
	cp libbz2.a "$prefix/lib/" && cp bzlib.h "$prefix/include/"
}

do_xz() {
	wasm_env
	local b="$build_dir/b/xz"
	rm -rf -- "$b" && cp -a "$src/xz-utils" "$b" && cd "$b"
	# No threads in wasm32-wasi; only liblzma is wanted.
	nice -n 10 ./configure --host=wasm32-unknown-wasi --prefix="$prefix" --disable-shared --enable-static \
		--disable-threads --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo \
		--disable-lzma-links --disable-scripts --disable-doc --disable-nls --disable-symbol-versions
	run_make -C src/liblzma
	make -C src/liblzma install
}

do_sqlite() {
	wasm_env
	local b="$build_dir/b/sqlite"
	rm -rf -- "$b" && mkdir -p "$b" && cd "$b"
	# The amalgamation (one sqlite3.c) is made by the native tools (tclsh).
	CC=gcc CFLAGS=-O1 nice -n 10 "$src/sqlite3/configure" --disable-shared --disable-tcl --disable-readline
	nice -n 10 make sqlite3.c
	# SQLite >= 3.41 knows WASI (SQLITE_WASI): no fchmod/fchown/mremap,
	# and locking by dot-files ("unix-dotfile": a <db>.lock folder) since
	# WASI has no advisory locks; no WAL (it needs shared memory). Threads
	# and extension loading do not exist in wasm32-wasi.
	nice -n 10 $CC $CFLAGS -DSQLITE_WASI -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL \
		-DSQLITE_OMIT_SHARED_CACHE -DSQLITE_DEFAULT_MEMSTATUS=0 \
		-c sqlite3.c -o sqlite3.o
	$AR rcs libsqlite3.a sqlite3.o
	mkdir -p "$prefix/lib" "$prefix/include"
	cp libsqlite3.a "$prefix/lib/" && cp sqlite3.h sqlite3ext.h "$prefix/include/"
}

# ---- CPython -----------------------------------------------------------------------

do_cpython() {
	local b="$build_dir/b/cpython"
	rm -rf -- "$b" && mkdir -p "$b" && cd "$b"
	# The libraries: configure looks them up with pkg-config, which must
	# never find the host's (native) ones.
	export PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH=''
	export ZLIB_CFLAGS="-I$prefix/include" ZLIB_LIBS="-L$prefix/lib -lz"
	export BZIP2_CFLAGS="-I$prefix/include" BZIP2_LIBS="-L$prefix/lib -lbz2"
	export LIBLZMA_CFLAGS="-I$prefix/include" LIBLZMA_LIBS="-L$prefix/lib -llzma"
	export LIBSQLITE3_CFLAGS="-I$prefix/include" LIBSQLITE3_LIBS="-L$prefix/lib -lsqlite3"
	# CPython's own WASI presets, then ours (config.site-wasm32-wasi here).
	export CONFIG_SITE="$b/config.site"
	cat "$src/$PY_PKG/Tools/wasm/config.site-wasm32-wasi" "$here/config.site-wasm32-wasi" >"$CONFIG_SITE"
	cp "$here/Setup.local" "$b/Modules/Setup.local" 2>/dev/null || { mkdir -p Modules && cp "$here/Setup.local" Modules/Setup.local; }
	CC="$CC_WASM" CPP="$CC_WASM -E" AR="$AR_WASM" RANLIB="$RANLIB_WASM" \
		CFLAGS="$DEBUG_CFLAGS" OPT="$OPT_CFLAGS -DNDEBUG" \
		nice -n 10 "$src/$PY_PKG/configure" \
		--host=wasm32-unknown-wasi --build="$("$src/$PY_PKG/config.guess")" \
		--with-build-python="$native/python" --prefix="$GUEST_PREFIX" \
		--disable-ipv6 --disable-test-modules --without-ensurepip --with-pymalloc \
		--disable-shared
	run_make
	# python.wasm must run the same way the kernel will run it: smoke test
	# it under the build's own runner script later (install step).
	ls -l python.wasm
}

# ---- reactor ---------------------------------------------------------------------

do_reactor() {
	cd "$build_dir/b/cpython"
	rm -f python-reactor.wasm Programs/wasipy_entry.o
	nice -n 10 make -f Makefile -f "$here/reactor.mk" python-reactor.wasm WASIPY_ENTRY="$here/wasipy_entry.c"
	ls -l python-reactor.wasm
}

# ---- install ---------------------------------------------------------------------

# Standard library parts that cannot work in the sandbox or are not for
# users (tests: 30 MB); tkinter and idlelib need Tk, ensurepip/venv need
# processes.
readonly STDLIB_DROP=(test idlelib tkinter turtledemo ensurepip lib2to3 __phello__)

do_install() {
	local b="$build_dir/b/cpython" stage="$data_dir/.python$PY_VERSION_MM.new"
	rm -rf -- "$stage" "$build_dir/destdir"
	cd "$b"
	# make install compiles the .pyc files with the build python.
	nice -n 10 make install DESTDIR="$build_dir/destdir" COMPILEALL_OPTS='-j0'
	local lib="$build_dir/destdir$GUEST_PREFIX/lib/python$PY_VERSION_MM"
	[[ -f $lib/os.py ]] || { echo "no os.py in $lib"; return 1; }
	local d
	for d in "${STDLIB_DROP[@]}"; do rm -rf -- "${lib:?}/$d"; done
	rm -rf -- "$lib"/config-*
	# One zip (sources and bytecode) rather than a folder: the kernel sets
	# PYTHONPYCACHEPREFIX, so CPython would never look in a folder's
	# __pycache__ and would compile every module it imports at every start
	# (start to first reply 1.49 s from a folder, 1.07 s from the zip).
	mkdir -p "$stage/lib"
	"$native/python" "$here/mkzip.py" "$lib" "$stage/lib/python${PY_VERSION_MM//./}.zip" \
		"$GUEST_PREFIX/lib/python$PY_VERSION_MM"
	cp python-reactor.wasm "$stage/python.wasm"
	printf '%s\n' "$key" >"$stage/BUILD-KEY"
	cp "$build_dir/versions" "$stage/SOURCES"
	printf 'CFLAGS=%s\nCC=%s\nclang=%s\n' "$WASM_CFLAGS" "$CC_WASM" "$(clang-$LLVM --version | head -n 1)" >"$stage/FLAGS"
	# Swap in: the old tree goes aside first, so a failure here leaves
	# either the old build or the new one, never half of each.
	rm -rf -- "$dest.old"
	[[ ! -e $dest ]] || mv -- "$dest" "$dest.old"
	mv -- "$stage" "$dest"
	rm -rf -- "$dest.old"
	ls -l "$dest"
}

# ---- main ------------------------------------------------------------------------

# All of it in one function, read whole before it runs: bash reads a script
# as it goes, so editing this file while a build runs would otherwise run
# a mix of the two versions.
main() {
say "data dir $data_dir, build dir $build_dir, logs in $logs"
: >"$logs/times"
mkdir -p "$build_dir/b"
# The toolchain is checked on every run (it is never "up to date").
printf 'build.sh: [toolchain] ... '
if ! (do_toolchain) >"$logs/toolchain.log" 2>&1; then
	echo failed
	tail -n 15 "$logs/toolchain.log" >&2
	die "step 'toolchain' failed; its full log is $logs/toolchain.log"
fi
echo done

# The sources' index needs the network. Without it an installed build is
# kept (its key cannot be checked); with no build, that is an error.
printf 'build.sh: [sources-index] ... '
if ! sources_index >"$logs/sources-index.log" 2>&1; then
	echo failed
	if [[ -f $dest/python.wasm ]]; then
		say "cannot reach the Debian archive (log: $logs/sources-index.log); keeping $dest"
		exit 0
	fi
	tail -n 15 "$logs/sources-index.log" >&2
	die "step 'sources-index' failed; its full log is $logs/sources-index.log"
fi
echo done
resolve_versions >"$build_dir/versions.new" 2>"$logs/resolve.log" || {
	cat "$logs/resolve.log" >&2
	die "step 'resolve' failed: could not find the source packages (log: $logs/resolve.log)"
}
mv -f "$build_dir/versions.new" "$build_dir/versions"
say "sources: $(tr '\n' ' ' <"$build_dir/versions")"

# The key: everything that decides what is built.
key=$({
	cat "$build_dir/versions"
	printf 'opt=%s debug=%s target=%s prefix=%s\n' "$OPT_CFLAGS" "$DEBUG_CFLAGS" "$TARGET" "$GUEST_PREFIX"
	clang-$LLVM --version | head -n 1
	dpkg-query -W -f='${Package} ${Version}\n' wasi-libc "libclang-rt-$LLVM-dev-wasm32" 2>/dev/null || true
	cd "$here" && find . -type f ! -name '*~' | LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -d' ' -f1)
if ((!force)) && [[ -f $dest/BUILD-KEY && $(cat "$dest/BUILD-KEY") == "$key" && -f $dest/python.wasm ]]; then
	say "up to date: $dest/python.wasm (key ${key:0:16})"
	exit 0
fi
say "building (key ${key:0:16})"

base=$({
	printf 'opt=%s debug=%s target=%s prefix=%s\n' "$OPT_CFLAGS" "$DEBUG_CFLAGS" "$TARGET" "$GUEST_PREFIX"
	clang-$LLVM --version | head -n 1
	dpkg-query -W -f='${Package} ${Version}\n' wasi-libc "libclang-rt-$LLVM-dev-wasm32" 2>/dev/null || true
} | sha256sum | cut -d' ' -f1)
local p
for p in "${PKGS[@]}"; do
	# shellcheck disable=SC2046 # one word per patch file
	step "src-$p" "do_source $p" "=$(grep "^$p " "$build_dir/versions")" \
		$(find "$here/patches/$p" -type f -name '*.patch' 2>/dev/null | LC_ALL=C sort)
done
step native do_native @src-python3.13
step zlib do_zlib @src-zlib
step bzip2 do_bzip2 @src-bzip2
step xz do_xz @src-xz-utils
step sqlite do_sqlite @src-sqlite3
step cpython do_cpython @src-python3.13 @native @zlib @bzip2 @xz @sqlite \
	"$here/config.site-wasm32-wasi" "$here/Setup.local"
# The install records the whole build's key, so it reruns when the key
# changed even if nothing it installs did (a comment in this script).
step reactor do_reactor @cpython "$here/wasipy_entry.c" "$here/reactor.mk"
step install do_install @reactor "=$key" "=$dest" "$here/mkzip.py"
say "installed $dest/python.wasm; step times (s): $(tr '\n' ' ' <"$logs/times")"
}

# On one line: bash has read all of it before main runs.
main "$@"; exit $?
