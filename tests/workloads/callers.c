/* callers — for the caller tests: mappings made through the usual paths, by functions with
 * known names, so that a test can check the stack of each event reaches main (or the
 * thread's start routine) and that the caller shown is the function named here.
 *
 * Usage: callers [ROUNDS]   (default 20)
 *
 * Between two marker mappings (mmap+munmap of 0x7f000 bytes at the start, 0x7e000 at the
 * end), each round does:
 *   level1 -> level2 -> malloc(256 KiB), free        (glibc mmaps and munmaps it)
 *   map_direct -> mmap(64 KiB), munmap
 *   start_worker -> pthread_create (glibc maps the thread's stack, bigger each round so it
 *     is never a cached one), join;
 *     the thread's start routine worker_main -> malloc(256 KiB), free
 *   load_plugin -> dlopen("libz.so.1"), dlclose       (the loader maps and unmaps it)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MARK_BEGIN 0x7f000
#define MARK_END 0x7e000

static volatile int sink;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void marker(size_t size) {
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap marker");
    munmap(p, size);
}

__attribute__((noinline)) static void level2(void) {
    char *p = malloc(256 * 1024);
    if (!p)
        die("malloc");
    memset(p, 1, 4096);
    sink = sink + p[100];
    free(p);
}

__attribute__((noinline)) static void level1(void) {
    level2();
    sink = sink + 1;
}

__attribute__((noinline)) static void map_direct(void) {
    char *p = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    p[0] = 1;
    munmap(p, 64 * 1024);
    sink = sink + 2;
}

__attribute__((noinline)) static void *worker_main(void *arg) {
    char *p = malloc(256 * 1024);
    if (!p)
        die("malloc in thread");
    memset(p, 2, 4096);
    sink = sink + p[7];
    free(p);
    return arg;
}

__attribute__((noinline)) static void start_worker(int round) {
    pthread_t thread;
    /* A bigger stack each round: glibc reuses a cached stack only if it is large enough. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)(256 + 16 * round) * 1024);
    if (pthread_create(&thread, &attr, worker_main, NULL) != 0)
        die("pthread_create");
    pthread_join(thread, NULL);
    pthread_attr_destroy(&attr);
    sink = sink + 3;
}

__attribute__((noinline)) static void load_plugin(void) {
    void *handle = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "callers: dlopen: %s\n", dlerror());
        exit(1);
    }
    dlclose(handle);
    sink = sink + 4;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    /* A fixed threshold: glibc would otherwise raise it to 256 KiB after the first free and
     * serve later rounds from the heap. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    marker(MARK_BEGIN);
    for (int i = 0; i < rounds; i++) {
        level1();
        map_direct();
        start_worker(i);
        load_plugin();
    }
    marker(MARK_END);
    return sink == -1;
}
