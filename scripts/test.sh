#!/usr/bin/env bash
# Run every test: the C++ unit tests (meson/GoogleTest), then the pytest
# suites (real mounts, real PyTorch at /usr/bin/python3). Expects a build made
# by scripts/setup.sh. TPKG_SLOW=1 adds the slow tier (archives over 4 GiB,
# stress cases at full scale).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TPKG_BUILD_DIR:-build}
export TPKG_BUILD_DIR=$(realpath "$BUILD_DIR")

# libtpkg's include directions (and no private header outside it): prints
# nothing and exits 0 when clean.
/usr/bin/python3 scripts/check_includes.py
meson test -C "$BUILD_DIR" --print-errorlogs
status=0
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests || status=$?
# pytest exits 5 when it collected nothing (only possible in a tree without Python tests).
[ "$status" -eq 5 ] && status=0
exit "$status"
