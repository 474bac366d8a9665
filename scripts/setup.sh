#!/usr/bin/env bash
# Set up a Debian 12 or 13 machine for tpkgfs: install every build and test
# dependency from Debian's archive, then configure, build and install
# (tpkgfs and tpkg on PATH, the tpkg module importable by /usr/bin/python3).
# Idempotent and fast when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# The list lives in scripts/packages.list, which scripts/debian13.sh reads too.
mapfile -t PACKAGES < <(sed -e 's/#.*//' scripts/packages.list | tr -s ' \t' '\n' | grep -v '^$')

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
else
  # The daemon links libfuse3, Boost and libstdc++ statically (src/fs/meson.build). Meson keeps
  # what it found at setup (which archives exist, their link flags) and ninja does not track the
  # archives: reconfigure, and relink the daemon (about a second), so that an upgrade of those
  # libraries reaches it.
  meson setup --reconfigure "$BUILD_DIR" >/dev/null
  rm -f "$BUILD_DIR/src/fs/tpkgfs"
fi
ninja -C "$BUILD_DIR"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO meson install -C "$BUILD_DIR" --quiet
echo "setup: done ($(command -v tpkg))"
