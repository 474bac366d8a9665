#!/usr/bin/env bash
# The main job on a sample package. Until the mount lands this shows the
# archive with the inspection CLI; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "tpkgfs demo: not available yet" >&2
exit 1
