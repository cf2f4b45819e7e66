// The decoded form of one kernel record (bpf/events.h), independent of libbpf.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "events.h"
#include "model/vma.h"
#include "util/result.h"

namespace maptrail::event {

enum class Kind : uint8_t {
  kSyscall = MT_EV_SYSCALL,
  kFork = MT_EV_FORK,
  kThread = MT_EV_THREAD,
  kExec = MT_EV_EXEC,
  kExit = MT_EV_EXIT,
  kExitMmap = MT_EV_EXIT_MMAP,
  kLayout = MT_EV_LAYOUT,  // every VMA of a freshly exec'd image (internal: not logged)
  kLost = 100,             // synthesized in user space from the kernel's loss counters
};

enum class Syscall : uint8_t {
  kNone = MT_SYS_NONE,
  kMmap = MT_SYS_MMAP,
  kMunmap = MT_SYS_MUNMAP,
  kBrk = MT_SYS_BRK,
  kMprotect = MT_SYS_MPROTECT,
  kMremap = MT_SYS_MREMAP,
  kMadvise = MT_SYS_MADVISE,
  kMlock = MT_SYS_MLOCK,
  kMlock2 = MT_SYS_MLOCK2,
  kMunlock = MT_SYS_MUNLOCK,
  kMlockall = MT_SYS_MLOCKALL,
  kMunlockall = MT_SYS_MUNLOCKALL,
  kPkeyMprotect = MT_SYS_PKEY_MPROTECT,
  kShmat = MT_SYS_SHMAT,
  kShmdt = MT_SYS_SHMDT,
  kMseal = MT_SYS_MSEAL,
};

// "mmap", "pkey_mprotect"; "fork", "thread", "exec", "exit", "exit_mmap", "lost".
std::string_view syscall_name(Syscall s);
// The inverse of syscall_name; kNone for a name that is not one of ours.
Syscall syscall_by_name(std::string_view name);
std::string_view kind_name(Kind k);
// The name of a loss-counter slot (a syscall, or a lifecycle kind).
std::string_view loss_slot_name(unsigned slot);

// Argument names as in the syscall's man page, in order.
std::span<const std::string_view> arg_names(Syscall s);

struct Range {
  uint64_t lo = 0, hi = 0;
  bool operator==(const Range&) const = default;
};

struct WindowVma {
  uint64_t start = 0, end = 0;
  uint64_t vm_flags = 0;
  uint64_t pgoff = 0;  // pages
  uint64_t inode = 0;
  uint32_t dev = 0;  // kernel encoding
  uint8_t name_kind = MT_NAME_NONE;
  std::string name;  // file path or special mapping name as the kernel gave it
  bool operator==(const WindowVma&) const = default;
};

struct Event {
  Kind kind = Kind::kSyscall;
  Syscall syscall = Syscall::kNone;
  uint16_t flags = 0;
  uint32_t pid = 0, tid = 0;
  uint64_t mm = 0;
  uint64_t enter_ns = 0, exit_ns = 0;  // CLOCK_MONOTONIC
  std::string comm;

  // kSyscall
  std::array<uint64_t, MT_MAX_ARGS> args{};
  int64_t ret = 0;
  uint64_t start_brk = 0, brk = 0, start_stack = 0;
  std::vector<Range> ranges;
  std::vector<WindowVma> vmas;
  std::vector<uint64_t> frames;  // innermost first
  uint64_t sp_word = 0;
  // With MT_F_STACK_COPY: the user registers at the call (x86-64 DWARF numbering) and the
  // user stack from user_regs[7] (rsp) up, for unwinding in user space.
  std::array<uint64_t, MT_USER_REGS> user_regs{};
  std::vector<uint8_t> user_stack;

  // kFork, kThread, kExec, kExit, kExitMmap
  uint32_t child_pid = 0, child_tid = 0;
  uint64_t child_mm = 0;
  int32_t exit_code = 0;
  int32_t child_map_count = -1;  // kFork: the VMAs the kernel gave the child
  std::string filename;

  // kLost: records dropped since the previous kLost, by loss slot
  std::array<uint64_t, MT_LOSS_SLOTS> lost{};
  uint64_t lost_total = 0;

  bool failed() const { return kind == Kind::kSyscall && ret < 0 && ret > -4096; }
  int error_number() const { return failed() ? static_cast<int>(-ret) : 0; }
  uint64_t latency_ns() const { return exit_ns > enter_ns ? exit_ns - enter_ns : 0; }
  bool window_complete() const {
    return !(flags & (MT_F_WINDOW_OVERFLOW | MT_F_WINDOW_BUSY | MT_F_WINDOW_HOLE | MT_F_WHOLE_MM |
                      MT_F_NAMES_TRUNCATED));
  }
  bool operator==(const Event&) const = default;
};

// Whether decode keeps a record's stack copy. kDrop leaves user_stack empty and flags the
// event MT_F_STACK_SHORTENED (a reader that has fallen behind keeps records, not stacks).
enum class StackCopy { kKeep, kDrop };

// Decodes one record; a short or inconsistent record is an Error that says what is wrong.
Result<Event> decode(std::span<const uint8_t> record, StackCopy stack = StackCopy::kKeep);
// The same into an Event reused from record to record: its vectors and strings keep their
// capacity, so a reader that recycles its events stops allocating once they have grown.
// After an error `out` holds part of the bad record: use it only after a success.
Result<void> decode(std::span<const uint8_t> record, StackCopy stack, Event& out);

// A window VMA as /proc/PID/maps shows it: perms from vm_flags, offset 0 for anonymous
// memory, [heap]/[stack] from the mm bounds carried by the event.
model::Vma to_proc_vma(const WindowVma& v, const Event& e);

// Bytes a call maps or unmaps, from its arguments (0 for calls that do neither).
uint64_t bytes_mapped(const Event& e);
uint64_t bytes_unmapped(const Event& e);
// True when the call concerns anonymous memory (mmap with MAP_ANONYMOUS, brk).
bool is_anonymous(const Event& e);
// The length argument of the call, when it has one.
uint64_t length_arg(const Event& e);
// A successful mmap of a file: the file's name as the window shows it at the result; else "".
std::string mapped_file_name(const Event& e);

}  // namespace maptrail::event
