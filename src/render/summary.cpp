#include "render/summary.h"

#include <fmt/format.h>

#include "render/decode.h"

namespace maptrail::render {

std::string loss_breakdown(const std::array<uint64_t, MT_LOSS_SLOTS>& lost) {
  std::string detail;
  for (unsigned i = 0; i < MT_LOSS_SLOTS; i++)
    if (lost[i])
      detail +=
          fmt::format("{}{} {}", detail.empty() ? "" : ", ", lost[i], event::loss_slot_name(i));
  return detail;
}

nlohmann::json loss_json(const std::array<uint64_t, MT_LOSS_SLOTS>& lost) {
  nlohmann::json by_name = nlohmann::json::object();
  for (unsigned i = 0; i < MT_LOSS_SLOTS; i++)
    if (lost[i]) by_name[std::string(event::loss_slot_name(i))] = lost[i];
  return by_name;
}

void TraceSummary::add(const event::Event& e) {
  using event::Kind;
  if (e.kind == Kind::kLost) {
    for (unsigned i = 0; i < MT_LOSS_SLOTS; i++) lost_[i] += e.lost[i];
    lost_total_ += e.lost_total;
    return;
  }
  events_++;
  std::string kind(e.kind == Kind::kSyscall ? event::syscall_name(e.syscall)
                                            : event::kind_name(e.kind));
  by_kind_[kind]++;
  // A process is named by its main thread: a JVM's last event may come from "G1 Conc#0".
  if (e.tid == e.pid || e.kind == Kind::kExec)
    processes_[e.pid] = e.comm;
  else
    processes_.try_emplace(e.pid, e.comm);
  if (e.kind == Kind::kFork) processes_.try_emplace(e.child_pid, e.comm);
  if (e.kind != Kind::kSyscall) return;
  if (e.failed()) failed_by_kind_[kind]++;
  uint64_t mapped = event::bytes_mapped(e);
  (event::is_anonymous(e) ? mapped_anon_ : mapped_file_) += mapped;
  unmapped_ += event::bytes_unmapped(e);
  if (!e.window_complete() && !(e.flags & MT_F_WHOLE_MM)) incomplete_windows_++;
  if (e.flags & MT_F_STACK_SHORTENED) stacks_shortened_++;
}

std::string TraceSummary::text() const {
  std::string out = fmt::format("\nmaptrail summary: {} events in {:.3f} s from {} processes\n",
                                events_, seconds_, processes_.size());
  if (!by_kind_.empty()) {
    out += "  events:";
    size_t column = 9;
    for (const auto& [kind, n] : by_kind_) {
      std::string item = fmt::format(" {} {}", kind, n);
      if (auto f = failed_by_kind_.find(kind); f != failed_by_kind_.end())
        item += fmt::format(" ({} failed)", f->second);
      item += ",";
      if (column + item.size() > 98) {
        out += "\n         ";
        column = 9;
      }
      out += item;
      column += item.size();
    }
    out.pop_back();
    out += "\n";
  }
  out += fmt::format("  mapped: {} anonymous, {} file-backed; unmapped: {}\n",
                     human_size(mapped_anon_), human_size(mapped_file_), human_size(unmapped_));
  if (lost_total_) {
    out += fmt::format("  LOST: {} events ({}): the ring buffer was full; raise --ringbuf-size\n",
                       lost_total_, loss_breakdown(lost_));
  } else {
    out += "  lost: 0 events\n";
  }
  if (incomplete_windows_)
    out += fmt::format("  windows incomplete (VMA read busy or overflowed): {}\n",
                       incomplete_windows_);
  if (windows_already_read_)
    out +=
        fmt::format("  windows shown already by a read begun after their call (not applied): {}\n",
                    windows_already_read_);
  if (windows_out_of_order_)
    out +=
        fmt::format("  windows read again (another thread's later call was recorded first): {}\n",
                    windows_out_of_order_);
  if (stacks_shortened_)
    out += fmt::format(
        "  stacks shortened: {} (maptrail fell behind: the ring buffer or its backlog was "
        "over half full, and less stack was kept rather than records lost; their stacks may "
        "end early)\n",
        stacks_shortened_);
  if (verify_checks_)
    out += fmt::format("  verify: {} checks, {} exact, {} differed, {} could not be done\n",
                       verify_checks_, verify_exact_,
                       verify_checks_ - verify_exact_ - verify_failed_, verify_failed_);
  if (decode_errors_)
    out += fmt::format("  undecodable records: {} (last: {}); please report this\n", decode_errors_,
                       last_decode_error_);
  if (!processes_.empty()) {
    out += "  processes:";
    size_t column = 12, shown = 0;
    for (const auto& [pid, comm] : processes_) {
      std::string item = shown++ == 8 ? fmt::format(" ... {} more", processes_.size() - 8)
                                      : fmt::format(" {}[{}],", comm, pid);
      if (column + item.size() > 98) {
        out += "\n             ";
        column = 13;
      }
      out += item;
      column += item.size();
      if (shown > 8) break;
    }
    if (out.back() == ',') out.pop_back();
    out += "\n";
  }
  return out;
}

nlohmann::json TraceSummary::json() const {
  nlohmann::json j;
  j["v"] = 1;
  j["event"] = "summary";
  j["seconds"] = seconds_;
  j["events"] = events_;
  j["by_event"] = by_kind_;
  j["failed_by_event"] = failed_by_kind_;
  j["bytes_mapped_anonymous"] = mapped_anon_;
  j["bytes_mapped_file"] = mapped_file_;
  j["bytes_unmapped"] = unmapped_;
  j["lost"] = lost_total_;
  j["lost_by_event"] = loss_json(lost_);
  j["windows_incomplete"] = incomplete_windows_;
  j["windows_out_of_order"] = windows_out_of_order_;
  j["windows_already_read"] = windows_already_read_;
  j["stacks_shortened"] = stacks_shortened_;
  j["decode_errors"] = decode_errors_;
  j["verify_checks"] = verify_checks_;
  j["verify_exact"] = verify_exact_;
  j["verify_failed"] = verify_failed_;
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& [pid, comm] : processes_) procs.push_back({{"pid", pid}, {"comm", comm}});
  j["processes"] = procs;
  return j;
}

}  // namespace maptrail::render
