#!/usr/bin/env python3
"""Overhead on a real program's start, measured one start at a time in pairs.

  sudo tools/bench/paired_starts.py [--workload java-startup|python-startup|gcc-compile]
                                    [--variants dwarf,none] [--pairs 100] [--blocks 4]
                                    [--gap-ms 150] [--run-length 1] [--build DIR]
                                    [--json-out FILE]

Why: on a shared 2-vCPU VM the untraced JVM start drifts by 20-50% within minutes, and
peers.sh, which starts a tracer per run of 10 starts, needs hundreds of runs to tell 3%
from 6%. Here two driver shells wait for a line on stdin and then run the command once under
timed (tests/workloads/timed.c); one of them is traced by a long-running `maptrail trace -p`
(its children followed, as `trace -- CMD` follows them), the other is not. Starts
alternate T, U, U, T, ... so a pair is ~100 ms apart and drift cancels; after every start the
script waits --gap-ms so that maptrail has handled the traced start before the next start
begins (otherwise its late work would land on the untraced start and hide the overhead).

For each variant, --blocks sessions of --pairs pairs, the variants' sessions interleaved.
The untraced start runs while maptrail's programs are attached: their filter (two BPF
programs on every system call, returning at once for an untraced process) is paid by both
starts, so the ratio leaves out that part; the variant "attached" (maptrail tracing an idle
process, both starts untraced) measures it, and the noise floor. The variants
"<mode>-kernel" stop maptrail while each start runs (the BPF programs alone); "<mode>-first"
start a new maptrail for every pair, so the traced start is the first it sees and pays for
its first reading of the program's libraries (a run of ten starts under `trace -- CMD`
pays that once). With --run-length N each side of a pair is N starts back to back (timed
--repeat N, the mean per start), so maptrail's work on one start can land on the next: with
a "-first" variant that is N starts under a maptrail started for them, as peers.sh runs them.

Prints Markdown to stdout: per variant the median ms per start of each side, the median of
the per-pair ratios with quartiles and a 95% interval of the median (order statistics), the
events recorded per traced start and the events lost. Needs root (BPF).
"""
import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WORKLOADS = {
    "java-startup": ["java", "-Xshare:auto", "-version"],
    "python-startup": ["/usr/bin/python3", "-c", "pass"],
    "gcc-compile": ["gcc", "-O2", "-c", os.path.join(REPO, "tests/workloads/randmaps.c"),
                    "-o", "/dev/null"],
}
VARIANTS = {"dwarf": [], "fp": ["--stack", "fp"], "none": ["--stack", "none"], "attached": None}
# "<variant>-kernel": maptrail is stopped (SIGSTOP) while each start runs and continued in the
# gap after it, so the ratio holds only what the BPF programs cost the traced program. Its
# ring buffer is sized by kernel_ring_args so that a sample's records never pass the
# wake-up threshold while nobody reads them.
# "<variant>-first": a new maptrail for every pair, so the traced start is the first run of
# the program it sees: what its first reading of the program's libraries (symbol tables,
# unwind tables) costs a start that runs beside it.
for _name in ("dwarf", "fp", "none"):
    VARIANTS[_name + "-kernel"] = VARIANTS[_name]
    VARIANTS[_name + "-first"] = VARIANTS[_name]


def kernel_ring_args(run_length):
    """Ring buffer options for a "-kernel" session: 16 MiB per start of the run, rounded up to
    a power of two. With maptrail stopped, every record submitted past an eighth of the ring
    forces a wake-up (an interrupt in the traced thread) and past half of it the stack copies
    are cut: a JVM start writes ~1.5 MB, so ten of them back to back on a 64 MiB ring
    measured those interrupts (1.066x), not the programs (1.013x on 256 MiB)."""
    size = 16 << (max(1, run_length) - 1).bit_length()
    return ["--ringbuf-size", f"{size}M"]


class Driver:
    """A shell that runs the command once under timed for every line it reads."""

    def __init__(self, timed, command, run_length):
        loop = 'while read -r _; do "$@" 2>/dev/null || echo "{}"; done'
        self.proc = subprocess.Popen(
            ["bash", "-c", loop, "driver", timed, "--repeat", str(run_length), "--quiet", "--",
             *command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    @property
    def pid(self):
        return self.proc.pid

    def start_once(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        try:
            ns = json.loads(line).get("ns_per_iter")
        except ValueError:
            ns = None
        if not ns:
            sys.exit(f"paired_starts.py: the workload failed (timed printed {line.strip()!r})")
        return ns / 1e6

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Tracer:
    """maptrail trace -p PID in the background, until stop()."""

    def __init__(self, maptrail, args, pid, log):
        self.err = tempfile.NamedTemporaryFile("w+", prefix="paired-err-")
        self.proc = subprocess.Popen([*maptrail, "trace", "-o", log, *args, "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=self.err, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.err.seek(0)
            if "tracing" in self.err.read():
                return
            if self.proc.poll() is not None:
                self.err.seek(0)
                sys.exit(f"paired_starts.py: maptrail failed: {self.err.read().strip()}")
            time.sleep(0.02)
        self.proc.kill()
        sys.exit("paired_starts.py: maptrail did not start in 30 s")

    def stop(self):
        """Stops it; returns (events, lost) from its summary."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self.err.seek(0)
        text = self.err.read()
        events = re.search(r"summary: (\d+) events", text)
        lost = re.search(r"lost: (\d+) events", text)
        if not events or not lost:
            sys.exit(f"paired_starts.py: no summary from maptrail:\n{text}")
        return int(events.group(1)), int(lost.group(1))


def median_interval(sorted_values):
    """95% confidence interval of the median by order statistics (normal approximation)."""
    n = len(sorted_values)
    half = 1.96 * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)))
    return sorted_values[lo], sorted_values[hi]


def session(args, variant, timed, maptrail, tmp):
    traced, untraced = (Driver(timed, WORKLOADS[args.workload], args.run_length) for _ in range(2))
    idle = None
    try:
        frozen = variant.endswith("-kernel")
        if VARIANTS[variant] is None:
            idle = subprocess.Popen(["sleep", "100000"])
            tracer = Tracer(maptrail, [], idle.pid, os.path.join(tmp, "log"))
        elif not variant.endswith("-first"):
            ring = kernel_ring_args(args.run_length) if frozen else []
            tracer = Tracer(maptrail, VARIANTS[variant] + ring, traced.pid,
                            os.path.join(tmp, "log"))
        gap = args.gap_ms / 1000
        if variant.endswith("-first"):
            return first_start_session(args, variant, maptrail, tmp, traced, untraced, gap)

        def start(d):
            if frozen:
                tracer.proc.send_signal(signal.SIGSTOP)
            try:
                return d.start_once()
            finally:
                if frozen:
                    tracer.proc.send_signal(signal.SIGCONT)

        warm_up(traced, untraced, start, gap)  # page cache, maptrail's modules
        pairs = [one_pair(i, traced, untraced, start, gap) for i in range(args.pairs)]
        events, lost = tracer.stop()
    finally:
        traced.close()
        untraced.close()
        if idle:
            idle.kill()
            idle.wait()
    return pairs, events, lost, args.pairs + 1


def warm_up(traced, untraced, start, gap):
    """One start of each driver, not counted."""
    for d in (traced, untraced):
        start(d)
        time.sleep(gap)


def one_pair(i, traced, untraced, start, gap):
    """(traced ms, untraced ms), in alternating order so that drift cancels."""
    order = (traced, untraced) if i % 2 == 0 else (untraced, traced)
    times = {}
    for d in order:
        times[d] = start(d)
        time.sleep(gap)
    return times[traced], times[untraced]


def first_start_session(args, variant, maptrail, tmp, traced, untraced, gap):
    """Each pair under a maptrail started for it: its traced start is the first it sees."""
    start = Driver.start_once
    warm_up(traced, untraced, start, gap)  # untraced: the page cache only
    pairs, events, lost = [], 0, 0
    for i in range(args.pairs):
        tracer = Tracer(maptrail, VARIANTS[variant], traced.pid, os.path.join(tmp, "log"))
        pairs.append(one_pair(i, traced, untraced, start, gap))
        e, n = tracer.stop()
        events += e
        lost += n
    return pairs, events, lost, args.pairs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", default="java-startup", choices=sorted(WORKLOADS))
    p.add_argument("--variants", default="dwarf,none")
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--gap-ms", type=int, default=150)
    p.add_argument("--run-length", type=int, default=1, help="starts back to back per sample")
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--json-out")
    args = p.parse_args()
    variants = args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"paired_starts.py: unknown variant {v!r} (known: {', '.join(VARIANTS)})")
    if os.geteuid() != 0:
        sys.exit("paired_starts.py: needs root (BPF); run it with sudo")
    timed = os.path.join(args.build, "tests/workloads/timed")
    maptrail = os.environ.get("MAPTRAIL", os.path.join(args.build, "maptrail")).split()
    for path in (timed, maptrail[0]):
        if not os.access(path, os.X_OK):
            sys.exit(f"paired_starts.py: {path} is missing: build first (tools/setup.sh)")

    # Each BPF program run would also time itself (two clock reads): off while this runs.
    stats_was = None
    try:
        with open(BPF_STATS) as f:
            stats_was = f.read().strip()
        if stats_was != "0":
            with open(BPF_STATS, "w") as f:
                f.write("0")
            print("paired_starts.py: kernel.bpf_stats_enabled was on: off while this runs",
                  file=sys.stderr)
    except OSError:
        stats_was = None
    try:
        run_and_report(args, variants, timed, maptrail)
    finally:
        if stats_was not in (None, "0"):
            with open(BPF_STATS, "w") as f:
                f.write(stats_was)


def run_and_report(args, variants, timed, maptrail):
    results = {v: {"pairs": [], "events": 0, "lost": 0, "starts": 0} for v in variants}
    with tempfile.TemporaryDirectory(prefix="paired-") as tmp:
        for block in range(args.blocks):
            order = variants if block % 2 == 0 else variants[::-1]
            for v in order:
                pairs, events, lost, traced_starts = session(args, v, timed, maptrail, tmp)
                r = results[v]
                r["pairs"] += pairs
                r["events"] += events
                r["lost"] += lost
                r["starts"] += traced_starts
                print(f"block {block + 1}/{args.blocks} {v}: {len(pairs)} pairs", file=sys.stderr)

    command = " ".join(WORKLOADS[args.workload])
    how = ("one start at a time" if args.run_length == 1
           else f"runs of {args.run_length} starts back to back (ms per start: the run's mean)")
    print(f"`{command}`, {how}: {args.blocks} sessions x {args.pairs} pairs per "
          f"variant, {args.gap_ms} ms between samples\n")
    print("| variant | traced ms/start (median, min-max) | untraced ms/start | paired ratio "
          "(quartiles) | 95% interval of the median | events per traced start | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    out = {}
    for v in variants:
        r = results[v]
        traced = [t for t, _ in r["pairs"]]
        untraced = [u for _, u in r["pairs"]]
        ratios = sorted(t / u for t, u in r["pairs"])
        q = statistics.quantiles(ratios, n=4)
        lo, hi = median_interval(ratios)
        med = statistics.median(ratios)
        per_start = r["events"] / (r["starts"] * args.run_length) if VARIANTS[v] is not None else 0
        label = {"attached": "attached (both untraced)"}.get(v, f"maptrail --stack {v}")
        if v.endswith("-kernel"):
            label = f"maptrail --stack {v[:-7]}, stopped while a start runs"
        if v.endswith("-first"):
            label = (f"maptrail --stack {v[:-6]}, the first start a new maptrail sees"
                     if args.run_length == 1 else
                     f"maptrail --stack {v[:-6]}, {args.run_length} starts under a new maptrail")
        print(f"| {label} | {statistics.median(traced):.2f} ({min(traced):.1f}-{max(traced):.1f}) "
              f"| {statistics.median(untraced):.2f} | {med:.3f}x ({q[0]:.3f}-{q[2]:.3f}) "
              f"| {lo:.3f}-{hi:.3f} | {per_start:.0f} | {r['lost']} |")
        out[v] = {"ratio": med, "quartiles": [q[0], q[2]], "interval": [lo, hi],
                  "traced_ms": statistics.median(traced), "untraced_ms": statistics.median(untraced),
                  "pairs": len(ratios), "events_per_start": per_start, "lost": r["lost"]}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"workload": args.workload, "variants": out}, f, indent=1)


if __name__ == "__main__":
    main()
