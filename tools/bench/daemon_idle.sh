#!/usr/bin/env bash
# The daemon's cost when nothing happens: CPU time and wake-ups (voluntary context switches)
# over a quiet interval, for a daemon tracing one sleeping process (-p) and one tracing every
# process. Usage (as root): tools/bench/daemon_idle.sh [--seconds N] [--build DIR]
set -euo pipefail
seconds=10
build=${MAPTRAIL_BUILD_DIR:-build}
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--build DIR]" >&2; exit 2 ;;
  esac
done
maptrail=$build/maptrail
[[ -x $maptrail ]] || { echo "$maptrail not found: build first (tools/setup.sh)" >&2; exit 2; }
hz=$(getconf CLK_TCK)
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

measure() {  # name, daemon args...
  local name=$1; shift
  "$maptrail" daemon --socket "$dir/$name.sock" "$@" 2>"$dir/$name.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/$name.err" 2>/dev/null && break; sleep 0.1; done
  sleep 2  # let start-up settle
  read -r t0 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
  c0=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$pid/status")
  sleep "$seconds"
  read -r t1 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
  c1=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$pid/status")
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  python3 -c "
t = ($t1 - $t0) / $hz; s = $seconds
print(f'| $name | {100 * t / s:.3f}% | {($c1 - $c0) / s:.1f} | {$rss / 1024:.1f} MiB |')"
}

echo "| daemon | CPU while idle | wake-ups/s | RSS |"
echo "|---|---:|---:|---:|"
sleep 600 & sleeper=$!
measure "-p (one sleeping process)" -p "$sleeper"
measure "all processes" 
