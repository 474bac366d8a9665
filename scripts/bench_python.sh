#!/usr/bin/env bash
# Benchmark the tpkg Python module against real torch.package on the same
# workload (2,000+ interned modules and a model with 100 storages): export,
# then import and load. Prints times and tpkg/torch ratios; asserts nothing.
# Usage: scripts/bench_python.sh   (after `ninja -C build`; TPKG_BUILD_DIR overrides)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=$(realpath "${TPKG_BUILD_DIR:-build}")
PYTHONPATH="$BUILD_DIR/pybind${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 scripts/bench_python.py
