/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record ABI shared by bpf/maptrail.bpf.c and the C++ decoder (src/trace).
 * Fixed-width types and explicit padding only: the same bytes are read by both sides and
 * by the record-file reader, so every struct's size is pinned by a static assertion.
 *
 * A record is one header followed by a kind-specific body. Syscall records are variable
 * length: body, then nframes __u64 user return addresses (innermost first), then nvmas
 * struct mt_vma, then names_len bytes of NUL-terminated VMA names (mt_vma.name_off), then
 * with MT_F_STACK_COPY the user registers and stack at the next 8-byte boundary. The ring
 * buffer may hand over more bytes than h.size; the record ends at h.size.
 */
#ifndef MAPTRAIL_EVENTS_H
#define MAPTRAIL_EVENTS_H

#ifdef __BPF__
/* vmlinux.h provides __u8.. __u64 */
#else
#include <linux/types.h>
#endif

#define MT_COMM_LEN 16
#define MT_MAX_ARGS 6
#define MT_MAX_WINDOW_VMAS 32
#define MT_MAX_RANGES 2
#define MT_MAX_FRAMES 32
#define MT_NAMES_MAX 4096 /* bytes of names per record */
#define MT_NAME_MAX 1024  /* bytes of one name, NUL included */
#define MT_FILENAME_MAX 256
#define MT_STACK_COPY_MAX 8192 /* bytes of user stack a record may carry */
#define MT_STACK_COPY_PRESSED 1024 /* at most this while the ring buffer is over half full */
#define MT_USER_REGS 17         /* x86-64 DWARF registers 0..16: rax..r15, then rip */

enum mt_event_kind {
  MT_EV_SYSCALL = 1,
  MT_EV_FORK = 2,      /* a new process (thread group) */
  MT_EV_THREAD = 3,    /* a new thread in a traced process */
  MT_EV_EXEC = 4,
  MT_EV_EXIT = 5,      /* the last thread of a process exited */
  MT_EV_EXIT_MMAP = 6, /* an address space was torn down */
  MT_EV_LAYOUT = 7,    /* every VMA of a new image, right after exec (syscall record layout) */
  MT_EV_KIND_COUNT = 8,
};

/* Stable numbering of the traced calls; also indexes the per-kind loss counters. */
enum mt_syscall {
  MT_SYS_NONE = 0,
  MT_SYS_MMAP,
  MT_SYS_MUNMAP,
  MT_SYS_BRK,
  MT_SYS_MPROTECT,
  MT_SYS_MREMAP,
  MT_SYS_MADVISE,
  MT_SYS_MLOCK,
  MT_SYS_MLOCK2,
  MT_SYS_MUNLOCK,
  MT_SYS_MLOCKALL,
  MT_SYS_MUNLOCKALL,
  MT_SYS_PKEY_MPROTECT,
  MT_SYS_SHMAT,
  MT_SYS_SHMDT,
  MT_SYS_MSEAL,
  MT_SYS_COUNT,
};

/* Loss counters: one slot per syscall, then one per lifecycle kind. */
#define MT_LOSS_SLOTS ((int)MT_SYS_COUNT + (int)MT_EV_KIND_COUNT)

/* mt_event_header.flags */
enum mt_event_flags {
  MT_F_WINDOW_OVERFLOW = 1 << 0, /* more VMAs in the window than slots */
  MT_F_WINDOW_BUSY = 1 << 1,     /* bpf_find_vma returned -EBUSY: window unknown */
  MT_F_WINDOW_HOLE = 1 << 2,     /* a hole of unknown extent inside the window */
  MT_F_WHOLE_MM = 1 << 3,        /* the call may have changed every VMA (mlockall) */
  MT_F_NO_WINDOW = 1 << 4,       /* the call changed no VMA, nothing was read */
  MT_F_NAMES_TRUNCATED = 1 << 5, /* the names area filled up */
  MT_F_STACK_FP = 1 << 6,        /* frames come from a frame-pointer walk */
  MT_F_THREAD_SHARED_VM = 1 << 7, /* fork: CLONE_VM child sharing the parent's mm */
  MT_F_STACK_COPY = 1 << 8,       /* registers and a copy of the user stack follow the names */
  MT_F_STACK_TRIMMED = 1 << 9,    /* the copy stops at the thread's stack top as last unwound */
  MT_F_STACK_SHORTENED = 1 << 10, /* the ring buffer (or user space's backlog) was filling: less
                                   * stack kept, no record lost */
  MT_F_WINDOW_EMPTY_ASSUMED = 1 << 11, /* a range the call emptied is not read: the window
                                        * shows it as the call left it, not as it was when
                                        * the rest of the window was read */
  MT_F_STACK_TOP_KNOWN = 1 << 12, /* the thread's stack top was known (the copy may still end
                                   * below it, at --stack-size): nothing to learn from
                                   * unwinding the copy to its end */
};

/* What a syscall record carries to find its caller (set before load). */
enum mt_stack_mode {
  MT_STACK_NONE = 0,
  MT_STACK_FP = 1,   /* bpf_get_stack's frame-pointer walk */
  MT_STACK_COPY = 2, /* user registers + the top of the user stack, unwound in user space */
};

/* With MT_F_STACK_COPY, after the names (at an 8-byte boundary): the user registers at the
 * call (DWARF order), then stack_len bytes copied from regs[7] (rsp) upwards. The copy stops
 * early at the end of the stack's mapping. */
struct mt_user_regs {
  __u64 regs[MT_USER_REGS];
};

/* mt_vma.name_kind */
enum mt_name_kind {
  MT_NAME_NONE = 0,       /* anonymous: [heap]/[stack] are derived from mm bounds */
  MT_NAME_PATH = 1,       /* a file path, " (deleted)" already appended when unlinked */
  MT_NAME_SPECIAL = 2,    /* a kernel special mapping such as [vdso] */
  MT_NAME_UNRESOLVED = 3, /* a file the kernel names dynamically (anon_inode:..): ask /proc */
};

struct mt_event_header {
  __u8 kind;    /* enum mt_event_kind */
  __u8 syscall; /* enum mt_syscall for MT_EV_SYSCALL */
  __u16 flags;  /* enum mt_event_flags */
  __u32 size;   /* bytes of the whole record */
  __u32 pid;    /* thread group id */
  __u32 tid;
  __u64 mm;     /* address-space identity (kernel mm_struct address) */
  __u64 enter_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
  __u64 exit_ns;
  char comm[MT_COMM_LEN];
};

struct mt_vma {
  __u64 start;
  __u64 end;
  __u64 flags; /* vm_flags */
  __u64 pgoff; /* in pages; meaningful for file mappings only */
  __u64 ino;
  __u32 dev; /* kernel encoding: major = dev >> 20, minor = dev & 0xfffff */
  __u16 name_off;
  __u16 name_len; /* without the NUL */
  __u8 name_kind; /* enum mt_name_kind */
  __u8 pad[7];
};

struct mt_range {
  __u64 lo;
  __u64 hi;
};

struct mt_syscall_event {
  struct mt_event_header h;
  __u64 args[MT_MAX_ARGS];
  __s64 ret;
  /* mm bounds after the call: name [heap] and [stack] as /proc does */
  __u64 start_brk;
  __u64 brk;
  __u64 start_stack;
  /* The window: every VMA intersecting these ranges after the call is in vmas[] unless a
   * MT_F_WINDOW_* flag says otherwise. */
  struct mt_range ranges[MT_MAX_RANGES];
  __u8 nranges;
  __u8 nvmas;
  __u8 nframes;
  __u8 pad0;
  __u16 names_len;
  __u16 stack_len; /* bytes of user stack copied (MT_F_STACK_COPY) */
  /* The word at the user stack pointer when the call was made. libc's syscall wrappers
   * push no frame, so this is the return address into the wrapper's caller, which a
   * frame-pointer walk skips. */
  __u64 sp_word;
  /* followed by frames[nframes], vmas[nvmas], names[names_len], then with MT_F_STACK_COPY
   * (8-byte aligned) an mt_user_regs and the stack copy */
};

/* fork/thread/exec/exit/exit_mmap */
struct mt_task_event {
  struct mt_event_header h;
  __u32 child_pid; /* fork/thread: the new task's tgid and tid; exec: the old tid */
  __u32 child_tid;
  __u64 child_mm;  /* fork/thread: the new task's mm; exec: the new mm */
  union {
    __s32 exit_code;       /* exit: the raw wait status */
    __s32 child_map_count; /* fork: VMAs the kernel copied (it skips MADV_DONTFORK ones) */
  };
  __u32 filename_len;
  char filename[MT_FILENAME_MAX]; /* exec: the path as given to execve */
};

/* A thread's current call: in its slot of the pending_slots array (index tid & mask), or in
 * the pending_calls hash keyed by thread id when another thread's call holds that slot.
 * `owner` is the thread id (high half) and the call (low half, MT_SYS_NONE between calls)
 * in one word, so that a slot is claimed with one compare-and-exchange. The arguments are
 * not kept: at exit they are still in the saved user registers. User space reads the slots
 * to know whether a process is in the middle of changing its mappings. */
struct mt_pending_call {
  __u64 enter_ns;
  __u64 aux; /* brk: the break before the call; shmdt: end of the segment's VMA */
  __u64 owner;
  __u32 tgid;
  __u32 pad;
  __u64 stack_top; /* MT_STACK_TOP(tid, top), or 0: see below (the thread's slot only) */
};

#define MT_OWNER(tid, syscall) (((__u64)(tid) << 32) | (__u32)(syscall))
#define MT_OWNER_TID(owner) ((__u32)((owner) >> 32))
#define MT_OWNER_SYSCALL(owner) ((__u32)(owner))

#define MT_PENDING_SLOTS 32768 /* the default; a power of two */

/* How far up a thread's stack a copy needs to go: the end of its first frame, where the
 * kernel saw the thread start or where user space last unwound one of its calls to its
 * first frame. Kept in the slot of the thread's id, with the id, in one word that the
 * kernel and user space each write in one store: the slot's cache line is read at exit
 * anyway, where a hash map cost a lookup per record. Top rounded up to 32 bytes (42 bits
 * of a 47-bit user address), thread id in the 22 high bits (pid_max is at most 2^22). */
#define MT_STACK_TOP_GRAIN_SHIFT 5
#define MT_STACK_TOP_ADDR_BITS 42
#define MT_STACK_TOP_FITS(top) /* rounded up, it stays within the address bits */          \
  ((top) < (1ULL << (MT_STACK_TOP_ADDR_BITS + MT_STACK_TOP_GRAIN_SHIFT)) -                     \
               ((1ULL << MT_STACK_TOP_GRAIN_SHIFT) - 1))
#define MT_STACK_TOP(tid, top)                                                                 \
  (((__u64)(tid) << MT_STACK_TOP_ADDR_BITS) |                                                  \
   (((top) + (1ULL << MT_STACK_TOP_GRAIN_SHIFT) - 1) >> MT_STACK_TOP_GRAIN_SHIFT))
#define MT_STACK_TOP_TID(word) ((__u32)((word) >> MT_STACK_TOP_ADDR_BITS))
#define MT_STACK_TOP_ADDR(word)                                                                \
  (((word) & ((1ULL << MT_STACK_TOP_ADDR_BITS) - 1)) << MT_STACK_TOP_GRAIN_SHIFT)

/* Biggest possible syscall record: bounds the per-CPU scratch buffer (frames and a stack
 * copy are never both present). */
#define MT_STACK_BYTES_MAX                                                                 \
  (sizeof(struct mt_user_regs) + MT_STACK_COPY_MAX > MT_MAX_FRAMES * 8                     \
       ? sizeof(struct mt_user_regs) + MT_STACK_COPY_MAX                                   \
       : MT_MAX_FRAMES * 8)
#define MT_SYSCALL_EVENT_MAX                                                               \
  (sizeof(struct mt_syscall_event) + MT_MAX_WINDOW_VMAS * sizeof(struct mt_vma) +          \
   MT_STACK_BYTES_MAX + MT_NAMES_MAX)

#ifdef __cplusplus
#define MT_STATIC_ASSERT static_assert
#else
#define MT_STATIC_ASSERT _Static_assert
#endif
MT_STATIC_ASSERT(sizeof(struct mt_event_header) == 56, "mt_event_header ABI");
MT_STATIC_ASSERT(sizeof(struct mt_vma) == 56, "mt_vma ABI");
MT_STATIC_ASSERT(sizeof(struct mt_range) == 16, "mt_range ABI");
MT_STATIC_ASSERT(sizeof(struct mt_syscall_event) == 56 + 48 + 8 + 24 + 32 + 8 + 8, "syscall ABI");
MT_STATIC_ASSERT(sizeof(struct mt_pending_call) == 40, "pending ABI");
MT_STATIC_ASSERT(sizeof(struct mt_task_event) == 56 + 24 + MT_FILENAME_MAX, "task ABI");

#endif /* MAPTRAIL_EVENTS_H */
