#!/usr/bin/env bash
# Detaches (umount -l) every FUSE mount in the calling mount namespace. Run it first thing in
# a mount namespace just made by unshare(1) (scripts/debian13.sh does):
#
#   unshare --mount --propagation slave -- bash scripts/detach_fuse_copies.sh && exec CMD...
#
# Why: unshare copies every mount of the old namespace, FUSE mounts included. On a host whose
# mounts are private (no "shared:" tag in /proc/self/mountinfo, as here) the copy takes no part
# in propagation, so when the owner unmounts the original (`fusermount3 -u`, which then
# succeeds) the copy keeps the file system alive: its daemon goes on reading /dev/fuse until
# the namespace ends, and a new mount of the same archive waits for it ("waiting for the save
# of ... (pid N)"). The copies are of no use to the command anyway; FUSE mounts the command
# makes itself come later and are not touched. fusectl (/sys/fs/fuse/connections) is not a
# FUSE mount and stays.
set -euo pipefail
# findmnt -r escapes blanks and the like as \xHH; printf %b turns them back.
findmnt -rn -o TARGET,FSTYPE | awk '$2 ~ /^fuse(blk)?(\.|$)/ { print $1 }' | sort -r |
  while read -r target; do
    umount -l "$(printf '%b' "$target")"
  done
