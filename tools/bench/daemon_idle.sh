#!/usr/bin/env bash
# The daemon's cost when nothing happens: CPU time and wake-ups (voluntary context switches,
# all its threads)
# over a quiet interval, for a daemon tracing one sleeping process (-p) and one tracing every
# process, and for one tracing every process while 1,000 idle processes it has modelled
# (started after it, so it saw their exec) are alive.
# Usage (as root): tools/bench/daemon_idle.sh [--seconds N] [--build DIR] [--processes N]
set -euo pipefail
seconds=10
processes=1000
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${MAPTRAIL_BUILD_DIR:-build}
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --processes) processes=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--build DIR] [--processes N]" >&2; exit 2 ;;
  esac
done
maptrail=$build/maptrail
[[ -x $maptrail ]] || { echo "$maptrail not found: build first (tools/setup.sh)" >&2; exit 2; }
hz=$(getconf CLK_TCK)
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

measure() {  # name, spawn count, daemon args...
  local name=$1 spawn=$2; shift 2
  "$maptrail" daemon --socket "$dir/sock" "$@" 2>"$dir/err" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/err" 2>/dev/null && break; sleep 0.1; done
  local sleepers=()
  for ((i = 0; i < spawn; i++)); do sleep 3600 & sleepers+=($!); done
  sleep $((spawn ? 5 : 2))  # let start-up (and the spawned execs) settle
  local spaces
  spaces=$(python3 -c "
import sys
sys.path.insert(0, '$repo/tools/bench')
from daemon_client import ask
print(ask('$dir/sock', {'op': 'status'})['spaces'])")
  read -r t0 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
  c0=$(cat /proc/"$pid"/task/*/status | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}')
  sleep "$seconds"
  read -r t1 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
  c1=$(cat /proc/"$pid"/task/*/status | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}')
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
 kill -TERM "$pid"; wait "$pid" || true
  if ((${#sleepers[@]})); then
    kill "${sleepers[@]}" 2>/dev/null || true
    wait "${sleepers[@]}" 2>/dev/null || true
  fi
  python3 -c "
t = ($t1 - $t0) / $hz; s = $seconds
print(f'| $name | $spaces | {100 * t / s:.3f}% | {($c1 - $c0) / s:.1f} | {$rss / 1024:.1f} MiB |')"
}

echo "| daemon | address spaces modelled | CPU while idle | wake-ups/s | RSS |"
echo "|---|---:|---:|---:|---:|"
sleep 600 & sleeper=$!
measure "-p (one sleeping process)" 0 -p "$sleeper"
measure "all processes" 0
measure "all processes, $processes more idle ones" "$processes" 
