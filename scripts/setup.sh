#!/usr/bin/env bash
# Set up a Debian 12 machine for tpkgfs: install every build and test
# dependency from Debian's archive, then configure, build and install
# (tpkgfs and tpkg on PATH, the tpkg module importable by /usr/bin/python3).
# Idempotent and fast when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  g++ gcc meson ninja-build pkg-config
  libfuse3-dev fuse3 libzip-dev zlib1g-dev libisal-dev libboost-program-options-dev
  nlohmann-json3-dev
  python3-dev pybind11-dev libgtest-dev googletest
  # reference implementation and test runners
  python3-torch python3-numpy python3-pytest
  # tools the tests and benchmarks drive
  graphviz fuse-zip vim-nox sed zip unzip psmisc util-linux mount procps time
  # reading the installed man pages and using the bash completion
  man-db bash-completion
  # scripts/bench_write_back.sh REFLINK=1: a loop-mounted XFS with reflinks
  xfsprogs
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${TPKG_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" --prefix=/usr/local -Dpython=/usr/bin/python3
fi
ninja -C "$BUILD_DIR"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO meson install -C "$BUILD_DIR" --quiet
echo "setup: done ($(command -v tpkg))"
