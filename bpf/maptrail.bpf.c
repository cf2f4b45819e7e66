// SPDX-License-Identifier: GPL-2.0
/*
 * maptrail's kernel side: one record per mapping syscall of a traced process, carrying the
 * arguments, the result, timing, the caller's user stack and the VMAs of the affected
 * window as the kernel holds them after the call (DESIGN.md principle 1). Plus fork,
 * thread, exec, exit and address-space teardown so user space can follow processes.
 *
 * System calls are seen on the raw sys_enter/sys_exit tracepoints, which leave the
 * syscalls:* events of perf and bpftrace sessions running beside us untouched.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

char LICENSE[] SEC("license") = "GPL";

#define EBUSY 16
#define ENOMEM 12
#define EAGAIN 11
#define EACCES 13
#define EPERM 1
#define PAGE_SIZE 4096ULL
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define MAP_FIXED 0x10
#define MREMAP_DONTUNMAP 4

/* Set by user space before load. */
const volatile bool trace_all = false;
const volatile __u32 self_tgid = 0;
const volatile __u32 stack_mode = MT_STACK_FP;
const volatile __u32 stack_copy_bytes = 8192; /* at most MT_STACK_COPY_MAX */
const volatile __u64 wakeup_bytes = 256 * 1024;
const volatile __u64 ring_bytes = 16 << 20;                    /* the events ring's size */
const volatile __u32 pending_slot_mask = MT_PENDING_SLOTS - 1; /* pending_slots' size - 1 */
/* Addresses of the dentry-naming callbacks of pseudo files whose names we rebuild (from
 * /proc/kallsyms; 0 leaves those names to user space). */
const volatile __u64 simple_dname_addr = 0;
const volatile __u64 anon_inodefs_dname_addr = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 << 20); /* resized by user space before load */
} events SEC(".maps");

/* The traced processes (thread group ids); children are added at fork. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, __u8);
} traced_tgids SEC(".maps");

/* The current call of each traced thread: enter claims the thread's slot, exit emits the
 * record and marks the slot idle (MT_SYS_NONE in the owner word). A slot is found by
 * indexing, not hashing: the hash lookups at entry and exit were ~40 ns each on the storm
 * (perf). The array is mmapable so that user space scans it without a system call. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, MT_PENDING_SLOTS); /* resized by user space before load */
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct mt_pending_call);
} pending_slots SEC(".maps");

/* Calls of threads whose slot another thread's call was holding (thread ids equal modulo
 * the number of slots), by thread id; entries are deleted when their thread exits. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, __u32);
  __type(value, struct mt_pending_call);
} pending_calls SEC(".maps");

/* Records that did not fit in the ring buffer, per CPU, by syscall / lifecycle kind. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, MT_LOSS_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} lost_events SEC(".maps");

/* Twice the biggest record, so that masked offsets keep every write in bounds. */
#define RECORD_BUF_SIZE 32768 /* the most a per-CPU map value may be */
#define RECORD_OFF_MASK (RECORD_BUF_SIZE / 2 - 1)
_Static_assert(MT_SYSCALL_EVENT_MAX <= RECORD_BUF_SIZE / 2, "record buffer too small");
#define FRAMES_OFF sizeof(struct mt_syscall_event)

struct record_buf {
  __u8 data[RECORD_BUF_SIZE];
};

/* Path components are written backwards from the middle of this buffer. */
struct name_bufs {
  char names[2 * MT_NAMES_MAX]; /* only the first half is used; masked writes may spill */
  char path[2 * MT_NAME_MAX];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct record_buf);
} record_scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct name_bufs);
} name_scratch SEC(".maps");

static __always_inline bool is_traced(__u32 tgid) {
  if (trace_all) return tgid != self_tgid && tgid != 0;
  return bpf_map_lookup_elem(&traced_tgids, &tgid) != NULL;
}

static __always_inline void count_lost(__u32 slot) {
  __u64* n = bpf_map_lookup_elem(&lost_events, &slot);
  if (n) *n += 1;
}

/* The reader polls on a timeout and is woken once wakeup_bytes of records wait, and then by
 * every record until it has caught up. Each of those wake-ups costs the traced thread an
 * interrupt (a self-IPI, a VM exit on a VM): back-pressure that slows a producer the reader
 * cannot keep up with, where waking only at each wakeup_bytes let a stack-copying storm
 * outrun the reader and lose records. */
static __always_inline __u64 wakeup_flag_between(__u64 before, __u64 after) {
  return after >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* For a record of `size` bytes already reserved (counted in the unread data). */
static __always_inline __u64 wakeup_flag_reserved(__u64 size) {
  __u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
  return wakeup_flag_between(avail > size ? avail - size : 0, avail);
}

/* Ids, mm and comm read in place through the current task's BTF pointer: no helper calls. */
static __always_inline void fill_header(struct mt_event_header* h, __u8 kind,
                                        struct task_struct* task) {
  h->kind = kind;
  h->pid = task->tgid;
  h->tid = task->pid;
  h->mm = (__u64)task->mm;
  /* read in place through the BTF task, not with bpf_get_current_comm's locked copy */
  __u64* comm = (__u64*)task->comm;
  ((__u64*)h->comm)[0] = comm[0];
  ((__u64*)h->comm)[1] = comm[1];
}

/* ---------------------------------------------------------------- syscall entry */

static __always_inline struct mt_pending_call* own_slot(__u32 tid) {
  __u32 index = tid & pending_slot_mask;
  return bpf_map_lookup_elem(&pending_slots, &index);
}

/* Claims the thread's slot for `call` if no call holds it (whoever held it last), else
 * records the call in the collision hash; if that is full the call is counted as lost. Two
 * threads sharing a slot may enter at once on two CPUs: only one compare-and-exchange of
 * the owner word succeeds. */
static __always_inline void store_pending(__u32 tid, struct mt_pending_call* slot,
                                          struct mt_pending_call* call) {
  if (slot) {
    __u64 seen = slot->owner;
    if (MT_OWNER_SYSCALL(seen) == MT_SYS_NONE &&
        __sync_val_compare_and_swap(&slot->owner, seen, call->owner) == seen) {
      slot->enter_ns = call->enter_ns;
      slot->aux = call->aux;
      slot->tgid = call->tgid;
      return;
    }
  }
  struct mt_pending_call* entry = bpf_map_lookup_elem(&pending_calls, &tid);
  if (entry) {
    *entry = *call;
    return;
  }
  if (bpf_map_update_elem(&pending_calls, &tid, call, BPF_NOEXIST))
    count_lost(MT_OWNER_SYSCALL(call->owner));
}

/* A slot keeps the ids of its last owner between calls and is cleared when that thread exits
 * or leaves its id at exec, so a live thread that finds its own ids there made a traced call
 * earlier; a traced process stays traced while it lives. That spares the traced_tgids hash
 * lookup on every call after a thread's first. (tgid is read apart from the owner word: a
 * thread claiming the slot meanwhile can only make this say no.) */
static __always_inline bool traced_before(struct mt_pending_call* slot, __u32 tid, __u32 tgid) {
  return slot && MT_OWNER_TID(slot->owner) == tid && slot->tgid == tgid;
}

static __always_inline void forget_thread(__u32 tid) {
  struct mt_pending_call* slot = own_slot(tid);
  if (slot) {
    __sync_val_compare_and_swap(&slot->owner, MT_OWNER(tid, MT_SYS_NONE), 0);
    if (MT_STACK_TOP_TID(slot->stack_top) == tid) slot->stack_top = 0;
  }
  /* a lookup first: a delete takes the bucket's lock even when there is nothing to delete,
   * and the hash holds only calls that found their slot taken */
  if (bpf_map_lookup_elem(&pending_calls, &tid)) bpf_map_delete_elem(&pending_calls, &tid);
}

/* The thread's stack top as its slot holds it, or 0. */
static __always_inline __u64 known_stack_top(__u32 tid) {
  struct mt_pending_call* slot = own_slot(tid);
  if (!slot) return 0;
  __u64 word = slot->stack_top;
  return MT_STACK_TOP_TID(word) == tid ? MT_STACK_TOP_ADDR(word) : 0;
}

/* The thread's call in flight, or NULL. */
static __always_inline struct mt_pending_call* find_pending(__u32 tid) {
  struct mt_pending_call* slot = own_slot(tid);
  if (slot) {
    __u64 owner = slot->owner;
    if (MT_OWNER_TID(owner) == tid && MT_OWNER_SYSCALL(owner) != MT_SYS_NONE) return slot;
  }
  slot = bpf_map_lookup_elem(&pending_calls, &tid);
  if (slot && MT_OWNER_SYSCALL(slot->owner) != MT_SYS_NONE) return slot;
  return NULL;
}

/* x86-64 system call numbers of the traced calls (the raw sys_enter/sys_exit tracepoints
 * carry the number, not the name). */
static __always_inline __u32 traced_syscall(long nr) {
  /* clang-format off */
  switch (nr) {
    case 9: return MT_SYS_MMAP;
    case 10: return MT_SYS_MPROTECT;
    case 11: return MT_SYS_MUNMAP;
    case 12: return MT_SYS_BRK;
    case 25: return MT_SYS_MREMAP;
    case 28: return MT_SYS_MADVISE;
    case 30: return MT_SYS_SHMAT;
    case 67: return MT_SYS_SHMDT;
    case 149: return MT_SYS_MLOCK;
    case 150: return MT_SYS_MUNLOCK;
    case 151: return MT_SYS_MLOCKALL;
    case 152: return MT_SYS_MUNLOCKALL;
    case 325: return MT_SYS_MLOCK2;
    case 329: return MT_SYS_PKEY_MPROTECT;
    case 462: return MT_SYS_MSEAL;
  }
  /* clang-format on */
  return MT_SYS_NONE;
}

#define TS_COMPAT 0x0002 /* thread_info.status: a 32-bit syscall, numbered differently */

/* A 32-bit call: its number means another call. */
static __always_inline bool compat_call(struct task_struct* task) {
  return task->thread_info.status & TS_COMPAT;
}

static long vma_end_cb(struct task_struct* task, struct vm_area_struct* vma, void* ctx) {
  *(__u64*)ctx = vma->vm_end;
  return 0;
}

/* One program for every system call: the raw tracepoint runs the program directly, where
 * the per-call syscalls:* tracepoints first build a perf sample for every call and pass it
 * to perf's event matching; on a mapping storm that path cost as much as our own work.
 * Attached as tp_btf, its pt_regs argument is typed and read in place: no
 * bpf_task_pt_regs call at entry and exit (~0.15 µs less per call, bpf_stats). */
SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs* regs, long nr) {
  /* the number first: every system call of every process comes here, and the task helper
   * is a call (with a return thunk on this kind of CPU) */
  __u32 sys = traced_syscall(nr);
  if (sys == MT_SYS_NONE) return 0;
  struct task_struct* task = bpf_get_current_task_btf();
  if (compat_call(task)) return 0;
  __u32 tgid = task->tgid, tid = task->pid;
  struct mt_pending_call* slot = own_slot(tid);
  if (!traced_before(slot, tid, tgid) && !is_traced(tgid)) return 0;

  struct mt_pending_call call = {};
  call.owner = MT_OWNER(tid, sys);
  call.tgid = tgid;
  if (sys == MT_SYS_BRK) {
    struct mm_struct* mm = task->mm;
    call.aux = mm ? mm->brk : 0;
  } else if (sys == MT_SYS_SHMDT) {
    /* shmdt takes only the address; the size of what it unmaps is known before the call */
    __u64 end = 0;
    bpf_find_vma(task, regs->di, vma_end_cb, &end, 0);
    call.aux = end;
  }
  call.enter_ns = bpf_ktime_get_ns();
  store_pending(tid, slot, &call);
  return 0;
}

/* ---------------------------------------------------------------- window walk */

struct walk_range {
  __u64 lo, hi;             /* the range the call changed */
  __u64 empty_lo, empty_hi; /* a part the call left without VMAs (munmap, brk shrink, ...) */
};

struct walk_state {
  struct task_struct* task;
  struct walk_range ranges[MT_MAX_RANGES];
  __u32 nranges;
  __u32 range; /* the one being walked */
  __u64 cur;   /* next address to look up */
  __u64 lo, hi;
  __u64 empty_lo;
  __u64 empty_hi;
  __u64 found_end;
  __u64 last_file; /* names repeat for consecutive VMAs of one file: resolve once */
  __u32 vmas_off;  /* where vmas[] starts in the record */
  __u16 last_name_off;
  __u16 last_name_len;
  __u16 names_len;
  __u8 nvmas;
  __u8 found;
  __u8 last_name_kind;
  __u16 flags;
};

struct path_walk {
  struct dentry* dentry;
  struct mount* mnt;
  struct name_bufs* bufs;
  __u32 pos; /* start of the path written so far in bufs->path (ends at MT_NAME_MAX) */
  __u8 truncated;
};

extern void* bpf_rdonly_cast(const void* obj__ign, __u32 btf_id) __ksym;

/* The struct mount around a vfsmount, typed for plain loads (container_of on a BTF
 * pointer would leave it untyped). */
static __always_inline struct mount* real_mount(struct vfsmount* m) {
  return bpf_rdonly_cast((void*)m - bpf_core_field_offset(struct mount, mnt),
                         bpf_core_type_id_kernel(struct mount));
}

/* One step up the dentry tree, crossing mount points toward the root of the mount tree.
 * Plain loads through the BTF-typed pointers the walk keeps: a bpf_probe_read_kernel per
 * field cost a helper call each (three per path component), and each helper call costs
 * tens of nanoseconds on a CPU with return thunks. */
static long path_step(__u32 i, struct path_walk* w) {
  struct dentry* d = w->dentry;
  struct mount* mnt = w->mnt;
  struct dentry* parent = d->d_parent;
  if (d == mnt->mnt.mnt_root || d == parent) {
    if (d != mnt->mnt.mnt_root) return 1; /* a disconnected tree: stop here */
    struct mount* up = mnt->mnt_parent;
    if (up == mnt) return 1; /* the root of the mount tree */
    w->dentry = mnt->mnt_mountpoint;
    w->mnt = up;
    return 0;
  }
  __u32 len = d->d_name.len;
  if (len + 1 >= w->pos) {
    w->truncated = 1;
    return 1;
  }
  w->pos -= len;
  bpf_probe_read_kernel(&w->bufs->path[w->pos & (MT_NAME_MAX - 1)], len & (MT_NAME_MAX - 1),
                        d->d_name.name);
  w->pos -= 1;
  w->bufs->path[w->pos & (MT_NAME_MAX - 1)] = '/';
  w->dentry = parent;
  return 0;
}

static const char deleted_suffix[] = " (deleted)";

/* prefix + d_name + suffix, as simple_dname() and anon_inodefs_dname() print them. */
static __always_inline int append_pseudo_name(struct walk_state* st, struct name_bufs* bufs,
                                              struct dentry* dentry, const char* prefix,
                                              const char* suffix, __u8* kind) {
  __u32 off = st->names_len;
  if (off + MT_NAME_MAX > MT_NAMES_MAX) {
    st->flags |= MT_F_NAMES_TRUNCATED;
    *kind = MT_NAME_UNRESOLVED;
    return 0;
  }
  const unsigned char* name = BPF_CORE_READ(dentry, d_name.name);
  long n1 = bpf_probe_read_kernel_str(&bufs->names[off & (MT_NAMES_MAX - 1)], 16, prefix);
  if (n1 < 1) return 0;
  __u32 end = off + n1 - 1;
  barrier_var(end);
  long n2 =
      bpf_probe_read_kernel_str(&bufs->names[end & (MT_NAMES_MAX - 1)], MT_NAME_MAX - 32, name);
  if (n2 < 1) return 0;
  end += n2 - 1;
  barrier_var(end);
  long n3 = bpf_probe_read_kernel_str(&bufs->names[end & (MT_NAMES_MAX - 1)], 16, suffix);
  if (n3 < 1) return 0;
  end += n3 - 1;
  *kind = MT_NAME_PATH;
  return end - off;
}

/* Appends the path of a mapped file to names[]; returns its length or -1. */
static __always_inline int append_file_name(struct walk_state* st, struct name_bufs* bufs,
                                            struct file* file, __u8* kind) {
  struct dentry* file_dentry = file->f_path.dentry;
  struct vfsmount* vfsmnt = file->f_path.mnt;
  struct path_walk w = {};
  w.dentry = file_dentry;
  w.mnt = real_mount(vfsmnt);
  w.bufs = bufs;
  w.pos = MT_NAME_MAX;

  /* Pseudo files are named by a callback: the two common ones are rebuilt here, others are
   * left to user space. */
  const struct dentry_operations* ops = file_dentry->d_op;
  void* dname = ops ? (void*)ops->d_dname : NULL;
  if (dname) {
    if (simple_dname_addr && (__u64)dname == simple_dname_addr) /* memfd, /dev/zero, SYSV */
      return append_pseudo_name(st, bufs, file_dentry, "/", " (deleted)", kind);
    if (anon_inodefs_dname_addr && (__u64)dname == anon_inodefs_dname_addr)
      return append_pseudo_name(st, bufs, file_dentry, "anon_inode:", "", kind);
    *kind = MT_NAME_UNRESOLVED;
    return 0;
  }
  bpf_loop(64, path_step, &w, 0);
  if (w.truncated || w.pos >= MT_NAME_MAX) {
    *kind = MT_NAME_UNRESOLVED;
    return 0;
  }
  __u32 len = MT_NAME_MAX - w.pos;
  __u32 off = st->names_len;
  if (off + len + sizeof(deleted_suffix) > MT_NAMES_MAX) {
    st->flags |= MT_F_NAMES_TRUNCATED;
    *kind = MT_NAME_UNRESOLVED;
    return 0;
  }
  __u32 pos = w.pos;
  barrier_var(pos);
  bpf_probe_read_kernel(&bufs->names[off & (MT_NAMES_MAX - 1)], len & (MT_NAME_MAX - 1),
                        &bufs->path[pos & (MT_NAME_MAX - 1)]);
  /* /proc appends " (deleted)" to unlinked files (d_unlinked: unhashed, not a root) */
  bool unhashed = file_dentry->d_hash.pprev == NULL;
  __u32 end = off + len;
  if (unhashed && file_dentry->d_parent != file_dentry) {
    barrier_var(end);
    bpf_probe_read_kernel(&bufs->names[end & (MT_NAMES_MAX - 1)], sizeof(deleted_suffix) - 1,
                          deleted_suffix);
    len += sizeof(deleted_suffix) - 1;
    end = off + len;
  }
  barrier_var(end);
  bufs->names[end & (MT_NAMES_MAX - 1)] = 0;
  *kind = MT_NAME_PATH;
  return len;
}

/* [vdso], [vvar]: the special mapping's own name. */
static __always_inline int append_special_name(struct walk_state* st, struct name_bufs* bufs,
                                               struct vm_area_struct* vma) {
  struct vm_special_mapping* sm = vma->vm_private_data;
  const char* name = BPF_CORE_READ(sm, name);
  __u32 off = st->names_len;
  if (!name || off + 64 > MT_NAMES_MAX) return -1;
  long n = bpf_probe_read_kernel_str(&bufs->names[off & (MT_NAMES_MAX - 1)], 64, name);
  return n > 1 ? n - 1 : -1;
}

static long record_vma(struct task_struct* task, struct vm_area_struct* vma,
                       struct walk_state* st) {
  __u32 zero = 0;
  struct record_buf* rec = bpf_map_lookup_elem(&record_scratch, &zero);
  struct name_bufs* bufs = bpf_map_lookup_elem(&name_scratch, &zero);
  if (!rec || !bufs) return 1;
  __u32 off = (st->vmas_off + st->nvmas * sizeof(struct mt_vma)) & RECORD_OFF_MASK;
  struct mt_vma* v = (struct mt_vma*)&rec->data[off];

  v->start = vma->vm_start;
  v->end = vma->vm_end;
  v->flags = vma->vm_flags;
  v->pgoff = vma->vm_pgoff;
  v->ino = 0;
  v->dev = 0;
  v->name_off = 0;
  v->name_len = 0;
  v->name_kind = MT_NAME_NONE;

  struct file* file = vma->vm_file;
  if (file) {
    /* plain loads through the BTF-typed vma: no probe-read helper call per field */
    struct inode* inode = file->f_inode;
    v->ino = inode->i_ino;
    v->dev = inode->i_sb->s_dev;
    if ((__u64)file == st->last_file) {
      v->name_off = st->last_name_off;
      v->name_len = st->last_name_len;
      v->name_kind = st->last_name_kind;
    } else {
      __u8 kind = MT_NAME_UNRESOLVED;
      int len = append_file_name(st, bufs, file, &kind);
      v->name_kind = kind;
      if (kind == MT_NAME_PATH && len > 0) {
        v->name_off = st->names_len;
        v->name_len = len;
        st->names_len += len + 1;
      }
      st->last_file = (__u64)file;
      st->last_name_off = v->name_off;
      st->last_name_len = v->name_len;
      st->last_name_kind = v->name_kind;
    }
  } else {
    const struct vm_operations_struct* ops = vma->vm_ops;
    if (ops && BPF_CORE_READ(ops, name)) {
      int len = append_special_name(st, bufs, vma);
      if (len > 0) {
        v->name_kind = MT_NAME_SPECIAL;
        v->name_off = st->names_len;
        v->name_len = len;
        st->names_len += len + 1;
      }
    }
    st->last_file = 0;
  }
  st->found = 1;
  st->found_end = vma->vm_end;
  st->nvmas++;
  return 0;
}

static __always_inline void start_range(struct walk_state* st) {
  struct walk_range* r = &st->ranges[st->range & (MT_MAX_RANGES - 1)];
  st->lo = r->lo;
  st->hi = r->hi;
  st->empty_lo = r->empty_lo;
  st->empty_hi = r->empty_hi;
  st->cur = st->lo;
  st->last_file = 0;
}

/* The range is done: go on with the next one, or stop. */
static __always_inline long next_range(struct walk_state* st) {
  st->range++;
  if (st->range >= st->nranges) return 1;
  start_range(st);
  return 0;
}

static long window_step(__u32 i, struct walk_state* st) {
  if (st->cur >= st->hi) return next_range(st);
  /* What the call emptied is not looked up: empty as the call left it. Another thread may
   * have mapped there since; user space reads such a window again when a call that
   * overlapped this one touched the range (a lookup here would see only its first page,
   * and costs a lock and a tree walk on every munmap). */
  if (st->cur >= st->empty_lo && st->cur < st->empty_hi) {
    st->cur = st->empty_hi;
    st->flags |= MT_F_WINDOW_EMPTY_ASSUMED;
    return 0;
  }
  if (st->nvmas >= MT_MAX_WINDOW_VMAS) {
    st->flags |= MT_F_WINDOW_OVERFLOW;
    return 1;
  }
  st->found = 0;
  long err = bpf_find_vma(st->task, st->cur, record_vma, st, 0);
  if (err == -EBUSY) {
    st->flags |= MT_F_WINDOW_BUSY;
    return 1;
  }
  if (!err && st->found) {
    st->cur = st->found_end;
    return 0;
  }
  /* a hole at cur */
  if (st->cur < st->hi) {
    /* no way to find where the next VMA starts from here: user space repairs */
    st->flags |= MT_F_WINDOW_HOLE;
    st->cur = st->hi;
    return 0;
  }
  return next_range(st);
}

/* Queues a range whose VMAs, those intersecting [lo, hi), are read. Not the neighbours:
 * whatever a call does to them shows inside the range (a merge extends a VMA there past lo
 * or hi; a split or unmap leaves them clipped at lo or hi, which the model does itself),
 * and the two extra bpf_find_vma calls were a third of the exit program's time. */
static __always_inline void add_range(struct walk_state* st, __u64 lo, __u64 hi, __u64 empty_lo,
                                      __u64 empty_hi) {
  __u32 i = st->nranges;
  if (i >= MT_MAX_RANGES) return;
  st->ranges[i].lo = lo;
  st->ranges[i].hi = hi;
  st->ranges[i].empty_lo = empty_lo;
  st->ranges[i].empty_hi = empty_hi;
  st->nranges = i + 1;
}

static __always_inline __u64 page_up(__u64 x) {
  return (x + PAGE_SIZE - 1) & PAGE_MASK;
}

static __always_inline bool is_error(long ret) {
  return (unsigned long)ret > -4096UL;
}

/* Failures that may have changed part of the range before the error was found. */
static __always_inline bool partial_failure(long ret) {
  return ret == -ENOMEM || ret == -EAGAIN || ret == -EACCES || ret == -EPERM;
}

/* madvise advice values that change VMA flags (and so may split or merge). */
static __always_inline bool advice_changes_layout(__u64 advice) {
  switch (advice) {
    case 3:   /* WILLNEED */
    case 4:   /* DONTNEED */
    case 8:   /* FREE */
    case 9:   /* REMOVE */
    case 20:  /* COLD */
    case 21:  /* PAGEOUT */
    case 22:  /* POPULATE_READ */
    case 23:  /* POPULATE_WRITE */
    case 24:  /* DONTNEED_LOCKED */
    case 25:  /* COLLAPSE */
    case 100: /* HWPOISON */
    case 101: /* SOFT_OFFLINE */
    case 103: /* GUARD_REMOVE */
      return false;
  }
  return true;
}

/* Completes a record whose frames and VMAs are in place: the names go after the VMAs.
 * Returns the bytes used. */
static __always_inline __u32 finish_window(struct record_buf* rec, struct walk_state* st) {
  __u32 zero = 0;
  struct mt_syscall_event* e = (struct mt_syscall_event*)rec->data;
  e->h.flags |= st->flags;
  e->nvmas = st->nvmas;
  __u32 names_off = (st->vmas_off + st->nvmas * sizeof(struct mt_vma)) & RECORD_OFF_MASK;
  __u32 names_len = st->names_len & (MT_NAMES_MAX - 1);
  if (names_len) {
    struct name_bufs* bufs = bpf_map_lookup_elem(&name_scratch, &zero);
    if (bufs) bpf_probe_read_kernel(&rec->data[names_off], names_len, bufs->names);
  }
  e->names_len = names_len;
  __u32 size = names_off + names_len;
  e->h.size = size;
  return size;
}

/* Sends a completed record (counted as lost in `loss_slot` if the ring buffer is full). */
static __always_inline void submit_window_record(struct record_buf* rec, struct walk_state* st,
                                                 __u32 loss_slot) {
  __u32 size = finish_window(rec, st) & RECORD_OFF_MASK;
  /* Not bpf_ringbuf_output: with it the verifier walked 278k instructions of this program
   * (0.7 s at every start, measured on 6.18) against 43k with a dynptr. */
  struct bpf_dynptr ring;
  if (bpf_ringbuf_reserve_dynptr(&events, size, 0, &ring)) {
    bpf_ringbuf_discard_dynptr(&ring, 0);
    count_lost(loss_slot);
    return;
  }
  bpf_dynptr_write(&ring, 0, rec->data, size, 0);
  bpf_ringbuf_submit_dynptr(&ring, wakeup_flag_reserved(size));
}

extern int bpf_probe_read_user_dynptr(struct bpf_dynptr* dptr, __u32 off, __u32 size,
                                      const void* unsafe_ptr) __ksym;

/* Sends a completed record followed by the user registers and up to stack_copy_bytes of
 * user stack. The stack is read straight into the ring buffer, so the biggest part of the
 * record is copied once, not twice through the scratch buffer. bpf_probe_read_user is
 * all-or-nothing and the top of the stack may be nearer than the copy size: it is read page
 * by page and stops at the first page that is not mapped; the unused end of the
 * reservation is left out of h.size. */
static __always_inline void submit_with_stack_copy(struct record_buf* rec, struct walk_state* st,
                                                   __u32 loss_slot, struct pt_regs* regs) {
  struct mt_syscall_event* e = (struct mt_syscall_event*)rec->data;
  __u32 regs_off = ((finish_window(rec, st) + 7) & ~7u) & RECORD_OFF_MASK;
  struct mt_user_regs* out = (struct mt_user_regs*)&rec->data[regs_off];
  out->regs[0] = regs->ax;
  out->regs[1] = regs->dx;
  out->regs[2] = regs->cx;
  out->regs[3] = regs->bx;
  out->regs[4] = regs->si;
  out->regs[5] = regs->di;
  out->regs[6] = regs->bp;
  out->regs[7] = regs->sp;
  out->regs[8] = regs->r8;
  out->regs[9] = regs->r9;
  out->regs[10] = regs->r10;
  out->regs[11] = regs->r11;
  out->regs[12] = regs->r12;
  out->regs[13] = regs->r13;
  out->regs[14] = regs->r14;
  out->regs[15] = regs->r15;
  out->regs[16] = regs->ip;
  __u64 sp = regs->sp;
  __u32 stack_off = regs_off + sizeof(struct mt_user_regs);
  __u32 want = stack_copy_bytes;
  if (want > MT_STACK_COPY_MAX) want = MT_STACK_COPY_MAX;
  /* Records before stacks: when the reader falls behind (a thread's first calls, before
   * its stack top is known, copy 8 KiB each), copy less stack rather than lose records.
   * The same query decides the wake-up at submit: a query is a helper call and a cache
   * miss on the positions the reader writes. */
  __u64 unread = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
  if (unread > ring_bytes / 2 && want > MT_STACK_COPY_PRESSED) {
    want = unread > ring_bytes / 4 * 3 ? 0 : MT_STACK_COPY_PRESSED;
    e->h.flags |= MT_F_STACK_SHORTENED;
  }
  __u64 top = known_stack_top(e->h.tid);
  if (top > sp) {
    e->h.flags |= MT_F_STACK_TOP_KNOWN;
    __u64 used = top - sp;
    if (used < want) {
      want = used;
      e->h.flags |= MT_F_STACK_TRIMMED;
    }
  } else if (want) {
    /* No hint yet: a burst of short-lived threads and processes (a JVM starting) is over
     * before user space unwinds its first calls. No frame lies above the end of the
     * mapping that holds the stack pointer; a thread's stack ends a few KiB above its
     * first frame, under its TLS. */
    __u64 end = 0;
    bpf_find_vma(st->task, sp, vma_end_cb, &end, 0);
    /* Nor above the thread descriptor that fsbase points at: glibc and musl put it at the
     * top of a thread's stack mapping, over the static TLS, and it is 2 KiB or more that
     * no unwind reads. The main thread's descriptor lies elsewhere. */
    __u64 descriptor = st->task->thread.fsbase;
    if (descriptor > sp && descriptor < end) end = descriptor;
    if (end > sp && end - sp < want) want = end - sp;
  }

  struct bpf_dynptr ring;
  if (bpf_ringbuf_reserve_dynptr(&events, stack_off + want, 0, &ring)) {
    bpf_ringbuf_discard_dynptr(&ring, 0);
    count_lost(loss_slot);
    return;
  }
  /* In one read when the whole span is mapped (the usual case once the stack top is known:
   * each read has a fixed cost), else page by page up to the first unmapped page. */
  __u32 done = 0;
  if (want && !bpf_probe_read_user_dynptr(&ring, stack_off, want, (void*)sp)) done = want;
  for (int i = 0; i < MT_STACK_COPY_MAX / PAGE_SIZE + 1; i++) {
    if (done >= want) break;
    __u64 addr = sp + done;
    __u32 chunk = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
    if (chunk > want - done) chunk = want - done;
    if (bpf_probe_read_user_dynptr(&ring, stack_off + done, chunk, (void*)addr)) break;
    done += chunk;
  }
  e->stack_len = done;
  e->h.flags |= MT_F_STACK_COPY;
  e->h.size = stack_off + done;
  bpf_dynptr_write(&ring, 0, rec->data, stack_off & RECORD_OFF_MASK, 0);
  bpf_ringbuf_submit_dynptr(&ring, wakeup_flag_between(unread, unread + stack_off + want));
}

/* ---------------------------------------------------------------- syscall exit */

static __always_inline int on_exit(void* ctx, long ret, struct task_struct* task,
                                   struct pt_regs* regs) {
  __u32 tid = task->pid;
  struct mt_pending_call* call = find_pending(tid);
  if (!call) return 0;

  __u32 zero = 0;
  struct record_buf* rec = bpf_map_lookup_elem(&record_scratch, &zero);
  if (!rec) goto out;
  struct mt_syscall_event* e = (struct mt_syscall_event*)rec->data;
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->h, MT_EV_SYSCALL, task);
  __u32 sys = MT_OWNER_SYSCALL(call->owner);
  e->h.syscall = sys;
  e->h.enter_ns = call->enter_ns;
  e->h.exit_ns = bpf_ktime_get_ns();
  /* The arguments as the call saw them: nothing rewrites the saved argument registers
   * between the entry and exit tracepoints (ptrace's entry stop comes before entry). */
  e->args[0] = regs->di;
  e->args[1] = regs->si;
  e->args[2] = regs->dx;
  e->args[3] = regs->r10;
  e->args[4] = regs->r8;
  e->args[5] = regs->r9;
  e->ret = ret;
  __u64 aux = call->aux;

  struct mm_struct* mm = task->mm;
  if (mm) {
    e->start_brk = mm->start_brk;
    e->brk = mm->brk;
    e->start_stack = mm->start_stack;
  }

  /* the caller: frame-pointer walk plus the return address at the user sp, or registers
   * and stack for user space to unwind */
  __u32 stack_bytes = 0;
  if (stack_mode == MT_STACK_FP) {
    __u64 sp = regs->sp;
    bpf_probe_read_user(&e->sp_word, sizeof(e->sp_word), (void*)sp);
    long n = bpf_get_stack(ctx, &rec->data[FRAMES_OFF], MT_MAX_FRAMES * 8, BPF_F_USER_STACK);
    if (n > 0 && n <= MT_MAX_FRAMES * 8) stack_bytes = n;
    e->nframes = stack_bytes / 8;
    e->h.flags |= MT_F_STACK_FP;
  }

  struct walk_state st = {};
  st.task = task;
  st.vmas_off = FRAMES_OFF + stack_bytes;

  __u64 a0 = e->args[0], a1 = e->args[1];
  bool failed = is_error(ret);
  switch (sys) {
    case MT_SYS_MMAP:
      if (!failed)
        add_range(&st, ret, ret + page_up(a1), 0, 0);
      else if ((e->args[3] & MAP_FIXED) && partial_failure(ret))
        add_range(&st, a0, a0 + page_up(a1), 0, 0);
      else
        st.flags |= MT_F_NO_WINDOW;
      break;
    case MT_SYS_MUNMAP:
      if (!failed)
        add_range(&st, a0, a0 + page_up(a1), a0, a0 + page_up(a1));
      else
        st.flags |= MT_F_NO_WINDOW;
      break;
    case MT_SYS_BRK: {
      __u64 old = page_up(aux), now = page_up(ret);
      if (old == now) {
        st.flags |= MT_F_NO_WINDOW;
      } else if (now > old) {
        add_range(&st, old, now, 0, 0);
      } else {
        add_range(&st, now, old, now, old);
      }
      break;
    }
    case MT_SYS_MADVISE:
      if (!advice_changes_layout(e->args[2])) {
        st.flags |= MT_F_NO_WINDOW;
        break;
      }
      /* fall through */
    case MT_SYS_MPROTECT:
    case MT_SYS_PKEY_MPROTECT:
    case MT_SYS_MLOCK:
    case MT_SYS_MLOCK2:
    case MT_SYS_MUNLOCK:
    case MT_SYS_MSEAL:
      if (!failed || partial_failure(ret))
        add_range(&st, a0 & PAGE_MASK, page_up(a0 + a1), 0, 0);
      else
        st.flags |= MT_F_NO_WINDOW;
      break;
    case MT_SYS_MREMAP: {
      __u64 old_len = page_up(a1), new_len = page_up(e->args[2]);
      if (failed) {
        st.flags |= MT_F_NO_WINDOW;
      } else if ((__u64)ret == a0) {
        __u64 span = old_len > new_len ? old_len : new_len;
        add_range(&st, a0, a0 + span, a0 + new_len, a0 + old_len);
      } else {
        bool keep_old = e->args[3] & MREMAP_DONTUNMAP;
        add_range(&st, a0, a0 + old_len, keep_old ? 0 : a0, keep_old ? 0 : a0 + old_len);
        add_range(&st, ret, ret + new_len, 0, 0);
      }
      break;
    }
    case MT_SYS_MLOCKALL:
    case MT_SYS_MUNLOCKALL:
      st.flags |= MT_F_WHOLE_MM;
      break;
    case MT_SYS_SHMAT:
      if (!failed)
        add_range(&st, ret, ret + 1, 0, 0);
      else
        st.flags |= MT_F_NO_WINDOW;
      break;
    case MT_SYS_SHMDT:
      if (!failed && aux > a0)
        add_range(&st, a0, aux, a0, aux);
      else
        st.flags |= MT_F_NO_WINDOW;
      break;
  }
  if (st.nranges) {
    start_range(&st);
    bpf_loop(2 * (MT_MAX_WINDOW_VMAS + 4), window_step, &st, 0);
  }
  e->nranges = st.nranges;
  for (int i = 0; i < MT_MAX_RANGES; i++) {
    e->ranges[i].lo = st.ranges[i].lo;
    e->ranges[i].hi = st.ranges[i].hi;
  }
  if (stack_mode == MT_STACK_COPY)
    submit_with_stack_copy(rec, &st, sys, regs);
  else
    submit_window_record(rec, &st, sys);

out:
  call->owner = MT_OWNER(tid, MT_SYS_NONE); /* only the owner changes a slot a call holds */
  return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs* regs, long ret) {
  if (traced_syscall(regs->orig_ax) == MT_SYS_NONE) return 0;
  struct task_struct* task = bpf_get_current_task_btf();
  if (compat_call(task)) return 0;
  return on_exit(ctx, ret, task, regs);
}

/* ---------------------------------------------------------------- queries from user space */

/* Which mm a process has now: user space runs this program on demand (BPF_PROG_RUN) to
 * key the model of a process that has not made a traced call yet. */
struct mt_mm_query {
  __u32 pid;
  __u32 found;
  __u64 mm;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mt_mm_query);
} mm_query SEC(".maps");

extern struct task_struct* bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct* p) __ksym;

SEC("syscall")
int query_mm(void* ctx) {
  __u32 zero = 0;
  struct mt_mm_query* q = bpf_map_lookup_elem(&mm_query, &zero);
  if (!q) return 0;
  q->found = 0;
  q->mm = 0;
  struct task_struct* task = bpf_task_from_pid(q->pid);
  if (!task) return 0;
  q->found = 1;
  q->mm = (__u64)task->mm;
  bpf_task_release(task);
  return 0;
}

/* ---------------------------------------------------------------- process lifecycle */

static __always_inline struct mt_task_event* reserve_task_event(__u8 kind) {
  struct mt_task_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_lost(MT_SYS_COUNT + kind);
    return NULL;
  }
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->h, kind, bpf_get_current_task_btf());
  e->h.size = sizeof(*e);
  e->h.enter_ns = e->h.exit_ns = bpf_ktime_get_ns();
  return e;
}

static __always_inline void submit_task_event(struct mt_task_event* e) {
  bpf_ringbuf_submit(e, wakeup_flag_reserved(sizeof(*e)));
}

/* A new thread starts on the stack its creator gave clone, at the top of what it will use:
 * its first frame lies just below. Its copies need nothing above that from its first call
 * on, long before user space could unwind one and say where its stack ends (a JVM's
 * threads make most of their calls in their first milliseconds). Left to the no-hint
 * bound, a glibc thread's copy also took the static TLS between that top and fsbase. */
#define MT_THREAD_TOP_SLACK 64 /* the outermost frame's return address and CFA */

/* A thread's stack top where it starts: its first frame is just below sp (0: unknown).
 * The slot may hold another thread's call meanwhile: the word is apart from the call's. */
static __always_inline void set_start_top(__u32 tid, __u64 sp) {
  if (stack_mode != MT_STACK_COPY) return;
  struct mt_pending_call* slot = own_slot(tid);
  if (!slot) return;
  __u64 top = sp + MT_THREAD_TOP_SLACK;
  if (sp && MT_STACK_TOP_FITS(top))
    slot->stack_top = MT_STACK_TOP(tid, top);
  else if (MT_STACK_TOP_TID(slot->stack_top) == tid)
    slot->stack_top = 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct* parent, struct task_struct* child) {
  __u32 parent_tgid = parent->tgid;
  if (!is_traced(parent_tgid)) return 0;
  __u32 child_tgid = child->tgid;
  bool is_thread = child_tgid == parent_tgid;
  if (!is_thread && !trace_all) {
    __u8 one = 1;
    bpf_map_update_elem(&traced_tgids, &child_tgid, &one, BPF_ANY);
  }
  if (is_thread && stack_mode == MT_STACK_COPY) {
    struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(child);
    set_start_top(child->pid, regs ? regs->sp : 0);
  }
  struct mt_task_event* e = reserve_task_event(is_thread ? MT_EV_THREAD : MT_EV_FORK);
  if (!e) return 0;
  e->child_pid = child_tgid;
  e->child_tid = child->pid;
  struct mm_struct* child_mm = child->mm;
  e->child_mm = (__u64)child_mm;
  if (!is_thread && e->child_mm == e->h.mm) e->h.flags |= MT_F_THREAD_SHARED_VM;
  /* The child does not run before this tracepoint: its VMA count is what dup_mmap made. */
  if (!is_thread && child_mm) e->child_map_count = child_mm->map_count;
  submit_task_event(e);
  return 0;
}

extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma* it, struct task_struct* task,
                                 __u64 addr) __ksym;
extern struct vm_area_struct* bpf_iter_task_vma_next(struct bpf_iter_task_vma* it) __ksym;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma* it) __ksym;

/* Every VMA of the new image, so that user space knows the layout (and can symbolize) even
 * when the process exits before anyone could read /proc. Right after exec the process has
 * one thread, so the VMA iterator cannot skip VMAs locked by another thread. */
static __always_inline void emit_exec_layout(struct task_struct* task) {
  __u32 zero = 0;
  struct record_buf* rec = bpf_map_lookup_elem(&record_scratch, &zero);
  if (!rec) return;
  struct mt_syscall_event* e = (struct mt_syscall_event*)rec->data;
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->h, MT_EV_LAYOUT, task);
  e->h.enter_ns = e->h.exit_ns = bpf_ktime_get_ns();
  struct mm_struct* mm = task->mm;
  if (!mm) return;
  e->start_brk = mm->start_brk;
  e->brk = mm->brk;
  e->start_stack = mm->start_stack;
  e->ranges[0].lo = 0;
  e->ranges[0].hi = ~0ULL;
  e->nranges = 1;

  struct walk_state st = {};
  st.task = task;
  st.vmas_off = FRAMES_OFF;
  struct bpf_iter_task_vma it;
  struct vm_area_struct* vma;
  bpf_iter_task_vma_new(&it, task, 0);
  while ((vma = bpf_iter_task_vma_next(&it))) {
    if (st.nvmas >= MT_MAX_WINDOW_VMAS) {
      st.flags |= MT_F_WINDOW_OVERFLOW;
      break;
    }
    record_vma(task, vma, &st);
  }
  bpf_iter_task_vma_destroy(&it);
  submit_window_record(rec, &st, MT_SYS_COUNT + MT_EV_LAYOUT);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct* task, pid_t old_pid, struct linux_binprm* bprm) {
  if (!is_traced(bpf_get_current_pid_tgid() >> 32)) return 0;
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  /* A new stack, whose first frame (_start) is where the kernel left the stack pointer. */
  struct mm_struct* mm = bpf_get_current_task_btf()->mm;
  set_start_top(tid, mm ? mm->start_stack : 0);
  if (old_pid != tid) forget_thread(old_pid); /* a thread other than the leader exec'd */
  struct mt_task_event* e = reserve_task_event(MT_EV_EXEC);
  if (e) {
    e->child_pid = e->h.pid;
    e->child_tid = old_pid;
    e->child_mm = e->h.mm;
    const char* filename = BPF_CORE_READ(bprm, filename);
    long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
    e->filename_len = n > 0 ? n - 1 : 0;
    submit_task_event(e);
  }
  emit_exec_layout(bpf_get_current_task_btf());
  return 0;
}

/* Fires before the address space is torn down (exit_mmap comes after), so the process
 * stays in the traced set until its leader's task is freed (sched_process_free). */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(on_exit_task, struct task_struct* task, bool group_dead) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  forget_thread(tid); /* every exiting thread */
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!group_dead || !is_traced(tgid)) return 0;
  struct mt_task_event* e = reserve_task_event(MT_EV_EXIT);
  if (!e) return 0;
  e->child_pid = tgid;
  e->exit_code = BPF_CORE_READ(task, exit_code);
  submit_task_event(e);
  return 0;
}

/* The leader is reaped: its pid may now be reused by an unrelated process. */
SEC("raw_tp/sched_process_free")
int BPF_PROG(on_task_free, struct task_struct* task) {
  if (trace_all) return 0;
  __u32 tgid = BPF_CORE_READ(task, tgid);
  if (BPF_CORE_READ(task, pid) == tgid) bpf_map_delete_elem(&traced_tgids, &tgid);
  return 0;
}

SEC("raw_tp/exit_mmap")
int BPF_PROG(on_exit_mmap, struct mm_struct* mm) {
  if (!is_traced(bpf_get_current_pid_tgid() >> 32)) return 0;
  struct mt_task_event* e = reserve_task_event(MT_EV_EXIT_MMAP);
  if (!e) return 0;
  e->child_mm = (__u64)mm;
  submit_task_event(e);
  return 0;
}
