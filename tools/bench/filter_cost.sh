#!/usr/bin/env bash
# What maptrail costs the processes it does not trace: every system call of every process
# passes maptrail's two syscall programs once it is attached. Times a loop of getppid()
# calls (a call with no work of its own) with nothing attached and with `maptrail trace -p`
# following an idle process, alternated, and prints the medians in ns per call.
#
#   tools/bench/filter_cost.sh [--rounds 10] [--calls 2000000] [--build DIR]
#
# Environment: MAPTRAIL  the maptrail binary (default DIR/maptrail). Needs root (BPF).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
prog=${0##*/}
rounds=10 calls=2000000 build=$repo/build
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$prog: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "$prog: needs root (BPF)" >&2; exit 2; }
maptrail=${MAPTRAIL:-$build/maptrail}
[[ -x $maptrail ]] || { echo "$prog: $maptrail is missing: build first (tools/setup.sh)" >&2; exit 2; }
command -v cc >/dev/null || { echo "$prog: no C compiler (tools/setup.sh installs one)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/maptrail-filter.XXXXXX")
idle= tracer=
. "$repo/tools/bench/lib/bpf_stats.sh"
. "$repo/tools/bench/lib/tracer_ready.sh"
. "$repo/tools/bench/lib/median.sh"
cleanup() {
  [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null
  [[ -n $idle ]] && kill "$idle" 2>/dev/null && wait "$idle" 2>/dev/null
  rm -rf "$tmp"
  bpf_stats_restore
}
trap cleanup EXIT
bpf_stats_off

cat >"$tmp/loop.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char** argv) {
  long n = atol(argv[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
C
cc -O2 -o "$tmp/loop" "$tmp/loop.c"

# Starts maptrail following an idle process; returns once it says it is tracing.
attach() {
  sleep 100000 &
  idle=$!
  "$maptrail" trace -o /dev/null -p "$idle" 2>"$tmp/err" &
  tracer=$!
  wait_until_tracing "$tracer" "$tmp/err"
}
detach() {
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true; tracer=
  kill "$idle"; wait "$idle" 2>/dev/null || true; idle=
}

: >"$tmp/none"; : >"$tmp/attached"
for ((i = 0; i < rounds; i++)); do
  "$tmp/loop" "$calls" >>"$tmp/none"
  attach
  "$tmp/loop" "$calls" >>"$tmp/attached"
  detach
done
none=$(median <"$tmp/none") attached=$(median <"$tmp/attached")
echo "| untraced getppid() | ns per call (median of $rounds alternated rounds of $calls calls) |"
echo "|---|---:|"
echo "| nothing attached | $none |"
echo "| maptrail attached (tracing another process) | $attached |"
awk -v a="$attached" -v n="$none" 'BEGIN {printf "| difference | %.1f |\n", a - n}'
