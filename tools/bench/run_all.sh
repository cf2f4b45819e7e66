#!/usr/bin/env bash
# The whole benchmark suite, one command: builds what it needs, runs every benchmark and
# rewrites the generated part of docs/BENCHMARKS.md (between the "suite:begin" and
# "suite:end" markers) and the charts in docs/benchmarks/. Run as root on a quiet machine
# (no other tracer attached, no build running): timings on a VM vary, so every ratio is
# taken within one run of one script, from medians of alternated runs.
#
#   sudo tools/bench/run_all.sh [--runs 5] [--iterations 200000] [--build DIR] [--no-write]
#
# Takes about 85-95 minutes with the defaults (strace -k alone costs ~290x per call, so it
# runs a shorter storm of its own).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${MAPTRAIL_BUILD_DIR:-$repo/build}
runs=5
iterations=200000
write=1
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-write) write=0; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "run_all.sh: run as root (BPF, perf, strace)" >&2; exit 2; }

cmake --build "$build" -j"$(nproc)" --target maptrail maptrail_workloads model_bench \
  render_bench unwind_bench >/dev/null
out=$(mktemp -d "${TMPDIR:-/tmp}/maptrail-suite.XXXXXX")
trap 'rm -rf "$out"' EXIT
charts=$repo/docs/benchmarks
mkdir -p "$charts"
step() { echo "run_all: $*" >&2; }
# The parts print their own Markdown headings from "#": nest them under the suite's "##".
demote() { sed -E "s/^(#+) /\1$(printf '%*s' "$1" '' | tr ' ' '#') /"; }

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "## The suite (commit $commit, \`sudo tools/bench/run_all.sh --runs $runs --iterations $iterations\`)"
  echo
  echo "- date: $(date '+%Y-%m-%d %H:%M:%S %z')"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) vCPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo
} >"$out/suite.md"

step "overhead against the peers (storm)"
for wl in storm-touch storm-2threads; do
  "$repo/tools/bench/peers.sh" --build "$build" --runs "$runs" --iterations "$iterations" \
    --workload "$wl" --variants "maptrail-dwarf,maptrail-fp,maptrail-none,maptrail-daemon,bpftrace,bpftrace-ustack,strace,perf-trace" \
    | demote 2 >>"$out/suite.md"
  echo >>"$out/suite.md"
done
step "maptrail alone on the storm (more runs: the --stack none target is within the noise of 5)"
{
  echo "### maptrail alone on the storm, 15 alternated runs (log to a file)"
  echo
  "$repo/tools/bench/overhead.sh" --build "$build" --runs 15 --iterations "$iterations" \
    --storm-args "--touch" --no-default-variants --variant "dwarf:-o $out/alone.log" \
    --variant "none:--stack none -o $out/alone.log" | sed 1d | demote 2
} >>"$out/suite.md"
echo >>"$out/suite.md"
step "strace -k (a shorter storm: ~290x per call)"
"$repo/tools/bench/peers.sh" --build "$build" --runs "$runs" --iterations 5000 \
  --workload storm-touch --variants "strace-k" | demote 2 >>"$out/suite.md"
echo >>"$out/suite.md"
step "a malloc-heavy program"
"$repo/tools/bench/peers.sh" --build "$build" --runs "$runs" --iterations "$iterations" \
  --workload malloc-heavy --variants "maptrail-dwarf,maptrail-fp,maptrail-none,maptrail-daemon,bpftrace,bpftrace-ustack,strace,perf-trace" \
  | demote 2 >>"$out/suite.md"
echo >>"$out/suite.md"
for wl in gcc-compile python-startup java-startup; do
  step "real program: $wl"
  "$repo/tools/bench/peers.sh" --build "$build" --runs "$runs" --workload "$wl" | demote 2 \
    >>"$out/suite.md"
  echo >>"$out/suite.md"
done

step "maptrail alone on the real programs (more runs: the 3% target is within the noise of 5)"
for wl in gcc-compile python-startup java-startup; do
  "$repo/tools/bench/peers.sh" --build "$build" --runs 21 --workload "$wl" \
    --variants "maptrail-dwarf,maptrail-none" | sed -E "1s/^# .*/# maptrail alone: $wl, 21 alternated runs/" \
    | demote 2 >>"$out/suite.md"
  echo >>"$out/suite.md"
done

step "real programs one start at a time (pairs of traced and untraced starts)"
for wl in java-startup python-startup; do
  {
    echo "### maptrail alone: $wl, one start at a time (\`tools/bench/paired_starts.py --workload $wl\`)"
    echo
    "$repo/tools/bench/paired_starts.py" --build "$build" --workload "$wl" \
      --variants dwarf,none,attached --pairs 80 --blocks 4
  } >>"$out/suite.md"
  echo >>"$out/suite.md"
done

# The default (DWARF) against the 3% target with 800 pairs of runs: the 95% interval of the
# median is then about +-0.7% on this VM (100 pairs left +-1.5%, too wide to tell 1.02x from
# 1.04x); --stack none, further from it, with 200.
step "the JVM start, ten back to back under a new maptrail (pairs of runs)"
{
  echo "### maptrail alone: java-startup, ten starts back to back under a new maptrail (\`tools/bench/paired_starts.py --run-length 10\`)"
  echo
  "$repo/tools/bench/paired_starts.py" --build "$build" --workload java-startup \
    --variants dwarf-first --run-length 10 --pairs 100 --blocks 8
  echo
  "$repo/tools/bench/paired_starts.py" --build "$build" --workload java-startup \
    --variants none-first --run-length 10 --pairs 50 --blocks 4
} >>"$out/suite.md"
echo >>"$out/suite.md"

step "throughput and loss"
"$repo/tools/bench/throughput.py" --build "$build" --json-out "$out/throughput.json" \
  | demote 1 >>"$out/suite.md"
python3 - "$out/throughput.json" "$out/throughput-series.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
series = {}
for r in rows:
    if r["target"]:
        series.setdefault("%s, --stack %s" % (r.get("op", "mmap"), r["stack"]), []).append([r["target"], r["achieved"] * (1 - r["lost"] / max(r["expected"], 1))])
json.dump([{"name": k, "points": v} for k, v in series.items()], open(sys.argv[2], "w"))
PY
python3 "$repo/tools/bench/plot.py" "$charts/throughput.svg" "$out/throughput-series.json" \
  --title "Events recorded per second vs offered rate (2 threads)" \
  --x-label "offered mapping syscalls/s" --y-label "recorded events/s"
echo "![recorded vs offered rate](benchmarks/throughput.svg)" >>"$out/suite.md"
echo >>"$out/suite.md"

step "model scale"
"$build/tools/bench/model_bench" --benchmark_format=json --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true >"$out/model.json" 2>/dev/null
step "pmap render"
"$build/tools/bench/render_bench" --benchmark_format=json --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true >"$out/render.json" 2>/dev/null
step "unwind + symbolize"
"$build/tools/bench/unwind_bench" --benchmark_format=json --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true >"$out/unwind.json" 2>/dev/null
python3 - "$out" "$charts" >>"$out/suite.md" <<'PY'
import json, sys
out, charts = sys.argv[1], sys.argv[2]
def medians(path):
    doc = json.load(open(path))
    return {b["run_name"]: b for b in doc["benchmarks"] if b.get("aggregate_name") == "median"}
model, render, unwind = medians(out + "/model.json"), medians(out + "/render.json"), medians(out + "/unwind.json")
print("### Model scale (Google Benchmark, medians of 5)\n")
print("Window applies at random places (a cache miss at most levels of the tree) and within")
print("64 neighbouring VMAs (a program changing the same few regions).\n")
print("| VMAs | window applies/s, random | window applies/s, local | find/s |")
print("|---:|---:|---:|---:|")
points, local_points = [], []
rate = lambda b: "{:,.0f}".format(b["items_per_second"]) if b else "-"
for n in (1000, 10000, 65530, 1000000):
    a = model.get("BM_ApplyWindow/%d" % n)
    l = model.get("BM_ApplyWindowLocal/%d" % n)
    f = model.get("BM_Find/%d" % n)
    if a:
        points.append([n, a["items_per_second"]])
    if l:
        local_points.append([n, l["items_per_second"]])
    print("| {:,} | {} | {} | {} |".format(n, rate(a), rate(l), rate(f)))
mem = model.get("BM_MemoryPerVma/65530/iterations:1")
hist = model.get("BM_MemoryPerHistoryEntry/10000/iterations:1")
print()
if mem: print("- memory per VMA at 65,530 VMAs: %.0f bytes" % mem["bytes_per_vma"])
if hist: print("- memory per history entry: %.0f bytes" % hist["bytes_per_entry"])
json.dump([{"name": "random places", "points": points},
           {"name": "within 64 VMAs", "points": local_points}], open(out + "/model-series.json", "w"))
print("\n### `maptrail pmap` render, 65,530 VMAs (medians of 5)\n")
print("| format | time | output |")
print("|---|---:|---:|")
for name, label in (("BM_PmapDefault/65530", "default"), ("BM_PmapExtended/65530", "-x"), ("BM_PmapDevice/65530", "-d")):
    b = render.get(name)
    if b:
        ms = b["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1, "s": 1e3}[b["time_unit"]]
        print("| %s | %.1f ms | %.1f MB |" % (label, ms, b["output_bytes"] / 1e6))
print("\n### Unwind + symbolize (`--stack dwarf`, medians of 5)\n")
print("| benchmark | per event | events/s | frames/event |")
print("|---|---:|---:|---:|")
for name in ("BM_UnwindSymbolizeWarm", "BM_UnwindOnlyWarm", "BM_UnwindSymbolizeShownWarm",
             "BM_UnwindSymbolizeShownNewProcess", "BM_UnwindSymbolizeShownEvicted",
             "BM_EvictedNothing", "BM_UnwindSymbolizeCold"):
    # a benchmark with its own minimum time is named "name/min_time:..."
    b = unwind.get(name) or next((v for k, v in unwind.items() if k.startswith(name + "/")), None)
    if b:
        ns = b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
        if name == "BM_EvictedNothing":  # the eviction's cost to the timer: no events
            print("| %s | %.2f µs | - | - |" % (name, ns / 1000))
            continue
        print("| %s | %.2f µs | %s | %.1f |" % (name, ns / 1000, "{:,.0f}".format(b["items_per_second"]), b["frames/event"]))
first = sorted((k, v) for k, v in unwind.items() if k.startswith("BM_FirstSymbol"))
if first:
    print("\nThe first name looked up in a big module (open it, read and sort its symbol table):\n")
    print("| benchmark | time |")
    print("|---|---:|")
    for name, b in first:
        ms = b["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1, "s": 1e3}[b["time_unit"]]
        print("| %s | %.2f ms |" % (name, ms))
print()
PY
python3 "$repo/tools/bench/plot.py" "$charts/model-apply.svg" "$out/model-series.json" --log-x \
  --title "Model: window applies per second vs address-space size" \
  --x-label "VMAs in the address space" --y-label "applies/s (one core)"
echo "![model apply rate](benchmarks/model-apply.svg)" >>"$out/suite.md"
echo >>"$out/suite.md"

step "daemon idle"
{
  echo "### Daemon while idle (\`tools/bench/daemon_idle.sh --seconds 20\`)"
  echo
  "$repo/tools/bench/daemon_idle.sh" --build "$build" --seconds 20
  echo
} >>"$out/suite.md"

step "pmap end to end against procps pmap"
{
  "$repo/tools/bench/pmap_end_to_end.sh" --build "$build" --runs "$runs"
  echo
} >>"$out/suite.md"

# The commands in the tables name this machine's checkout and temporary directories: the
# document shows them relative to the checkout, with the temporary names generic.
python3 - "$out/suite.md" "$build" "$repo" "${TMPDIR:-/tmp}" <<'PY'
import re, sys
path, build, repo, tmp = sys.argv[1:]
text = open(path).read().replace(build.rstrip("/") + "/", "build/").replace(repo + "/", "")
text = re.sub(re.escape(tmp.rstrip("/")) + r"/maptrail-([a-z]+)\.[A-Za-z0-9]{6}", r"$TMPDIR/maptrail-\1.XXXXXX", text)
open(path, "w").write(text)
PY

if ((write)); then
  python3 - "$repo/docs/BENCHMARKS.md" "$out/suite.md" <<'PY'
import sys
doc, suite = open(sys.argv[1]).read(), open(sys.argv[2]).read()
begin, end = "<!-- suite:begin -->", "<!-- suite:end -->"
block = begin + "\n" + suite.rstrip() + "\n" + end
if begin in doc and end in doc:
    doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
else:
    head, sep, rest = doc.partition("\n## ")
    doc = head + "\n" + block + "\n\n## " + rest if sep else doc + "\n" + block + "\n"
open(sys.argv[1], "w").write(doc)
PY
  step "docs/BENCHMARKS.md updated"
else
  cat "$out/suite.md"
fi
