#!/usr/bin/env bash
# Checks SARIF files with the SARIF SDK's validator and its GitHub code scanning rules
# (Sarif.Multitool `validate --rule-kind "Gh;Sarif"`): what the schema test
# (tests/integration/test_tpkg_scan_sarif.py) checks by hand, from Microsoft's own list.
#
#   bash scripts/sarif_github_check.sh scan.sarif [more.sarif ...]
#
# Not part of CI: it fetches the 44 MB npm package @microsoft/sarif-multitool-linux (MIT) with
# `npm pack` into $TPKG_SARIF_TOOL_DIR (default ~/.cache/tpkgfs/sarif-multitool) once.
# Prints the validator's findings; exits 1 when it reports an error or a warning.
set -euo pipefail
(($# > 0)) || { echo "usage: $0 FILE.sarif..." >&2; exit 2; }
VERSION=5.7.0
DIR=${TPKG_SARIF_TOOL_DIR:-$HOME/.cache/tpkgfs/sarif-multitool}/$VERSION
TOOL=$DIR/package/Sarif.Multitool
if [ ! -x "$TOOL" ]; then
  mkdir -p "$DIR"
  (cd "$DIR" && npm pack --silent "@microsoft/sarif-multitool-linux@$VERSION" >/dev/null &&
    tar xzf "microsoft-sarif-multitool-linux-$VERSION.tgz" && chmod +x package/Sarif.Multitool)
fi
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1  # no libicu needed
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for file in "$@"; do
  "$TOOL" validate --rule-kind "Gh;Sarif" -o "$out/validation.sarif" "$file" >"$out/log" 2>&1 ||
    { cat "$out/log" >&2; exit 2; }
  rm -f "$out/validation.sarif"
  if grep -E ": (error|warning) " "$out/log"; then
    status=1
  else
    echo "$file: no error or warning (GitHub and SARIF rules)"
  fi
done
exit $status
