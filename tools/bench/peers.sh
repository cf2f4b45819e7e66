#!/usr/bin/env bash
# Compares maptrail with its peers (bpftrace, strace, perf trace) on the same workloads, in one
# invocation. Every workload times only its own work, so the start-up of a tracer is not
# measured: storm (tests/workloads/storm.c: a tight mmap/[touch]/munmap loop) and mallocs
# (tests/workloads/mallocs.c: malloc/free, some of it served by mmap) time their own loops;
# the real programs run under timed (tests/workloads/timed.c), which times from just before
# its first fork to just after its last wait (a tracer attached to timed is running by then).
#
# For each workload, runs are alternated (untraced, then each variant, then again, ...) so
# that drift of the machine hits every variant alike; one untraced warm-up run is discarded.
# Prints one Markdown table per workload: median/min/max ns per iteration (ms per run of the
# command for the real programs), the ratio of medians to the untraced median of this same
# invocation, and the events each tool recorded (against the expected count where the
# workload knows it: storm, mallocs).
#
#   tools/bench/peers.sh [--workload NAME|all] [--runs 5] [--iterations 200000] [--repeat N]
#                        [--variants LIST] [--build DIR] [--timeout 900] [--no-install]
#                        [--smoke]
#
# Workloads (NAME; all: every one, in this order):
#   storm-touch     storm --iterations ITER --touch
#   storm-2threads  storm --iterations ITER/2 --threads 2 --touch
#   malloc-heavy    mallocs --iterations ITER     (malloc/free of 16 KiB, 200 KiB, 1 MiB, 64 B)
#   gcc-compile     timed --repeat 5 -- gcc -O2 -c tests/workloads/randmaps.c -o TMPDIR/x.o
#   python-startup  timed --repeat 50 -- /usr/bin/python3 -c pass
#   java-startup    timed --repeat 10 --quiet -- java -Xshare:auto -version  (output: /dev/null)
# --repeat N replaces the 5, 50 and 10 of the real programs (--iterations does not apply to
# them). A program that is missing (gcc, /usr/bin/python3, java) makes the rows of its
# workload say "not installed". The mapping syscalls of a real program are not known
# beforehand: its table gives the events each tool recorded per run (median, min-max; one run
# = timed and its N commands) and the lost counts, with no expected count.
# Every tracer follows the whole process tree of timed (gcc's cc1 and as, the JVM's threads):
# maptrail follows fork, exec and threads itself, strace -f, perf trace inherits its counters
# into children (its default), and the bpftrace program keeps a set of pids: a process that a
# traced process forks (tracepoint:task:task_newtask without CLONE_THREAD) joins it, and its
# probes record /pid == cpid || @tree[pid]/. storm and mallocs keep the plain /pid == cpid/.
# Variants (LIST: comma-separated names; default all, untraced is always run):
#   untraced         the workload alone
#   maptrail-dwarf   maptrail trace -o FILE -- CMD            (default stacks: dwarf)
#   maptrail-fp      maptrail trace -o FILE --stack fp -- CMD
#   maptrail-none    maptrail trace -o FILE --stack none -- CMD
#                    (FILE: the live log, in the temporary directory, like strace's -o)
#   maptrail-daemon  CMD while a "maptrail daemon" traces every process
#   bpftrace         bpftrace -c CMD, one printf per sys_exit of mmap munmap brk mprotect
#                    mremap madvise of the workload; bpftrace-ustack adds ustack
#   strace           strace -f -o FILE -e trace=<mapping syscalls> CMD; strace-k adds -k
#   perf-trace       perf trace -o FILE -e mmap,munmap,brk,mprotect,mremap,madvise -- CMD
# A tool that is missing gets a row saying "not installed"; a variant that fails gets a row
# saying "failed" with the reason; neither stops the benchmark. As root, missing bpftrace
# and strace are installed with apt-get first (--no-install: don't).
# --smoke: a quick check that every variant works: 2 runs of 5000 iterations of storm-touch,
#   --repeat 1 for the real programs (--runs, --iterations, --repeat, --workload override).
#
# Environment: MAPTRAIL  the maptrail command (default DIR/maptrail; may carry words)
#              STORM, MALLOCS, TIMED  the workload binaries (default DIR/tests/workloads/NAME)
# Tracing needs root (BPF, ptrace of the workload, perf events): run this as root.
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "$0")/../.." && pwd)

usage() {
  echo "Usage:"
  sed -n '/^#   tools\/bench\/peers.sh/,/^# Tracing needs root/p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "$prog: $*" >&2
  exit 2
}

all_workloads=(storm-touch storm-2threads malloc-heavy gcc-compile python-startup java-startup)
all_variants=(untraced maptrail-dwarf maptrail-fp maptrail-none maptrail-daemon
  bpftrace bpftrace-ustack strace strace-k perf-trace)
# The syscalls each peer is asked to trace (maptrail traces its whole family anyway).
bpftrace_syscalls=(mmap munmap brk mprotect mremap madvise)
strace_syscalls=(mmap munmap brk mprotect mremap madvise mlock munlock mlockall munlockall)
perf_syscalls=(mmap munmap brk mprotect mremap madvise)

runs=
iterations=
repeat=
workload=
variant_list=
build=${MAPTRAIL_BUILD_DIR:-$repo/build}
timeout_s=900
install=1
smoke=0

while (($#)); do
  case $1 in
    --workload) (($# >= 2)) || die "--workload needs a value"; workload=$2; shift 2 ;;
    --runs) (($# >= 2)) || die "--runs needs a value"; runs=$2; shift 2 ;;
    --iterations) (($# >= 2)) || die "--iterations needs a value"; iterations=$2; shift 2 ;;
    --repeat) (($# >= 2)) || die "--repeat needs a value"; repeat=$2; shift 2 ;;
    --variants) (($# >= 2)) || die "--variants needs a value"; variant_list=$2; shift 2 ;;
    --build) (($# >= 2)) || die "--build needs a value"; build=$2; shift 2 ;;
    --timeout) (($# >= 2)) || die "--timeout needs a value"; timeout_s=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --smoke) smoke=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

if ((smoke)); then
  runs=${runs:-2}
  iterations=${iterations:-5000}
  repeat=${repeat:-1}
  workload=${workload:-storm-touch}
fi
runs=${runs:-5}
iterations=${iterations:-200000}
workload=${workload:-all}

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive integer, got '$runs'"
if ! [[ $iterations =~ ^[1-9][0-9]*$ ]] || ((iterations < 2)); then
  die "--iterations wants an integer of at least 2, got '$iterations'"
fi
if [[ -n $repeat ]] && ! [[ $repeat =~ ^[1-9][0-9]*$ ]]; then
  die "--repeat wants a positive integer, got '$repeat'"
fi
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout wants a positive integer, got '$timeout_s'"
if [[ $workload == all ]]; then
  workloads=("${all_workloads[@]}")
else
  [[ " ${all_workloads[*]} " == *" $workload "* ]] ||
    die "unknown workload '$workload' (known: ${all_workloads[*]} all)"
  workloads=("$workload")
fi
variants=(untraced)
if [[ -z $variant_list ]]; then
  variants=("${all_variants[@]}")
else
  IFS=, read -ra wanted <<<"$variant_list"
  for v in "${wanted[@]}"; do
    [[ " ${all_variants[*]} " == *" $v "* ]] ||
      die "unknown variant '$v' (known: ${all_variants[*]})"
    [[ " ${variants[*]} " == *" $v "* ]] || variants+=("$v")
  done
fi

command -v python3 >/dev/null || die "python3 is needed for the statistics"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"

# The tracer: $MAPTRAIL (words allowed) or $build/maptrail. Missing: its rows say so.
if [[ -n ${MAPTRAIL:-} ]]; then
  read -ra maptrail <<<"$MAPTRAIL"
  ((${#maptrail[@]})) || die "MAPTRAIL is blank"
else
  maptrail=("$build/maptrail")
fi
storm=${STORM:-$build/tests/workloads/storm}
mallocs=${MALLOCS:-$build/tests/workloads/mallocs}
timed=${TIMED:-$build/tests/workloads/timed}
# The workload binaries the chosen workloads need must exist (the programs that timed runs
# may be missing: their workload's rows say so).
for wl in "${workloads[@]}"; do
  case $wl in
    storm-*) bin=$storm; var=STORM ;;
    malloc-heavy) bin=$mallocs; var=MALLOCS ;;
    *) bin=$timed; var=TIMED ;;
  esac
  [[ -x $bin ]] ||
    die "workload binary not found at $bin (for $wl): build it first
  (cmake --build $build --target maptrail_workloads), or pass --build DIR, or set $var=..."
done

# Installs the peers that are missing (bpftrace, strace) with apt-get, as root only.
install_peers() {
  local want=() p
  for p in bpftrace strace; do
    [[ " ${variants[*]} " == *" $p "* ]] || continue
    command -v "$p" >/dev/null || want+=("$p")
  done
  ((${#want[@]})) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "$prog: not installed: ${want[*]} (run as root to have them installed," \
      "or: apt-get install --no-install-recommends ${want[*]})" >&2
    return 0
  fi
  if ! command -v apt-get >/dev/null; then
    echo "$prog: not installed: ${want[*]}, and there is no apt-get to install them" >&2
    return 0
  fi
  echo "$prog: installing the missing peers: apt-get install -y --no-install-recommends" \
    "${want[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${want[@]}" >&2; then
    echo "$prog: that failed; retrying after apt-get update" >&2
    apt-get update -q >&2 || true
    apt-get install -y -q --no-install-recommends "${want[@]}" >&2 ||
      echo "$prog: could not install ${want[*]}: their rows will say not installed" >&2
  fi
}
((install)) && install_peers

tmp=$(mktemp -d "${TMPDIR:-/tmp}/maptrail-peers.XXXXXX")
daemon_pid=
cleanup() {
  if [[ -n $daemon_pid ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  bpf_stats_restore
}
. "$repo/tools/bench/lib/bpf_stats.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
bpf_stats_off
sock=$tmp/s

# --- parsing (python3) ------------------------------------------------------------------
cat >"$tmp/parse.py" <<'EOF'
"""parse.py KIND STDOUT STDERR [TRACEFILE]: prints
ns_per_iter<TAB>expected<TAB>recorded<TAB>lost  ("-" where it does not apply or is not known),
or fails."""
import json, re, sys

kind, out, err = sys.argv[1:4]
trace = sys.argv[4] if len(sys.argv) > 4 else None

def text(path):
    if not path:
        return ""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""

# The workload's result: the last JSON line on its stdout with a "workload" and an
# "ns_per_iter" (storm, mallocs, timed, ...); "syscalls", when there, is the expected count.
result = None
for line in text(out).splitlines():
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        doc = json.loads(line)
    except ValueError:
        continue
    if isinstance(doc, dict) and "workload" in doc and "ns_per_iter" in doc:
        result = doc
if result is None:
    print("no JSON result line (with workload and ns_per_iter) on the workload's stdout",
          file=sys.stderr)
    sys.exit(1)
expected = result.get("syscalls", "-")

MAPTRAIL_SYSCALLS = {"mmap", "munmap", "brk", "mprotect", "mremap", "madvise", "mlock",
                     "mlock2", "munlock", "mlockall", "munlockall", "pkey_mprotect", "shmat",
                     "shmdt", "mseal"}
recorded, lost = "-", "-"
if kind == "maptrail":
    # The summary on stderr: "  events: mmap 5012 (1 failed), munmap 5000, exec 1, ..."
    # (wrapped over several lines), then "  lost: 0 events" or "  LOST: N events (...)".
    e = text(err)
    start = e.rfind("maptrail summary:")
    if start >= 0:
        s = e[start:]
        m = re.search(r"^\s*events:(.*?)^\s*mapped:", s, re.S | re.M)
        if m:
            recorded = sum(int(n) for k, n in re.findall(r"(\w+) (\d+)", m.group(1))
                           if k in MAPTRAIL_SYSCALLS)
        m = re.search(r"^\s*lost: (\d+) events", s, re.I | re.M)
        lost = int(m.group(1)) if m else "?"
    if recorded == "-":
        recorded = "?"
elif kind == "bpftrace":
    t = text(trace) + text(out)
    recorded = sum(1 for line in t.splitlines() if line.startswith("EV "))
    found = [int(n) for n in re.findall(r"Lost (\d+) events", t + text(err))]
    lost = sum(found)
elif kind == "strace":
    pat = re.compile(r"^(?:\[pid\s+)?\d*\]?\s*(?:mmap|munmap|brk|mprotect|mremap|madvise|mlock|"
                     r"munlock|mlockall|munlockall)\(")
    recorded = sum(1 for line in text(trace).splitlines() if pat.match(line))
elif kind == "perf":
    pat = re.compile(r"\b(?:mmap|munmap|brk|mprotect|mremap|madvise)\(")
    t = text(trace)
    recorded = sum(1 for line in t.splitlines()
                   if pat.search(line) and "[continued]" not in line)
    lost = sum(int(n) for n in re.findall(r"LOST (\d+) events", t + text(err)))
print(f"{result['ns_per_iter']}\t{expected}\t{recorded}\t{lost}")
EOF

# Asks the daemon: "status" after draining what the kernel has reported (a "history" request
# drains); repeats until its event count stops moving. Prints events<TAB>lost.
daemon_status() {
  python3 - "$sock" "$repo/tools/bench" <<'EOF'
import os, sys, time
sys.path.insert(0, sys.argv[2])
from daemon_client import ask as ask_daemon

def ask(req):
    return ask_daemon(sys.argv[1], dict(req, v=1))

last = None
for _ in range(100):
    ask({"op": "history", "pid": os.getpid(), "lo": 0, "hi": 1})
    st = ask({"op": "status"})
    if not st.get("ok"):
        sys.exit(f"daemon status failed: {st.get('error')}")
    now = (st["events"], st["lost"])
    if now == last:
        break
    last = now
    time.sleep(0.05)
print(f"{last[0]}\t{last[1]}")
EOF
}

# --- commands -----------------------------------------------------------------------------
# Words joined for display, quoted where the shell would need it.
shell_join() {
  local out="" w q="'"
  for w; do
    if [[ $w =~ ^[][A-Za-z0-9_./=:,+@%^-]+$ ]]; then
      out+=" $w"
    else
      out+=" '${w//$q/$q\\$q$q}'"
    fi
  done
  printf '%s' "${out# }"
}

# $1: 1 for ustack; $2: 1 to follow the process tree of the workload (its children, theirs,
# ...): a process forked (not a thread: no CLONE_THREAD, 0x10000) by a traced one joins
# @tree when it is created, before it runs; the map is cleared at the end so that bpftrace
# does not print it.
bpftrace_program() {
  local probes=() s filter='pid == cpid'
  for s in "${bpftrace_syscalls[@]}"; do probes+=("tracepoint:syscalls:sys_exit_$s"); done
  if (($2)); then
    filter='pid == cpid || @tree[pid]'
    printf '%s ' 'tracepoint:task:task_newtask /(pid == cpid || @tree[pid]) && (args->clone_flags & 0x10000) == 0/ { @tree[args->pid] = 1; }'
    printf '%s ' 'END { clear(@tree); }'
  fi
  local IFS=,
  if (($1)); then
    printf '%s /%s/ { printf("EV %%s %%d %%s %%d%%s\\n", comm, tid, probe, args->ret, ustack); }' \
      "${probes[*]}" "$filter"
  else
    printf '%s /%s/ { printf("EV %%s %%d %%s %%d\\n", comm, tid, probe, args->ret); }' \
      "${probes[*]}" "$filter"
  fi
}

# The binary variant $1 needs (empty: none but the workload).
variant_tool() {
  case $1 in
    untraced) echo "" ;;
    maptrail-*) echo "${maptrail[0]}" ;;
    bpftrace*) echo bpftrace ;;
    strace*) echo strace ;;
    perf-trace) echo perf ;;
  esac
}

# The command of variant $1 on workload command "work" (array; "follow": 1 when the workload
# forks programs whose events count too), into array "cmd"; the kind
# of its output (for parse.py) into "kind"; its trace file (or empty) into "trace".
variant_cmd() {
  trace=""
  kind=none
  case $1 in
    untraced) cmd=("${work[@]}") ;;
    maptrail-dwarf) kind=maptrail; cmd=("${maptrail[@]}" trace -o "$tmp/trace.log" -- "${work[@]}") ;;
    maptrail-fp)
      kind=maptrail
      cmd=("${maptrail[@]}" trace -o "$tmp/trace.log" --stack fp -- "${work[@]}") ;;
    maptrail-none)
      kind=maptrail
      cmd=("${maptrail[@]}" trace -o "$tmp/trace.log" --stack none -- "${work[@]}") ;;
    maptrail-daemon) kind=daemon; cmd=("${work[@]}") ;;
    bpftrace|bpftrace-ustack)
      kind=bpftrace; trace=$tmp/trace.bt.txt
      local u=0
      [[ $1 == bpftrace-ustack ]] && u=1
      cmd=(bpftrace -o "$trace" -c "${work[*]}" -e "$(bpftrace_program "$u" "$follow")") ;;
    strace|strace-k)
      kind=strace; trace=$tmp/trace.strace.txt
      local k=()
      [[ $1 == strace-k ]] && k=(-k)
      local IFS=,
      cmd=(strace -f "${k[@]}" -o "$trace" -e "trace=${strace_syscalls[*]}" "${work[@]}") ;;
    perf-trace)
      kind=perf; trace=$tmp/trace.perf.txt
      local IFS=,
      cmd=(perf trace -o "$trace" -e "${perf_syscalls[*]}" -- "${work[@]}") ;;
  esac
}

daemon_cmd() {
  echo "${maptrail[*]} daemon --socket $sock (until it says \"listening on\"), then" \
    "$(shell_join "${work[@]}"), then SIGTERM to the daemon"
}

# --- running ------------------------------------------------------------------------------
# The reason a run failed, one line for the table: the last lines of its stderr.
failure_reason() {  # $1: exit status, $2: stderr file
  local why
  why=$(grep -v '^[[:space:]]*$' "$2" 2>/dev/null | grep -v '^Attaching ' | tail -n 2 |
    tr '\n' ' ' | sed 's/[[:space:]]\+/ /g; s/ $//' | cut -c1-300) || true
  if (($1 == 124 || $1 == 137)); then
    echo "timed out after ${timeout_s} s${why:+: $why}"
  else
    echo "exit status $1${why:+: $why}"
  fi
}

# Records that a run of variant $1 of this workload failed, for reason $2; echoes the
# stderr tail.
mark_failed() {
  printf '%s\tfailed\t%s\n' "$1" "$2" >>"$status"
  echo "$prog: variant $1 failed: $2" >&2
  tail -n 15 "$tmp/err" 2>/dev/null | sed 's/^/  | /' >&2 || true
}

# Whether variant $1 is not run any more: its tool is missing, a run of it timed out, or its
# first two runs failed (a failure that comes and goes, e.g. a crash at the workload's exit,
# only costs the runs it hits).
is_dropped() {
  local t=$'\t' fails oks
  grep -q "^$1${t}not installed$t" "$status" && return 0
  grep -q "^$1${t}failed${t}timed out" "$status" && return 0
  fails=$(grep -c "^$1$t" "$status" || true)
  oks=$(grep -c "^$1$t" "$results" || true)
  ((fails >= 2 && oks == 0))
}

# start_daemon: starts "maptrail daemon" and waits until it listens; fails with a reason.
start_daemon() {
  rm -f "$sock"
  : >"$tmp/daemon.err"  # not the last run's: the redirection below happens in the child
  "${maptrail[@]}" daemon --socket "$sock" 2>"$tmp/daemon.err" &
  daemon_pid=$!
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q "listening on" "$tmp/daemon.err" && return 0
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      local rc=0
      wait "$daemon_pid" || rc=$?
      daemon_pid=
      cp "$tmp/daemon.err" "$tmp/err"
      reason=$(failure_reason "$rc" "$tmp/daemon.err")
      return 1
    fi
    sleep 0.1
  done
  stop_daemon || true
  cp "$tmp/daemon.err" "$tmp/err"
  reason="the daemon did not say \"listening on\" within 60 s"
  return 1
}

stop_daemon() {
  local rc=0
  kill -TERM "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" || rc=$?
  daemon_pid=
  return "$rc"
}

# run NAME: one run of variant NAME ("-": the untraced warm-up, not recorded).
run() {
  local name=$1 label=$1 rc=0 parsed reason="" lost
  [[ $name == - ]] && { name=untraced; label=warm-up; }
  variant_cmd "$name"
  [[ -n $trace ]] && rm -f "$trace"
  local before=""
  if [[ $kind == daemon ]]; then
    if ! start_daemon; then
      mark_failed "$name" "daemon: $reason"
      return 0
    fi
    if ! before=$(daemon_status 2>"$tmp/err"); then
      stop_daemon || true
      mark_failed "$name" "$(failure_reason 1 "$tmp/err")"
      return 0
    fi
  fi
  timeout -k 10 "$timeout_s" "${cmd[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if ((rc != 0)); then
    reason=$(failure_reason "$rc" "$tmp/err")
    [[ $kind == daemon ]] && { stop_daemon || true; }
    [[ $name == untraced ]] && { mark_failed "$name" "$reason"; die "the untraced $label run failed"; }
    mark_failed "$name" "$reason"
    return 0
  fi
  local pk=$kind
  [[ $kind == daemon ]] && pk=none
  if ! parsed=$(python3 "$tmp/parse.py" "$pk" "$tmp/out" "$tmp/err" "$trace" 2>"$tmp/perr"); then
    reason="$(cat "$tmp/perr")"
    [[ $kind == daemon ]] && { stop_daemon || true; }
    [[ $name == untraced ]] && { mark_failed "$name" "$reason"; die "the untraced $label run failed"; }
    mark_failed "$name" "$reason"
    return 0
  fi
  local ns expected recorded
  IFS=$'\t' read -r ns expected recorded lost <<<"$parsed"
  if [[ $kind == daemon ]]; then
    local after
    if ! after=$(daemon_status 2>"$tmp/perr"); then
      stop_daemon || true
      mark_failed "$name" "daemon status: $(cat "$tmp/perr")"
      return 0
    fi
    local e0 l0 e1 l1
    IFS=$'\t' read -r e0 l0 <<<"$before"
    IFS=$'\t' read -r e1 l1 <<<"$after"
    recorded=$((e1 - e0))
    lost=$((l1 - l0))
    if ! stop_daemon; then
      cp "$tmp/daemon.err" "$tmp/err"
      mark_failed "$name" "daemon: $(failure_reason 1 "$tmp/daemon.err")"
      return 0
    fi
  fi
  [[ -n $trace ]] && rm -f "$trace"
  [[ $label == warm-up ]] ||
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$ns" "$expected" "$recorded" "$lost" "$r" \
      >>"$results"
  [[ $name == untraced ]] && cp "$tmp/out" "$tmp/last-untraced.out"
  local msg="$ns ns/iter"
  ((follow)) && msg="$(awk -v ns="$ns" 'BEGIN { printf "%.2f", ns / 1e6 }') ms/run"
  if [[ $recorded != - ]]; then
    msg+=", $recorded events recorded"
    [[ $expected != - ]] && msg+=" of $expected"
  fi
  [[ $lost != - ]] && msg+=", $lost lost"
  printf '  %-16s %s\n' "$label" "$msg" >&2
}

# --- main ---------------------------------------------------------------------------------
cpu=$(awk -F': *' '/^(model name|Hardware|cpu model|Processor)[[:space:]]*:/ {print $2; exit}' /proc/cpuinfo)
echo "# maptrail and its peers: $(IFS=,; echo "${workloads[*]}" | sed 's/,/, /g')"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %z')"
echo "- kernel: $(uname -r)"
echo "- CPU: ${cpu:-unknown}, nproc $(nproc)"
echo "- $runs runs per variant, alternated, after one discarded untraced warm-up;" \
  "ratio = median / untraced median of the same workload in this invocation;" \
  "paired ratio = median over the rounds of each run / the untraced run of its round"
for t in bpftrace strace perf; do
  if command -v "$t" >/dev/null; then
    case $t in
      bpftrace) v=$(bpftrace --version 2>/dev/null | head -n 1) || true ;;
      strace) v=$(strace -V 2>/dev/null | head -n 1) || true ;;
      perf) v=$(perf version 2>/dev/null | head -n 1) || true ;;
    esac
    echo "- $t: ${v:-version unknown}"
  fi
done
echo

# The workload $1: its command into array "work", "follow" (1: its children count too), and
# "needs" (a program it runs, which may be missing; empty: none).
workload_cmd() {
  follow=0
  needs=""
  case $1 in
    storm-touch) work=("$storm" --iterations "$iterations" --touch) ;;
    storm-2threads) work=("$storm" --iterations $((iterations / 2)) --threads 2 --touch) ;;
    malloc-heavy) work=("$mallocs" --iterations "$iterations") ;;
    gcc-compile)
      follow=1; needs=gcc
      work=("$timed" --repeat "${repeat:-5}" -- gcc -O2 -c "$repo/tests/workloads/randmaps.c"
        -o "$tmp/x.o") ;;
    python-startup)
      follow=1; needs=/usr/bin/python3
      work=("$timed" --repeat "${repeat:-50}" -- /usr/bin/python3 -c pass) ;;
    java-startup)
      follow=1; needs=java
      work=("$timed" --repeat "${repeat:-10}" --quiet -- java -Xshare:auto -version) ;;
  esac
}

for wl in "${workloads[@]}"; do
  workload_cmd "$wl"
  # bpftrace -c splits its command on blanks.
  for w in "${work[@]}"; do
    [[ $w != *[[:space:]]* ]] ||
      die "$wl: the words of the workload's command must not contain blanks (bpftrace -c): '$w'"
  done
  if [[ -n $needs ]] && ! command -v "$needs" >/dev/null; then
    echo "$prog: $wl: $needs not found: skipped" >&2
    echo "## $wl"
    echo
    echo "\`$(shell_join "${work[@]}")\`: not run, $needs is not installed."
    echo
    echo "| variant | median | min | max | ratio to untraced | runs | events recorded | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    for v in "${variants[@]}"; do
      echo "| $v | - | - | - | - | 0 | - | not installed: $needs not found |"
    done
    echo
    continue
  fi
  rm -f "$tmp/last-untraced.out"
  results=$tmp/results.$wl  # NAME<TAB>ns<TAB>expected<TAB>recorded<TAB>lost<TAB>round
  status=$tmp/status.$wl    # NAME<TAB>not installed|failed<TAB>reason, one line per failure
  : >"$results"
  : >"$status"
  for v in "${variants[@]}"; do
    tool=$(variant_tool "$v")
    [[ -z $tool ]] && continue
    if ! command -v "$tool" >/dev/null; then
      if [[ $v == maptrail-* ]]; then
        printf '%s\tnot installed\tno maptrail at %s: build it (cmake --build %s)\n' \
          "$v" "$tool" "$build" >>"$status"
      else
        printf '%s\tnot installed\t%s not found\n' "$v" "$tool" >>"$status"
      fi
    fi
  done

  echo "$prog: $wl: $runs runs x ${#variants[@]} variants of: ${work[*]}" >&2
  run -
  for ((r = 1; r <= runs; r++)); do
    echo "$wl run $r/$runs" >&2
    for v in "${variants[@]}"; do
      is_dropped "$v" || run "$v"
    done
  done

  {
    for v in "${variants[@]}"; do
      variant_cmd "$v"
      if [[ $v == maptrail-daemon ]]; then
        printf '%s\t%s\n' "$v" "$(daemon_cmd)"
      else
        printf '%s\t%s\n' "$v" "$(shell_join "${cmd[@]}")"
      fi
    done
  } >"$tmp/commands.$wl"

  python3 - "$wl" "$results" "$status" "$tmp/commands.$wl" "$tmp/last-untraced.out" "$runs" <<'EOF'
import json, statistics, sys

wl, results, status, commands, result_out, runs = sys.argv[1:]
order, cmds = [], {}
with open(commands) as f:
    for line in f:
        name, cmd = line.rstrip("\n").split("\t", 1)
        order.append(name)
        cmds[name] = cmd
rows = {name: [] for name in order}
by_round = {name: {} for name in order}
with open(results) as f:
    for line in f:
        name, ns, expected, recorded, lost, rnd = line.rstrip("\n").split("\t")
        rows[name].append((float(ns), expected, recorded, lost))
        by_round[name][rnd] = float(ns)
missing, failures = {}, {name: [] for name in order}
with open(status) as f:
    for line in f:
        name, what, why = line.rstrip("\n").split("\t", 2)
        why = why.replace("|", "\\|")
        if what == "not installed":
            missing[name] = why
        else:
            failures[name].append(why)
# The workload's own JSON line, from the last untraced run.
doc = {}
with open(result_out) as f:
    for line in f:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict) and "workload" in d and "ns_per_iter" in d:
            doc = d
kind = doc.get("workload")
known = "syscalls" in doc  # an expected count of mapping syscalls per run

print(f"## {wl}")
print()
if kind == "storm":
    print(f"storm, {doc.get('iterations')} iterations x {doc.get('threads')} thread(s), "
          f"size {doc.get('size')}, touch {str(doc.get('touch')).lower()}: "
          f"{doc.get('syscalls')} mapping syscalls per run in the timed loops; "
          f"ns/iter is the wall time of one iteration of one thread.")
elif kind == "mallocs":
    print(f"mallocs, {doc.get('iterations')} iterations of malloc + free, sizes cycling "
          f"through 16 KiB, 200 KiB, 1 MiB, 64 B (mmap threshold fixed at 128 KiB): "
          f"{doc.get('syscalls')} mapping syscalls per run in the timed loop (an mmap and a "
          f"munmap per allocation of 200 KiB or 1 MiB); ns/iter is the wall time of one "
          f"malloc + free.")
elif kind == "timed":
    print(f"`{cmds['untraced']}`: {doc.get('command')} run {doc.get('repeat')} time(s) in "
          f"sequence, timed from just before the first fork to just after the last wait; "
          f"ms/run is the wall time of one run of {doc.get('command')}, its own start-up "
          f"included (the tracer's is not: it is attached to timed before the first fork).")
else:
    print(f"`{cmds['untraced']}`: ns/iter as the workload reports it.")
print()
# Real programs run for milliseconds: their times are in ms per run of the command.
if kind == "timed":
    unit, scale = "ms/run", 1e6
else:
    unit, scale = "ns/iter", 1.0
base = statistics.median(r[0] for r in rows["untraced"])

# Each run against the untraced run of the same round (they ran one after the other), so
# that drift of the machine over the rounds cancels: median of those ratios, with the
# quartiles when there are enough rounds.
def paired_cell(name):
    if name == "untraced":
        return "-"
    base_by_round = by_round["untraced"]
    ratios = sorted(ns / base_by_round[r] for r, ns in by_round[name].items()
                    if r in base_by_round)
    if not ratios:
        return "-"
    cell = f"{statistics.median(ratios):.2f}x"
    if len(ratios) >= 4:
        q = statistics.quantiles(ratios, n=4)
        cell += f" ({q[0]:.2f}-{q[2]:.2f})"
    return cell

def events_cell(name, rs):
    if name == "untraced":
        return "-"
    recorded = [r[2] for r in rs]
    if any(x in ("-", "?") for x in recorded):
        return "?"
    counts = [int(x) for x in recorded]
    if known:
        total = sum(counts)
        expected = sum(int(r[1]) for r in rs)
        cell = f"{total} / {expected} ({100 * total / expected:.1f}%)"
    else:
        med = statistics.median(counts)
        cell = f"{med:g} ({min(counts)}-{max(counts)})"
        if kind == "timed" and int(doc.get("repeat", 1)) > 1:
            cell += f", {med / int(doc['repeat']):.0f} per {doc.get('command')}"
    if name == "maptrail-daemon":
        cell += ", all processes"
    return cell

def lost_note(rs):
    lost = [r[3] for r in rs]
    if all(x == "-" for x in lost):
        return ""
    if any(x == "?" for x in lost):
        return "lost events: unknown"
    counts = [int(x) for x in lost if x != "-"]
    if not any(counts):
        return "0 lost"
    return f"**LOST {sum(counts)} events** (max {max(counts)} per run)"

events_header = ("events recorded (sum / expected)" if known
                 else "events recorded per run (median, min-max)")
print(f"| variant | median {unit} | min | max | ratio to untraced | paired ratio (quartiles) "
      f"| runs | {events_header} | notes |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for name in order:
    rs, fails = rows[name], failures[name]
    if not rs:
        if name in missing:
            note = f"not installed: {missing[name]}"
        elif fails:
            note = f"failed ({len(fails)} of {len(fails)} runs): {fails[-1]}"
        else:
            note = "no run"
        print(f"| {name} | - | - | - | - | - | 0 | - | {note} |")
        continue
    v = [r[0] for r in rs]
    med = statistics.median(v)
    notes = [n for n in (lost_note(rs),) if n]
    if name == "maptrail-daemon":
        notes.append("daemon traces every process; count = its status delta")
    if fails:
        notes.append(f"failed in {len(fails)} of {len(fails) + len(rs)} runs "
                     f"(not counted): {fails[-1]}")
    prec = 2 if kind == "timed" else 1
    print(f"| {name} | {med / scale:.{prec}f} | {min(v) / scale:.{prec}f} "
          f"| {max(v) / scale:.{prec}f} | {med / base:.2f}x | {paired_cell(name)} | {len(v)} "
          f"| {events_cell(name, rs)} | {'; '.join(notes)} |")
print()
if known:
    print("Events recorded: the mapping syscalls each tool reported for the workload, against "
          "the loop's own count; a complete trace is a little above 100% (the start-up's "
          "mmaps: ld.so, libc, thread stacks), below 100% means events were lost. maptrail "
          "counts its summary's syscall events; bpftrace its printed lines; strace and perf "
          "trace the calls in their output file.")
else:
    print("Events recorded: the mapping syscalls each tool reported in one run for the whole "
          "process tree of timed (timed, each run of the command and whatever it forks or "
          "execs: threads, children), median and min-max over the runs; no expected count is "
          "known, so compare the tools with each other and with the lost counts. The sets of "
          "syscalls differ: maptrail counts its summary's syscall events (its whole family: "
          "also mlock, shmat, ...), strace the calls of its -e list in its output file (also "
          "mlock, munlock, mlockall, munlockall), bpftrace its printed lines and perf trace "
          "the calls in its output file (mmap munmap brk mprotect mremap madvise); "
          "maptrail-daemon counts every process on the machine.")
print()
print("Commands:")
print()
for name in order:
    print(f"- {name}: `{cmds[name]}`")
print()
EOF
done
