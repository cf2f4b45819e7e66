#!/usr/bin/env bash
# The daemon's cost when nothing happens: CPU time, wake-ups (voluntary context switches,
# all its threads) and the events it received
# over a quiet interval, for a daemon tracing one sleeping process (-p) and one tracing every
# process, and for one tracing every process while 1,000 idle processes it has modelled
# (started after it, so it saw their exec) are alive; for that one also its memory once
# those processes have exited (what it keeps of ended processes, and what it hands back).
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
export BENCH_DIR=$repo/tools/bench
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
  # The window is sampled by one python process that starts, settles, and then spawns
  # nothing: with every process traced, a `sleep` or `awk` run inside the window would be
  # mapping activity the daemon must (and does) wake for, not idle cost.
  local row
  row=$(python3 - "$pid" "$dir/sock" "$seconds" <<'PY'
import glob, os, sys, time
sys.path.insert(0, os.path.join(os.environ["BENCH_DIR"]))
from daemon_client import ask
pid, sock, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
hz = os.sysconf("SC_CLK_TCK")
def cpu_ticks():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
def wakeups():
    n = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        for line in open(status):
            if line.startswith("voluntary_ctxt_switches"):
                n += int(line.split()[1])
    return n
ask(sock, {"op": "status"})  # the first request grows this interpreter's heap: an event
time.sleep(3)  # those events reach the daemon, and its reader's short polls after them end
before = ask(sock, {"op": "status"})
time.sleep(3)
t0, c0 = cpu_ticks(), wakeups()
time.sleep(seconds)
t1, c1 = cpu_ticks(), wakeups()
after = ask(sock, {"op": "status"})
print(before["spaces"], 100 * (t1 - t0) / hz / seconds, (c1 - c0) / seconds,
      after["events"] - before["events"])
PY
)
  read -r spaces cpu rate events <<<"$row"
  rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
  local rss_after=-
  if ((${#sleepers[@]})); then
    kill "${sleepers[@]}" 2>/dev/null || true
    wait "${sleepers[@]}" 2>/dev/null || true
    sleep 15  # their ends reach the daemon; it hands back free memory at most every 10 s
    rss_after="$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status") MiB"
  fi
  kill -TERM "$pid"; wait "$pid" || true
  printf '| %s | %s | %.3f%% | %.1f | %s | %s MiB | %s |\n' "$name" "$spaces" "$cpu" "$rate" \
    "$events" "$rss" "$rss_after"
}

echo "| daemon | address spaces modelled | CPU while idle | wake-ups/s | events in the window | RSS | RSS once they have exited |"
echo "|---|---:|---:|---:|---:|---:|---:|"
sleep 600 & sleeper=$!
measure "-p (one sleeping process)" 0 -p "$sleeper"
measure "all processes" 0
measure "all processes, $processes more idle ones" "$processes" 
