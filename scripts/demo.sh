#!/usr/bin/env bash
# The main job: make a sample torch.package with real PyTorch, mount it with
# tpkgfs, show what a user sees (listing, the live metadata files, a Python
# import and a real torch.package load from the mount), edit it through the
# mount, unmount, and load the written-back archive with real PyTorch.
# Run after scripts/setup.sh (README.md). DEMO_DIR overrides the work folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DEMO_DIR=${DEMO_DIR:-/tmp/tpkgfs-demo}
archive=$DEMO_DIR/sample.pt
mnt=$DEMO_DIR/mnt

cleanup() { mountpoint -q "$mnt" && tpkgfs -u "$mnt" || true; }
trap cleanup EXIT

mkdir -p "$DEMO_DIR" "$mnt"
cleanup
rm -f "$archive"
/usr/bin/python3 "$here/demo/make_sample.py" "$archive"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step tpkgfs "$archive" "$mnt"
tpkgfs "$archive" "$mnt"

step find "$mnt" -type f
find "$mnt" -type f | sort

step cat "$mnt/.data/extern_modules"
cat "$mnt/.data/extern_modules"

step cat "$mnt/.data/deps.dot"
cat "$mnt/.data/deps.dot"

step dot -Tsvg "$mnt/.data/deps.dot" -o "$DEMO_DIR/deps.svg"
dot -Tsvg "$mnt/.data/deps.dot" -o "$DEMO_DIR/deps.svg" && echo "wrote $DEMO_DIR/deps.svg"

step "/usr/bin/python3  # import from the mount and load the model with torch.package"
/usr/bin/python3 - "$mnt" <<'PY'
import sys
import torch
from torch.package import PackageImporter

mnt = sys.argv[1]
sys.path.insert(0, mnt)
import demo_models
print("sys.path import: demo_models.DEFAULT_HIDDEN =", demo_models.DEFAULT_HIDDEN)
importer = PackageImporter(mnt)
model = importer.load_pickle("model", "model.pkl")
print("PackageImporter(mnt):", type(model).__name__, "->", tuple(model(torch.ones(1, 4)).shape))
print(importer.load_text("notes", "README.txt"), end="")
PY

step sed -i "s/DEFAULT_HIDDEN = 8/DEFAULT_HIDDEN = 16/" "$mnt/demo_models/__init__.py"
sed -i "s/DEFAULT_HIDDEN = 8/DEFAULT_HIDDEN = 16/" "$mnt/demo_models/__init__.py"

step "echo 'import json' >> $mnt/demo_models/layers.py && cat $mnt/.data/extern_modules"
echo 'import json' >> "$mnt/demo_models/layers.py"
cat "$mnt/.data/extern_modules"

# tpkgfs -u unmounts, waits until the daemon has written the archive back, and
# prints what it saved (or every reason the save failed, and exits 1).
step tpkgfs -u "$mnt"
tpkgfs -u "$mnt"
step tpkg check "$archive"
tpkg check "$archive"

step "/usr/bin/python3  # real torch.package loads the written-back archive with the edits"
/usr/bin/python3 - "$archive" <<'PY'
import sys
from torch.package import PackageImporter

importer = PackageImporter(sys.argv[1])
print("demo_models.DEFAULT_HIDDEN =", importer.import_module("demo_models").DEFAULT_HIDDEN)
print("extern modules:", importer.extern_modules)
PY
