#include "event/event.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace maptrail::event {
namespace {

constexpr std::string_view kSyscallNames[] = {
    "none",   "mmap",    "munmap",   "brk",        "mprotect",      "mremap", "madvise", "mlock",
    "mlock2", "munlock", "mlockall", "munlockall", "pkey_mprotect", "shmat",  "shmdt",   "mseal"};
static_assert(std::size(kSyscallNames) == MT_SYS_COUNT);

constexpr std::string_view kKindNames[] = {"?",    "syscall", "fork",      "thread",
                                           "exec", "exit",    "exit_mmap", "layout"};
static_assert(std::size(kKindNames) == MT_EV_KIND_COUNT);

constexpr std::string_view kArgsMmap[] = {"addr", "length", "prot", "flags", "fd", "offset"};
constexpr std::string_view kArgsAddrLen[] = {"addr", "length"};
constexpr std::string_view kArgsBrk[] = {"addr"};
constexpr std::string_view kArgsMprotect[] = {"addr", "length", "prot"};
constexpr std::string_view kArgsMremap[] = {"old_address", "old_size", "new_size", "flags",
                                            "new_address"};
constexpr std::string_view kArgsMadvise[] = {"addr", "length", "advice"};
constexpr std::string_view kArgsAddrLenFlags[] = {"addr", "length", "flags"};
constexpr std::string_view kArgsFlags[] = {"flags"};
constexpr std::string_view kArgsPkeyMprotect[] = {"addr", "length", "prot", "pkey"};
constexpr std::string_view kArgsShmat[] = {"shmid", "shmaddr", "shmflg"};
constexpr std::string_view kArgsShmdt[] = {"shmaddr"};

template <class T>
bool read_struct(std::span<const uint8_t> bytes, size_t offset, T& out) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  return true;
}

Error malformed(std::string what) {
  return Error{EPROTO, "malformed event record: " + what};
}

// Back to a default Event, except that its containers keep their capacity.
void reset(Event& e) {
  std::string comm = std::move(e.comm), filename = std::move(e.filename);
  std::vector<Range> ranges = std::move(e.ranges);
  std::vector<WindowVma> vmas = std::move(e.vmas);
  std::vector<uint64_t> frames = std::move(e.frames);
  std::vector<uint8_t> user_stack = std::move(e.user_stack);
  e = Event{};
  comm.clear();
  filename.clear();
  ranges.clear();
  vmas.clear();
  frames.clear();
  user_stack.clear();
  e.comm = std::move(comm);
  e.filename = std::move(filename);
  e.ranges = std::move(ranges);
  e.vmas = std::move(vmas);
  e.frames = std::move(frames);
  e.user_stack = std::move(user_stack);
}

void decode_header(const mt_event_header& h, Event& e) {
  e.kind = static_cast<Kind>(h.kind);
  e.syscall = static_cast<Syscall>(h.syscall);
  e.flags = h.flags;
  e.pid = h.pid;
  e.tid = h.tid;
  e.mm = h.mm;
  e.enter_ns = h.enter_ns;
  e.exit_ns = h.exit_ns;
  e.comm.assign(h.comm, strnlen(h.comm, sizeof(h.comm)));
}

Result<void> decode_syscall(std::span<const uint8_t> bytes, const mt_event_header& h,
                            StackCopy stack, Event& e) {
  mt_syscall_event raw;
  if (!read_struct(bytes, 0, raw)) return malformed("syscall record shorter than its body");
  if ((h.kind == MT_EV_SYSCALL && h.syscall == MT_SYS_NONE) || h.syscall >= MT_SYS_COUNT)
    return malformed(fmt::format("unknown syscall number {}", h.syscall));
  if (raw.nvmas > MT_MAX_WINDOW_VMAS || raw.nframes > MT_MAX_FRAMES ||
      raw.nranges > MT_MAX_RANGES || raw.names_len > MT_NAMES_MAX)
    return malformed("counts out of range");
  bool stack_copy = h.flags & MT_F_STACK_COPY;
  if (stack_copy && raw.stack_len > MT_STACK_COPY_MAX) return malformed("stack copy too long");
  size_t frames_off = sizeof(mt_syscall_event);
  size_t vmas_off = frames_off + raw.nframes * sizeof(uint64_t);
  size_t names_off = vmas_off + raw.nvmas * sizeof(mt_vma);
  size_t regs_off = (names_off + raw.names_len + 7) & ~size_t(7);
  size_t stack_off = regs_off + sizeof(mt_user_regs);
  size_t needed = stack_copy ? stack_off + raw.stack_len : names_off + raw.names_len;
  if (needed > bytes.size())
    return malformed(fmt::format("{} bytes, {} needed", bytes.size(), needed));

  decode_header(h, e);
  std::copy(std::begin(raw.args), std::end(raw.args), e.args.begin());
  e.ret = raw.ret;
  e.start_brk = raw.start_brk;
  e.brk = raw.brk;
  e.start_stack = raw.start_stack;
  e.sp_word = raw.sp_word;
  for (unsigned i = 0; i < raw.nranges; i++)
    e.ranges.push_back({raw.ranges[i].lo, raw.ranges[i].hi});
  e.frames.resize(raw.nframes);
  if (raw.nframes)
    std::memcpy(e.frames.data(), bytes.data() + frames_off, raw.nframes * sizeof(uint64_t));

  if (stack_copy) {
    mt_user_regs regs;
    read_struct(bytes, regs_off, regs);
    std::copy(std::begin(regs.regs), std::end(regs.regs), e.user_regs.begin());
    if (stack == StackCopy::kKeep)
      e.user_stack.assign(bytes.data() + stack_off, bytes.data() + stack_off + raw.stack_len);
    else if (raw.stack_len)
      e.flags |= MT_F_STACK_SHORTENED;
  }

  const char* names = reinterpret_cast<const char*>(bytes.data() + names_off);
  e.vmas.reserve(raw.nvmas);
  for (unsigned i = 0; i < raw.nvmas; i++) {
    mt_vma v;
    read_struct(bytes, vmas_off + i * sizeof(mt_vma), v);
    WindowVma w{v.start, v.end, v.flags, v.pgoff, v.ino, v.dev, v.name_kind, {}};
    if (v.name_kind == MT_NAME_PATH || v.name_kind == MT_NAME_SPECIAL) {
      if (size_t(v.name_off) + v.name_len > raw.names_len)
        return malformed(fmt::format("name of VMA {} outside the names area", i));
      w.name.assign(names + v.name_off, v.name_len);
    }
    if (w.end <= w.start) return malformed(fmt::format("VMA {} has end <= start", i));
    e.vmas.push_back(std::move(w));
  }
  // Two ranges (mremap) are walked one after the other: keep the window in address order,
  // each VMA once.
  std::sort(e.vmas.begin(), e.vmas.end(),
            [](const WindowVma& a, const WindowVma& b) { return a.start < b.start; });
  e.vmas.erase(std::unique(e.vmas.begin(), e.vmas.end(),
                           [](const WindowVma& a, const WindowVma& b) {
                             return a.start == b.start && a.end == b.end;
                           }),
               e.vmas.end());
  for (size_t i = 1; i < e.vmas.size(); i++)
    if (e.vmas[i].start < e.vmas[i - 1].end) return malformed("window VMAs overlap");
  return {};
}

Result<void> decode_task(std::span<const uint8_t> bytes, const mt_event_header& h, Event& e) {
  mt_task_event raw;
  if (!read_struct(bytes, 0, raw)) return malformed("task record shorter than its body");
  decode_header(h, e);
  e.child_pid = raw.child_pid;
  e.child_tid = raw.child_tid;
  e.child_mm = raw.child_mm;
  e.exit_code = raw.exit_code;
  if (e.kind == Kind::kFork) e.child_map_count = raw.child_map_count;
  e.filename.assign(raw.filename, strnlen(raw.filename, std::min<size_t>(raw.filename_len,
                                                                         sizeof(raw.filename))));
  return {};
}

}  // namespace

std::string_view syscall_name(Syscall s) {
  auto i = static_cast<unsigned>(s);
  return i < std::size(kSyscallNames) ? kSyscallNames[i] : "?";
}

Syscall syscall_by_name(std::string_view name) {
  for (unsigned i = 0; i < std::size(kSyscallNames); i++)
    if (kSyscallNames[i] == name && name != "?") return static_cast<Syscall>(i);
  return Syscall::kNone;
}

std::string mapped_file_name(const Event& e) {
  if (e.syscall != Syscall::kMmap || e.failed() || static_cast<int>(e.args[4]) < 0) return "";
  for (const auto& v : e.vmas)
    if (v.start <= uint64_t(e.ret) && uint64_t(e.ret) < v.end) return v.name;
  return "";
}

std::string_view kind_name(Kind k) {
  if (k == Kind::kLost) return "lost";
  auto i = static_cast<unsigned>(k);
  return i < std::size(kKindNames) ? kKindNames[i] : "?";
}

std::string_view loss_slot_name(unsigned slot) {
  if (slot < MT_SYS_COUNT) return kSyscallNames[slot];
  return kind_name(static_cast<Kind>(slot - MT_SYS_COUNT));
}

std::span<const std::string_view> arg_names(Syscall s) {
  switch (s) {
    case Syscall::kMmap:
      return kArgsMmap;
    case Syscall::kMunmap:
    case Syscall::kMlock:
    case Syscall::kMunlock:
      return kArgsAddrLen;
    case Syscall::kBrk:
      return kArgsBrk;
    case Syscall::kMprotect:
      return kArgsMprotect;
    case Syscall::kMremap:
      return kArgsMremap;
    case Syscall::kMadvise:
      return kArgsMadvise;
    case Syscall::kMlock2:
    case Syscall::kMseal:
      return kArgsAddrLenFlags;
    case Syscall::kMlockall:
      return kArgsFlags;
    case Syscall::kPkeyMprotect:
      return kArgsPkeyMprotect;
    case Syscall::kShmat:
      return kArgsShmat;
    case Syscall::kShmdt:
      return kArgsShmdt;
    case Syscall::kMunlockall:
    case Syscall::kNone:
      break;
  }
  return {};
}

Result<Event> decode(std::span<const uint8_t> record, StackCopy stack) {
  Event e;
  if (auto decoded = decode(record, stack, e); !decoded) return decoded.error();
  return e;
}

Result<void> decode(std::span<const uint8_t> record, StackCopy stack, Event& e) {
  reset(e);
  mt_event_header h;
  if (!read_struct(record, 0, h))
    return malformed(fmt::format("{} bytes, no header", record.size()));
  if (h.size > record.size())
    return malformed(fmt::format("header says {} bytes, record has {}", h.size, record.size()));
  auto bytes = record.first(h.size);
  switch (h.kind) {
    case MT_EV_SYSCALL:
    case MT_EV_LAYOUT:
      return decode_syscall(bytes, h, stack, e);
    case MT_EV_FORK:
    case MT_EV_THREAD:
    case MT_EV_EXEC:
    case MT_EV_EXIT:
    case MT_EV_EXIT_MMAP:
      return decode_task(bytes, h, e);
  }
  return malformed(fmt::format("unknown kind {}", h.kind));
}

model::Vma to_proc_vma(const WindowVma& w, const Event& e) {
  constexpr uint64_t kVmRead = 0x1, kVmWrite = 0x2, kVmExec = 0x4, kVmMayShare = 0x80;
  model::Vma v;
  v.start = w.start;
  v.end = w.end;
  v.vm_flags = w.vm_flags;
  v.perms =
      (w.vm_flags & kVmRead ? model::kRead : 0) | (w.vm_flags & kVmWrite ? model::kWrite : 0) |
      (w.vm_flags & kVmExec ? model::kExec : 0) | (w.vm_flags & kVmMayShare ? model::kShared : 0);
  bool has_file = w.inode != 0 || w.dev != 0 || w.name_kind == MT_NAME_PATH ||
                  w.name_kind == MT_NAME_UNRESOLVED;
  if (has_file) {
    v.offset = w.pgoff << 12;
    v.dev_major = w.dev >> 20;
    v.dev_minor = w.dev & 0xfffff;
    v.inode = w.inode;
    v.name = model::path_as_proc_shows_it(w.name);
  } else if (w.name_kind == MT_NAME_SPECIAL) {
    v.name = w.name;
  } else if (w.start <= e.brk && w.end >= e.start_brk) {
    v.name = "[heap]";
  } else if (w.start <= e.start_stack && w.end >= e.start_stack) {
    v.name = "[stack]";
  }
  return v;
}

uint64_t length_arg(const Event& e) {
  switch (e.syscall) {
    case Syscall::kMmap:
    case Syscall::kMunmap:
    case Syscall::kMprotect:
    case Syscall::kMadvise:
    case Syscall::kMlock:
    case Syscall::kMlock2:
    case Syscall::kMunlock:
    case Syscall::kPkeyMprotect:
    case Syscall::kMseal:
      return e.args[1];
    case Syscall::kMremap:
      return e.args[2];
    default:
      return 0;
  }
}

static uint64_t page_up(uint64_t x) {
  return (x + 4095) & ~uint64_t(4095);
}

uint64_t bytes_mapped(const Event& e) {
  if (e.kind != Kind::kSyscall || e.failed()) return 0;
  switch (e.syscall) {
    case Syscall::kMmap:
      return page_up(e.args[1]);
    case Syscall::kMremap:
      // MREMAP_DONTUNMAP keeps the old area mapped: the whole new size is added
      if (e.args[3] & 4) return page_up(e.args[2]);
      return page_up(e.args[2]) > page_up(e.args[1]) ? page_up(e.args[2]) - page_up(e.args[1]) : 0;
    case Syscall::kBrk:  // the window runs from the old break to the new one
      return !e.ranges.empty() && e.ranges[0].hi == page_up(e.ret) ? e.ranges[0].hi - e.ranges[0].lo
                                                                   : 0;
    case Syscall::kShmat:
      for (const auto& v : e.vmas)
        if (v.start == uint64_t(e.ret)) return v.end - v.start;
      return 0;
    default:
      return 0;
  }
}

uint64_t bytes_unmapped(const Event& e) {
  if (e.kind != Kind::kSyscall || e.failed()) return 0;
  switch (e.syscall) {
    case Syscall::kMunmap:
      return page_up(e.args[1]);
    case Syscall::kBrk:
      return !e.ranges.empty() && e.ranges[0].lo == page_up(e.ret) ? e.ranges[0].hi - e.ranges[0].lo
                                                                   : 0;
    case Syscall::kMremap:
      return page_up(e.args[1]) > page_up(e.args[2]) ? page_up(e.args[1]) - page_up(e.args[2]) : 0;
    default:
      return 0;
  }
}

bool is_anonymous(const Event& e) {
  switch (e.syscall) {
    case Syscall::kBrk:
      return true;
    case Syscall::kMmap:
      return e.args[3] & MAP_ANONYMOUS;
    case Syscall::kShmat:
      return false;  // a SysV segment: shared memory with a name
    case Syscall::kMremap:
      // what the call produced, as the kernel reported it at the result address
      for (const auto& v : e.vmas)
        if (v.start <= uint64_t(e.ret) && uint64_t(e.ret) < v.end)
          return v.inode == 0 && v.dev == 0 && v.name_kind != MT_NAME_PATH &&
                 v.name_kind != MT_NAME_UNRESOLVED;
      return false;
    default:
      return false;
  }
}

}  // namespace maptrail::event
