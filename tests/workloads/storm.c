/* storm — the benchmark workload: a tight mmap/munmap loop.
 *
 * Usage: storm [--iterations N] [--size BYTES] [--touch] [--threads T] [--rate R]
 *              [--op mmap|mprotect]
 *
 * Each of T threads (default 1) runs N iterations (default 200000) of
 *     mmap(size, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS)
 *     [--touch: write one byte to the first page: one page fault]
 *     munmap
 * with size default 64 KiB. --op mprotect: each iteration instead flips one page between
 * PROT_READ|PROT_WRITE and PROT_READ (two mprotect calls), the page a VMA of its own between
 * two PROT_NONE pages of the thread's, so nothing splits or merges: a mapping call the kernel
 * does in a fraction of an mmap's time, for offering a tracer more events per second than
 * mmap/munmap can on the same CPUs ("size" in the JSON line is then the page's).
 * --rate R paces the threads together to about R mapping syscalls per second (each thread
 * R/T, checked every 64 iterations, sleeping when ahead): for finding the highest rate a
 * tracer sustains without loss. Only the loops are timed (CLOCK_MONOTONIC): threads are
 * created and lined up on a barrier first, each thread reads the clock just before and just
 * after its own loop, and elapsed_ns = last loop end - first loop start. So the start-up of a
 * tracer (and of this program) stays outside the measurement.
 *
 * Prints one JSON line to stdout:
 * {"workload":"storm","op":"mmap","iterations":N,"threads":T,"size":S,"touch":false,
 *  "elapsed_ns":E,"ns_per_iter":X,"syscalls":2*N*T}
 * where ns_per_iter = elapsed_ns / N (wall time of one iteration of one thread; with T > 1
 * the threads run concurrently, so this is not divided by T).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "workload_util.h"

static uint64_t iterations = 200000;
static uint64_t size = 64 * 1024;
static bool touch = false;
static unsigned threads = 1;
static uint64_t rate = 0; /* mapping syscalls per second over all threads; 0: as fast as possible */
static bool flip_protection = false; /* --op mprotect */

static pthread_barrier_t start_line;

static size_t page_size(void) {
    static size_t size;
    if (size == 0)
        size = (size_t)sysconf(_SC_PAGESIZE);
    return size;
}

struct loop_times {
    uint64_t start_ns;
    uint64_t end_ns;
    char *guarded_page; /* --op mprotect: the page flipped, between two PROT_NONE pages */
};

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void die_err(const char *what, int err) {
    errno = err;
    die(what);
}

/* With --rate: sleeps until iteration i is due (2 syscalls per iteration). */
static void pace(uint64_t start_ns, uint64_t i) {
    uint64_t per_thread = rate / threads;
    if (per_thread == 0)
        per_thread = 1;
    uint64_t due = start_ns + (uint64_t)((double)(2 * i) * 1e9 / (double)per_thread);
    if (now_ns() < due) {
        struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
    }
}

/* guarded_page: --op mprotect's page; NULL: mmap/munmap. */
__attribute__((noinline)) static void storm_loop(char *guarded_page) {
    uint64_t start = rate ? now_ns() : 0;
    for (uint64_t i = 0; i < iterations; i++) {
        if (rate && i % 64 == 0)
            pace(start, i);
        if (guarded_page) {
            if (mprotect(guarded_page, page_size(), PROT_READ | PROT_WRITE) != 0 ||
                mprotect(guarded_page, page_size(), PROT_READ) != 0)
                die("mprotect");
            continue;
        }
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            die("mmap");
        if (touch)
            *(volatile char *)p = 1;
        if (munmap(p, size) != 0)
            die("munmap");
    }
}

static void *storm_thread(void *arg) {
    struct loop_times *t = arg;
    if (flip_protection) { /* set up before the start line: not timed */
        char *guarded =
            mmap(NULL, 3 * page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (guarded == MAP_FAILED)
            die("mmap");
        t->guarded_page = guarded + page_size();
        if (mprotect(t->guarded_page, page_size(), PROT_READ) != 0)
            die("mprotect");
    }
    int rc = pthread_barrier_wait(&start_line);
    if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
        die_err("pthread_barrier_wait", rc);
    t->start_ns = now_ns();
    storm_loop(t->guarded_page);
    t->end_ns = now_ns();
    return NULL;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--iterations N] [--size BYTES] [--touch] [--threads T] [--rate R]\n"
            "          [--op mmap|mprotect]\n"
            "  Each of T threads (default 1) runs N (default 200000) iterations of\n"
            "  mmap(BYTES, anonymous private; default 65536) [--touch: write one byte] munmap,\n"
            "  then prints one JSON line with the timing of the loops only.\n"
            "  --rate R: about R mapping syscalls per second in all (paced).\n"
            "  --op mprotect: flip one page between read-write and read-only instead\n"
            "  (two mprotect calls per iteration, no VMA split or merged).\n",
            argv0);
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"iterations", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},
        {"touch", no_argument, NULL, 't'},
        {"threads", required_argument, NULL, 'T'},
        {"rate", required_argument, NULL, 'r'},
        {"op", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    uint64_t v;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (!parse_u64(optarg, 1, UINT64_MAX / 2, &iterations)) {
                fprintf(stderr, "%s: --iterations wants a positive integer, got '%s'\n",
                        argv[0], optarg);
                return 2;
            }
            break;
        case 's':
            if (!parse_u64(optarg, 1, (uint64_t)1 << 40, &size)) {
                fprintf(stderr, "%s: --size wants a positive byte count, got '%s'\n", argv[0],
                        optarg);
                return 2;
            }
            break;
        case 't':
            touch = true;
            break;
        case 'T':
            if (!parse_u64(optarg, 1, 1024, &v)) {
                fprintf(stderr, "%s: --threads wants an integer in 1..1024, got '%s'\n",
                        argv[0], optarg);
                return 2;
            }
            threads = (unsigned)v;
            break;
        case 'r':
            if (!parse_u64(optarg, 1, UINT64_MAX / 4, &rate)) {
                fprintf(stderr, "%s: --rate wants a positive integer (syscalls/s), got '%s'\n",
                        argv[0], optarg);
                return 2;
            }
            break;
        case 'o':
            if (strcmp(optarg, "mmap") != 0 && strcmp(optarg, "mprotect") != 0) {
                fprintf(stderr, "%s: --op wants mmap or mprotect, got '%s'\n", argv[0], optarg);
                return 2;
            }
            flip_protection = strcmp(optarg, "mprotect") == 0;
            break;
        case 'h':
            usage(argv[0]);
            return 0;
        default:
            usage(argv[0]);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
        usage(argv[0]);
        return 2;
    }

    /* Start-up, not timed: thread stacks, the barrier, the results array. */
    pthread_t *tids = calloc(threads, sizeof *tids);
    struct loop_times *times = calloc(threads, sizeof *times);
    if (tids == NULL || times == NULL)
        die("calloc");
    int rc = pthread_barrier_init(&start_line, NULL, threads);
    if (rc != 0)
        die_err("pthread_barrier_init", rc);
    for (unsigned i = 0; i < threads; i++) {
        rc = pthread_create(&tids[i], NULL, storm_thread, &times[i]);
        if (rc != 0)
            die_err("pthread_create", rc);
    }
    for (unsigned i = 0; i < threads; i++) {
        rc = pthread_join(tids[i], NULL);
        if (rc != 0)
            die_err("pthread_join", rc);
    }

    uint64_t first_start = UINT64_MAX, last_end = 0;
    for (unsigned i = 0; i < threads; i++) {
        if (times[i].start_ns < first_start)
            first_start = times[i].start_ns;
        if (times[i].end_ns > last_end)
            last_end = times[i].end_ns;
    }
    uint64_t elapsed = last_end - first_start;
    printf("{\"workload\":\"storm\",\"op\":\"%s\",\"iterations\":%" PRIu64
           ",\"threads\":%u,\"size\":%" PRIu64
           ",\"touch\":%s,\"elapsed_ns\":%" PRIu64 ",\"ns_per_iter\":%.1f,\"syscalls\":%" PRIu64
           ",\"syscalls_per_sec\":%.0f}\n",
           flip_protection ? "mprotect" : "mmap", iterations, threads,
           flip_protection ? (uint64_t)page_size() : size, touch ? "true" : "false", elapsed,
           (double)elapsed / (double)iterations, 2 * iterations * threads,
           (double)(2 * iterations * threads) * 1e9 / (double)elapsed);
    if (fflush(stdout) != 0)
        die("stdout");
    free(tids);
    free(times);
    return 0;
}
