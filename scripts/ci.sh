#!/usr/bin/env bash
# Set up and run every test on both supported stacks (what .ci/run runs):
#
#   bash scripts/ci.sh              # Debian 12 (this machine) and Debian 13 (a debootstrap root)
#   bash scripts/ci.sh debian12     # only this machine: setup.sh, test.sh, fuzz.sh 10, tsan.sh
#   bash scripts/ci.sh debian13     # only the Debian 13 root (scripts/debian13.sh)
#
# With both, the Debian 13 root is made (when missing; scripts/debian13.sh --prepare) in the
# background while the Debian 12 stack sets up and builds: making the root is mostly download
# and dpkg, the other mostly compiling, so they overlap well. Debian 12's tests, a short
# fuzzing run (scripts/fuzz.sh, TPKG_FUZZ_SECONDS per target, default 10) and the
# ThreadSanitizer run of the threaded code's unit tests (scripts/tsan.sh) then run while the
# Debian 13 stack sets up and builds inside the root; Debian 13's tests come last. Every output line starts with its stack
# ("debian12| ", "debian13| "). A failure of either stack fails the run: both still run, and
# the summary at the end names every step that failed, with its exit status and time, and
# repeats the lines of its output that say what failed (failed tests, findings, races).
# Must run as root (or with sudo) on Debian 12, like scripts/setup.sh and scripts/debian13.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1  # pytest's lines reach the prefixing pipe as they happen

usage() { echo "usage: bash scripts/ci.sh [debian12|debian13]..." >&2; exit 2; }
run12=0 run13=0
(($#)) || set -- debian12 debian13
for stack in "$@"; do
  case "$stack" in
    debian12) run12=1 ;;
    debian13) run13=1 ;;
    *) usage ;;
  esac
done

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
started=$SECONDS
summary=()
failed=()

minutes() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
# CPU seconds (user + system) of this shell's finished children, into CPU: with the wall time it
# tells a slow machine from a busy one. `times` runs in this shell (a subshell's are its own).
cpu_file=$(mktemp)
# Each step's output is also kept in $logs/STACK.NAME, so that the end of the run can say what
# failed: a CI log is often read from its tail only, far below the failing test's lines.
logs=$(mktemp -d)
trap 'rm -rf "$cpu_file" "$logs"' EXIT
cpu_now() {
  times >"$cpu_file"
  CPU=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] }
                       printf "%d", s }' "$cpu_file")
}
# Prefixes every line of stdin with "$1| ", line by line.
prefix() { sed -u "s/^/$1| /"; }
# logged STACK NAME: prefixes stdin like `prefix`, keeping a copy of the step's output.
logged() { tee "$logs/$1.$2" | prefix "$1"; }
# The lines of a failed step's log that name what failed: first what failed (pytest's
# FAILED/ERROR summary, meson's failing tests, GoogleTest's failed tests, fuzz targets with
# findings, ThreadSanitizer's reports, the scripts' own error lines), then why (assertion
# lines), then the step's last lines.
failed_lines='^(FAILED|ERROR) |^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) |^\[  FAILED  \] [A-Z]'
failed_lines+='|: see .*; inputs in |WARNING: ThreadSanitizer|^[a-z0-9_.]+\.sh: '
why_lines='^E  |: Failure$|^Expected( equality|: )|^Value of|^Which is|^  Actual|runtime error'
recap() {
  local log="$logs/$1.$2"
  [ -f "$log" ] || return 0
  echo "ci: $1 $2 failed; what its output names (all of it is above, on lines '$1| '):"
  local named
  named=$({ grep -aE "$failed_lines" "$log" | sort -u | head -n 30
            grep -aE "$why_lines" "$log" | head -n 30; })
  { [ -z "$named" ] || printf '%s\n...\n' "$named"; tail -n 5 "$log"; } | sed 's/^/ci:   | /'
}

# step STACK NAME CMD...: runs CMD with its output prefixed, and records its outcome.
step() {
  local stack=$1 name=$2 t0=$SECONDS cpu0 rc
  shift 2
  echo "$stack| ==> $name: $*"
  cpu_now
  cpu0=$CPU
  "$@" 2>&1 | logged "$stack" "$name"
  rc=${PIPESTATUS[0]}
  cpu_now
  record "$stack" "$name" "$rc" $((SECONDS - t0)) $((CPU - cpu0))
  return "$rc"
}

# record STACK NAME STATUS SECONDS CPU_SECONDS
record() {
  local line outcome="ok"
  (($3 == 0)) || outcome="FAILED (exit $3)" failed+=("$1 $2")
  line=$(printf '%-9s %-6s %8s (cpu %s)' "$1" "$2" "$(minutes "$4")" "$(minutes "$5")")
  summary+=("$line $outcome")
  echo "$1| <== $2: $outcome in $(minutes "$4") (cpu $(minutes "$5"))"
}

prepare_pid=""
if ((run13)); then
  # debootstrap comes from this machine's apt; installed first, so that its apt-get never runs
  # at the same time as the one of scripts/setup.sh below.
  if ! command -v debootstrap >/dev/null; then
    step debian13 "debootstrap" $SUDO sh -c 'export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap'
  fi
  prepare_started=$SECONDS
  if ((run12)); then
    echo "debian13| ==> root: made in the background while debian12 runs"
    { $SUDO bash scripts/debian13.sh --prepare 2>&1 | logged debian13 root; } &
    prepare_pid=$!
  fi
fi

# Debian 12's tests (then a short fuzzing run of every parser, scripts/fuzz.sh, and the TSan
# run) run in the background while the Debian 13 stack sets up and builds: a test suite waits
# on mounts, fsyncs and torch's start-up as much as it computes, so the two overlap well on 2
# cores. Debian 13's own tests start only after Debian 12's tests (two suites at once would
# make the tests' timeouts meet a machine twice as slow), beside the fuzzing and TSan builds
# as Debian 12's tests ran beside Debian 13's build (waiting for those too made a run on a
# slow VM 31 minutes long instead of about 27).
lane12_pid=""
lane12_status=$(mktemp)
trap 'rm -rf "$cpu_file" "$lane12_status" "$logs"' EXIT
if ((run12)); then
  if step debian12 "setup" bash scripts/setup.sh; then
    lane12_started=$SECONDS
    {
      t0=$SECONDS
      bash scripts/test.sh 2>&1 | logged debian12 tests
      echo "tests ${PIPESTATUS[0]} $((SECONDS - t0))" >>"$lane12_status"
      t0=$SECONDS
      bash scripts/fuzz.sh "${TPKG_FUZZ_SECONDS:-10}" 2>&1 | logged debian12 fuzz
      echo "fuzz ${PIPESTATUS[0]} $((SECONDS - t0))" >>"$lane12_status"
      t0=$SECONDS
      bash scripts/tsan.sh 2>&1 | logged debian12 tsan
      echo "tsan ${PIPESTATUS[0]} $((SECONDS - t0))" >>"$lane12_status"
    } &
    lane12_pid=$!
    echo "debian12| ==> tests, fuzz, then tsan: in the background while debian13 sets up"
  fi
fi

# Waits for the Debian 12 lane and records its steps (CPU time is what the machine spent
# while waiting for it, on the tsan line, its last; the total is exact).
finish_lane12() {
  [ -n "$lane12_pid" ] || return 0
  cpu_now
  local cpu0=$CPU name rc secs
  wait "$lane12_pid"
  cpu_now
  lane12_pid=""
  while read -r name rc secs; do
    record debian12 "$name" "$rc" "$secs" $([ "$name" = tsan ] && echo $((CPU - cpu0)) || echo 0)
  done <"$lane12_status"
  grep -q '^tsan ' "$lane12_status" || record debian12 "lane" 1 $((SECONDS - lane12_started)) 0
}

# Returns once Debian 12's test suite has ended (or its lane has, whatever it did).
wait_for_lane12_tests() {
  [ -n "$lane12_pid" ] || return 0
  while ! grep -q '^tests ' "$lane12_status" && kill -0 "$lane12_pid" 2>/dev/null; do
    sleep 2
  done
}

if ((run13)); then
  if [ -n "$prepare_pid" ]; then
    cpu_now
    cpu0=$CPU
    wait "$prepare_pid"
    rc=$?
    cpu_now
    record debian13 "root" "$rc" $((SECONDS - prepare_started)) $((CPU - cpu0))
  else
    step debian13 "root" $SUDO bash scripts/debian13.sh --prepare
    rc=$?
  fi
  # Its own build folder (build-debian13), whatever TPKG_BUILD_DIR says for this machine.
  ((rc == 0)) &&
    step debian13 "setup" $SUDO env -u TPKG_BUILD_DIR bash scripts/debian13.sh \
      bash scripts/setup.sh
  setup13=$?
  wait_for_lane12_tests
  ((rc == 0 && setup13 == 0)) &&
    step debian13 "tests" $SUDO env -u TPKG_BUILD_DIR bash scripts/debian13.sh \
      bash scripts/test.sh
fi
finish_lane12

echo "ci: summary (steps of one stack run one after the other; the debian13 root overlaps debian12)"
for line in "${summary[@]}"; do echo "ci:   $line"; done
cpu_now
echo "ci: total $(minutes $((SECONDS - started))) (cpu $(minutes "$CPU"), $(nproc) cores," \
  "load average now $(cut -d ' ' -f 1-3 /proc/loadavg))"
if ((${#failed[@]})); then
  for step_name in "${failed[@]}"; do recap $step_name; done
  printf -v list '%s, ' "${failed[@]}"
  echo "ci: FAILED: ${list%, }" >&2
  exit 1
fi
echo "ci: every stack passed"
