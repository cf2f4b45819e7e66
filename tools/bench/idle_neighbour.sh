#!/usr/bin/env bash
# What a busy SCHED_IDLE neighbour costs a program's start on this machine: the ceiling of
# what maptrail's handler (SCHED_IDLE while it keeps up) can cost by taking idle CPU time,
# whatever work it does. Runs of N starts alternate: alone, then beside a shell loop at
# SCHED_IDLE that takes every idle cycle. With --pin, the program runs on CPU 0 and the loop
# on CPU 1, so that they never share a CPU: what is left then comes from outside the guest's
# scheduler (a host core shared by both vCPUs, caches).
#
#   tools/bench/idle_neighbour.sh [--rounds 12] [--repeat 10] [--pin] [--build DIR]
#                                 [--command 'java -Xshare:auto -version']
#
# Prints one line per round (ms per start alone, beside the loop, their ratio), then the
# median ratio. No root needed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
prog=${0##*/}
rounds=12 repeat=10 pin=0 build=$repo/build command='java -Xshare:auto -version'
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --pin) pin=1; shift ;;
    --build) build=$2; shift 2 ;;
    --command) command=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$prog: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
. "$repo/tools/bench/lib/median.sh"
timed=$build/tests/workloads/timed
[[ -x $timed ]] || { echo "$prog: $timed is missing: build first (tools/setup.sh)" >&2; exit 2; }
read -r -a workload <<<"$command"
command -v "${workload[0]}" >/dev/null || { echo "$prog: ${workload[0]} is not installed" >&2; exit 2; }
if ((pin)) && (($(nproc) < 2)); then
  echo "$prog: --pin needs two CPUs" >&2
  exit 2
fi
program_cpu=() loop_cpu=()
((pin)) && program_cpu=(taskset -c 0) loop_cpu=(taskset -c 1)

loop=
cleanup() { [[ -n $loop ]] && kill "$loop" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

ms_per_start() {
  local out
  out=$("${program_cpu[@]}" "$timed" --repeat "$repeat" --quiet -- "${workload[@]}" 2>&1) ||
    { echo "$prog: $command failed: $out" >&2; exit 1; }
  grep -o '"ns_per_iter":[0-9.]*' <<<"$out" | cut -d: -f2 | awk '{printf "%.2f", $1 / 1e6}'
}

ratios=()
echo "round  alone ms  beside ms  ratio"
for ((i = 1; i <= rounds; i++)); do
  alone=$(ms_per_start)
  "${loop_cpu[@]}" chrt --idle 0 bash -c 'while :; do :; done' &
  loop=$!
  sleep 0.05
  beside=$(ms_per_start)
  kill "$loop"
  wait "$loop" 2>/dev/null || true
  loop=
  ratio=$(awk -v a="$alone" -v b="$beside" 'BEGIN { printf "%.3f", b / a }')
  ratios+=("$ratio")
  printf '%5d  %8s  %9s  %5s\n' "$i" "$alone" "$beside" "$ratio"
done
sorted=$(printf '%s\n' "${ratios[@]}" | sort -n)
printf 'median ratio beside a SCHED_IDLE loop: %.3fx (min %s, max %s, %d rounds)\n' \
  "$(median <<<"$sorted")" "$(head -1 <<<"$sorted")" "$(tail -1 <<<"$sorted")" "${#ratios[@]}"
