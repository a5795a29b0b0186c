#!/usr/bin/env bash
# build/image/build.sh: build the wasipy kernel image FROM scratch, offline.
#
#   build/image/build.sh [--python-wasm PATH] [--tag NAME] [--oci-archive FILE]
#                        [--rootfs DIR] [--config-json FILE]
#
# The image holds: the kernel binary, built static (CGO_ENABLED=0), at
# /usr/local/bin/wasipy-kernel; python.wasm and its standard library at
# /opt/wasipy/python3.13/; the compiled-code cache, baked by running
# `wasipy-kernel prepare` in the image's own file tree, so that the first
# start compiles nothing; /tmp and the home folder /home/kernel. Nothing
# else: no shell, no libc. It runs as UID 1000 (the gateways refuse UID 0)
# and its entrypoint is `wasipy-kernel launch`, which reads KERNEL_ID,
# RESPONSE_ADDRESS, PUBLIC_KEY and PORT_RANGE (or EG_*) from the
# environment, as Enterprise Gateway's and gateway_provisioners' pods and
# containers receive them (docs/DEPLOY.md).
#
# Needs root (the cache is baked in a chroot with its own /proc, in a
# private mount namespace), go, and Debian's buildah (apt-get install
# buildah). --rootfs DIR only assembles the file tree in DIR (no buildah);
# --config-json FILE writes the image's user, working folder, environment
# and entrypoint as JSON (what tests need to run the tree as a runtime would).
set -euo pipefail

die() {
	printf 'build/image/build.sh: error: %s\n' "$*" >&2
	exit 1
}
say() { printf 'build/image/build.sh: %s\n' "$*"; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data_dir=${WASIPY_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/wasipy}
wasm=${WASIPY_PYTHON_WASM:-$data_dir/python3.13/python.wasm}
tag=wasipy/kernel:latest
archive=''
rootfs=''
config_json=''
while (($#)); do
	case $1 in
	--python-wasm) wasm=${2:?}; shift 2 ;;
	--tag) tag=${2:?}; shift 2 ;;
	--oci-archive) archive=${2:?}; shift 2 ;;
	--rootfs) rootfs=${2:?}; shift 2 ;;
	--config-json) config_json=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
[[ $(id -u) == 0 ]] || die "needs root (chroot and mounts to bake the cache)"
[[ -f $wasm ]] || die "no python.wasm at $wasm (run ./install.sh, or give --python-wasm)"
wasm=$(realpath "$wasm")
lib=$(dirname "$wasm")/lib
go=$(command -v go || echo /usr/local/go/bin/go)
[[ -x $go ]] || die "go not found"
if [[ -z $rootfs ]]; then
	command -v buildah >/dev/null || die "buildah not found (apt-get install buildah)"
fi

work=$(mktemp -d /tmp/wasipy-image.XXXXXX)
cleanup() {
	# The mounts live in a private namespace and end with it; only files remain.
	rm -rf "$work"
}
trap cleanup EXIT
fs=${rootfs:-$work/rootfs}
[[ ! -e $fs || -z $(ls -A "$fs") ]] || die "$fs is not empty"
mkdir -p "$fs"

# Every file gets one whole-second time: caches are keyed by path, size and
# modification time, and tar or a copy may keep only seconds.
epoch=$(stat -c %Y "$wasm")

say "building the static kernel binary"
version=$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)
CGO_ENABLED=0 "$go" build -C "$root" -trimpath -ldflags "-s -w -X main.version=$version" \
	-o "$fs/usr/local/bin/wasipy-kernel" ./cmd/kernel

say "adding python.wasm and its standard library"
install -d -m 0755 "$fs/opt/wasipy/python3.13"
install -m 0444 "$wasm" "$fs/opt/wasipy/python3.13/python.wasm"
if [[ -d $lib ]]; then
	cp -r "$lib" "$fs/opt/wasipy/python3.13/lib"
	chmod -R a+rX,go-w "$fs/opt/wasipy/python3.13/lib"
fi
install -d -m 0755 "$fs/proc" "$fs/dev" "$fs/etc"
install -d -m 1777 "$fs/tmp"
install -d -m 0755 -o 1000 -g 1000 "$fs/home/kernel" "$fs/opt/wasipy/cache/wasipy" "$fs/opt/wasipy/data"
# Names for UID 1000, for tools that look one up; nothing here logs in.
printf 'root:x:0:0::/:/nonexistent\nkernel:x:1000:1000::/home/kernel:/nonexistent\n' >"$fs/etc/passwd"
printf 'root:x:0:\nkernel:x:1000:\n' >"$fs/etc/group"
find "$fs" -exec touch -h -d "@$epoch" {} +

# The environment the image runs with, also used to bake the cache, so that
# every path the cache is keyed by is the one the kernel will see.
image_env=(
	HOME=/home/kernel
	WASIPY_DATA_DIR=/opt/wasipy/data
	WASIPY_PYTHON_WASM=/opt/wasipy/python3.13/python.wasm
	XDG_CACHE_HOME=/opt/wasipy/cache
	WASIPY_HISTORY_DIR=/tmp/wasipy-history
)

say "baking the compiled-code cache (wasipy-kernel prepare, as UID 1000, in the image's tree)"
touch "$fs/dev/null"
unshare --mount --fork -- sh -euc '
	fs=$1; shift
	mount --make-rprivate /
	mount -t proc proc "$fs/proc"
	mount --bind /dev/null "$fs/dev/null"
	chroot=$(command -v chroot)
	env -i "$@" "$chroot" --userspec=1000:1000 "$fs" /usr/local/bin/wasipy-kernel prepare \
		--python-wasm /opt/wasipy/python3.13/python.wasm --cache-dir /opt/wasipy/cache/wasipy
' sh "$fs" "${image_env[@]}"
rm -f "$fs/dev/null"
chown -R 1000:1000 "$fs/opt/wasipy/cache/wasipy" "$fs/opt/wasipy/data"

entrypoint='["/usr/local/bin/wasipy-kernel","launch"]'
if [[ -n $config_json ]]; then
	{
		printf '{"User": "1000:1000", "WorkingDir": "/home/kernel", "Entrypoint": %s, "Env": [' "$entrypoint"
		sep=''
		for e in "${image_env[@]}"; do printf '%s"%s"' "$sep" "$e"; sep=', '; done
		printf ']}\n'
	} >"$config_json"
fi

if [[ -n $rootfs ]]; then
	say "file tree in $fs ($(du -sh "$fs" | cut -f1))"
	exit 0
fi

say "committing the image $tag with buildah"
tar --numeric-owner --format=posix -C "$fs" -cf "$work/rootfs.tar" .
ctr=$(buildah from scratch)
buildah add "$ctr" "$work/rootfs.tar" / >/dev/null
config=(--user 1000:1000 --workingdir /home/kernel --entrypoint "$entrypoint" --cmd '')
for e in "${image_env[@]}"; do config+=(--env "$e"); done
config+=(--label org.opencontainers.image.title=wasipy-kernel --label "org.opencontainers.image.version=$version")
buildah config "${config[@]}" "$ctr"
buildah commit --quiet --rm "$ctr" "$tag" >/dev/null
if [[ -n $archive ]]; then
	rm -f "$archive"
	buildah push --quiet "$tag" "oci-archive:$archive:$tag"
	say "wrote $archive ($(du -h "$archive" | cut -f1))"
fi
say "built $tag: $(buildah images --format '{{.Size}}' "$tag")"
