/* burst — for the ring-buffer loss test: N mmap/munmap pairs as fast as possible, on cue.
 *
 * Usage: burst N
 *
 *   1. writes "ready <pid>\n" to stdout,
 *   2. blocks until it has read one whole line from stdin (the test writes "go\n" once the
 *      tracer is attached; any line will do; EOF before a newline is an error, exit 1),
 *   3. does N pairs of mmap(4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS) / munmap,
 *   4. writes "done <N>\n" to stdout and exits 0.
 *
 * After "go" it makes NO other mapping syscall (no stdio, no malloc: output goes through
 * write(2) from stack buffers), so a tracer must see exactly N mmap and N munmap events
 * from this pid after the go line, nothing else, until the exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Writes all of buf, retrying short writes. */
static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* "<word> <value>\n" formatted on the stack: no stdio, no allocation. */
static void write_word_number(const char *word, uint64_t value) {
    char line[64];
    size_t len = strlen(word);
    memcpy(line, word, len);
    line[len++] = ' ';
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0)
        line[len++] = digits[--n];
    line[len++] = '\n';
    write_all(STDOUT_FILENO, line, len);
}

/* Blocks until one full line has been read from stdin, byte by byte (read(2) only). */
static void wait_for_line(void) {
    for (;;) {
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("read stdin");
        }
        if (n == 0) {
            static const char msg[] = "burst: stdin closed before the go line\n";
            write_all(STDERR_FILENO, msg, sizeof msg - 1);
            exit(1);
        }
        if (c == '\n')
            return;
    }
}

__attribute__((noinline)) static void burst_loop(uint64_t pairs) {
    for (uint64_t i = 0; i < pairs; i++) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            die("mmap");
        if (munmap(p, 4096) != 0)
            die("munmap");
    }
}

int main(int argc, char **argv) {
    char *end;
    errno = 0;
    unsigned long long pairs = argc == 2 && argv[1][0] != '-' ? strtoull(argv[1], &end, 10) : 0;
    if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0' || errno != 0 || *end != '\0') {
        fprintf(stderr,
                "usage: %s N\n"
                "  prints \"ready <pid>\", waits for one line on stdin (e.g. \"go\"), then does\n"
                "  N mmap(4096)/munmap pairs, prints \"done <N>\" and exits 0.\n",
                argv[0]);
        return 2;
    }

    write_word_number("ready", (uint64_t)getpid());
    wait_for_line();
    burst_loop(pairs);
    write_word_number("done", pairs);
    return 0;
}
