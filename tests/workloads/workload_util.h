/* What the timing workloads share (storm, mallocs, timed, randmaps): strict number options
 * and the monotonic clock. */
#ifndef MAPTRAIL_WORKLOAD_UTIL_H
#define MAPTRAIL_WORKLOAD_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A whole decimal (or 0x) number within [min, max]; no sign, no trailing characters. */
static inline bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
    if (s[0] == '\0' || s[0] == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static inline uint64_t now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(1);
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
