#!/usr/bin/env bash
# Time spent in maptrail's BPF programs per start of a program (a JVM by default), from the
# kernel's own accounting (kernel.bpf_stats_enabled, on only while the starts run: it adds
# two clock reads to every program run, so the figures are a little high and compare only
# with each other). With --baseline, a second maptrail binary is measured in alternation
# with the first, round by round, so that the two see the same machine.
#
#   tools/bench/bpf_cost.sh [--rounds 4] [--starts 20] [--baseline MAPTRAIL] [--build DIR]
#                           [--command 'java -Xshare:auto -version'] [-- TRACE-ARGS...]
#
# Prints a Markdown table per binary: runs and µs per start of each program, ns per run,
# medians over the rounds. Environment: MAPTRAIL  the binary measured (default DIR/maptrail).
# Needs root (BPF).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
prog=${0##*/}
rounds=4 starts=20 build=$repo/build baseline= command='java -Xshare:auto -version'
trace_args=()
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --starts) starts=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --command) command=$2; shift 2 ;;
    --) shift; trace_args=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$prog: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "$prog: needs root (BPF)" >&2; exit 2; }
maptrail=${MAPTRAIL:-$build/maptrail}
timed=$build/tests/workloads/timed
for bin in "$maptrail" "$timed" ${baseline:+"$baseline"}; do
  [[ -x $bin ]] || { echo "$prog: $bin is missing: build first (tools/setup.sh)" >&2; exit 2; }
done
command -v bpftool >/dev/null || { echo "$prog: bpftool is missing (tools/setup.sh installs it)" >&2; exit 2; }
read -r -a workload <<<"$command"
command -v "${workload[0]}" >/dev/null || { echo "$prog: ${workload[0]} is not installed" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/maptrail-bpfcost.XXXXXX")
driver= tracer=
. "$repo/tools/bench/lib/bpf_stats.sh"
. "$repo/tools/bench/lib/tracer_ready.sh"
cleanup() {
  [[ -n $driver ]] && kill "$driver" 2>/dev/null && wait "$driver" 2>/dev/null || true
  [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null || true
  rm -rf "$tmp"
  echo 0 >"$bpf_stats_knob" 2>/dev/null || true
  bpf_stats_restore
}
trap cleanup EXIT
bpf_stats_off

# One round: `starts` runs of the command under `maptrail trace -p` of a driver that waits on
# a fifo, so that maptrail is attached before the first start; the programs' counters are
# read just before and just after the starts.
measure() {
  local bin=$1 label=$2
  rm -f "$tmp/go"
  mkfifo "$tmp/go"
  bash -c 'read -r _ <"$1"; shift; exec "$@"' _ "$tmp/go" "$timed" --repeat "$starts" --quiet -- \
    "${workload[@]}" >"$tmp/timed.json" &
  driver=$!
  "$bin" trace -o /dev/null ${trace_args[@]+"${trace_args[@]}"} -p "$driver" 2>"$tmp/err" &
  tracer=$!
  wait_until_tracing "$tracer" "$tmp/err"
  echo 1 >"$bpf_stats_knob"
  bpftool prog show -j >"$tmp/before.json"
  echo go >"$tmp/go"
  wait "$driver"; driver=
  bpftool prog show -j >"$tmp/after.json"
  echo 0 >"$bpf_stats_knob"
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true; tracer=
  python3 - "$tmp/before.json" "$tmp/after.json" "$label" "$starts" >>"$tmp/rows" <<'PY'
import json, sys
before = {p["id"]: p for p in json.load(open(sys.argv[1]))}
label, starts = sys.argv[3], int(sys.argv[4])
for p in json.load(open(sys.argv[2])):
    b = before.get(p["id"])
    if b is None or "run_cnt" not in p:
        continue
    runs = p["run_cnt"] - b.get("run_cnt", 0)
    ns = p["run_time_ns"] - b.get("run_time_ns", 0)
    if runs:
        print(label, p.get("name", "?"), runs / starts, ns / starts)
PY
}

: >"$tmp/rows"
for ((r = 1; r <= rounds; r++)); do
  echo "$prog: round $r of $rounds" >&2
  measure "$maptrail" measured
  [[ -n $baseline ]] && measure "$baseline" baseline
done

python3 - "$tmp/rows" "$maptrail" "${baseline:-}" "$command" "$starts" "$rounds" "${trace_args[*]:-}" <<'PY'
import collections, statistics, sys
rows, measured, baseline, command, starts, rounds, args = sys.argv[1:8]
per = collections.defaultdict(lambda: collections.defaultdict(list))  # label -> prog -> [(runs, ns)]
for line in open(rows):
    label, name, runs, ns = line.split()
    per[label][name].append((float(runs), float(ns)))
print(f"`{command}`, {starts} starts per round, {rounds} rounds, maptrail trace {args or '(defaults)'}"
      " (bpf_stats: medians over the rounds)\n")
for label, path in (("measured", measured), ("baseline", baseline)):
    if label not in per:
        continue
    print(f"{label}: `{path}`\n")
    print("| program | runs per start | µs per start | ns per run |")
    print("|---|---:|---:|---:|")
    totals = collections.defaultdict(float)
    for name, samples in sorted(per[label].items(), key=lambda kv: -statistics.median(s[1] for s in kv[1])):
        runs = statistics.median(s[0] for s in samples)
        ns = statistics.median(s[1] for s in samples)
        for i, s in enumerate(samples):
            totals[i] += s[1]
        print(f"| {name} | {runs:.0f} | {ns / 1e3:.1f} | {ns / runs:.0f} |")
    print(f"| all | | {statistics.median(totals.values()) / 1e3:.1f} | |\n")
PY
