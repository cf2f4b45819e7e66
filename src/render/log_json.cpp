#include "render/log_json.h"

#include <sys/wait.h>

#include <fmt/format.h>

#include "model/vma.h"
#include "render/decode.h"
#include "render/summary.h"

namespace maptrail::render {

namespace {

using event::Kind;
using event::Syscall;
using nlohmann::json;

// Arguments keep their raw values; the decoded spellings go beside them.
json args_json(const event::Event& e) {
  json args = json::object();
  auto names = event::arg_names(e.syscall);
  for (size_t i = 0; i < names.size(); i++) {
    std::string_view name = names[i];
    if (name == "fd" || name == "pkey" || name == "shmid")
      args[std::string(name)] = static_cast<int32_t>(e.args[i]);
    else
      args[std::string(name)] = e.args[i];
  }
  return args;
}

json decoded_json(const event::Event& e, const std::string& fd_path) {
  json d = json::object();
  const auto& a = e.args;
  switch (e.syscall) {
    case Syscall::kMmap:
      d["prot"] = mmap_prot(a[2]);
      d["flags"] = mmap_flags(a[3]);
      if (!fd_path.empty()) d["fd"] = fd_path;
      break;
    case Syscall::kMprotect:
    case Syscall::kPkeyMprotect:
      d["prot"] = mmap_prot(a[2]);
      break;
    case Syscall::kMremap:
      d["flags"] = mremap_flags(a[3]);
      break;
    case Syscall::kMadvise:
      d["advice"] = madvise_advice(a[2]);
      break;
    case Syscall::kMlock2:
      d["flags"] = mlock2_flags(a[2]);
      break;
    case Syscall::kMlockall:
      d["flags"] = mlockall_flags(a[0]);
      break;
    case Syscall::kShmat:
      d["shmflg"] = shmat_flags(a[2]);
      break;
    default:
      break;
  }
  return d;
}

json frame_json(const symbolize::Frame& f) {
  json j = {{"addr", f.addr}};
  j["module"] = f.module.empty() ? json(nullptr) : json(f.module);
  j["symbol"] = f.symbol.empty() ? json(nullptr) : json(f.symbol);
  j["offset"] = f.offset;
  return j;
}

json window_flags_json(uint16_t flags) {
  json list = json::array();
  if (flags & MT_F_WINDOW_OVERFLOW) list.push_back("overflow");
  if (flags & MT_F_WINDOW_BUSY) list.push_back("busy");
  if (flags & MT_F_WINDOW_HOLE) list.push_back("hole");
  if (flags & MT_F_WHOLE_MM) list.push_back("whole_mm");
  if (flags & MT_F_NAMES_TRUNCATED) list.push_back("names_truncated");
  if (flags & MT_F_WINDOW_EMPTY_ASSUMED) list.push_back("empty_assumed");
  return list;
}

}  // namespace

json event_json(const EventView& view, const TraceClock& clock) {
  const auto& e = view.event;
  json j;
  j["v"] = kJsonSchemaVersion;
  uint64_t when = e.kind == Kind::kSyscall ? e.enter_ns : e.exit_ns;
  if (e.kind == Kind::kLost) when = 0;
  if (when) {
    j["time"] = rfc3339_ns(clock.wall_ns(when));
    j["t"] = clock.seconds_since_start(when);
  } else {
    j["time"] = nullptr;
    j["t"] = nullptr;
  }
  if (e.kind != Kind::kLost) {
    j["pid"] = e.pid;
    j["tid"] = e.tid;
    j["comm"] = e.comm;
    j["mm"] = fmt::format("{:#x}", e.mm);
  }
  j["event"] = e.kind == Kind::kSyscall ? event::syscall_name(e.syscall) : event::kind_name(e.kind);

  switch (e.kind) {
    case Kind::kSyscall: {
      j["args"] = args_json(e);
      j["decoded"] = decoded_json(e, view.fd_path);
      j["ret"] = e.ret;
      if (e.failed()) j["errno"] = errno_name(e.error_number());
      j["latency_ns"] = e.latency_ns();
      json stack = json::array();
      for (const auto& f : view.stack.frames) stack.push_back(frame_json(f));
      j["stack"] = std::move(stack);
      j["caller"] = view.stack.caller >= 0 ? json(view.stack.caller) : json(nullptr);
      if (view.stack.end) j["stack_end"] = symbolize::end_name(*view.stack.end);
      if (e.flags & MT_F_STACK_COPY) {
        j["stack_bytes"] = e.user_stack.size();
        j["stack_top_known"] = bool(e.flags & MT_F_STACK_TOP_KNOWN);
        j["stack_trimmed"] = bool(e.flags & MT_F_STACK_TRIMMED);
        j["stack_shortened"] = bool(e.flags & MT_F_STACK_SHORTENED);
      }
      if (e.flags & MT_F_NO_WINDOW) {
        j["window"] = nullptr;
      } else {
        json window = json::array();
        for (const auto& w : e.vmas) {
          model::Vma v = event::to_proc_vma(w, e);
          window.push_back({{"start", v.start},
                            {"end", v.end},
                            {"perms", model::perms_string(v.perms)},
                            {"offset", v.offset},
                            {"dev", fmt::format("{:02x}:{:02x}", v.dev_major, v.dev_minor)},
                            {"inode", v.inode},
                            {"name", v.name},
                            {"vm_flags", v.vm_flags}});
        }
        j["window"] = std::move(window);
        json ranges = json::array();
        for (const auto& r : e.ranges) ranges.push_back({r.lo, r.hi});
        j["window_ranges"] = std::move(ranges);
      }
      j["window_complete"] = e.window_complete();
      j["window_flags"] = window_flags_json(e.flags);
      break;
    }
    case Kind::kFork:
    case Kind::kThread:
      j["child_pid"] = e.child_pid;
      j["child_tid"] = e.child_tid;
      j["child_mm"] = fmt::format("{:#x}", e.child_mm);
      if (e.kind == Kind::kFork) j["shares_mm"] = bool(e.flags & MT_F_THREAD_SHARED_VM);
      break;
    case Kind::kExec:
      j["filename"] = e.filename;
      j["old_tid"] = e.child_tid;
      j["new_mm"] = fmt::format("{:#x}", e.child_mm);
      break;
    case Kind::kExit:
      j["status"] = e.exit_code;
      if (WIFSIGNALED(e.exit_code))
        j["signal"] = WTERMSIG(e.exit_code);
      else
        j["exit_code"] = WEXITSTATUS(e.exit_code);
      break;
    case Kind::kLayout:  // internal, never logged
      break;
    case Kind::kExitMmap:
      j["released_mm"] = fmt::format("{:#x}", e.child_mm);
      break;
    case Kind::kLost: {
      j["count"] = e.lost_total;
      j["lost"] = loss_json(e.lost);
      break;
    }
  }
  return j;
}

std::string log_json(const EventView& view, const TraceClock& clock) {
  return event_json(view, clock).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace maptrail::render
