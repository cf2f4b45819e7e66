/* lifecycle — for the daemon's process-lifecycle test: threads, fork, exec, vfork,
 * posix_spawn, exit and pid reuse, one step at a time, each step ordered by the test.
 *
 * Usage: lifecycle          prints "ready pid=P", then obeys one command per stdin line:
 *   threads   starts 3 threads; each maps 0x21000 + i * 0x1000 and waits;
 *             prints "threads tids=T1,T2,T3" when all three have mapped
 *   join      lets the threads return and joins them; prints "joined"
 *   fork      forks child C; C maps 0x22000 and unmaps the first page of an inherited
 *             region, then prints "forked pid=C" and waits for orders
 *   exec      C execs this program with --exec-child; it maps 0x23000 and prints
 *             "execd pid=C"
 *   vfork     vfork + exec of --exec-child; prints "execd pid=V"
 *   spawn     posix_spawn of --exec-child; prints "execd pid=S"
 *   exit      tells the last child started to exit, reaps it, prints "reaped pid=C"
 *   reuse     clone3 with set_tid = the pid last reaped (root only): the new process
 *             maps 0x24000 and prints "reused pid=C"
 *   quit      tells every child to exit, reaps them, prints "done", exits 0
 * At start it maps a 0x31000 region marked MADV_DONTFORK (absent in fork children) and a
 * 0x32000 region that children inherit.
 *
 * Children read their orders from a pipe on their stdin: 'e' exec, 'q' exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 3
#define MAX_CHILDREN 16

extern char **environ;

static void die(const char *what) {
    fprintf(stderr, "lifecycle: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof line || write(STDOUT_FILENO, line, (size_t)len) != len)
        die("write stdout");
}

static void *map_anon(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    memset(p, 1, size);
    return p;
}

/* Follows orders from stdin until told to exit (or stdin closes). */
static void obey(void) {
    for (;;) {
        char order;
        ssize_t n = read(STDIN_FILENO, &order, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || order == 'q')
            _exit(0);
        if (order == 'e') {
            char *argv[] = {"lifecycle", "--exec-child", NULL};
            execve("/proc/self/exe", argv, environ);
            die("execve");
        }
    }
}

static int exec_child(void) {
    map_anon(0x23000);
    say("execd pid=%d\n", (int)getpid());
    obey();
    return 0;
}

struct child {
    pid_t pid;
    int orders; /* write end of the child's stdin */
};
static struct child children[MAX_CHILDREN];
static int nchildren;
static pid_t last_reaped;

static void order(struct child *c, char what) {
    if (write(c->orders, &what, 1) != 1)
        die("write order");
}

/* Makes a pipe for a new child's orders; returns the read end for the child's stdin. */
static int new_orders(struct child *c) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        die("pipe");
    c->orders = p[1];
    return p[0];
}

static struct child *add_child(void) {
    if (nchildren == MAX_CHILDREN) {
        fprintf(stderr, "lifecycle: too many children\n");
        exit(1);
    }
    return &children[nchildren++];
}

static void reap(struct child *c) {
    order(c, 'q');
    int status;
    if (waitpid(c->pid, &status, 0) != c->pid || !WIFEXITED(status) || WEXITSTATUS(status))
        die("child did not exit cleanly");
    close(c->orders);
    last_reaped = c->pid;
    c->pid = 0;
}

static char *inherited;

/* In a fork child: be different from the parent in a way the model must follow. */
static void become_child(int orders_fd) {
    if (dup2(orders_fd, STDIN_FILENO) < 0)
        die("dup2");
    map_anon(0x22000);
    if (munmap(inherited, 0x1000) != 0)
        die("munmap");
}

static void do_fork(void) {
    struct child *c = add_child();
    int orders_fd = new_orders(c);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        become_child(orders_fd);
        say("forked pid=%d\n", (int)getpid());
        obey();
    }
    close(orders_fd);
    c->pid = pid;
}

static void do_vfork(void) {
    struct child *c = add_child();
    int orders_fd = new_orders(c);
    char *argv[] = {"lifecycle", "--exec-child", NULL};
    pid_t pid = vfork();
    if (pid < 0)
        die("vfork");
    if (pid == 0) {
        /* Only async-signal-safe calls that touch no parent memory but the stack. */
        if (dup2(orders_fd, STDIN_FILENO) < 0)
            _exit(127);
        execve("/proc/self/exe", argv, environ);
        _exit(127);
    }
    close(orders_fd);
    c->pid = pid;
}

static void do_spawn(void) {
    struct child *c = add_child();
    int orders_fd = new_orders(c);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, orders_fd, STDIN_FILENO);
    char *argv[] = {"lifecycle", "--exec-child", NULL};
    int err = posix_spawn(&c->pid, "/proc/self/exe", &actions, NULL, argv, environ);
    if (err) {
        errno = err;
        die("posix_spawn");
    }
    posix_spawn_file_actions_destroy(&actions);
    close(orders_fd);
}

/* A new process with the pid of the one reaped last (clone3's set_tid needs root). */
static void do_reuse(void) {
    if (!last_reaped) {
        fprintf(stderr, "lifecycle: reuse before any exit\n");
        exit(1);
    }
    struct child *c = add_child();
    int orders_fd = new_orders(c);
    pid_t want = last_reaped;
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    args.set_tid = (uint64_t)(uintptr_t)&want;
    args.set_tid_size = 1;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0)
        die("clone3 with set_tid");
    if (pid == 0) {
        if (dup2(orders_fd, STDIN_FILENO) < 0)
            _exit(127);
        map_anon(0x24000);
        say("reused pid=%d\n", (int)syscall(SYS_getpid));
        obey();
    }
    close(orders_fd);
    c->pid = (pid_t)pid;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int mapped, released;
static pid_t tids[THREADS];

static void *thread_main(void *arg) {
    int i = (int)(intptr_t)arg;
    map_anon(0x21000 + (size_t)i * 0x1000);
    pthread_mutex_lock(&lock);
    tids[i] = gettid();
    mapped++;
    pthread_cond_broadcast(&changed);
    while (!released)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--exec-child") == 0)
        return exec_child();
    signal(SIGPIPE, SIG_IGN);
    void *no_fork = map_anon(0x31000);
    if (madvise(no_fork, 0x31000, MADV_DONTFORK) != 0)
        die("madvise");
    inherited = map_anon(0x32000);
    say("ready pid=%d\n", (int)getpid());

    pthread_t threads[THREADS];
    char line[64];
    FILE *in = fdopen(STDIN_FILENO, "r");
    while (in && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "threads") == 0) {
            for (int i = 0; i < THREADS; i++)
                if (pthread_create(&threads[i], NULL, thread_main, (void *)(intptr_t)i) != 0)
                    die("pthread_create");
            pthread_mutex_lock(&lock);
            while (mapped < THREADS)
                pthread_cond_wait(&changed, &lock);
            pthread_mutex_unlock(&lock);
            say("threads tids=%d,%d,%d\n", (int)tids[0], (int)tids[1], (int)tids[2]);
        } else if (strcmp(line, "join") == 0) {
            pthread_mutex_lock(&lock);
            released = 1;
            pthread_cond_broadcast(&changed);
            pthread_mutex_unlock(&lock);
            for (int i = 0; i < THREADS; i++)
                pthread_join(threads[i], NULL);
            say("joined\n");
        } else if (strcmp(line, "fork") == 0) {
            do_fork();
        } else if (strcmp(line, "exec") == 0) {
            order(&children[nchildren - 1], 'e');
        } else if (strcmp(line, "vfork") == 0) {
            do_vfork();
        } else if (strcmp(line, "spawn") == 0) {
            do_spawn();
        } else if (strcmp(line, "exit") == 0) {
            reap(&children[nchildren - 1]);
            say("reaped pid=%d\n", (int)last_reaped);
        } else if (strcmp(line, "reuse") == 0) {
            do_reuse();
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else {
            fprintf(stderr, "lifecycle: unknown command '%s'\n", line);
            return 1;
        }
    }
    for (int i = 0; i < nchildren; i++)
        if (children[i].pid)
            reap(&children[i]);
    say("done\n");
    return 0;
}
