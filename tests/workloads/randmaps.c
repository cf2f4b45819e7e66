/* randmaps — seeded random mapping operations, for the differential test of the VMA model.
 *
 * Usage: randmaps [--seed S] [--ops N] [--checkpoints C] [--threads T]
 *                 [--no-wait] [--ready] [--stats] [--self-check]
 *
 *   --seed S         PRNG seed (default 1). The same seed gives every thread the same
 *                    sequence of operations and arguments (addresses aside), run after run.
 *   --ops N          operations in total (default 10000), spread over the threads: thread i
 *                    does N/T, the first N%T threads one more.
 *   --checkpoints C  checkpoints (default 100), evenly spread; the C-th one comes after the
 *                    last operation, before the clean-up. 0: none.
 *   --threads T      threads (default 2, at most 64). Thread 0 is the main thread (tid = pid).
 *   --no-wait        checkpoints (and --ready) do not block on stdin.
 *   --ready          before the first operation, thread 0 writes "ready <pid>\n" and (unless
 *                    --no-wait) blocks until it has read one line from stdin, so a tracer can
 *                    attach with -p before anything happens.
 *   --stats          at the end, write per-thread counts of operations and syscalls to stderr.
 *   --self-check     after every operation, the thread compares its own table with
 *                    /proc/self/smaps (prot, shared, file offset, VmFlags lo dc dd rr sr ac nr
 *                    of every page it owns); a mismatch is fatal. Slow; for checking randmaps
 *                    itself. Adds open/read/close calls, no memory syscalls.
 *
 * Protocol on stdout (fd 1, write(2), one call per line):
 *   checkpoint <k> <ops>\n   k = 1..C; ops = operations done so far by all threads. All threads
 *                            are parked at a barrier while thread 0 writes this line and waits
 *                            for one line on stdin (e.g. "next\n"); then all continue. Between
 *                            the line and the reply the address space of the process does not
 *                            change (no thread makes any syscall but read/futex).
 *   done <ops>\n             after all operations (and after the last checkpoint); then every
 *                            thread unmaps its regions, thread 0 puts the break back where it
 *                            was, the temp files are removed and the process exits 0.
 * EOF on stdin while waiting: the temp files are removed and the process exits 0 silently.
 * SIGTERM/SIGINT/SIGHUP/SIGPIPE also remove them (SIGKILL leaves them: /tmp/randmaps.*,
 * /dev/shm/randmaps.*).
 * An unexpected failure of a call: "randmaps: thread T op K: call(args) failed: error" on
 * stderr, temp files removed, exit 1. Bad usage: exit 2.
 *
 * Operations (each one "op"; some make two or three syscalls), all on regions the thread
 * owns (a table of at most 64 live regions of 1..64 pages per thread; it touches nothing
 * else, except brk, which only thread 0 uses):
 *   mmap       new region: anonymous private, anonymous shared, file private, file shared;
 *              1..64 pages, random prot. Files: two 4 MiB temp files in a mkdtemp dir under
 *              $TMPDIR (or /tmp) and one in /dev/shm, opened O_RDWR, created at start-up,
 *              unlinked at the end (so /proc/PID/maps names them without " (deleted)").
 *   overlay    mmap MAP_FIXED of any kind over a part of one of its regions.
 *   munmap     a whole region, its head, its tail, or its middle (the region splits in two).
 *   mprotect   a sub-range (or, 15 %, the whole region) to another prot; "revert" puts a run
 *              of changed pages back to the region's original prot, so pieces merge again.
 *   mremap     grow (MREMAP_MAYMOVE), shrink (in place), move (MREMAP_MAYMOVE|MREMAP_FIXED
 *              into a hole first reserved with mmap(PROT_NONE, MAP_NORESERVE); 60 % same size,
 *              20 % grown, 20 % shrunk; the hole is sometimes 1-2 pages larger on either side,
 *              and those PROT_NONE leftovers become regions of their own).
 *   brk        up and down by pages, never below the break found at start-up (thread 0).
 *   madvise    MADV_DONTFORK, MADV_DONTDUMP, MADV_RANDOM, MADV_SEQUENTIAL on a range (VMA
 *              splits); "clear": MADV_DOFORK, MADV_DODUMP, MADV_NORMAL on a run of pages that
 *              have the flag (merges); MADV_DONTNEED (no VMA change; never on locked pages).
 *   mlock      a sub-range or a whole region; munlock a run of locked pages or part of one.
 *              NB: mlock over a range with a PROT_NONE page sets VM_LOCKED on the whole range
 *              and then returns ENOMEM (it cannot populate PROT_NONE): a FAILED call that
 *              changes the layout. randmaps does that on purpose in a quarter of the cases
 *              where the range it drew has a PROT_NONE page (otherwise it locks only the first
 *              run of accessible pages in it), and only with CAP_IPC_LOCK or an unlimited
 *              RLIMIT_MEMLOCK: without, it keeps mlock off PROT_NONE pages, and EAGAIN/ENOMEM/
 *              EPERM then mean "over the limit, nothing done".
 *
 * mremap is only used on a region that is one VMA: the thread models, per page, the backing,
 * pgoff, prot and VMA flags (VM_LOCKED, VM_DONTCOPY, VM_DONTDUMP, VM_RAND_READ, VM_SEQ_READ,
 * VM_ACCOUNT, VM_NORESERVE), and keeps away from the cases where the kernel would not merge
 * pieces that look alike (different anon_vma, VM_ACCOUNT differences): anonymous private
 * mappings without PROT_WRITE get MAP_NORESERVE, those with PROT_WRITE get one byte written
 * (so they have their anon_vma from the start), and a region in which a sub-range was
 * populated for write (mlock, or mprotect +W of locked pages) is never mremapped again.
 * Should the kernel still answer EFAULT (a range of several VMAs), randmaps writes a
 * "randmaps: note: ..." line to stderr and goes on (the thread's sequence may then differ
 * from another run with the same seed).
 *
 * After start-up nothing calls malloc or stdio: tables are static, output goes through
 * write(2) from stack buffers. The initial break is read after the threads are created.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "workload_util.h"

#define MAX_THREADS 64
#define MAX_REGIONS 64
#define MAX_PAGES 64
#define NFILES 3
#define FILE_BYTES (4UL * 1024 * 1024)
#define BRK_MAX_PAGES 256
#define BRK_STEP_PAGES 32

enum kind { K_ANON_PRIV, K_ANON_SHARED, K_FILE_PRIV, K_FILE_SHARED };

/* Page flags, each one a VMA flag of the kernel (smaps VmFlags name in brackets). */
#define F_LOCKED 0x01    /* VM_LOCKED     lo */
#define F_DONTFORK 0x02  /* VM_DONTCOPY   dc */
#define F_DONTDUMP 0x04  /* VM_DONTDUMP   dd */
#define F_RANDOM 0x08    /* VM_RAND_READ  rr */
#define F_SEQ 0x10       /* VM_SEQ_READ   sr */
#define F_ACCOUNT 0x20   /* VM_ACCOUNT    ac */
#define F_NORESERVE 0x40 /* VM_NORESERVE  nr */
#define F_MADV (F_DONTFORK | F_DONTDUMP | F_RANDOM | F_SEQ)

struct page {
    uint32_t backing; /* one id per mmap call (per thread) */
    uint32_t pgoff;   /* file: page offset in the file; anonymous: page index in its mapping */
    uint32_t limit;   /* pgoff must stay below it (file or shmem size; anon private: max) */
    uint8_t kind;
    uint8_t file;
    uint8_t prot;
    uint8_t flags;
};

struct region {
    uintptr_t addr;
    uint32_t n;        /* pages */
    uint8_t base_prot; /* prot it was created with: what "revert" goes back to */
    uint8_t taint;     /* a sub-range was populated for write: never mremap it */
    struct page pg[MAX_PAGES];
};

enum op {
    OP_MMAP,
    OP_OVERLAY,
    OP_MUNMAP_WHOLE,
    OP_MUNMAP_HEAD,
    OP_MUNMAP_TAIL,
    OP_MUNMAP_MIDDLE,
    OP_MPROTECT,
    OP_MPROTECT_REVERT,
    OP_MREMAP_GROW,
    OP_MREMAP_SHRINK,
    OP_MREMAP_MOVE,
    OP_BRK_UP,
    OP_BRK_DOWN,
    OP_MADV_SET,
    OP_MADV_CLEAR,
    OP_MADV_DONTNEED,
    OP_MLOCK,
    OP_MUNLOCK,
    NOPS
};

static const char *const op_names[NOPS] = {
    "mmap",           "overlay",         "munmap-whole",  "munmap-head",   "munmap-tail",
    "munmap-middle",  "mprotect",        "mprotect-back", "mremap-grow",   "mremap-shrink",
    "mremap-move",    "brk-up",          "brk-down",      "madvise-set",   "madvise-clear",
    "madv-dontneed",  "mlock",           "munlock",
};

/* Weights of the operations (thread 0; the others have no brk). mmap and munmap-whole
 * change with the size of the table, see choose_op(). */
static const unsigned op_weights[NOPS] = {
    [OP_MMAP] = 14,         [OP_OVERLAY] = 6,         [OP_MUNMAP_WHOLE] = 2, /* see choose_op */
    [OP_MUNMAP_HEAD] = 3,   [OP_MUNMAP_TAIL] = 3,     [OP_MUNMAP_MIDDLE] = 3,
    [OP_MPROTECT] = 8,      [OP_MPROTECT_REVERT] = 6, [OP_MREMAP_GROW] = 6,
    [OP_MREMAP_SHRINK] = 4, [OP_MREMAP_MOVE] = 6,     [OP_BRK_UP] = 3,
    [OP_BRK_DOWN] = 2,      [OP_MADV_SET] = 7,        [OP_MADV_CLEAR] = 5,
    [OP_MADV_DONTNEED] = 3, [OP_MLOCK] = 5,           [OP_MUNLOCK] = 4,
};

enum sc { SC_MMAP, SC_MUNMAP, SC_MPROTECT, SC_MREMAP, SC_BRK, SC_MADVISE, SC_MLOCK, SC_MUNLOCK, NSC };
static const char *const sc_names[NSC] = {"mmap",    "munmap", "mprotect", "mremap",
                                          "brk",     "madvise", "mlock",   "munlock"};

struct vma_info; /* --self-check */

struct thread {
    unsigned idx;
    uint64_t rng;
    uint64_t nops; /* operations assigned to this thread */
    uint64_t done; /* operations done */
    uint32_t next_backing;
    unsigned nreg;
    struct region reg[MAX_REGIONS];
    pthread_t tid;
    uint64_t op_count[NOPS];
    uint64_t sc_count[NSC];
    uint64_t sc_expected_fail[NSC];
    uint64_t notes;
    uint64_t nreg_sum; /* sum over ops of the table size after the op */
    unsigned nreg_max;
    char *check_buf; /* --self-check: mmapped at start-up */
    struct vma_info *check_vmas;
} __attribute__((aligned(64)));

/* ---- global state, all set up before the first operation ---- */
static struct thread threads[MAX_THREADS];
static unsigned nthreads = 2;
static uint64_t opt_seed = 1, opt_ops = 10000, opt_checkpoints = 100;
static bool opt_no_wait, opt_ready, opt_stats, opt_self_check;
static bool can_lock_all; /* CAP_IPC_LOCK or no RLIMIT_MEMLOCK: mlock never hits the limit */
static size_t pgsz;
static uint32_t file_pages;
static int file_fd[NFILES];
static bool file_noexec[NFILES];
static ino_t file_ino[NFILES];
static char tmp_dir[512];
static char file_path[NFILES][600];
static bool files_made[NFILES], dir_made;
static uintptr_t brk_base;   /* break at start-up */
static uint32_t brk_pages;   /* current break = brk_base + brk_pages pages */
static pthread_barrier_t barrier;

/* ------------------------------------------------------------------------------------- */
/* Output without stdio/malloc.                                                            */

struct msg {
    char b[1024];
    size_t n;
};

static void m_str(struct msg *m, const char *s) {
    while (*s && m->n < sizeof m->b - 1)
        m->b[m->n++] = *s++;
}

static void m_dec(struct msg *m, uint64_t v) {
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i > 0 && m->n < sizeof m->b - 1)
        m->b[m->n++] = tmp[--i];
}

static void m_sdec(struct msg *m, int64_t v) {
    if (v < 0) {
        m_str(m, "-");
        m_dec(m, (uint64_t)(-(v + 1)) + 1);
    } else {
        m_dec(m, (uint64_t)v);
    }
}

static void m_hex(struct msg *m, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[20];
    int i = 0;
    do {
        tmp[i++] = digits[v & 15];
        v >>= 4;
    } while (v);
    m_str(m, "0x");
    while (i > 0 && m->n < sizeof m->b - 1)
        m->b[m->n++] = tmp[--i];
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere to report it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void m_write(struct msg *m, int fd) {
    write_all(fd, m->b, m->n);
}

static void remove_files(void) {
    for (int i = 0; i < NFILES; i++)
        if (files_made[i])
            unlink(file_path[i]);
    if (dir_made)
        rmdir(tmp_dir);
}

__attribute__((noreturn)) static void quit(int code) {
    remove_files();
    _exit(code);
}

/* SIGTERM, SIGINT, SIGHUP, SIGPIPE: remove the temp files, die of the signal. */
static void on_signal(int sig) {
    remove_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void m_start(struct msg *m, struct thread *t) {
    m->n = 0;
    m_str(m, "randmaps: thread ");
    m_dec(m, t->idx);
    m_str(m, " op ");
    m_dec(m, t->done);
    m_str(m, ": ");
}

/* "randmaps: thread T op K: name(a0, a1, ...) failed: strerror" and exit 1. */
__attribute__((noreturn)) static void fail_call(struct thread *t, const char *name, int nargs,
                                                const uint64_t *args, int err) {
    struct msg m;
    m_start(&m, t);
    m_str(&m, name);
    m_str(&m, "(");
    for (int i = 0; i < nargs; i++) {
        if (i)
            m_str(&m, ", ");
        m_hex(&m, args[i]);
    }
    m_str(&m, ") failed: ");
    m_str(&m, strerror(err));
    m_str(&m, "\n");
    m_write(&m, 2);
    quit(1);
}

__attribute__((noreturn)) static void fail_msg(struct thread *t, const char *what) {
    struct msg m;
    m_start(&m, t);
    m_str(&m, what);
    m_str(&m, "\n");
    m_write(&m, 2);
    quit(1);
}

/* ------------------------------------------------------------------------------------- */
/* PRNG: splitmix64 to seed, xorshift64* to draw.                                          */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd(struct thread *t) {
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n), n > 0. */
static uint32_t rnd_below(struct thread *t, uint32_t n) {
    return (uint32_t)(((rnd(t) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static uint32_t rnd_range(struct thread *t, uint32_t lo, uint32_t hi) {
    return lo + rnd_below(t, hi - lo + 1);
}

static bool rnd_pct(struct thread *t, unsigned pct) {
    return rnd_below(t, 100) < pct;
}

static int rnd_prot(struct thread *t) {
    uint32_t r = rnd_below(t, 10);
    if (r == 0)
        return PROT_NONE;
    if (r <= 3)
        return PROT_READ;
    if (r <= 7)
        return PROT_READ | PROT_WRITE;
    if (r == 8)
        return PROT_READ | PROT_EXEC;
    return PROT_READ | PROT_WRITE | PROT_EXEC;
}

static uint32_t rnd_size(struct thread *t) {
    uint32_t r = rnd_below(t, 10);
    if (r < 5)
        return rnd_range(t, 1, 8);
    if (r < 8)
        return rnd_range(t, 9, 32);
    return rnd_range(t, 33, MAX_PAGES);
}

/* A range [a, b) of n pages: strict (not all of them) when n > 1 and strict is set. */
static void rnd_subrange(struct thread *t, uint32_t n, bool strict, uint32_t *a, uint32_t *b) {
    if (n == 1 || !strict) {
        *a = 0;
        *b = n;
        return;
    }
    uint32_t len = rnd_range(t, 1, n - 1);
    *a = rnd_below(t, n - len + 1);
    *b = *a + len;
}

/* ------------------------------------------------------------------------------------- */
/* The model.                                                                              */

static bool is_private(const struct page *p) {
    return p->kind == K_ANON_PRIV || p->kind == K_FILE_PRIV;
}

static bool is_file(const struct page *p) {
    return p->kind == K_FILE_PRIV || p->kind == K_FILE_SHARED;
}

static bool noexec_page(const struct page *p) {
    return is_file(p) && file_noexec[p->file];
}

static bool same_vma_attrs(const struct page *a, const struct page *b) {
    return a->backing == b->backing && a->kind == b->kind && a->file == b->file &&
           a->prot == b->prot && a->flags == b->flags;
}

/* All pages look like one VMA: same backing, contiguous pgoff, same prot and flags. */
static bool region_uniform(const struct region *r) {
    for (uint32_t i = 1; i < r->n; i++)
        if (!same_vma_attrs(&r->pg[i], &r->pg[0]) || r->pg[i].pgoff != r->pg[0].pgoff + i)
            return false;
    return true;
}

static bool region_mremappable(const struct region *r) {
    return !r->taint && region_uniform(r);
}

static uintptr_t page_addr(const struct region *r, uint32_t i) {
    return r->addr + (uintptr_t)i * pgsz;
}

static int flags_for(enum kind k, int prot) {
    switch (k) {
    case K_ANON_PRIV:
        /* Without write access: MAP_NORESERVE, so no VM_ACCOUNT ever comes or goes. */
        return MAP_PRIVATE | MAP_ANONYMOUS | ((prot & PROT_WRITE) ? 0 : MAP_NORESERVE);
    case K_ANON_SHARED:
        return MAP_SHARED | MAP_ANONYMOUS;
    case K_FILE_PRIV:
        return MAP_PRIVATE;
    default:
        return MAP_SHARED;
    }
}

/* Fills pages [a, b) of r as a fresh mapping: its page a has pgoff `pgoff0`. */
static void model_new_mapping(struct thread *t, struct region *r, uint32_t a, uint32_t b,
                              enum kind k, unsigned file, int prot, int mflags, uint32_t pgoff0,
                              uint32_t limit) {
    uint32_t backing = ++t->next_backing;
    uint8_t flags = 0;
    if ((k == K_ANON_PRIV || k == K_FILE_PRIV) && (prot & PROT_WRITE) && !(mflags & MAP_NORESERVE))
        flags |= F_ACCOUNT;
    if (mflags & MAP_NORESERVE)
        flags |= F_NORESERVE;
    for (uint32_t i = a; i < b; i++) {
        struct page *p = &r->pg[i];
        p->backing = backing;
        p->pgoff = pgoff0 + (i - a);
        p->limit = limit;
        p->kind = (uint8_t)k;
        p->file = (uint8_t)file;
        p->prot = (uint8_t)prot;
        p->flags = flags;
    }
}

static struct region *region_add(struct thread *t) {
    struct region *r = &t->reg[t->nreg++];
    memset(r, 0, sizeof *r);
    return r;
}

static void region_remove(struct thread *t, unsigned i) {
    t->nreg--;
    if (i != t->nreg)
        memcpy(&t->reg[i], &t->reg[t->nreg], sizeof t->reg[i]);
}

/* Drops the first k pages of r (the addresses move up). */
static void region_drop_head(struct region *r, uint32_t k) {
    memmove(&r->pg[0], &r->pg[k], (r->n - k) * sizeof r->pg[0]);
    r->n -= k;
    r->addr += (uintptr_t)k * pgsz;
}

/* ------------------------------------------------------------------------------------- */
/* Syscalls, counted; unexpected failures are fatal.                                       */

static void *sys_mmap(struct thread *t, uintptr_t addr, size_t len, int prot, int flags, int fd,
                      off_t off) {
    t->sc_count[SC_MMAP]++;
    void *p = mmap((void *)addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED) {
        uint64_t a[] = {addr, len, (uint64_t)prot, (uint64_t)flags, (uint64_t)(int64_t)fd,
                        (uint64_t)off};
        fail_call(t, "mmap", 6, a, errno);
    }
    if ((flags & MAP_FIXED) && (uintptr_t)p != addr)
        fail_msg(t, "mmap MAP_FIXED returned another address");
    return p;
}

static void sys_munmap(struct thread *t, uintptr_t addr, size_t len) {
    t->sc_count[SC_MUNMAP]++;
    if (munmap((void *)addr, len) != 0) {
        uint64_t a[] = {addr, len};
        fail_call(t, "munmap", 2, a, errno);
    }
}

static void sys_mprotect(struct thread *t, uintptr_t addr, size_t len, int prot) {
    t->sc_count[SC_MPROTECT]++;
    if (mprotect((void *)addr, len, prot) != 0) {
        uint64_t a[] = {addr, len, (uint64_t)prot};
        fail_call(t, "mprotect", 3, a, errno);
    }
}

static void sys_madvise(struct thread *t, uintptr_t addr, size_t len, int advice) {
    t->sc_count[SC_MADVISE]++;
    if (madvise((void *)addr, len, advice) != 0) {
        uint64_t a[] = {addr, len, (uint64_t)advice};
        fail_call(t, "madvise", 3, a, errno);
    }
}

/* 0 on success, else the errno of an expected failure (hitting RLIMIT_MEMLOCK). */
static int sys_mlock(struct thread *t, uintptr_t addr, size_t len) {
    t->sc_count[SC_MLOCK]++;
    if (mlock((void *)addr, len) == 0)
        return 0;
    int err = errno;
    if (err == EAGAIN || err == ENOMEM || err == EPERM) {
        t->sc_expected_fail[SC_MLOCK]++;
        return err;
    }
    uint64_t a[] = {addr, len};
    fail_call(t, "mlock", 2, a, err);
}

static void sys_munlock(struct thread *t, uintptr_t addr, size_t len) {
    t->sc_count[SC_MUNLOCK]++;
    if (munlock((void *)addr, len) != 0) {
        uint64_t a[] = {addr, len};
        fail_call(t, "munlock", 2, a, errno);
    }
}

/* Returns the new address, or MAP_FAILED with errno EAGAIN (locked, RLIMIT_MEMLOCK) or
 * EFAULT (range of several VMAs, not predicted by the model): those two are the caller's. */
static void *sys_mremap(struct thread *t, uintptr_t addr, size_t old_len, size_t new_len,
                        int flags, uintptr_t new_addr) {
    t->sc_count[SC_MREMAP]++;
    void *p = mremap((void *)addr, old_len, new_len, flags, (void *)new_addr);
    if (p != MAP_FAILED)
        return p;
    int err = errno;
    if (err == EAGAIN || err == EFAULT) {
        t->sc_expected_fail[SC_MREMAP]++;
        errno = err;
        return MAP_FAILED;
    }
    uint64_t a[] = {addr, old_len, new_len, (uint64_t)flags, new_addr};
    fail_call(t, "mremap", 5, a, err);
}

static void sys_brk(struct thread *t, uintptr_t target) {
    t->sc_count[SC_BRK]++;
    long r = syscall(SYS_brk, target);
    if ((uintptr_t)r != target) {
        uint64_t a[] = {target};
        fail_call(t, "brk", 1, a, ENOMEM);
    }
}

static void note(struct thread *t, const char *what, const struct region *r) {
    struct msg m;
    t->notes++;
    m.n = 0;
    m_str(&m, "randmaps: note: thread ");
    m_dec(&m, t->idx);
    m_str(&m, " op ");
    m_dec(&m, t->done);
    m_str(&m, ": ");
    m_str(&m, what);
    m_str(&m, " (region ");
    m_hex(&m, r->addr);
    m_str(&m, ", ");
    m_dec(&m, r->n);
    m_str(&m, " pages)\n");
    m_write(&m, 2);
}

/* ------------------------------------------------------------------------------------- */
/* Operations. Each returns false, having made no syscall, when it does not apply.        */

/* Writes one byte into a new writable private anonymous mapping so it has its anon_vma
 * from the start (see the top comment). */
static void touch(uintptr_t addr) {
    *(volatile char *)addr = 1;
}

static void choose_mapping(struct thread *t, uint32_t n, enum kind *k, unsigned *file,
                           int *prot, uint32_t *pgoff0, uint32_t *limit) {
    uint32_t r = rnd_below(t, 100);
    *k = r < 35 ? K_ANON_PRIV : r < 55 ? K_ANON_SHARED : r < 80 ? K_FILE_PRIV : K_FILE_SHARED;
    *prot = rnd_prot(t);
    *file = 0;
    *pgoff0 = 0;
    *limit = *k == K_ANON_SHARED ? n : UINT32_MAX;
    if (*k == K_FILE_PRIV || *k == K_FILE_SHARED) {
        *file = rnd_below(t, NFILES);
        *pgoff0 = rnd_below(t, file_pages - n + 1);
        *limit = file_pages;
        if (file_noexec[*file])
            *prot &= ~PROT_EXEC;
    }
}

static bool op_mmap(struct thread *t) {
    if (t->nreg >= MAX_REGIONS)
        return false;
    uint32_t n = rnd_size(t);
    enum kind k;
    unsigned file;
    int prot;
    uint32_t pgoff0, limit;
    choose_mapping(t, n, &k, &file, &prot, &pgoff0, &limit);
    int flags = flags_for(k, prot);
    bool f = k == K_FILE_PRIV || k == K_FILE_SHARED;
    void *p = sys_mmap(t, 0, n * pgsz, prot, flags, f ? file_fd[file] : -1,
                       f ? (off_t)pgoff0 * (off_t)pgsz : 0);
    struct region *r = region_add(t);
    r->addr = (uintptr_t)p;
    r->n = n;
    r->base_prot = (uint8_t)prot;
    model_new_mapping(t, r, 0, n, k, file, prot, flags, pgoff0, limit);
    if (k == K_ANON_PRIV && (prot & PROT_WRITE))
        touch(r->addr);
    return true;
}

static bool op_overlay(struct thread *t) {
    if (t->nreg == 0)
        return false;
    struct region *r = &t->reg[rnd_below(t, t->nreg)];
    uint32_t a, b;
    rnd_subrange(t, r->n, true, &a, &b);
    enum kind k;
    unsigned file;
    int prot;
    uint32_t pgoff0, limit;
    choose_mapping(t, b - a, &k, &file, &prot, &pgoff0, &limit);
    int flags = flags_for(k, prot) | MAP_FIXED;
    bool f = k == K_FILE_PRIV || k == K_FILE_SHARED;
    sys_mmap(t, page_addr(r, a), (b - a) * pgsz, prot, flags, f ? file_fd[file] : -1,
             f ? (off_t)pgoff0 * (off_t)pgsz : 0);
    model_new_mapping(t, r, a, b, k, file, prot, flags, pgoff0, limit);
    if (k == K_ANON_PRIV && (prot & PROT_WRITE))
        touch(page_addr(r, a));
    return true;
}

static bool op_munmap(struct thread *t, enum op op) {
    if (t->nreg == 0)
        return false;
    unsigned i = rnd_below(t, t->nreg);
    struct region *r = &t->reg[i];
    switch (op) {
    case OP_MUNMAP_WHOLE:
        sys_munmap(t, r->addr, r->n * pgsz);
        region_remove(t, i);
        return true;
    case OP_MUNMAP_HEAD: {
        if (r->n < 2)
            return false;
        uint32_t k = rnd_range(t, 1, r->n - 1);
        sys_munmap(t, r->addr, k * pgsz);
        region_drop_head(r, k);
        return true;
    }
    case OP_MUNMAP_TAIL: {
        if (r->n < 2)
            return false;
        uint32_t k = rnd_range(t, 1, r->n - 1);
        sys_munmap(t, page_addr(r, r->n - k), k * pgsz);
        r->n -= k;
        return true;
    }
    default: { /* middle: [a, b) with pages left on both sides */
        if (r->n < 3 || t->nreg >= MAX_REGIONS)
            return false;
        uint32_t a = rnd_range(t, 1, r->n - 2);
        uint32_t b = rnd_range(t, a + 1, r->n - 1);
        sys_munmap(t, page_addr(r, a), (b - a) * pgsz);
        struct region *r2 = region_add(t);
        *r2 = *r;
        region_drop_head(r2, b);
        r->n = a;
        return true;
    }
    }
}

/* mprotect(prot) of pages [a, b) of r, with the model's bookkeeping. */
static void apply_mprotect(struct thread *t, struct region *r, uint32_t a, uint32_t b, int prot) {
    bool whole_uniform = a == 0 && b == r->n && region_uniform(r);
    sys_mprotect(t, page_addr(r, a), (b - a) * pgsz, prot);
    for (uint32_t i = a; i < b; i++) {
        struct page *p = &r->pg[i];
        bool gains_write = !(p->prot & PROT_WRITE) && (prot & PROT_WRITE);
        if (gains_write && is_private(p)) {
            /* A locked private VMA that becomes writable is populated for write (COW). */
            if ((p->flags & F_LOCKED) && !whole_uniform)
                r->taint = 1;
            /* mprotect_fixup: VM_ACCOUNT comes with write unless VM_NORESERVE; it only goes
             * again for anonymous VMAs without anon_vma, which this program never has with
             * VM_ACCOUNT (see touch()). */
            if (!(p->flags & (F_ACCOUNT | F_NORESERVE)))
                p->flags |= F_ACCOUNT;
        }
        p->prot = (uint8_t)prot;
    }
}

static bool range_has_noexec(const struct region *r, uint32_t a, uint32_t b) {
    for (uint32_t i = a; i < b; i++)
        if (noexec_page(&r->pg[i]))
            return true;
    return false;
}

static bool op_mprotect(struct thread *t) {
    if (t->nreg == 0)
        return false;
    struct region *r = &t->reg[rnd_below(t, t->nreg)];
    uint32_t a, b;
    rnd_subrange(t, r->n, !rnd_pct(t, 15), &a, &b);
    int prot;
    do
        prot = rnd_prot(t);
    while (prot == r->pg[a].prot);
    if (range_has_noexec(r, a, b))
        prot &= ~PROT_EXEC;
    apply_mprotect(t, r, a, b, prot);
    return true;
}

/* Target prot of page i for "revert": the region's original prot, without exec on files of
 * a noexec mount. */
static int revert_prot(const struct region *r, uint32_t i) {
    return noexec_page(&r->pg[i]) ? (r->base_prot & ~PROT_EXEC) : r->base_prot;
}

/* A region for which has(r) holds, from a random start; NULL if none. */
static struct region *pick_region_with(struct thread *t, bool (*has)(const struct region *)) {
    if (t->nreg == 0)
        return NULL;
    unsigned start = rnd_below(t, t->nreg);
    for (unsigned j = 0; j < t->nreg; j++) {
        struct region *r = &t->reg[(start + j) % t->nreg];
        if (has(r))
            return r;
    }
    return NULL;
}

static bool has_changed_prot(const struct region *r) {
    for (uint32_t i = 0; i < r->n; i++)
        if (r->pg[i].prot != revert_prot(r, i))
            return true;
    return false;
}

static bool has_madv(const struct region *r) {
    for (uint32_t i = 0; i < r->n; i++)
        if (r->pg[i].flags & F_MADV)
            return true;
    return false;
}

static bool has_locked(const struct region *r) {
    for (uint32_t i = 0; i < r->n; i++)
        if (r->pg[i].flags & F_LOCKED)
            return true;
    return false;
}

static bool op_mprotect_revert(struct thread *t) {
    struct region *r = pick_region_with(t, has_changed_prot);
    if (!r)
        return false;
    uint32_t start = rnd_below(t, r->n), a = r->n;
    for (uint32_t j = 0; j < r->n; j++) {
        uint32_t i = (start + j) % r->n;
        if (r->pg[i].prot != revert_prot(r, i)) {
            a = i;
            break;
        }
    }
    if (a == r->n)
        return false;
    int prot = revert_prot(r, a);
    while (a > 0 && r->pg[a - 1].prot != revert_prot(r, a - 1) && revert_prot(r, a - 1) == prot)
        a--;
    uint32_t b = a + 1;
    while (b < r->n && r->pg[b].prot != revert_prot(r, b) && revert_prot(r, b) == prot)
        b++;
    apply_mprotect(t, r, a, b, prot);
    return true;
}

/* Index of a region that can be mremapped and passes `ok`, from a random start; -1 if none. */
static int find_mremappable(struct thread *t, bool (*ok)(const struct region *)) {
    if (t->nreg == 0)
        return -1;
    unsigned start = rnd_below(t, t->nreg);
    for (unsigned j = 0; j < t->nreg; j++) {
        unsigned i = (start + j) % t->nreg;
        if (ok(&t->reg[i]) && region_mremappable(&t->reg[i]))
            return (int)i;
    }
    return -1;
}

/* How many pages r can grow by (its backing's size, MAX_PAGES). */
static uint32_t grow_room(const struct region *r) {
    uint32_t room = MAX_PAGES - r->n;
    uint32_t end = r->pg[0].pgoff + r->n;
    if (r->pg[0].limit - end < room)
        room = r->pg[0].limit - end;
    return room;
}

static bool can_grow(const struct region *r) {
    return grow_room(r) > 0;
}

static bool can_shrink(const struct region *r) {
    return r->n >= 2;
}

static bool can_move(const struct region *r) {
    (void)r;
    return true;
}

/* The model after a successful resize of uniform region r to n2 pages at addr. */
static void model_resized(struct region *r, uintptr_t addr, uint32_t n2) {
    for (uint32_t i = r->n; i < n2; i++) {
        r->pg[i] = r->pg[0];
        r->pg[i].pgoff = r->pg[0].pgoff + i;
    }
    r->n = n2;
    r->addr = addr;
}

static bool op_mremap_grow(struct thread *t) {
    int i = find_mremappable(t, can_grow);
    if (i < 0)
        return false;
    struct region *r = &t->reg[i];
    uint32_t n2 = r->n + rnd_range(t, 1, grow_room(r));
    void *p = sys_mremap(t, r->addr, r->n * pgsz, n2 * pgsz, MREMAP_MAYMOVE, 0);
    if (p == MAP_FAILED) {
        if (errno == EFAULT) {
            note(t, "mremap grow: EFAULT, the region is not one VMA", r);
            r->taint = 1;
        }
        return true; /* EAGAIN: locked and over RLIMIT_MEMLOCK; nothing changed */
    }
    model_resized(r, (uintptr_t)p, n2);
    return true;
}

static bool op_mremap_shrink(struct thread *t) {
    int i = find_mremappable(t, can_shrink);
    if (i < 0)
        return false;
    struct region *r = &t->reg[i];
    uint32_t n2 = rnd_range(t, 1, r->n - 1);
    void *p = sys_mremap(t, r->addr, r->n * pgsz, n2 * pgsz, 0, 0);
    if (p == MAP_FAILED) {
        /* Unlike grow, a failed shrink may have unmapped the tail already: unmap it for sure. */
        note(t, "mremap shrink failed, the region is not one VMA", r);
        r->taint = 1;
        sys_munmap(t, page_addr(r, n2), (r->n - n2) * pgsz);
        r->n = n2;
        return true;
    }
    if ((uintptr_t)p != r->addr)
        fail_msg(t, "mremap shrink moved the region");
    r->n = n2;
    return true;
}

static bool op_mremap_move(struct thread *t) {
    int i = find_mremappable(t, can_move);
    if (i < 0)
        return false;
    struct region *r = &t->reg[i];
    uint32_t n2 = r->n, pct = rnd_below(t, 100);
    if (pct < 20 && can_grow(r))
        n2 = r->n + rnd_range(t, 1, grow_room(r));
    else if (pct >= 80 && r->n >= 2)
        n2 = rnd_range(t, 1, r->n - 1);
    /* The hole: n2 pages, sometimes with 1-2 pages more before and/or after, which stay as
     * PROT_NONE regions of their own (if the table has room for them). */
    uint32_t before = 0, after = 0;
    if (t->nreg + 2 <= MAX_REGIONS) {
        if (rnd_pct(t, 40))
            before = rnd_range(t, 1, 2);
        if (rnd_pct(t, 40))
            after = rnd_range(t, 1, 2);
    }
    uint32_t total = before + n2 + after;
    int hflags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    uintptr_t hole = (uintptr_t)sys_mmap(t, 0, total * pgsz, PROT_NONE, hflags, -1, 0);
    uintptr_t dest = hole + before * pgsz;
    void *p = sys_mremap(t, r->addr, r->n * pgsz, n2 * pgsz, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
    if (p == MAP_FAILED) {
        /* The kernel may have unmapped the destination (and a shrunk tail) before failing:
         * remove the whole hole and that tail for sure, keep the region where it was. */
        if (errno == EFAULT) {
            note(t, "mremap move: EFAULT, the region is not one VMA", r);
            r->taint = 1;
        }
        sys_munmap(t, hole, total * pgsz);
        if (n2 < r->n) {
            sys_munmap(t, page_addr(r, n2), (r->n - n2) * pgsz);
            r->n = n2;
        }
        return true;
    }
    if ((uintptr_t)p != dest)
        fail_msg(t, "mremap MREMAP_FIXED returned another address");
    model_resized(r, dest, n2);
    /* The leftovers of the hole: PROT_NONE regions, pieces of one mapping. */
    uint32_t hole_backing = 0;
    if (before) {
        struct region *g = region_add(t);
        g->addr = hole;
        g->n = before;
        g->base_prot = PROT_NONE;
        model_new_mapping(t, g, 0, before, K_ANON_PRIV, 0, PROT_NONE, hflags, 0, UINT32_MAX);
        hole_backing = g->pg[0].backing;
    }
    if (after) {
        struct region *g = region_add(t);
        g->addr = dest + n2 * pgsz;
        g->n = after;
        g->base_prot = PROT_NONE;
        model_new_mapping(t, g, 0, after, K_ANON_PRIV, 0, PROT_NONE, hflags, before + n2,
                          UINT32_MAX);
        if (before)
            for (uint32_t j = 0; j < after; j++)
                g->pg[j].backing = hole_backing;
    }
    return true;
}

static bool op_brk(struct thread *t, bool up) {
    if (t->idx != 0)
        return false;
    uint32_t k;
    if (up) {
        if (brk_pages >= BRK_MAX_PAGES)
            return false;
        uint32_t room = BRK_MAX_PAGES - brk_pages;
        k = brk_pages + rnd_range(t, 1, room < BRK_STEP_PAGES ? room : BRK_STEP_PAGES);
    } else {
        if (brk_pages == 0)
            return false;
        k = rnd_below(t, brk_pages);
    }
    sys_brk(t, brk_base + (uintptr_t)k * pgsz);
    brk_pages = k;
    return true;
}

static bool op_madv_set(struct thread *t) {
    static const int advices[] = {MADV_DONTFORK, MADV_DONTDUMP, MADV_RANDOM, MADV_SEQUENTIAL};
    if (t->nreg == 0)
        return false;
    struct region *r = &t->reg[rnd_below(t, t->nreg)];
    uint32_t a, b;
    rnd_subrange(t, r->n, !rnd_pct(t, 20), &a, &b);
    unsigned which = rnd_below(t, 4);
    sys_madvise(t, page_addr(r, a), (b - a) * pgsz, advices[which]);
    for (uint32_t i = a; i < b; i++) {
        uint8_t *f = &r->pg[i].flags;
        switch (which) {
        case 0: *f |= F_DONTFORK; break;
        case 1: *f |= F_DONTDUMP; break;
        case 2: *f = (uint8_t)((*f & ~F_SEQ) | F_RANDOM); break;
        default: *f = (uint8_t)((*f & ~F_RANDOM) | F_SEQ); break;
        }
    }
    return true;
}

/* A run of pages that all have one of the bits in `mask`, around the first such page found
 * from a random start: [*a, *b). Returns false if no page has any. */
static bool find_run(struct thread *t, const struct region *r, uint8_t mask, uint32_t *a,
                     uint32_t *b) {
    uint32_t start = rnd_below(t, r->n);
    for (uint32_t j = 0; j < r->n; j++) {
        uint32_t i = (start + j) % r->n;
        if (r->pg[i].flags & mask) {
            *a = i;
            while (*a > 0 && (r->pg[*a - 1].flags & mask))
                (*a)--;
            *b = i + 1;
            while (*b < r->n && (r->pg[*b].flags & mask))
                (*b)++;
            return true;
        }
    }
    return false;
}

static bool op_madv_clear(struct thread *t) {
    struct region *r = pick_region_with(t, has_madv);
    if (!r)
        return false;
    /* One class of flag, among those some page of the region has. */
    uint8_t have = 0;
    for (uint32_t i = 0; i < r->n; i++)
        have |= r->pg[i].flags;
    static const uint8_t classes[] = {F_DONTFORK, F_DONTDUMP, F_RANDOM | F_SEQ};
    static const int undo[] = {MADV_DOFORK, MADV_DODUMP, MADV_NORMAL};
    unsigned avail[3], navail = 0;
    for (unsigned c = 0; c < 3; c++)
        if (have & classes[c])
            avail[navail++] = c;
    if (navail == 0)
        return false;
    unsigned c = avail[rnd_below(t, navail)];
    uint32_t a, b;
    find_run(t, r, classes[c], &a, &b);
    sys_madvise(t, page_addr(r, a), (b - a) * pgsz, undo[c]);
    for (uint32_t i = a; i < b; i++)
        r->pg[i].flags &= (uint8_t)~classes[c];
    return true;
}

static bool op_madv_dontneed(struct thread *t) {
    if (t->nreg == 0)
        return false;
    struct region *r = &t->reg[rnd_below(t, t->nreg)];
    uint32_t a, b;
    rnd_subrange(t, r->n, !rnd_pct(t, 30), &a, &b);
    for (uint32_t i = a; i < b; i++)
        if (r->pg[i].flags & F_LOCKED) /* EINVAL on VM_LOCKED */
            return false;
    sys_madvise(t, page_addr(r, a), (b - a) * pgsz, MADV_DONTNEED);
    return true;
}

static bool op_mlock(struct thread *t) {
    if (t->nreg == 0)
        return false;
    struct region *r = &t->reg[rnd_below(t, t->nreg)];
    uint32_t a, b;
    rnd_subrange(t, r->n, !rnd_pct(t, 20), &a, &b);
    bool whole_uniform = a == 0 && b == r->n && region_uniform(r);
    bool has_none = false;
    for (uint32_t i = a; i < b; i++)
        if (r->pg[i].prot == PROT_NONE)
            has_none = true;
    /* mlock over a PROT_NONE page sets VM_LOCKED on the whole range, then fails to populate
     * that page and returns ENOMEM. Without CAP_IPC_LOCK, ENOMEM may also mean "over
     * RLIMIT_MEMLOCK, nothing done": keep away from PROT_NONE then, to know which it was. */
    if (has_none && (!can_lock_all || rnd_pct(t, 75))) {
        /* Mostly: only the first run of accessible pages in the range, if any. */
        while (a < b && r->pg[a].prot == PROT_NONE)
            a++;
        if (a == b)
            return false;
        uint32_t e = a;
        while (e < b && r->pg[e].prot != PROT_NONE)
            e++;
        b = e;
        has_none = false;
        whole_uniform = false;
    }
    int err = sys_mlock(t, page_addr(r, a), (b - a) * pgsz);
    if (err != 0 && !(has_none && err == ENOMEM))
        return true; /* over RLIMIT_MEMLOCK: nothing changed */
    for (uint32_t i = a; i < b; i++) {
        struct page *p = &r->pg[i];
        /* Populated for write: a piece may get an anon_vma of its own. */
        if (is_private(p) && (p->prot & PROT_WRITE) && !(p->flags & F_LOCKED) && !whole_uniform)
            r->taint = 1;
        p->flags |= F_LOCKED;
    }
    return true;
}

static bool op_munlock(struct thread *t) {
    struct region *r = pick_region_with(t, has_locked);
    if (!r)
        return false;
    uint32_t a, b;
    if (!find_run(t, r, F_LOCKED, &a, &b))
        return false;
    if (rnd_pct(t, 30) && b - a > 1) { /* only a part of the run */
        uint32_t a2, b2;
        rnd_subrange(t, b - a, true, &a2, &b2);
        b = a + b2;
        a = a + a2;
    }
    sys_munlock(t, page_addr(r, a), (b - a) * pgsz);
    for (uint32_t i = a; i < b; i++)
        r->pg[i].flags &= (uint8_t)~F_LOCKED;
    return true;
}

static bool run_op(struct thread *t, enum op op) {
    switch (op) {
    case OP_MMAP: return op_mmap(t);
    case OP_OVERLAY: return op_overlay(t);
    case OP_MUNMAP_WHOLE:
    case OP_MUNMAP_HEAD:
    case OP_MUNMAP_TAIL:
    case OP_MUNMAP_MIDDLE: return op_munmap(t, op);
    case OP_MPROTECT: return op_mprotect(t);
    case OP_MPROTECT_REVERT: return op_mprotect_revert(t);
    case OP_MREMAP_GROW: return op_mremap_grow(t);
    case OP_MREMAP_SHRINK: return op_mremap_shrink(t);
    case OP_MREMAP_MOVE: return op_mremap_move(t);
    case OP_BRK_UP: return op_brk(t, true);
    case OP_BRK_DOWN: return op_brk(t, false);
    case OP_MADV_SET: return op_madv_set(t);
    case OP_MADV_CLEAR: return op_madv_clear(t);
    case OP_MADV_DONTNEED: return op_madv_dontneed(t);
    case OP_MLOCK: return op_mlock(t);
    case OP_MUNLOCK: return op_munlock(t);
    default: return false;
    }
}

static enum op choose_op(struct thread *t) {
    unsigned w[NOPS], total = 0;
    for (unsigned i = 0; i < NOPS; i++) {
        w[i] = op_weights[i];
        if ((i == OP_BRK_UP || i == OP_BRK_DOWN) && t->idx != 0)
            w[i] = 0;
        total += w[i];
    }
    /* Keep the table about half full: fewer new regions and more whole unmaps the fuller
     * it is (splits and the leftovers of mremap holes add regions too). */
    total -= w[OP_MMAP] + w[OP_MUNMAP_WHOLE];
    w[OP_MMAP] = 14 * (MAX_REGIONS - t->nreg) / MAX_REGIONS;
    w[OP_MUNMAP_WHOLE] = 2 + 20 * t->nreg / MAX_REGIONS;
    total += w[OP_MMAP] + w[OP_MUNMAP_WHOLE];
    uint32_t x = rnd_below(t, total);
    for (unsigned i = 0; i < NOPS; i++) {
        if (x < w[i])
            return (enum op)i;
        x -= w[i];
    }
    return OP_MMAP;
}

/* ------------------------------------------------------------------------------------- */
/* --self-check: compare the table with /proc/self/smaps.                                  */

#define CHECK_BUF_SIZE (8UL * 1024 * 1024)
#define CHECK_MAX_VMAS 65536

struct vma_info {
    uintptr_t start, end;
    uint64_t offset;
    uint64_t inode;
    char perms[4];
    uint8_t flags; /* F_* from VmFlags */
};

static uint64_t parse_hex(const char **s) {
    uint64_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            return v;
    }
}

static uint64_t parse_dec(const char **s) {
    uint64_t v = 0;
    while (**s >= '0' && **s <= '9')
        v = v * 10 + (uint64_t)(*(*s)++ - '0');
    return v;
}

static size_t read_smaps(struct thread *t) {
    int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail_msg(t, "self-check: cannot open /proc/self/smaps");
    size_t len = 0;
    for (;;) {
        if (len + 65536 > CHECK_BUF_SIZE)
            fail_msg(t, "self-check: /proc/self/smaps too large");
        ssize_t n = read(fd, t->check_buf + len, 65536);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_msg(t, "self-check: read /proc/self/smaps failed");
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    t->check_buf[len] = '\0';
    return len;
}

static unsigned parse_smaps(struct thread *t) {
    unsigned nv = 0;
    const char *s = t->check_buf;
    struct vma_info *v = NULL;
    while (*s) {
        const char *line = s;
        const char *eol = strchr(s, '\n');
        const char *next = eol ? eol + 1 : s + strlen(s);
        const char *q = line;
        uint64_t start = parse_hex(&q);
        if (q != line && *q == '-') { /* header line */
            q++;
            uint64_t end = parse_hex(&q);
            if (nv >= CHECK_MAX_VMAS)
                fail_msg(t, "self-check: too many VMAs");
            v = &t->check_vmas[nv++];
            memset(v, 0, sizeof *v);
            v->start = start;
            v->end = end;
            q++;
            memcpy(v->perms, q, 4);
            q += 5;
            v->offset = parse_hex(&q);
            q++;
            while (*q && *q != ' ') /* dev */
                q++;
            q++;
            v->inode = parse_dec(&q);
        } else if (v && strncmp(line, "VmFlags:", 8) == 0) {
            for (q = line + 8; q + 2 <= eol; q++) {
                if (*q == ' ')
                    continue;
                if (!strncmp(q, "lo", 2)) v->flags |= F_LOCKED;
                else if (!strncmp(q, "dc", 2)) v->flags |= F_DONTFORK;
                else if (!strncmp(q, "dd", 2)) v->flags |= F_DONTDUMP;
                else if (!strncmp(q, "rr", 2)) v->flags |= F_RANDOM;
                else if (!strncmp(q, "sr", 2)) v->flags |= F_SEQ;
                else if (!strncmp(q, "ac", 2)) v->flags |= F_ACCOUNT;
                else if (!strncmp(q, "nr", 2)) v->flags |= F_NORESERVE;
                q += 2;
            }
        }
        s = next;
    }
    return nv;
}

static const struct vma_info *find_vma(const struct vma_info *v, unsigned nv, uintptr_t addr) {
    unsigned lo = 0, hi = nv;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (v[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nv && v[lo].start <= addr ? &v[lo] : NULL;
}

static void check_fail(struct thread *t, const struct region *r, uint32_t i, const char *what) {
    struct msg m;
    m_start(&m, t);
    m_str(&m, "self-check: page ");
    m_hex(&m, page_addr(r, i));
    m_str(&m, " (region ");
    m_hex(&m, r->addr);
    m_str(&m, " page ");
    m_dec(&m, i);
    m_str(&m, " of ");
    m_dec(&m, r->n);
    m_str(&m, ", kind ");
    m_dec(&m, r->pg[i].kind);
    m_str(&m, ", prot ");
    m_dec(&m, r->pg[i].prot);
    m_str(&m, ", flags ");
    m_hex(&m, r->pg[i].flags);
    m_str(&m, "): ");
    m_str(&m, what);
    m_str(&m, "\n");
    m_write(&m, 2);
    quit(1);
}

static void self_check(struct thread *t) {
    read_smaps(t);
    unsigned nv = parse_smaps(t);
    const struct vma_info *vs = t->check_vmas;
    for (unsigned ri = 0; ri < t->nreg; ri++) {
        const struct region *r = &t->reg[ri];
        for (uint32_t i = 0; i < r->n; i++) {
            const struct page *p = &r->pg[i];
            uintptr_t a = page_addr(r, i);
            const struct vma_info *v = find_vma(vs, nv, a);
            if (!v)
                check_fail(t, r, i, "not mapped");
            if ((v->perms[0] == 'r') != !!(p->prot & PROT_READ) ||
                (v->perms[1] == 'w') != !!(p->prot & PROT_WRITE) ||
                (v->perms[2] == 'x') != !!(p->prot & PROT_EXEC))
                check_fail(t, r, i, "prot differs");
            if ((v->perms[3] == 's') != (p->kind == K_ANON_SHARED || p->kind == K_FILE_SHARED))
                check_fail(t, r, i, "shared/private differs");
            if (v->flags != p->flags) {
                struct msg m;
                m.n = 0;
                m_str(&m, "VmFlags differ: kernel ");
                m_hex(&m, v->flags);
                check_fail(t, r, i, m.b);
            }
            if (is_file(p)) {
                if (v->inode != file_ino[p->file])
                    check_fail(t, r, i, "file differs");
                if (v->offset / pgsz + (a - v->start) / pgsz != p->pgoff)
                    check_fail(t, r, i, "file offset differs");
            }
        }
        if (region_mremappable(r)) {
            const struct vma_info *v = find_vma(vs, nv, r->addr);
            if (v->end < page_addr(r, r->n)) {
                struct msg m;
                t->notes++;
                m.n = 0;
                m_str(&m, "randmaps: note: self-check: thread ");
                m_dec(&m, t->idx);
                m_str(&m, " op ");
                m_dec(&m, t->done);
                m_str(&m, ": region ");
                m_hex(&m, r->addr);
                m_str(&m, " looks like one VMA but is not\n");
                m_write(&m, 2);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* Threads, checkpoints.                                                                   */

static void barrier_wait(void) {
    int rc = pthread_barrier_wait(&barrier);
    if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
        write_all(2, "randmaps: pthread_barrier_wait failed\n", 38);
        quit(1);
    }
}

/* Reads one line from stdin; EOF: quiet exit 0. */
static void read_line(void) {
    for (;;) {
        char c;
        ssize_t n = read(0, &c, 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            write_all(2, "randmaps: read stdin failed\n", 28);
            quit(1);
        }
        if (n == 0)
            quit(0);
        if (c == '\n')
            return;
    }
}

static uint64_t total_done(void) {
    uint64_t s = 0;
    for (unsigned i = 0; i < nthreads; i++)
        s += threads[i].done;
    return s;
}

static void do_one_op(struct thread *t) {
    for (unsigned attempt = 0;; attempt++) {
        enum op op = choose_op(t);
        if (attempt >= 32) /* cannot happen in practice; keeps the loop finite */
            op = t->nreg < MAX_REGIONS ? OP_MMAP : OP_MUNMAP_WHOLE;
        if (run_op(t, op)) {
            t->op_count[op]++;
            break;
        }
    }
    t->done++;
    t->nreg_sum += t->nreg;
    if (t->nreg > t->nreg_max)
        t->nreg_max = t->nreg;
    if (opt_self_check)
        self_check(t);
}

static void unmap_all(struct thread *t) {
    for (unsigned i = 0; i < t->nreg; i++)
        sys_munmap(t, t->reg[i].addr, t->reg[i].n * pgsz);
    t->nreg = 0;
}

static void print_stats(struct thread *t) {
    struct msg m;
    m.n = 0;
    m_str(&m, "randmaps: thread ");
    m_dec(&m, t->idx);
    m_str(&m, ": ops ");
    m_dec(&m, t->done);
    m_str(&m, ", regions avg ");
    m_dec(&m, t->done ? t->nreg_sum / t->done : 0);
    m_str(&m, " max ");
    m_dec(&m, t->nreg_max);
    m_str(&m, ", notes ");
    m_dec(&m, t->notes);
    m_str(&m, "\n  ops:");
    for (unsigned i = 0; i < NOPS; i++) {
        if (!t->op_count[i])
            continue;
        m_str(&m, " ");
        m_str(&m, op_names[i]);
        m_str(&m, "=");
        m_dec(&m, t->op_count[i]);
    }
    m_str(&m, "\n  syscalls:");
    for (unsigned i = 0; i < NSC; i++) {
        if (!t->sc_count[i])
            continue;
        m_str(&m, " ");
        m_str(&m, sc_names[i]);
        m_str(&m, "=");
        m_dec(&m, t->sc_count[i]);
        if (t->sc_expected_fail[i]) {
            m_str(&m, "(");
            m_dec(&m, t->sc_expected_fail[i]);
            m_str(&m, " failed)");
        }
    }
    m_str(&m, "\n");
    m_write(&m, 2);
}

static void *worker(void *arg) {
    struct thread *t = arg;
    barrier_wait(); /* start line: thread 0 has read the break and done --ready */
    for (uint64_t k = 1; k <= opt_checkpoints; k++) {
        uint64_t target = t->nops * k / opt_checkpoints;
        while (t->done < target)
            do_one_op(t);
        barrier_wait();
        if (t->idx == 0) {
            struct msg m;
            m.n = 0;
            m_str(&m, "checkpoint ");
            m_dec(&m, k);
            m_str(&m, " ");
            m_dec(&m, total_done());
            m_str(&m, "\n");
            m_write(&m, 1);
            if (!opt_no_wait)
                read_line();
        }
        barrier_wait();
    }
    while (t->done < t->nops)
        do_one_op(t);
    barrier_wait();
    if (t->idx == 0) {
        struct msg m;
        m.n = 0;
        m_str(&m, "done ");
        m_dec(&m, total_done());
        m_str(&m, "\n");
        m_write(&m, 1);
    }
    unmap_all(t);
    if (t->idx == 0 && brk_pages) {
        sys_brk(t, brk_base);
        brk_pages = 0;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------- */
/* Start-up (stdio and malloc allowed here).                                               */

static void usage(FILE *f, const char *argv0) {
    fprintf(f,
            "usage: %s [--seed S] [--ops N] [--checkpoints C] [--threads T]\n"
            "          [--no-wait] [--ready] [--stats] [--self-check]\n"
            "  N random mapping operations (default 10000) over T threads (default 2), seeded\n"
            "  by S (default 1). At C checkpoints (default 100) all threads stop, thread 0\n"
            "  writes \"checkpoint <k> <ops done>\" and waits for a line on stdin (not with\n"
            "  --no-wait). At the end: \"done <ops>\". See the top of randmaps.c.\n",
            argv0);
}

__attribute__((noreturn)) static void startup_die(const char *what) {
    fprintf(stderr, "randmaps: %s: %s\n", what, strerror(errno));
    quit(1);
}

static bool check_can_lock_all(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
        return true;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return false;
    char line[256];
    unsigned long long cap = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &cap) == 1)
            break;
    fclose(f);
    return (cap >> 14) & 1; /* CAP_IPC_LOCK */
}

static void make_file(int i, const char *path_template) {
    snprintf(file_path[i], sizeof file_path[i], "%s", path_template);
    int fd = mkstemp(file_path[i]);
    if (fd < 0)
        startup_die(file_path[i]);
    files_made[i] = true;
    static char chunk[65536];
    for (size_t j = 0; j < sizeof chunk; j++)
        chunk[j] = (char)('a' + (j + (size_t)i) % 26);
    for (size_t off = 0; off < FILE_BYTES; off += sizeof chunk)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
            startup_die("write temp file");
    struct statvfs sv;
    if (fstatvfs(fd, &sv) != 0)
        startup_die("fstatvfs");
    file_noexec[i] = (sv.f_flag & ST_NOEXEC) != 0;
    struct stat st;
    if (fstat(fd, &st) != 0)
        startup_die("fstat");
    file_ino[i] = st.st_ino;
    file_fd[i] = fd;
}

static void make_files(void) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/randmaps.XXXXXX", tmp);
    if (!mkdtemp(tmp_dir))
        startup_die(tmp_dir);
    dir_made = true;
    char path[600];
    for (int i = 0; i < NFILES - 1; i++) {
        snprintf(path, sizeof path, "%s/file%d.XXXXXX", tmp_dir, i);
        make_file(i, path);
    }
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        snprintf(path, sizeof path, "/dev/shm/randmaps.%d.XXXXXX", (int)getpid());
    else
        snprintf(path, sizeof path, "%s/file%d.XXXXXX", tmp_dir, NFILES - 1);
    make_file(NFILES - 1, path);
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"seed", required_argument, NULL, 's'},   {"ops", required_argument, NULL, 'n'},
        {"checkpoints", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 'T'}, {"no-wait", no_argument, NULL, 'W'},
        {"ready", no_argument, NULL, 'r'},        {"stats", no_argument, NULL, 'S'},
        {"self-check", no_argument, NULL, 'C'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    uint64_t v;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (!parse_u64(optarg, 0, UINT64_MAX, &opt_seed)) {
                fprintf(stderr, "%s: --seed wants an unsigned integer, got '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'n':
            if (!parse_u64(optarg, 0, (uint64_t)1 << 40, &opt_ops)) {
                fprintf(stderr, "%s: --ops wants an unsigned integer, got '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'c':
            if (!parse_u64(optarg, 0, 1000000, &opt_checkpoints)) {
                fprintf(stderr, "%s: --checkpoints wants an integer in 0..1000000, got '%s'\n",
                        argv[0], optarg);
                return 2;
            }
            break;
        case 'T':
            if (!parse_u64(optarg, 1, MAX_THREADS, &v)) {
                fprintf(stderr, "%s: --threads wants an integer in 1..%d, got '%s'\n", argv[0],
                        MAX_THREADS, optarg);
                return 2;
            }
            nthreads = (unsigned)v;
            break;
        case 'W': opt_no_wait = true; break;
        case 'r': opt_ready = true; break;
        case 'S': opt_stats = true; break;
        case 'C': opt_self_check = true; break;
        case 'h': usage(stdout, argv[0]); return 0;
        default: usage(stderr, argv[0]); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
        usage(stderr, argv[0]);
        return 2;
    }

    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_signal);
    pgsz = (size_t)sysconf(_SC_PAGESIZE);
    can_lock_all = check_can_lock_all();
    file_pages = (uint32_t)(FILE_BYTES / pgsz);
    make_files();

    uint64_t sm = opt_seed;
    for (unsigned i = 0; i < nthreads; i++) {
        struct thread *t = &threads[i];
        t->idx = i;
        uint64_t x = splitmix64(&sm) ^ ((uint64_t)i * 0xd1b54a32d192ed03ULL);
        t->rng = splitmix64(&x) | 1; /* xorshift state must not be 0 */
        t->nops = opt_ops / nthreads + (i < opt_ops % nthreads ? 1 : 0);
        if (opt_self_check) {
            t->check_buf = mmap(NULL, CHECK_BUF_SIZE + 1, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            t->check_vmas = mmap(NULL, CHECK_MAX_VMAS * sizeof(struct vma_info),
                                 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (t->check_buf == MAP_FAILED || t->check_vmas == MAP_FAILED)
                startup_die("mmap self-check buffers");
        }
    }

    int rc = pthread_barrier_init(&barrier, NULL, nthreads);
    if (rc != 0) {
        errno = rc;
        startup_die("pthread_barrier_init");
    }
    for (unsigned i = 1; i < nthreads; i++) {
        rc = pthread_create(&threads[i].tid, NULL, worker, &threads[i]);
        if (rc != 0) {
            errno = rc;
            startup_die("pthread_create");
        }
    }
    /* After pthread_create (which may malloc, so move the break): the break to keep. */
    brk_base = (uintptr_t)syscall(SYS_brk, 0);
    if (opt_ready) {
        struct msg m;
        m.n = 0;
        m_str(&m, "ready ");
        m_sdec(&m, getpid());
        m_str(&m, "\n");
        m_write(&m, 1);
        if (!opt_no_wait)
            read_line();
    }

    worker(&threads[0]);

    for (unsigned i = 1; i < nthreads; i++)
        pthread_join(threads[i].tid, NULL);
    if (opt_stats)
        for (unsigned i = 0; i < nthreads; i++)
            print_stats(&threads[i]);
    for (int i = 0; i < NFILES; i++)
        close(file_fd[i]);
    quit(0);
}
