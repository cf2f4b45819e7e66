#include "render/log_text.h"

#include "render/summary.h"

#include <sys/wait.h>

#include <string.h>

#include <string_view>

#include <fmt/compile.h>
#include <fmt/format.h>

namespace maptrail::render {

namespace {

using event::Kind;
using event::Syscall;

std::string addr_or_null(uint64_t addr) {
  return addr ? hex_addr(addr) : "NULL";
}

std::string fd_text(uint64_t raw, const std::string& path) {
  int fd = static_cast<int>(raw);
  if (fd < 0 || path.empty()) return std::to_string(fd);
  return fmt::format(FMT_COMPILE("{}<{}>"), fd, path);
}

std::string latency_text(uint64_t ns) {
  if (ns < 1000) return fmt::format(FMT_COMPILE("{}ns"), ns);
  if (ns < 1'000'000) return fmt::format(FMT_COMPILE("{:.1f}us"), ns / 1e3);
  return fmt::format(FMT_COMPILE("{:.2f}ms"), ns / 1e6);
}

std::string exit_status_text(int status) {
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return fmt::format(FMT_COMPILE("killed by SIG{}{}"),
                       name ? name : std::to_string(WTERMSIG(status)),
                       WCOREDUMP(status) ? " (core dumped)" : "");
  }
  return fmt::format(FMT_COMPILE("status {}"), WEXITSTATUS(status));
}

// Display columns of text: ANSI escapes take none, a UTF-8 sequence takes one.
template <class F>
void for_each_column(std::string_view text, F&& visit) {
  bool in_escape = false;
  size_t column = 0;
  for (size_t i = 0; i < text.size(); i++) {
    unsigned char c = text[i];
    if (in_escape) {
      if (c == 'm') in_escape = false;
      continue;
    }
    if (c == 0x1b) {
      in_escape = true;
      continue;
    }
    if ((c & 0xC0) == 0x80) continue;
    if (!visit(i, column++)) return;
  }
}

// Cuts a line at `width` columns, marking the cut.
std::string cut(std::string line, size_t width) {
  if (line.size() < width) return line;  // no more columns than bytes: it fits
  size_t cut_at = std::string::npos;
  for_each_column(line, [&](size_t i, size_t column) {
    if (column + 1 < width) return true;
    cut_at = i;
    return false;
  });
  if (cut_at == std::string::npos || cut_at + 1 >= line.size()) return line;
  line.resize(cut_at);
  line += "…";
  if (line.find('\x1b') != std::string::npos) line += "\x1b[0m";
  return line;
}

// Breaks a line at spaces so that no piece is wider than `width`; continuation lines are
// indented. Nothing is dropped: the result of a call matters more than fitting one line.
// Appends to `out`.
void wrap(std::string_view line, size_t width, std::string_view indent, std::string& out) {
  size_t budget = width;
  while (true) {
    std::string_view rest = line;
    if (rest.size() <= budget) {  // no more columns than bytes: it fits
      out += rest;
      return;
    }
    size_t last_space = std::string::npos, overflow = std::string::npos;
    for_each_column(rest, [&](size_t i, size_t column) {
      if (column >= budget) {
        overflow = i;
        return false;
      }
      if (rest[i] == ' ' && column > 0) last_space = i;
      return true;
    });
    if (overflow == std::string::npos) {
      out += rest;
      return;
    }
    size_t taken;
    if (last_space == std::string::npos) {
      // One word longer than the line (a long path): break inside it.
      out += rest.substr(0, overflow);
      taken = overflow;
    } else {
      // The result reads best on a line of its own than cut in the middle of the arguments.
      size_t result = rest.rfind(" = ", overflow);
      if (result != std::string::npos && result > 0) last_space = result;
      out += rest.substr(0, last_space);
      taken = last_space + 1;
    }
    out += '\n';
    out += indent;
    line.remove_prefix(taken);
    budget = width - indent.size();
  }
}

}  // namespace

std::string call_text(const event::Event& e, const std::string& fd_path) {
  const auto& a = e.args;
  std::string name(event::syscall_name(e.syscall));
  switch (e.syscall) {
    case Syscall::kMmap:
      return fmt::format(FMT_COMPILE("mmap({}, {}, {}, {}, {}, {})"), addr_or_null(a[0]),
                         human_size(a[1]), prot_rwx(a[2]), mmap_flags(a[3]), fd_text(a[4], fd_path),
                         a[5] ? hex_addr(a[5]) : "0");
    case Syscall::kMunmap:
    case Syscall::kMlock:
    case Syscall::kMunlock:
      return fmt::format(FMT_COMPILE("{}({}, {})"), name, hex_addr(a[0]), human_size(a[1]));
    case Syscall::kBrk:
      return fmt::format(FMT_COMPILE("brk({})"), addr_or_null(a[0]));
    case Syscall::kMprotect:
      return fmt::format(FMT_COMPILE("mprotect({}, {}, {})"), hex_addr(a[0]), human_size(a[1]),
                         prot_rwx(a[2]));
    case Syscall::kPkeyMprotect:
      return fmt::format(FMT_COMPILE("pkey_mprotect({}, {}, {}, {})"), hex_addr(a[0]),
                         human_size(a[1]), prot_rwx(a[2]), static_cast<int>(a[3]));
    case Syscall::kMremap:
      if (a[3] & 2 /* MREMAP_FIXED */)
        return fmt::format(FMT_COMPILE("mremap({}, {}, {}, {}, {})"), hex_addr(a[0]),
                           human_size(a[1]), human_size(a[2]), mremap_flags(a[3]), hex_addr(a[4]));
      return fmt::format(FMT_COMPILE("mremap({}, {}, {}, {})"), hex_addr(a[0]), human_size(a[1]),
                         human_size(a[2]), mremap_flags(a[3]));
    case Syscall::kMadvise:
      return fmt::format(FMT_COMPILE("madvise({}, {}, {})"), hex_addr(a[0]), human_size(a[1]),
                         madvise_advice(a[2]));
    case Syscall::kMlock2:
      return fmt::format(FMT_COMPILE("mlock2({}, {}, {})"), hex_addr(a[0]), human_size(a[1]),
                         mlock2_flags(a[2]));
    case Syscall::kMseal:
      return fmt::format(FMT_COMPILE("mseal({}, {}, {:#x})"), hex_addr(a[0]), human_size(a[1]),
                         a[2]);
    case Syscall::kMlockall:
      return fmt::format(FMT_COMPILE("mlockall({})"), mlockall_flags(a[0]));
    case Syscall::kMunlockall:
      return "munlockall()";
    case Syscall::kShmat:
      return fmt::format(FMT_COMPILE("shmat({}, {}, {})"), static_cast<int>(a[0]),
                         addr_or_null(a[1]), shmat_flags(a[2]));
    case Syscall::kShmdt:
      return fmt::format(FMT_COMPILE("shmdt({})"), hex_addr(a[0]));
    case Syscall::kNone:
      break;
  }
  return name + "(?)";
}

std::string result_text(const event::Event& e) {
  if (e.failed()) return fmt::format(FMT_COMPILE("= -1 {}"), errno_name(e.error_number()));
  switch (e.syscall) {
    case Syscall::kMmap:
    case Syscall::kMremap:
    case Syscall::kShmat:
    case Syscall::kBrk:
      return "= " + hex_addr(static_cast<uint64_t>(e.ret));
    default:
      return fmt::format(FMT_COMPILE("= {}"), e.ret);
  }
}

std::string log_text(const EventView& view, const TraceClock& clock, const TextStyle& style) {
  const auto& e = view.event;
  Color c = style.color;
  uint64_t when = e.kind == Kind::kSyscall ? e.enter_ns : e.exit_ns;
  std::string time;
  if (e.kind == Kind::kLost) {
    time = paint(c, Style::kTime, fmt::format(FMT_COMPILE("{:15} {:>10}"), "", ""));
  } else {
    time = paint(c, Style::kTime,
                 fmt::format(FMT_COMPILE("{} {:10.6f}"), clock_time_us(clock.wall_ns(when)),
                             clock.seconds_since_start(when)));
  }
  std::string who =
      paint(c, Style::kProcess, fmt::format(FMT_COMPILE("{}[{}/{}]"), e.comm, e.pid, e.tid));

  std::string line;
  switch (e.kind) {
    case Kind::kSyscall: {
      std::string result = result_text(e);
      line = fmt::format(FMT_COMPILE("{} {} {} {} <{}>"), time, who,
                         paint(c, Style::kSyscall, call_text(e, view.fd_path)),
                         e.failed() ? paint(c, Style::kError, result) : result,
                         latency_text(e.latency_ns()));
      break;
    }
    case Kind::kFork:
      line = fmt::format(FMT_COMPILE("{} {} {} child {}{}"), time, who,
                         paint(c, Style::kSyscall, "fork"), e.child_pid,
                         e.flags & MT_F_THREAD_SHARED_VM ? " (shares memory: CLONE_VM)" : "");
      break;
    case Kind::kThread:
      line = fmt::format(FMT_COMPILE("{} {} {} tid {}"), time, who,
                         paint(c, Style::kSyscall, "thread"), e.child_tid);
      break;
    case Kind::kExec:
      line = fmt::format(FMT_COMPILE("{} {} {} {}"), time, who, paint(c, Style::kSyscall, "exec"),
                         e.filename);
      break;
    case Kind::kExit:
      line = fmt::format(FMT_COMPILE("{} {} {} {}"), time, who, paint(c, Style::kSyscall, "exit"),
                         exit_status_text(e.exit_code));
      break;
    case Kind::kExitMmap:
      line = fmt::format(FMT_COMPILE("{} {} {} address space {:#x} released"), time, who,
                         paint(c, Style::kSyscall, "exit_mmap"), e.child_mm);
      break;
    case Kind::kLayout:
      return "";  // internal: feeds the engine, not the log
    case Kind::kLost: {
      line =
          fmt::format(FMT_COMPILE("{} {}"), time,
                      paint(c, Style::kError,
                            fmt::format(FMT_COMPILE("LOST {} events (ring buffer full: {}); raise "
                                                    "--ringbuf-size"),
                                        e.lost_total, loss_breakdown(e.lost))));
      break;
    }
  }
  std::string out;
  out.reserve(line.size() + 64);
  wrap(line, style.width, "      ", out);
  out += '\n';

  const auto& frames = view.stack.frames;
  if (e.kind == Kind::kSyscall && !frames.empty()) {
    size_t first = view.stack.caller >= 0 ? size_t(view.stack.caller) : 0;
    std::string stack_line = "    by";
    stack_line.reserve(256);
    for (size_t i = first; i < frames.size() && i < first + style.caller_frames; i++) {
      const auto& f = frames[i];
      stack_line += i == first ? " " : " < ";
      stack_line += f.to_string();
      if (!f.module.empty() && f.symbol.size())
        stack_line += fmt::format(FMT_COMPILE(" ({})"), f.module);
    }
    out += cut(paint(c, Style::kDim, stack_line), style.width) + "\n";
  }
  return out;
}

}  // namespace maptrail::render
