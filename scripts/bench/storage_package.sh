# Sourced by the write benchmarks (bench_write.sh, bench_small_write.sh, bench_write_back.sh).
#
# make_storage_package DIR SIZE_MIB: DIR/model.pt, the corpus package with `.data/0.storage`
# replaced by SIZE_MIB MiB of a repeated random MiB (stored, not sparse, not zeros, so that
# copies cost real blocks), and DIR/storage.bin, the same bytes as a plain file, which callers
# keep as the native baseline or delete. Needs $CORPUS (the build's tests/corpus) and $EDIT
# (the build's tests/tools/edit_archive), which bench_build_paths sets.
#
# bench_build_paths: BUILD_DIR (TPKG_BUILD_DIR, default build), TPKGFS, EDIT and CORPUS of that
# build; exits with one line when the build lacks any of them.
bench_build_paths() {
  BUILD_DIR=$(realpath "${TPKG_BUILD_DIR:-build}")
  TPKGFS="$BUILD_DIR/src/fs/tpkgfs"
  EDIT="$BUILD_DIR/tests/tools/edit_archive"
  CORPUS="$BUILD_DIR/tests/corpus"  # made by ninja (tests/corpus/make_corpus.py)
  [ -x "$TPKGFS" ] && [ -x "$EDIT" ] && [ -f "$CORPUS/MANIFEST.json" ] ||
    { echo "build first ($TPKGFS, $EDIT, $CORPUS)" >&2; exit 1; }
}

make_storage_package() {
  local dir=$1 size_mib=$2
  /usr/bin/python3 - "$dir/storage.bin" "$size_mib" <<'PY'
import os, sys
block = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(block)
PY
  cp "$CORPUS/pkg_model_numpy.pt" "$dir/model.pt"
  chmod 644 "$dir/model.pt"  # whatever the corpus's mode, the copy must be writable
  "$EDIT" "$dir/model.pt" put-file .data/0.storage "$dir/storage.bin" >/dev/null
}
