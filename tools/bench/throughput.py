#!/usr/bin/env python3
"""Throughput and loss: the highest mapping-syscall rate maptrail records without loss on the
default ring buffer, and what happens past it.

  sudo tools/bench/throughput.py [--build DIR] [--seconds 2] [--threads 2]
                                 [--rates 50000,100000,...] [--mprotect-rates 300000,...]
                                 [--stacks none,dwarf] [--json-out FILE] [--starved-runs 5]

Part 1: storm (mmap/munmap of 64 KiB, no touch) paced with --rate to each target rate over
--threads threads for about --seconds, under `maptrail trace -o /dev/null [--stack S]`, and
once unpaced ("max"). For each: the rate storm achieved, the events recorded and lost.
Then the same with `storm --op mprotect` at --mprotect-rates: each call flips one page's
protection, a fraction of an mmap's work in the kernel, so the same CPUs can offer the
tracer more events per second than mmap/munmap can (on 2 vCPUs mmap/munmap under DWARF
stacks tops out near 400,000/s).

Part 2, past the limit: a daemon with a tiny ring buffer (64 KiB) traces randmaps (10,000
random mapping operations on 2 threads, 20 checkpoints); records are lost, the daemon
resyncs, and `maptrail verify` is asked at every checkpoint: the model must be exact again.
Once on a quiet machine, and --starved-runs times with a busy loop on every CPU beside it
(the daemon then falls far behind and loses most records: the case that showed a model
left inexact after a loss). Every checkpoint not exact is printed whole to stderr, with the
daemon's stderr.

Prints Markdown to stdout. Needs root (BPF).
"""
import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_client import ask  # noqa: E402

RESULTS = []  # part 1 rows, for --json-out


def storm_json(text):
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("workload") == "storm":
                return doc
    raise RuntimeError("no storm JSON line in:\n" + text[-2000:])


def summary_counts(stderr):
    """events, lost, stacks shortened (kept without all their stack: maptrail fell behind)"""
    events = re.search(r"maptrail summary: (\d+) events", stderr)
    lost = re.search(r"LOST: (\d+) events", stderr)
    shortened = re.search(r"stacks shortened: (\d+)", stderr)
    return (int(events.group(1)) if events else None, int(lost.group(1)) if lost else 0,
            int(shortened.group(1)) if shortened else 0)


def part1(args, out):
    storm = os.path.join(args.build, "tests/workloads/storm")
    maptrail = os.path.join(args.build, "maptrail")
    for op, rates, unpaced_rate in (("mmap", args.rates, 300000),
                                    ("mprotect", args.mprotect_rates, 800000)):
        if rates:
            part1_op(args, out, storm, maptrail, op, rates.split(","), unpaced_rate)


def part1_op(args, out, storm, maptrail, op, rates, unpaced_rate):
    calls = "mmap/munmap" if op == "mmap" else "mprotect"
    out.append("### Paced storm of %s under `maptrail trace` (%d threads, ~%g s per rate)\n"
               % (calls, args.threads, args.seconds))
    out.append("| stack | target syscalls/s | achieved syscalls/s | events recorded | lost | "
               "lost % | stacks shortened |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for stack in args.stacks.split(","):
        for rate in rates + ["max"]:
            paced = rate != "max"
            target = int(rate) if paced else 0
            # iterations per thread so that the run lasts about --seconds at the target rate
            per_thread = (int(target * args.seconds / (2 * args.threads)) if paced
                          else int(unpaced_rate * args.seconds / (2 * args.threads)))
            cmd = [maptrail, "trace", "-o", "/dev/null", "--stack", stack, "--", storm,
                   "--op", op, "--threads", str(args.threads),
                   "--iterations", str(max(per_thread, 1000))]
            if paced:
                cmd += ["--rate", str(target)]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                out.append("| %s | %s | failed (%d) | | | | |" % (stack, rate, p.returncode))
                continue
            doc = storm_json(p.stdout)
            events, lost, shortened = summary_counts(p.stderr)
            expected = doc["syscalls"]
            RESULTS.append({"op": op, "stack": stack, "target": target,
                            "achieved": doc["syscalls_per_sec"], "events": events, "lost": lost,
                            "expected": expected, "shortened": shortened})
            out.append("| %s | %s | %.0f | %s | %d | %.2f%% | %s |" % (
                stack, "{:,}".format(target) if paced else "max (unpaced)",
                doc["syscalls_per_sec"], events, lost, 100.0 * lost / expected,
                shortened if stack != "none" else "-"))
            print("throughput: %s %s %s -> %.0f/s, lost %d, stacks shortened %d"
                  % (op, stack, rate, doc["syscalls_per_sec"], lost, shortened), file=sys.stderr)
    out.append("")


def wait_for(path, needle, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path, errors="replace") as f:
                if needle in f.read():
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def die_with_parent():
    """In the child before exec: SIGTERM when this script dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def past_the_limit(args):
    """One run of randmaps under a 64 KiB-ring daemon: (events, lost, resyncs, exact
    checkpoints, checkpoints, the first answer that was not exact)."""
    maptrail = os.path.join(args.build, "maptrail")
    randmaps = os.path.join(args.build, "tests/workloads/randmaps")
    tmp = tempfile.mkdtemp(prefix="maptrail-throughput-")
    sock = os.path.join(tmp, "s")
    checkpoints = 20
    work_out = open(os.path.join(tmp, "work.out"), "w")
    work = subprocess.Popen([randmaps, "--seed", "5", "--ops", "10000", "--checkpoints",
                             str(checkpoints), "--threads", "2", "--ready"],
                            stdin=subprocess.PIPE, stdout=work_out, stderr=subprocess.DEVNULL,
                            text=True, preexec_fn=die_with_parent)
    daemon = None
    try:
        if not wait_for(work_out.name, "ready"):
            raise RuntimeError("randmaps did not start")
        daemon_err = os.path.join(tmp, "daemon.err")
        daemon = subprocess.Popen([maptrail, "daemon", "--socket", sock, "--ringbuf-size", "64K",
                                   "-p", str(work.pid)], stderr=open(daemon_err, "w"),
                                  preexec_fn=die_with_parent)
        if not wait_for(daemon_err, "listening on"):
            raise RuntimeError("the daemon did not start")
        work.stdin.write("go\n")
        work.stdin.flush()
        exact, first_miss = 0, ""
        for k in range(1, checkpoints + 1):
            if not wait_for(work_out.name, "checkpoint %d " % k, 60):
                raise RuntimeError("randmaps stopped before checkpoint %d" % k)
            v = subprocess.run([maptrail, "verify", "--socket", sock, str(work.pid)],
                               capture_output=True, text=True)
            if v.returncode == 0 and "exact" in v.stdout:
                exact += 1
            else:
                # The table keeps the first lines of the first miss; every miss whole, with what
                # the daemon said, goes to stderr: misses are rare and are what a diagnosis needs.
                answer = (v.stdout + v.stderr).strip()
                with open(daemon_err) as f:
                    said = f.read().strip()
                print("throughput.py: checkpoint %d not exact (verify exit %d):\n%s\n"
                      "daemon's stderr so far:\n%s" % (k, v.returncode, answer, said),
                      file=sys.stderr)
                if not first_miss:
                    first_miss = "checkpoint %d: verify exit %d: %s" % (
                        k, v.returncode, " / ".join(answer.splitlines()[:6]))
            work.stdin.write("next\n")
            work.stdin.flush()
        status = ask(sock, {"op": "status"})
        work.wait(timeout=60)
    finally:
        # An interrupted run must not leave a daemon behind: its programs stay attached and
        # slow every system call on the machine (three left by killed runs once cost an
        # untraced storm 22%, and every benchmark after them).
        for p in (daemon, work):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    return status["events"], status["lost"], status["resyncs"], exact, checkpoints, first_miss


def part2(args, out):
    out.append("### Past the limit: a 64 KiB ring buffer, randmaps on 2 threads, daemon\n")
    out.append("| machine | runs | events recorded | lost | whole-space resyncs "
               "| verify exact at checkpoints |")
    out.append("|---|---:|---:|---:|---:|---:|")
    misses = []
    for label, runs, starved in (("quiet", 1, False),
                                 ("a busy loop on every CPU", args.starved_runs, True)):
        if runs <= 0:
            continue
        hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"], preexec_fn=die_with_parent)
                for _ in range(os.cpu_count() or 1)] if starved else []
        try:
            results = [past_the_limit(args) for _ in range(runs)]
        finally:
            for h in hogs:
                h.kill()
                h.wait()
        events = [r[0] for r in results]
        lost = [r[1] for r in results]
        resyncs = [r[2] for r in results]
        span = lambda xs: str(xs[0]) if len(xs) == 1 else "%d-%d" % (min(xs), max(xs))
        out.append("| %s | %d | %s | %s | %s | %d of %d |" % (
            label, runs, span(events), span(lost), span(resyncs), sum(r[3] for r in results),
            sum(r[4] for r in results)))
        misses += ["%s: %s" % (label, r[5]) for r in results if r[5]]
    if misses:
        out.append("\nThe first checkpoint not exact, as `maptrail verify` said it (%s"
                   % misses[0] + ")")
    out.append("")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--build", default=os.environ.get("MAPTRAIL_BUILD_DIR",
                                                      os.path.join(repo, "build")))
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rates", default="50000,100000,200000,300000,400000,500000")
    ap.add_argument("--mprotect-rates", default="300000,400000,500000,600000,700000",
                    help="rates for the mprotect storm; empty: skip it")
    ap.add_argument("--stacks", default="none,dwarf")
    ap.add_argument("--json-out", help="also write part 1's rows as JSON to this file")
    ap.add_argument("--starved-runs", type=int, default=5,
                    help="part 2's runs with a busy loop on every CPU")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("throughput.py: tracing needs root (BPF)")
    out = ["## Throughput and loss", "",
           "- date: %s" % time.strftime("%Y-%m-%d %H:%M:%S %z"),
           "- kernel: %s, nproc %d, default ring buffer (16 MiB)" % (os.uname().release,
                                                                     os.cpu_count()),
           "- command: `sudo tools/bench/throughput.py %s`" % " ".join(sys.argv[1:]), ""]
    part1(args, out)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(RESULTS, f)
    part2(args, out)
    print("\n".join(out))


if __name__ == "__main__":
    main()
