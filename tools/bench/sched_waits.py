#!/usr/bin/env python3
"""How long a traced program's threads wait for a CPU, and how much of that wait maptrail's
own threads cause.

  sudo tools/bench/sched_waits.py [--workload java-startup|python-startup|gcc-compile]
                                  [--runs 10] [--run-length 10] [--build DIR] [-- TRACE-ARGS]

Why: on two vCPUs a program that starts many threads (a JVM) keeps both busy at times, and
maptrail's reader and handler run beside it. Wall time cannot separate what that costs from
the VM's noise; the scheduler's own record can. Each run of --run-length starts is recorded
with `perf sched record`, once under `maptrail trace TRACE-ARGS -- ...` and once untraced,
in alternating order. For every wait of a workload thread (from its wake-up, or from being
preempted while runnable, until it runs again) the script looks at what ran on the CPU that
finally took it during the wait, and adds the time to that task's class: maptrail's threads,
the workload's own threads, the idle task, anything else.

Prints Markdown: per start, medians over the runs, for the traced and the untraced runs.
Needs root and perf (tools/setup.sh installs linux-perf).
"""
import argparse
import bisect
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

from paired_starts import REPO, WORKLOADS  # the same programs as the wall-time measure

CLASSES = ("maptrail", "workload", "idle", "other")

LINE = re.compile(r"^\s*\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$")
WAKING = re.compile(r"comm=.* pid=(\d+) prio=\d+ target_cpu=\d+")
SWITCH = re.compile(r"prev_comm=(.*) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> "
                    r"next_comm=(.*) next_pid=(\d+) next_prio=\d+")
FORK = re.compile(r"comm=.* pid=(\d+) child_comm=.* child_pid=(\d+)")


def parse(script_text, driver_pid):
    """Wait per class (seconds) of the driver's descendants, and the number of waits."""
    workload = {driver_pid}
    comms = {}
    running = defaultdict(list)  # cpu -> [(since, tid)]
    waiting = {}  # tid -> since
    waits = []  # (cpu, start, end)
    for line in script_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        cpu, t, event, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
        if event == "sched_process_fork":
            f = FORK.search(rest)
            if f and int(f.group(1)) in workload:
                workload.add(int(f.group(2)))
        elif event in ("sched_waking", "sched_wakeup_new"):
            w = WAKING.search(rest)
            if w and int(w.group(1)) in workload:
                waiting.setdefault(int(w.group(1)), t)
        elif event == "sched_switch":
            s = SWITCH.search(rest)
            if not s:
                continue
            prev, state, nxt = int(s.group(2)), s.group(3), int(s.group(5))
            comms[prev], comms[nxt] = s.group(1), s.group(4)
            running[cpu].append((t, nxt))
            if prev in workload:
                if state.startswith("R"):  # preempted: runnable from now
                    waiting[prev] = t
                else:  # went to sleep: a wake-up seen while it still ran was no wait
                    waiting.pop(prev, None)
            if nxt in waiting:
                waits.append((cpu, waiting.pop(nxt), t))

    def klass(tid):
        if tid == 0:
            return "idle"
        if tid in workload:
            return "workload"
        return "maptrail" if comms.get(tid, "").startswith("maptrail") else "other"

    starts = {cpu: [since for since, _ in timeline] for cpu, timeline in running.items()}
    by = dict.fromkeys(CLASSES, 0.0)
    for cpu, start, end in waits:
        timeline = running[cpu]
        i = max(bisect.bisect_right(starts[cpu], start) - 1, 0)
        while i < len(timeline) and timeline[i][0] < end:
            seg_end = timeline[i + 1][0] if i + 1 < len(timeline) else end
            overlap = min(seg_end, end) - max(timeline[i][0], start)
            if overlap > 0:
                by[klass(timeline[i][1])] += overlap
            i += 1
    return by, len(waits)


def record_run(args, traced, tmp):
    pid_file = os.path.join(tmp, "driver.pid")
    driver = os.path.join(tmp, "driver.sh")
    with open(driver, "w") as f:
        f.write(f"#!/bin/sh\necho $$ > {pid_file}\n"
                f"for i in $(seq {args.run_length}); do {shlex.join(WORKLOADS[args.workload])} "
                f">/dev/null 2>&1; done\n")
    os.chmod(driver, 0o755)
    command = [driver]
    if traced:
        command = [os.path.join(args.build, "maptrail"), "trace", "-o", "/dev/null",
                   *args.trace_args, "--", driver]
    data = os.path.join(tmp, "sched.data")
    subprocess.run(["perf", "sched", "record", "-o", data, "--", *command], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = subprocess.run(["perf", "script", "-i", data, "-F", "cpu,time,event,trace"],
                            check=True, capture_output=True, text=True).stdout
    with open(pid_file) as f:
        return parse(script, int(f.read()))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="java-startup")
    p.add_argument("--runs", type=int, default=10, help="pairs of runs (traced, untraced)")
    p.add_argument("--run-length", type=int, default=10, help="starts per run")
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("trace_args", nargs="*", help="after --: options for maptrail trace")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("sched_waits.py: needs root (BPF and perf's scheduler tracepoints)")
    if not shutil.which("perf"):
        sys.exit("sched_waits.py: perf is missing (tools/setup.sh installs linux-perf)")
    if not os.access(os.path.join(args.build, "maptrail"), os.X_OK):
        sys.exit(f"sched_waits.py: {args.build}/maptrail is missing: build first (tools/setup.sh)")

    rows = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="maptrail-schedwaits.") as tmp:
        for i in range(args.runs):
            for traced in ((True, False) if i % 2 == 0 else (False, True)):
                rows[traced].append(record_run(args, traced, tmp))
            print(f"run {i + 1}/{args.runs}", file=sys.stderr)

    per_start = 1e3 / args.run_length  # seconds per run -> ms per start
    trace_label = " ".join(["maptrail trace", *args.trace_args])
    print(f"`{shlex.join(WORKLOADS[args.workload])}`, runs of {args.run_length} starts, {args.runs} runs "
          "each side, alternated; ms per start, medians over the runs\n")
    print("| run | waits per start | waiting for a CPU | while maptrail ran | while the "
          "workload's own threads ran | while the CPU was idle | while others ran |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for traced in (True, False):
        label = f"`{trace_label}`" if traced else "untraced"
        count = statistics.median(n for _, n in rows[traced]) / args.run_length
        cells = [statistics.median(sum(by.values()) for by, _ in rows[traced]) * per_start]
        cells += [statistics.median(by[c] for by, _ in rows[traced]) * per_start
                  for c in CLASSES]
        print(f"| {label} | {count:.0f} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
