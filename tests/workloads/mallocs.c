/* mallocs — a benchmark workload: a malloc/free loop, some of it served by mmap.
 *
 * Usage: mallocs [--iterations N]
 *
 * Runs N iterations (default 200000) of
 *     p = malloc(size); write one byte at p[0] and one at p[size-1]; free(p)
 * with size cycling through 16 KiB, 200 KiB, 1 MiB, 64 B (iteration i takes size i % 4).
 * First, mallopt(M_MMAP_THRESHOLD, 128 KiB) fixes glibc's mmap threshold (setting it also
 * turns off its dynamic adjustment), so every 200 KiB and 1 MiB allocation is its own
 * mmap, and its free its own munmap, run after run; mallopt(M_TRIM_THRESHOLD) is raised and
 * one untimed round of the small sizes is done first, so the heap (brk) is grown before the
 * loop and never trimmed inside it: the small sizes make no syscall in the loop.
 *
 * Only the loop is timed (CLOCK_MONOTONIC, read just before and just after it), so the
 * start-up of a tracer (and of this program) stays outside the measurement.
 *
 * Prints one JSON line to stdout:
 * {"workload":"mallocs","iterations":N,"elapsed_ns":E,"ns_per_iter":X,"syscalls":S}
 * where ns_per_iter = elapsed_ns / N and S = 2 * (the iterations whose size is at least the
 * threshold): the mapping syscalls the loop makes (one mmap + one munmap each).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload_util.h"

#define MMAP_THRESHOLD (128 * 1024)

static const size_t sizes[] = {16 * 1024, 200 * 1024, 1024 * 1024, 64};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static uint64_t iterations = 200000;

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* One allocation: the writes go through a volatile pointer so that the compiler can neither
 * drop the malloc/free pair nor the page faults. */
static void alloc_touch_free(size_t size) {
    char *p = malloc(size);
    if (p == NULL)
        die("malloc");
    volatile char *v = p;
    v[0] = 1;
    v[size - 1] = 1;
    free(p);
}

__attribute__((noinline)) static void mallocs_loop(void) {
    for (uint64_t i = 0; i < iterations; i++)
        alloc_touch_free(sizes[i % NSIZES]);
}

/* The mapping syscalls the loop makes: one mmap + one munmap per allocation at or above
 * the threshold. */
static uint64_t expected_syscalls(void) {
    uint64_t n = 0;
    for (size_t k = 0; k < NSIZES; k++) {
        if (sizes[k] < MMAP_THRESHOLD)
            continue;
        /* iterations i < N with i % NSIZES == k */
        n += iterations / NSIZES + (k < iterations % NSIZES ? 1 : 0);
    }
    return 2 * n;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--iterations N]\n"
            "  Runs N (default 200000) iterations of malloc/free with sizes cycling through\n"
            "  16 KiB, 200 KiB, 1 MiB, 64 B (mmap threshold fixed at 128 KiB), then prints\n"
            "  one JSON line with the timing of the loop only.\n",
            argv0);
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"iterations", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (!parse_u64(optarg, 1, UINT64_MAX / 4, &iterations)) {
                fprintf(stderr, "%s: --iterations wants a positive integer, got '%s'\n",
                        argv[0], optarg);
                return 2;
            }
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

    /* Start-up, not timed: a fixed threshold (no adaptation), no trimming of the heap, and
     * the heap grown once for the small sizes. */
    if (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1) {
        fprintf(stderr, "%s: mallopt(M_MMAP_THRESHOLD) failed\n", argv[0]);
        return 1;
    }
    if (mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) != 1) {
        fprintf(stderr, "%s: mallopt(M_TRIM_THRESHOLD) failed\n", argv[0]);
        return 1;
    }
    for (size_t k = 0; k < NSIZES; k++) {
        if (sizes[k] < MMAP_THRESHOLD)
            alloc_touch_free(sizes[k]);
    }

    uint64_t start = now_ns();
    mallocs_loop();
    uint64_t elapsed = now_ns() - start;

    printf("{\"workload\":\"mallocs\",\"iterations\":%" PRIu64 ",\"elapsed_ns\":%" PRIu64
           ",\"ns_per_iter\":%.1f,\"syscalls\":%" PRIu64 "}\n",
           iterations, elapsed, (double)elapsed / (double)iterations, expected_syscalls());
    if (fflush(stdout) != 0)
        die("stdout");
    return 0;
}
