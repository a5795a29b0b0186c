#!/usr/bin/env bash
# Installs what the tests need from Debian's packages, when missing.
# Idempotent: does nothing (and needs no root) when all is there.
#   tests/deps.sh              the end-to-end suite's packages
#   tests/deps.sh PKG...       these packages instead (tests/browser/run.sh)
set -euo pipefail

packages=(
  python3-jupyter-client jupyter-client python3-jupyter-kernel-test
  jupyter-nbconvert python3-nbclient python3-nbformat jupyter-console
  python3-ipykernel python3-pytest python3-psutil python3-zmq python3-ipywidgets python3-pexpect
  jupyter-notebook python3-pycryptodome
  python3-packaging python3-resolvelib
  python3-six python3-idna python3-attr python3-dateutil python3-tabulate python3-tomli python3-typing-extensions
  python3-pip
  python3-debugpy  # only so that ipykernel's test_debugger.py imports (tests/test_debugger_ipykernel.py)
)
[ $# -gt 0 ] && packages=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "tests/deps.sh: missing Debian packages (${missing[*]}); install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "tests/deps.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
