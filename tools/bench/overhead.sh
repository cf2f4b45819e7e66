#!/usr/bin/env bash
# Measures maptrail's tracing overhead on the storm workload (tests/workloads/storm.c: a tight
# mmap/munmap loop that times only its own loop, so tracer start-up is not measured).
#
# Runs are alternated (untraced, then each traced variant, then again, ...) so that drift of
# the machine hits every variant alike; one untraced warm-up run is discarded. Prints a
# Markdown table: median/min/max ns per iteration and the ratio of medians to the untraced
# median of this same invocation.
#
#   tools/bench/overhead.sh [--runs 5] [--iterations 200000] [--build DIR]
#                           [--variant "NAME:ARGS"]... [--no-default-variants]
#                           [--storm-args "ARGS"]
#
# Default variants:  traced      maptrail trace -o /dev/null -- storm ...
#                    stack-none  maptrail trace -o /dev/null --stack none -- storm ...
# --variant "NAME:ARGS" adds one (ARGS are maptrail trace options, split on whitespace).
#   "-o /dev/null" is added unless ARGS name an output themselves (-o FILE, --output FILE),
#   e.g. --variant "file:-o /tmp/x.log" logs to a real file.
# The table also counts the events each traced run lost (maptrail's summary on stderr):
# a run that lost events did not pay the full cost of tracing them.
#
# Environment: MAPTRAIL  the tracer command (default DIR/maptrail); it may carry words,
#                        e.g. MAPTRAIL="sudo build/maptrail". It is run as
#                        $MAPTRAIL trace [-o /dev/null] ARGS -- STORM --iterations N ...
#              STORM     the storm binary (default DIR/tests/workloads/storm)
# Tracing needs root (BPF): run this as root.
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "$0")/../.." && pwd)

usage() {
  echo "Usage:"
  sed -n '10,26p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "$prog: $*" >&2
  exit 2
}

runs=5
iterations=200000
build=${MAPTRAIL_BUILD_DIR:-$repo/build}
storm_args=""
default_variants=1
variants=()

while (($#)); do
  case $1 in
    --runs) (($# >= 2)) || die "--runs needs a value"; runs=$2; shift 2 ;;
    --iterations) (($# >= 2)) || die "--iterations needs a value"; iterations=$2; shift 2 ;;
    --build) (($# >= 2)) || die "--build needs a value"; build=$2; shift 2 ;;
    --variant) (($# >= 2)) || die "--variant needs a value"; variants+=("$2"); shift 2 ;;
    --no-default-variants) default_variants=0; shift ;;
    --storm-args) (($# >= 2)) || die "--storm-args needs a value"; storm_args=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive integer, got '$runs'"
[[ $iterations =~ ^[1-9][0-9]*$ ]] || die "--iterations wants a positive integer, got '$iterations'"
if ((default_variants)); then
  variants=("traced:" "stack-none:--stack none" "${variants[@]}")
fi
((${#variants[@]})) || die "no traced variant to measure"
names=(untraced)
for v in "${variants[@]}"; do
  [[ $v == *:* ]] || die "--variant wants NAME:ARGS, got '$v'"
  name=${v%%:*}
  [[ -n $name && $name != *[[:space:]\|]* ]] || die "bad variant name in '$v'"
  for n in "${names[@]}"; do [[ $n != "$name" ]] || die "variant '$name' given twice"; done
  names+=("$name")
done

command -v python3 >/dev/null || die "python3 is needed for the statistics"

# The tracer: $MAPTRAIL (words allowed) or $build/maptrail.
if [[ -n ${MAPTRAIL:-} ]]; then
  read -ra tracer <<<"$MAPTRAIL"
  ((${#tracer[@]})) || die "MAPTRAIL is blank"
  command -v "${tracer[0]}" >/dev/null ||
    die "tracer '${tracer[0]}' (from MAPTRAIL) not found or not executable"
else
  tracer=("$build/maptrail")
  [[ -x ${tracer[0]} ]] ||
    die "maptrail binary not found at ${tracer[0]}: build it first
  (cmake -S $repo -B $build && cmake --build $build --target maptrail maptrail_workloads),
  or pass --build DIR, or set MAPTRAIL=/path/to/maptrail"
fi
storm=${STORM:-$build/tests/workloads/storm}
[[ -x $storm ]] ||
  die "storm workload not found at $storm: build it first
  (cmake --build $build --target maptrail_workloads), or pass --build DIR, or set STORM=..."

read -ra extra_storm_args <<<"$storm_args"
storm_cmd=("$storm" --iterations "$iterations" "${extra_storm_args[@]}")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/maptrail-overhead.XXXXXX")
. "$repo/tools/bench/lib/bpf_stats.sh"
trap 'rm -rf "$tmp"; bpf_stats_restore' EXIT
bpf_stats_off
results=$tmp/results   # lines: NAME<TAB>ns_per_iter<TAB>lost events ("-" untraced, "?" unknown)
: >"$results"

# Prints ns_per_iter of the storm JSON line in file $1, or fails.
ns_per_iter() {
  python3 - "$1" <<'EOF'
import json, sys
value = None
with open(sys.argv[1], errors="replace") as f:
    for line in f:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("workload") == "storm" and "ns_per_iter" in doc:
            value = doc["ns_per_iter"]
if value is None:
    sys.exit(1)
print(value)
EOF
}

# run NAME CMD... : one run; records its ns_per_iter under NAME (unless NAME is "-").
run() {
  local name=$1
  shift
  if ! "$@" >"$tmp/out" 2>"$tmp/err"; then
    echo "$prog: run failed (variant ${name/#-/warm-up}): $*" >&2
    tail -n 20 "$tmp/err" | sed 's/^/  | /' >&2
    exit 1
  fi
  local v
  if ! v=$(ns_per_iter "$tmp/out"); then
    echo "$prog: no storm JSON line on stdout (variant ${name/#-/warm-up}): $*" >&2
    { echo "  stdout (last lines):"; tail -n 10 "$tmp/out" | sed 's/^/  | /'
      echo "  stderr (last lines):"; tail -n 10 "$tmp/err" | sed 's/^/  | /'; } >&2
    exit 1
  fi
  # Events lost by a traced run, from maptrail's summary ("lost: 0 events", "LOST: N events").
  local lost=-
  if [[ $name != - && $name != untraced ]]; then
    lost=$(sed -n 's/^[[:space:]]*[Ll][Oo][Ss][Tt]: \([0-9][0-9]*\) events.*/\1/p' "$tmp/err" |
      tail -n 1)
    lost=${lost:-?}
  fi
  [[ $name == - ]] || printf '%s\t%s\t%s\n' "$name" "$v" "$lost" >>"$results"
  [[ $name == - ]] || cp "$tmp/out" "$tmp/last-$name.out"
  if [[ $lost == - ]]; then
    printf '  %-14s %s ns/iter\n' "${name/#-/warm-up}" "$v" >&2
  else
    printf '  %-14s %s ns/iter, %s events lost\n' "${name/#-/warm-up}" "$v" "$lost" >&2
  fi
}

# The command of variant number $1 (1-based in "variants"), into array "cmd".
variant_cmd() {
  local spec=${variants[$1 - 1]}
  local args a
  read -ra args <<<"${spec#*:}"
  # maptrail refuses a second -o, so add "-o /dev/null" only if ARGS do not choose an output.
  local output=(-o /dev/null)
  for a in "${args[@]}"; do
    case $a in -o|-o?*|--output|--output=*) output=() ;; esac
  done
  cmd=("${tracer[@]}" trace "${output[@]}" "${args[@]}" -- "${storm_cmd[@]}")
}

echo "$prog: $runs runs x ${#names[@]} variants of: ${storm_cmd[*]}" >&2
run - "${storm_cmd[@]}"
for ((r = 1; r <= runs; r++)); do
  echo "run $r/$runs" >&2
  run untraced "${storm_cmd[@]}"
  for ((i = 1; i <= ${#variants[@]}; i++)); do
    variant_cmd "$i"
    run "${names[i]}" "${cmd[@]}"
  done
done

# Commands, for the report (one "NAME<TAB>command" line each).
{
  printf 'untraced\t%s\n' "${storm_cmd[*]}"
  for ((i = 1; i <= ${#variants[@]}; i++)); do
    variant_cmd "$i"
    printf '%s\t%s\n' "${names[i]}" "${cmd[*]}"
  done
} >"$tmp/commands"

cpu=$(awk -F': *' '/^(model name|Hardware|cpu model|Processor)[[:space:]]*:/ {print $2; exit}' /proc/cpuinfo)

python3 - "$results" "$tmp/commands" "$tmp/last-untraced.out" \
  "$(date '+%Y-%m-%d %H:%M:%S %z')" "$(uname -r)" "${cpu:-unknown}" "$(nproc)" "$runs" <<'EOF'
import json, statistics, sys

results, commands, storm_out, date, kernel, cpu, nproc, runs = sys.argv[1:]
order, cmds = [], {}
with open(commands) as f:
    for line in f:
        name, cmd = line.rstrip("\n").split("\t", 1)
        order.append(name)
        cmds[name] = cmd
values = {name: [] for name in order}
lost = {name: [] for name in order}
with open(results) as f:
    for line in f:
        name, v, n = line.rstrip("\n").split("\t")
        values[name].append(float(v))
        lost[name].append(n)
storm = {}
with open(storm_out) as f:
    for line in f:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("workload") == "storm":
            storm = doc

base = statistics.median(values["untraced"])
print("## maptrail tracing overhead: storm workload")
print()
print(f"- date: {date}")
print(f"- kernel: {kernel}")
print(f"- CPU: {cpu}, nproc {nproc}")
print(f"- workload: storm, {storm.get('iterations')} iterations x {storm.get('threads')} "
      f"thread(s), size {storm.get('size')}, touch {str(storm.get('touch')).lower()}; "
      f"{runs} runs per variant, alternated, after one discarded untraced warm-up")
print()
def lost_cell(ns):
    if all(n == "-" for n in ns):
        return "-"
    if any(n == "?" for n in ns):
        return "?"
    counts = [int(n) for n in ns]
    if not any(counts):
        return "0"
    return f"{sum(counts)} (max {max(counts)} per run)"

any_loss = False
print("| variant | median ns/iter | min | max | ratio to untraced | runs | events lost |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in order:
    v = values[name]
    med = statistics.median(v)
    cell = lost_cell(lost[name])
    any_loss |= cell not in ("-", "0")
    print(f"| {name} | {med:.1f} | {min(v):.1f} | {max(v):.1f} | {med / base:.2f}x | {len(v)} "
          f"| {cell} |")
print()
expected = storm.get("syscalls")
print(f"Each traced run should record {expected} mapping syscalls of the storm "
      f"(plus its start-up and exit).")
if any_loss:
    print("**Events were lost** (ring buffer full): those runs did not pay the full per-event "
          "cost, so their ratio understates the overhead of tracing every call.")
print()
print("Commands:")
print()
for name in order:
    print(f"- {name}: `{cmds[name]}`")
EOF
