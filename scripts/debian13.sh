#!/usr/bin/env bash
# Run a command on the Debian 13 ("trixie") stack: Python 3.13 and Debian's PyTorch 2.6.
#
#   bash scripts/debian13.sh                 # the README's set-up and test command, inside
#   bash scripts/debian13.sh CMD [ARGS...]   # any command, run in the bound checkout
#   bash scripts/debian13.sh --prepare       # only make the root when it is missing
#
# Makes a Debian 13 root the first time (reused afterwards): debootstrap from the Debian
# archive this machine's apt-get already uses (the only network there is), then every package
# of scripts/packages.list in one apt-get run, so that scripts/setup.sh inside finds them
# installed and only builds. Binds /proc, /sys, /dev (so /dev/fuse works inside) and this
# checkout into it, and runs the command in the checkout (as /tpkgfs inside the root) with its
# own build folder. Must run as root (debootstrap, mount, chroot).
#
# The binds are made in a mount namespace of the command's own (unshare): nobody else sees
# them, they never touch binds that other users of the root made, and the kernel drops them
# when the command ends, however it ends (failure, signal, even SIGKILL, which no trap
# survives). FUSE mounts the command makes live and die there too; the copies of the host's
# FUSE mounts that unshare makes are detached first (scripts/detach_fuse_copies.sh says why).
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

# Second stage, in the new mount namespace (see the end): bind into the root given as $2, then
# become the command.
if [ "${1:-}" = "--in-namespace" ]; then
  ROOT=$2
  shift 2
  # The copies of the host's FUSE mounts would keep them alive after their owners unmount them.
  bash "$CHECKOUT/scripts/detach_fuse_copies.sh"
  mount -t proc proc "$ROOT/proc"
  for dir in /sys /dev; do
    mount --rbind "$dir" "$ROOT$dir"
    mount --make-rslave "$ROOT$dir"
  done
  mkdir -p "$ROOT$INSIDE"
  mount --rbind "$CHECKOUT" "$ROOT$INSIDE"
  # Name resolution for apt-get inside, the same as the host's.
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  # What a booted Debian 13 has (systemd-tmpfiles makes it) and debootstrap does not:
  # fusermount3 reads the mount table there when a user who is not root mounts.
  [ -e "$ROOT/etc/mtab" ] || ln -sfn ../proc/self/mounts "$ROOT/etc/mtab"
  exec chroot "$ROOT" /usr/bin/env -i \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TPKG_BUILD_DIR="${TPKG_BUILD_DIR:-build-debian13}" \
    ${TPKG_SLOW:+TPKG_SLOW="$TPKG_SLOW"} ${CI:+CI="$CI"} \
    /bin/sh -c 'cd "$0" && exec "$@"' "$INSIDE" "$@"
fi

# Runs a command in the root $1, in a mount namespace of its own (see above).
run_in_root() {
  local root=$1
  shift
  unshare --mount --propagation slave -- "$BASH" "$0" --in-namespace "$root" "$@"
}

# Serialises the runs of this script on one root: making it, and the commands, which share its
# /usr/local, /tmp and apt state (scripts/setup.sh installs there).
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

# The packages scripts/setup.sh installs: the same list on both stacks.
setup_packages() {
  sed -e 's/#.*//' "$CHECKOUT/scripts/packages.list" | tr -s ' \t' '\n' | grep -v '^$'
}

# Configuration of the new root at $1, before any package beyond debootstrap's.
configure_root() {
  local root=$1
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY_MIRROR" ] || echo "deb $SECURITY_MIRROR $SUITE-security main"
  } >"$root/etc/apt/sources.list"
  # No documentation or translations: smaller root, faster installs.
  cat >"$root/etc/dpkg/dpkg.cfg.d/01-tpkgfs-nodoc" <<'END'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
END
  # A test root that is remade when lost, not a machine to keep safe across power failures:
  # no fsync per unpacked file (most of dpkg's time on a busy disk).
  echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/02-tpkgfs-unsafe-io"
  cat >"$root/etc/apt/apt.conf.d/01-tpkgfs" <<'END'
Acquire::Languages "none";
APT::Install-Recommends "false";
END
}

# Installs every package of scripts/packages.list into the root at $1 in one apt-get run: one
# download pass, one dpkg run, no recommends; eatmydata drops the maintainer scripts' fsyncs
# too. Output goes to $ROOT.packages.log.
install_setup_packages() {
  local root=$1 packages
  packages=$(setup_packages | tr '\n' ' ')
  run_in_root "$root" sh -c "export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq &&
    eatmydata apt-get install -y -q --no-install-recommends $packages &&
    apt-get clean" >"$ROOT.packages.log" 2>&1 || {
    tail -n 20 "$ROOT.packages.log" >&2
    die "installing the packages of scripts/packages.list failed (log: $ROOT.packages.log)"
  }
}

create_root() {
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  }
  local staging="$ROOT.partial"
  # debootstrap mounts /proc and /sys in its target; an interrupted run may leave them.
  local target
  for target in $(mounts_below "$staging" | sort -r); do
    log "unmounting $target, left by an interrupted debootstrap"
    umount -l "$target" || true
  done
  [ -z "$(mounts_below "$staging")" ] || die "cannot unmount what is mounted in $staging"
  rm -rf --one-file-system "$staging"
  log "creating $ROOT from $MIRROR ($SUITE)"
  local started=$SECONDS step=$SECONDS
  debootstrap --variant=minbase --include=eatmydata "$SUITE" "$staging" "$MIRROR" \
    >"$ROOT.debootstrap.log" 2>&1 || {
    tail -n 20 "$ROOT.debootstrap.log" >&2
    die "debootstrap failed (log: $ROOT.debootstrap.log)"
  }
  [ -z "$(mounts_below "$staging")" ] || die "debootstrap left mounts in $staging"
  log "debootstrap took $((SECONDS - step)) s; installing the packages of scripts/packages.list"
  configure_root "$staging"
  step=$SECONDS
  install_setup_packages "$staging"
  log "the packages took $((SECONDS - step)) s ($(grep -c '^Setting up' "$ROOT.packages.log")" \
    "set up, log: $ROOT.packages.log)"
  touch "$staging/$COMPLETE_MARK"
  mv "$staging" "$ROOT"
  log "created $ROOT in $((SECONDS - started)) s"
}

if [ ! -f "$ROOT/$COMPLETE_MARK" ]; then
  [ ! -e "$ROOT" ] || die "$ROOT exists but is not a complete root made by this script; remove it"
  create_root
fi

if [ "${1:-}" = "--prepare" ]; then
  log "$ROOT is ready"
  exit 0
fi
if (($# == 0)); then
  set -- bash -c 'bash scripts/setup.sh && bash scripts/test.sh'
fi
# A new mount namespace whose mounts are slaves of this one's (they see later host mounts;
# theirs never propagate back). exec, so the command keeps this process id (signals reach it)
# and the lock on fd 9.
exec unshare --mount --propagation slave -- "$BASH" "$0" --in-namespace "$ROOT" "$@"
