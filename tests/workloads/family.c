/* family — for the process-following test: every actor maps a region of a unique size.
 *
 * Usage: family              the traced family (below)
 *        family --outsider   maps 0x15000 and exits (run NOT under the tracer: no events)
 *        (--exec-child and --spawned are the modes the family execs itself in)
 *
 * Before each mapping an actor writes one line to stdout (write(2), one call per line, so
 * lines stay whole and in order across threads, fork and exec):
 *     actor=<name> pid=<tgid> tid=<tid> size=0x<hex size>
 * then mmap(size, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS), writes one byte, munmap.
 *
 * Sequence (strictly one after the other):
 *   main     0x11000   main thread
 *   thread   0x12000   a pthread (joined)
 *   child    0x13000   fork()ed child, which then execs /proc/self/exe --exec-child
 *   exec     0x14000   that exec'd program (same pid as child); exits 0; main waits for it
 *   thread2  0x16000   a pthread created after the fork (joined)
 *   spawn    0x17000   posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) + exec) of
 *                      /proc/self/exe --spawned; main waits for it
 *   outsider 0x15000   only in "family --outsider"
 * main exits 0 when all have exited 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE_MAIN 0x11000UL
#define SIZE_THREAD 0x12000UL
#define SIZE_CHILD 0x13000UL
#define SIZE_EXEC 0x14000UL
#define SIZE_OUTSIDER 0x15000UL
#define SIZE_THREAD2 0x16000UL
#define SIZE_SPAWN 0x17000UL

extern char **environ;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void die_err(const char *what, int err) {
    errno = err;
    die(what);
}

/* Reports, then maps and unmaps `size` bytes, as actor `name`. */
__attribute__((noinline)) static void map_as(const char *name, size_t size) {
    char line[128];
    int len = snprintf(line, sizeof line, "actor=%s pid=%d tid=%d size=%#zx\n", name,
                       (int)getpid(), (int)gettid(), size);
    if (len < 0 || (size_t)len >= sizeof line) {
        fprintf(stderr, "family: report line too long\n");
        exit(1);
    }
    if (write(STDOUT_FILENO, line, (size_t)len) != len)
        die("write stdout");
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    p[0] = 1;
    if (munmap(p, size) != 0)
        die("munmap");
}

static void *thread_main(void *arg) {
    map_as("thread", SIZE_THREAD);
    return arg;
}

static void *thread2_main(void *arg) {
    map_as("thread2", SIZE_THREAD2);
    return arg;
}

static void run_thread(void *(*fn)(void *)) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, NULL);
    if (rc != 0)
        die_err("pthread_create", rc);
    rc = pthread_join(t, NULL);
    if (rc != 0)
        die_err("pthread_join", rc);
}

static void wait_ok(pid_t pid, const char *who) {
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (r != pid)
        die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "family: %s failed (wait status 0x%x)\n", who, status);
        exit(1);
    }
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--outsider]\n"
            "  Without arguments: main thread, a thread, a forked child that execs itself, a\n"
            "  second thread and a posix_spawned child each map a region of a unique size and\n"
            "  print \"actor=NAME pid=TGID tid=TID size=0xSIZE\" first.\n"
            "  --outsider: only map 0x15000 (to run untraced).\n",
            argv0);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--exec-child") == 0) {
        map_as("exec", SIZE_EXEC);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--spawned") == 0) {
        map_as("spawn", SIZE_SPAWN);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--outsider") == 0) {
        map_as("outsider", SIZE_OUTSIDER);
        return 0;
    }
    if (argc != 1) {
        usage(argv[0]);
        return 2;
    }

    map_as("main", SIZE_MAIN);
    run_thread(thread_main);

    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        map_as("child", SIZE_CHILD);
        char *const args[] = {argv[0], "--exec-child", NULL};
        execv("/proc/self/exe", args);
        die("execv /proc/self/exe");
    }
    wait_ok(child, "forked child");

    run_thread(thread2_main);

    pid_t spawned;
    char *const spawn_args[] = {argv[0], "--spawned", NULL};
    int rc = posix_spawn(&spawned, "/proc/self/exe", NULL, NULL, spawn_args, environ);
    if (rc != 0)
        die_err("posix_spawn", rc);
    wait_ok(spawned, "spawned child");
    return 0;
}
