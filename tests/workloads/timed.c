/* timed — runs a real program N times in sequence and times only those runs.
 *
 * Usage: timed [--repeat N] [--quiet] -- CMD [ARGS...]
 *
 * Forks and execs CMD (looked up in PATH) N times (default 1), one after the other, waiting
 * for each. The clock (CLOCK_MONOTONIC) is read just before the first fork and just after
 * the last wait, so whatever started before timed itself (e.g. a tracer attached to timed,
 * which is then already running) stays outside the measurement.
 *   --quiet   the command's stdout and stderr go to /dev/null (timed's own do not).
 *
 * Prints one JSON line to stdout after the last run:
 * {"workload":"timed","command":"<CMD>","repeat":N,"elapsed_ns":E,"ns_per_iter":X}
 * where ns_per_iter = elapsed_ns / N (the wall time of one run, fork to wait).
 *
 * If a run fails (CMD cannot be executed, exits non-zero or is killed by a signal), timed
 * says so on stderr, prints no JSON line and exits 1 (it does not start the remaining runs).
 * Bad usage: exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload_util.h"

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--repeat N] [--quiet] -- CMD [ARGS...]\n"
            "  Runs CMD N times (default 1) in sequence, then prints one JSON line with the\n"
            "  time from just before the first fork to just after the last wait.\n"
            "  --quiet: CMD's stdout and stderr go to /dev/null.\n",
            argv0);
}

/* s as the inside of a JSON string. */
static void put_json_string(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"repeat", required_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t repeat = 1;
    bool quiet = false;
    int opt;
    /* "+": stop at the first non-option, so that CMD's own options are left alone. */
    while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            if (!parse_u64(optarg, 1, 1000000000, &repeat)) {
                fprintf(stderr, "%s: --repeat wants a positive integer, got '%s'\n", argv[0],
                        optarg);
                return 2;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(argv[0]);
            return 0;
        default:
            usage(argv[0]);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%s: no command given\n", argv[0]);
        usage(argv[0]);
        return 2;
    }
    char **cmd = argv + optind;

    int devnull = -1;
    if (quiet) {
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (devnull < 0)
            die("/dev/null");
    }
    if (fflush(stdout) != 0 || fflush(stderr) != 0)
        die("fflush");

    uint64_t start = now_ns();
    for (uint64_t i = 0; i < repeat; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            if (quiet && (dup2(devnull, STDOUT_FILENO) < 0 || dup2(devnull, STDERR_FILENO) < 0))
                _exit(127);
            execvp(cmd[0], cmd);
            int err = errno;
            if (!quiet)
                fprintf(stderr, "%s: cannot run %s: %s\n", argv[0], cmd[0], strerror(err));
            _exit(err == ENOENT ? 127 : 126);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR)
                die("waitpid");
        }
        if (WIFSIGNALED(status)) {
            fprintf(stderr, "%s: run %" PRIu64 " of %" PRIu64 ": %s killed by signal %d (%s)\n",
                    argv[0], i + 1, repeat, cmd[0], WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "%s: run %" PRIu64 " of %" PRIu64 ": %s exited with status %d%s\n",
                    argv[0], i + 1, repeat, cmd[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                    quiet ? " (its output went to /dev/null: --quiet)" : "");
            return 1;
        }
    }
    uint64_t elapsed = now_ns() - start;

    printf("{\"workload\":\"timed\",\"command\":\"");
    put_json_string(cmd[0]);
    printf("\",\"repeat\":%" PRIu64 ",\"elapsed_ns\":%" PRIu64 ",\"ns_per_iter\":%.1f}\n", repeat,
           elapsed, (double)elapsed / (double)repeat);
    if (fflush(stdout) != 0)
        die("stdout");
    return 0;
}
