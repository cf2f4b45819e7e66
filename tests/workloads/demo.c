/* demo — the bundled demo to trace first:   maptrail trace -- demo
 *
 * In about 1.5 s, with short pauses so a live log is readable, each step below makes its
 * mapping syscalls from its own named (noinline) function, so the "caller" column of the
 * log points at it. One line per step goes to stderr to match log and code.
 *
 *   alloc_cache    mmap 4 MiB anonymous, touch every page
 *   load_table     mkstemp a 64 KiB file in /tmp, mmap it read-only MAP_PRIVATE, read, unmap, delete
 *   grow_heap      many small mallocs: the heap grows with brk
 *   big_buffer     malloc 1 MiB (glibc serves it with mmap), free it (munmap)
 *   grow_cache     mremap the cache from 4 MiB to 8 MiB (MREMAP_MAYMOVE)
 *   guard_page     mprotect one page of the cache PROT_NONE: the VMA splits in three
 *                  (after grow_cache: mremap cannot resize a range that spans several VMAs)
 *   worker x2      two threads, each maps and unmaps 256 KiB three times
 *   spawn_child    fork; the child maps 128 KiB shared anonymous memory, then execs this
 *                  program with --child, which maps 512 KiB, madvise(MADV_DONTNEED)s it,
 *                  unmaps it and exits 0. The parent waits for it and exits 0.
 *
 * Usage: demo            (demo --child is the exec'd child mode, not for direct use)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB (1024UL)
#define MiB (1024UL * 1024UL)

#define CACHE_SIZE (4 * MiB)
#define CACHE_GROWN (8 * MiB)
#define TABLE_SIZE (64 * KiB)
#define HEAP_ALLOCS 4000
#define HEAP_ALLOC_SIZE 64
#define BIG_BUFFER_SIZE (1 * MiB)
#define WORKER_SIZE (256 * KiB)
#define WORKER_ROUNDS 3
#define SHARED_SIZE (128 * KiB)
#define CHILD_SIZE (512 * KiB)

static char *cache;                      /* alloc_cache, grow_cache, guard_page */
static void *heap_blocks[HEAP_ALLOCS];   /* grow_heap: kept until exit */

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            die("nanosleep");
}

/* Keeps the compiler from removing a malloc/free pair or stores it thinks are dead. */
static void escape(void *p) {
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void touch_pages(char *p, size_t size) {
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < size; off += (size_t)page)
        p[off] = 1;
}

__attribute__((noinline)) static void alloc_cache(void) {
    fprintf(stderr, "demo: alloc_cache: 4 MiB anonymous\n");
    cache = mmap(NULL, CACHE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (cache == MAP_FAILED)
        die("alloc_cache: mmap");
    touch_pages(cache, CACHE_SIZE);
}

__attribute__((noinline)) static void load_table(void) {
    fprintf(stderr, "demo: load_table: 64 KiB file in /tmp, mapped read-only, then deleted\n");
    char path[] = "/tmp/maptrail-demo-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        die("load_table: mkstemp");
    char block[4096];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (char)i;
    for (size_t off = 0; off < TABLE_SIZE; off += sizeof block)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            die("load_table: write");
    const unsigned char *table = mmap(NULL, TABLE_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (table == MAP_FAILED)
        die("load_table: mmap");
    unsigned long sum = 0;
    for (size_t i = 0; i < TABLE_SIZE; i++)
        sum += table[i];
    if (sum != (TABLE_SIZE / 256) * (255 * 256 / 2)) {
        fprintf(stderr, "demo: load_table: unexpected checksum %lu\n", sum);
        exit(1);
    }
    if (munmap((void *)table, TABLE_SIZE) != 0)
        die("load_table: munmap");
    if (close(fd) != 0)
        die("load_table: close");
    if (unlink(path) != 0)
        die("load_table: unlink");
}

__attribute__((noinline)) static void grow_heap(void) {
    fprintf(stderr, "demo: grow_heap: %d mallocs of %d bytes (brk)\n", HEAP_ALLOCS,
            HEAP_ALLOC_SIZE);
    for (int i = 0; i < HEAP_ALLOCS; i++) {
        heap_blocks[i] = malloc(HEAP_ALLOC_SIZE);
        if (heap_blocks[i] == NULL)
            die("grow_heap: malloc");
        memset(heap_blocks[i], i, HEAP_ALLOC_SIZE);
    }
    escape(heap_blocks);
}

__attribute__((noinline)) static void big_buffer(void) {
    fprintf(stderr, "demo: big_buffer: malloc 1 MiB (glibc mmaps it), then free (munmap)\n");
    char *buf = malloc(BIG_BUFFER_SIZE);
    if (buf == NULL)
        die("big_buffer: malloc");
    touch_pages(buf, BIG_BUFFER_SIZE);
    escape(buf);
    free(buf);
}

__attribute__((noinline)) static void grow_cache(void) {
    fprintf(stderr, "demo: grow_cache: mremap the cache 4 MiB -> 8 MiB\n");
    char *grown = mremap(cache, CACHE_SIZE, CACHE_GROWN, MREMAP_MAYMOVE);
    if (grown == MAP_FAILED)
        die("grow_cache: mremap");
    cache = grown;
}

__attribute__((noinline)) static void guard_page(void) {
    fprintf(stderr, "demo: guard_page: mprotect one page of the cache PROT_NONE (VMA splits)\n");
    long page = sysconf(_SC_PAGESIZE);
    if (mprotect(cache + 1 * MiB, (size_t)page, PROT_NONE) != 0)
        die("guard_page: mprotect");
}

__attribute__((noinline)) static void *worker(void *arg) {
    long id = (long)arg;
    for (int round = 0; round < WORKER_ROUNDS; round++) {
        char *p = mmap(NULL, WORKER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED)
            die("worker: mmap");
        p[0] = (char)id;
        pause_ms(40);
        if (munmap(p, WORKER_SIZE) != 0)
            die("worker: munmap");
    }
    return NULL;
}

__attribute__((noinline)) static void run_workers(void) {
    fprintf(stderr, "demo: worker: 2 threads, each maps and unmaps 256 KiB %d times\n",
            WORKER_ROUNDS);
    pthread_t threads[2];
    for (long i = 0; i < 2; i++) {
        int err = pthread_create(&threads[i], NULL, worker, (void *)i);
        if (err != 0) {
            errno = err;
            die("pthread_create");
        }
    }
    for (int i = 0; i < 2; i++) {
        int err = pthread_join(threads[i], NULL);
        if (err != 0) {
            errno = err;
            die("pthread_join");
        }
    }
}

/* Runs in the forked child: never returns. */
__attribute__((noinline)) static void spawn_child(const char *argv0) {
    fprintf(stderr, "demo: spawn_child: 128 KiB shared anonymous, then exec %s --child\n",
            argv0);
    char *shared = mmap(NULL, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                        -1, 0);
    if (shared == MAP_FAILED)
        die("spawn_child: mmap");
    shared[0] = 1;
    pause_ms(100);
    char *const args[] = {(char *)argv0, "--child", NULL};
    execv("/proc/self/exe", args);
    die("spawn_child: execv /proc/self/exe");
}

/* demo --child: the program exec'd by spawn_child. */
__attribute__((noinline)) static int child_main(void) {
    fprintf(stderr, "demo: child: 512 KiB anonymous, madvise(MADV_DONTNEED), munmap\n");
    char *p = mmap(NULL, CHILD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("child: mmap");
    touch_pages(p, CHILD_SIZE);
    pause_ms(100);
    if (madvise(p, CHILD_SIZE, MADV_DONTNEED) != 0)
        die("child: madvise");
    pause_ms(100);
    if (munmap(p, CHILD_SIZE) != 0)
        die("child: munmap");
    return 0;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s\n"
            "Makes a short, readable sequence of memory-mapping syscalls (about 1.5 s),\n"
            "from named functions, with one line per step on stderr. Try:\n"
            "  maptrail trace -- %s\n",
            argv0, argv0);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--child") == 0)
        return child_main();
    if (argc != 1) {
        usage(argv[0]);
        return 2;
    }

    const long step_ms = 150;
    alloc_cache();
    pause_ms(step_ms);
    load_table();
    pause_ms(step_ms);
    grow_heap();
    pause_ms(step_ms);
    big_buffer();
    pause_ms(step_ms);
    grow_cache();
    pause_ms(step_ms);
    guard_page();
    pause_ms(step_ms);
    run_workers();
    pause_ms(step_ms);

    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        spawn_child(argv[0]);

    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "demo: child failed (status 0x%x)\n", status);
        return 1;
    }
    fprintf(stderr, "demo: done\n");
    return 0;
}
