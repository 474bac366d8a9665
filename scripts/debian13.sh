#!/usr/bin/env bash
# Run a command on the Debian 13 ("trixie") stack: Python 3.13 and Debian's PyTorch 2.6.
#
#   bash scripts/debian13.sh                 # the README's set-up and test command, inside
#   bash scripts/debian13.sh CMD [ARGS...]   # any command, run in the bound checkout
#
# Makes a Debian 13 root with debootstrap the first time (reused afterwards), from the Debian
# archive this machine's apt-get already uses (the only network there is), binds /proc, /sys,
# /dev (so /dev/fuse works inside) and this checkout into it, runs the command in the checkout
# (as /tpkgfs inside the root) with its own build folder, and unbinds everything on exit,
# failure and signals included. Must run as root (debootstrap, mount, chroot).
#
# Environment:
#   TPKG_DEBIAN13_ROOT    where the root lives (default /var/cache/tpkgfs/debian13); outside the
#                         checkout so that it survives between runs and fresh clones
#   TPKG_DEBIAN13_MIRROR  the Debian archive to use (default: the first one in apt's sources)
#   TPKG_BUILD_DIR        build folder inside the checkout (default build-debian13, so it never
#                         collides with the host's build/)
#   TPKG_SLOW, CI         passed through to the command
set -euo pipefail
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${TPKG_DEBIAN13_ROOT:-/var/cache/tpkgfs/debian13}
ROOT=$(realpath -m "$ROOT")
SUITE=trixie
INSIDE=/tpkgfs  # where the checkout appears inside the root
COMPLETE_MARK=.tpkgfs-debian13-complete

die() { echo "debian13: $*" >&2; exit 1; }
log() { echo "debian13: $*" >&2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, mount and chroot need it)"
case "$ROOT/" in
  "$CHECKOUT"/*) die "the root $ROOT must be outside the checkout $CHECKOUT" ;;
esac

# Prints the URIs of apt's sources, one per line, from both the one-line (.list) and the
# deb822 (.sources) formats.
apt_source_uris() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI suite components...
    sed -n -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -n -E 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n'
  done
}

# The Debian archive: a URI whose path ends in /debian; the security archive ends in
# /debian-security.
MIRROR=${TPKG_DEBIAN13_MIRROR:-$(apt_source_uris | grep -E '/debian/?$' | head -n 1 || true)}
SECURITY_MIRROR=$(apt_source_uris | grep -E '/debian-security/?$' | head -n 1 || true)
[ -n "$MIRROR" ] || die "no Debian archive in /etc/apt/sources.list{,.d/*}; set TPKG_DEBIAN13_MIRROR"

# Mount points currently at or below $1 (deepest last).
mounts_below() {
  findmnt -rn -o TARGET | awk -v p="$1" '$0 == p || index($0, p "/") == 1'
}
unmount_below() {  # unmount_below DIR WHY: what is mounted there, deepest first
  local target
  for target in $(mounts_below "$1" | sort -r); do
    log "unmounting $target, $2"
    umount -l "$target" || log "could not unmount $target"
  done
}

# Serialises runs on the same root: two runs would bind over each other and the first to
# finish would unbind the other's checkout.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

create_root() {
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  }
  local staging="$ROOT.partial"
  # debootstrap mounts /proc and /sys in its target; an interrupted run may leave them.
  unmount_below "$staging" "left by an interrupted debootstrap"
  [ -z "$(mounts_below "$staging")" ] || die "cannot unmount what is mounted in $staging"
  rm -rf --one-file-system "$staging"
  log "creating $ROOT from $MIRROR ($SUITE); this takes several minutes"
  local started=$SECONDS
  debootstrap --variant=minbase "$SUITE" "$staging" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 || {
    tail -n 20 "$ROOT.debootstrap.log" >&2
    die "debootstrap failed (log: $ROOT.debootstrap.log)"
  }
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY_MIRROR" ] || echo "deb $SECURITY_MIRROR $SUITE-security main"
  } >"$staging/etc/apt/sources.list"
  # No documentation or translations: smaller root, faster installs.
  cat >"$staging/etc/dpkg/dpkg.cfg.d/01-tpkgfs-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EOF
  echo 'Acquire::Languages "none";' >"$staging/etc/apt/apt.conf.d/01-tpkgfs-nolang"
  touch "$staging/$COMPLETE_MARK"
  [ -z "$(mounts_below "$staging")" ] || die "debootstrap left mounts in $staging"
  mv "$staging" "$ROOT"
  log "created $ROOT in $((SECONDS - started)) s"
}

if [ ! -f "$ROOT/$COMPLETE_MARK" ]; then
  [ ! -e "$ROOT" ] || die "$ROOT exists but is not a complete root made by this script; remove it"
  create_root
fi

# Binds, undone in reverse order on any exit. Each is recorded only once it succeeded.
BOUND=()
unbind_all() {
  local i
  for ((i = ${#BOUND[@]} - 1; i >= 0; i--)); do
    umount -R "${BOUND[i]}" 2>/dev/null || {
      log "${BOUND[i]} busy; detaching it lazily"
      umount -R -l "${BOUND[i]}" || log "could not unmount ${BOUND[i]}"
    }
  done
  BOUND=()
  unmount_below "$ROOT" "left by the command"  # a FUSE mount in the root's /tmp, say
}
# The command runs in the background so that a signal reaches these traps at
# once (bash runs traps only between commands): it is passed on to the
# command, and the binds go once it has ended.
CHILD=""
on_signal() {
  if [ -n "$CHILD" ]; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  exit "$1"
}
trap unbind_all EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# With the lock held, anything mounted in the root is left over by a run that
# was killed (SIGKILL runs no trap).
unmount_below "$ROOT" "left by an interrupted run"
[ -z "$(mounts_below "$ROOT")" ] || die "cannot unmount what is mounted in $ROOT"
bind() {  # bind SOURCE TARGET-INSIDE-ROOT
  mkdir -p "$ROOT$2"
  mount --rbind "$1" "$ROOT$2"
  BOUND+=("$ROOT$2")
  # Mounts made inside (FUSE mounts, /proc/sys/fs/binfmt_misc...) must not echo back to the host
  # through the recursive bind, nor the host's into here after the fact.
  mount --make-rslave "$ROOT$2"
}
mkdir -p "$ROOT/proc"
mount -t proc proc "$ROOT/proc"
BOUND+=("$ROOT/proc")
bind /sys /sys
bind /dev /dev
bind "$CHECKOUT" "$INSIDE"
# Name resolution for apt-get inside, the same as the host's.
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

if (($# == 0)); then
  set -- bash -c 'bash scripts/setup.sh && bash scripts/test.sh'
fi
chroot "$ROOT" /usr/bin/env -i \
  HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  TPKG_BUILD_DIR="${TPKG_BUILD_DIR:-build-debian13}" \
  ${TPKG_SLOW:+TPKG_SLOW="$TPKG_SLOW"} ${CI:+CI="$CI"} \
  /bin/sh -c 'cd "$0" && exec "$@"' "$INSIDE" "$@" <&0 &
CHILD=$!
status=0
wait "$CHILD" || status=$?
CHILD=""
exit "$status"
