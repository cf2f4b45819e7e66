#!/usr/bin/env bash
# `maptrail pmap` end to end (client, daemon answer, smaps read, render) against procps pmap,
# for a process holding about --vmas VMAs (default 65,530: vm.max_map_count's default), in
# the default, -x and -d formats and with --origin. Each command runs --runs times,
# alternated; prints a Markdown table of the medians with min and max.
# Usage (as root): tools/bench/pmap_end_to_end.sh [--vmas N] [--runs N] [--build DIR]
set -euo pipefail
vmas=65530
runs=5
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${MAPTRAIL_BUILD_DIR:-$repo/build}
while (($#)); do
  case $1 in
    --vmas) vmas=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: $0 [--vmas N] [--runs N] [--build DIR]" >&2; exit 2 ;;
  esac
done
maptrail=$build/maptrail
[[ -x $maptrail ]] || { echo "$maptrail not found: build first (tools/setup.sh)" >&2; exit 2; }
command -v pmap >/dev/null || { echo "procps pmap not found (apt-get install procps)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

# A process of one-page VMAs that cannot merge: every other page of a reservation made
# readable (Python's ctypes, so that nothing needs building).
/usr/bin/python3 - "$vmas" "$dir/ready" <<'PY' &
import ctypes, sys, time
n, ready = int(sys.argv[1]), sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
wanted = n - sum(1 for _ in open("/proc/self/maps")) + 1
base = libc.mmap(None, 8192 * max(wanted, 1), 0, 0x22, -1, 0)
for i in range(max(wanted // 2, 0)):
    libc.mprotect(ctypes.c_void_p(base + i * 16384), 4096, 1)
open(ready, "w").write(str(sum(1 for _ in open("/proc/self/maps"))))
time.sleep(3600)
PY
target=$!
for _ in $(seq 600); do [[ -s $dir/ready ]] && break; sleep 0.1; done
[[ -s $dir/ready ]] || { echo "the test process did not start" >&2; exit 1; }
"$maptrail" daemon --socket "$dir/sock" -p "$target" 2>"$dir/daemon.err" &
for _ in $(seq 300); do grep -q "listening on" "$dir/daemon.err" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$dir/daemon.err" || { cat "$dir/daemon.err" >&2; exit 1; }

variants=("maptrail pmap" "procps pmap" "maptrail pmap -x" "procps pmap -x" "maptrail pmap -d"
  "procps pmap -d" "maptrail pmap --origin")
run() {  # variant -> seconds on stdout
  local -a cmd
  case $1 in
    maptrail*) read -ra cmd <<<"${1#maptrail pmap}"; cmd=("$maptrail" pmap --socket "$dir/sock" "${cmd[@]}") ;;
    procps*) read -ra cmd <<<"${1#procps pmap}"; cmd=(pmap "${cmd[@]}") ;;
  esac
  local t0 t1
  t0=$(date +%s%N)
  "${cmd[@]}" "$target" >"$dir/out" || { echo "failed: ${cmd[*]} $target" >&2; exit 1; }
  t1=$(date +%s%N)
  awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.4f", ns / 1e9 }'
}
declare -A times
for ((r = 0; r < runs; r++)); do
  for v in "${variants[@]}"; do times[$v]+="$(run "$v") "; done
done

echo "### \`maptrail pmap\` end to end, $(cat "$dir/ready") VMAs ($runs alternated runs)"
echo
echo "| command | median s | min | max |"
echo "|---|---:|---:|---:|"
for v in "${variants[@]}"; do
  read -ra sorted <<<"$(tr ' ' '\n' <<<"${times[$v]}" | grep . | sort -n | tr '\n' ' ')"
  printf '| `%s` | %.3f | %.3f | %.3f |\n' "$v" "${sorted[$((${#sorted[@]} / 2))]}" \
    "${sorted[0]}" "${sorted[-1]}"
done
