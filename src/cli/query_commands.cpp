#include "cli/query_commands.h"

#include <langinfo.h>
#include <locale.h>

#include <cstdio>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "daemon/protocol.h"
#include "daemon/wire.h"
#include "procfs/maps.h"
#include "procfs/process.h"
#include "procfs/smaps.h"
#include "event/event.h"
#include "render/decode.h"
#include "render/log_text.h"
#include "render/report.h"

namespace maptrail::cli {

namespace {

bool utf8_locale() {
  setlocale(LC_CTYPE, "");
  const char* codeset = nl_langinfo(CODESET);
  return codeset && std::strcmp(codeset, "UTF-8") == 0;
}

Result<std::pair<uint64_t, uint64_t>> parse_history_range(const std::string& text) {
  auto parse = [](const std::string& s, uint64_t* out) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    *out = std::strtoull(s.c_str(), &end, 16);
    return errno == 0 && end && *end == 0;
  };
  uint64_t lo, hi;
  auto comma = text.find(',');
  if (comma == std::string::npos) {
    if (!parse(text, &lo)) return Error{EINVAL, "not an address (hex): " + text};
    return std::make_pair(lo, lo + 1);
  }
  if (!parse(text.substr(0, comma), &lo) || !parse(text.substr(comma + 1), &hi) || hi <= lo)
    return Error{EINVAL, "not a range LO,HI (hex, LO < HI): " + text};
  return std::make_pair(lo, hi);
}

// "mmap 1234.567890 [4242/4243] alloc_cache+0x40 (demo)" or "before tracing".
std::string origin_text(const nlohmann::json& vma) {
  const auto& o = vma.value("origin", nlohmann::json());
  if (o.is_null()) return "before tracing";
  std::string text =
      fmt::format("{} {:.6f} [{}/{}]", o.value("call", std::string()),
                  o.value("time_ns", uint64_t(0)) / 1e9, o.value("pid", 0), o.value("tid", 0));
  std::string caller = o.value("caller", std::string());
  if (!caller.empty()) text += " " + caller;
  if (vma.value("origins", 1) > 1)
    text += fmt::format(" (+{} more)", vma["origins"].get<int>() - 1);
  return text;
}

// pmap's mapping lines start with the address (16 hex digits, or right-aligned in -X): the
// origin goes at the end of each, so the pmap columns stay as they are.
std::string annotate_origins(const std::string& pmap,
                             const std::map<uint64_t, std::string>& origins) {
  std::string out;
  size_t begin = 0;
  while (begin < pmap.size()) {
    size_t end = pmap.find('\n', begin);
    if (end == std::string::npos) end = pmap.size();
    std::string line = pmap.substr(begin, end - begin);
    size_t first = line.find_first_not_of(' ');
    if (first != std::string::npos) {
      char* stop = nullptr;
      uint64_t addr = std::strtoull(line.c_str() + first, &stop, 16);
      if (stop && *stop == ' ' && stop - (line.c_str() + first) >= 8) {
        if (auto it = origins.find(addr); it != origins.end()) line += "  <- " + it->second;
      }
    }
    out += line;
    if (end < pmap.size()) out += "\n";
    begin = end + 1;
  }
  return out;
}

}  // namespace

int run_pmap(const PmapCommand& c) {
  render::PmapOptions options = c.options;
  options.utf8 = utf8_locale();
  options.shm_minor = procfs::shm_minor();
  int rc = 0;
  for (pid_t pid : c.pids) {
    nlohmann::json request = {{"op", "vmas"}, {"pid", pid}};
    if (!c.origin) request["format"] = "maps";  // origins come only with the objects
    auto answer = daemon::ask(c.socket, request);
    if (!answer) {
      if (answer.error().err == ENOENT || answer.error().err == ECONNREFUSED) {
        fmt::print(stderr, "maptrail pmap: {}\n", answer.error().message);
        return 2;
      }
      if (answer.error().message.find("no process") != std::string::npos) {
        rc |= 42;  // as pmap: a pid that does not exist is skipped
        continue;
      }
      fmt::print(stderr, "maptrail pmap: {}\n", answer.error().message);
      rc |= 1;
      continue;
    }
    std::vector<model::Vma> vmas;
    std::map<uint64_t, std::string> origins;  // by VMA start, for --origin
    if (answer->contains("maps")) {
      auto text = daemon::decode_bytes(answer->at("maps").get_ref<const std::string&>());
      if (!text) {
        fmt::print(stderr, "maptrail pmap: {}\n", text.error().message);
        return 2;
      }
      auto parsed = procfs::parse_maps(*text);
      if (!parsed) {
        fmt::print(stderr, "maptrail pmap: the daemon's answer: {}\n", parsed.error().message);
        return 2;
      }
      vmas = std::move(*parsed);
    }
    for (const auto& j : answer->value("vmas", nlohmann::json::array())) {
      if (c.origin) origins[j.value("start", uint64_t(0))] = origin_text(j);
      auto v = daemon::vma_from_json(j);
      if (!v) {
        fmt::print(stderr, "maptrail pmap: {}\n", v.error().message);
        return 2;
      }
      vmas.push_back(std::move(*v));
    }
    auto process = procfs::read_pmap_process(pid);
    if (!process) {
      rc |= 42;
      continue;
    }
    std::optional<procfs::SmapsData> smaps;
    if (render::pmap_needs_smaps(options)) {
      if (auto read = procfs::read_smaps(pid))
        smaps = std::move(*read);
      else
        rc |= 1;
    }
    std::string out = render::render_pmap(*process, vmas, smaps ? &*smaps : nullptr, options);
    if (c.origin) out = annotate_origins(out, origins);
    fwrite(out.data(), 1, out.size(), stdout);
  }
  if (fflush(stdout) != 0) {
    fmt::print(stderr, "maptrail pmap: writing the output failed: {}\n", strerror(errno));
    return 1;
  }
  return rc;
}

int run_verify(const std::string& socket, const std::vector<pid_t>& pids) {
  int rc = 0;
  for (pid_t pid : pids) {
    auto answer = daemon::ask(socket, {{"op", "verify"}, {"pid", pid}});
    if (!answer) {
      fmt::print(stderr, "maptrail verify: {}\n", answer.error().message);
      return 2;
    }
    const auto& r = *answer;
    if (!r.value("done", false)) {
      fmt::print(stderr, "maptrail verify: pid {}: {}\n", pid, r.value("error", std::string()));
      return 2;
    }
    if (r.value("exact", false)) {
      fmt::print("pid {}: exact ({} VMAs)\n", pid, r.value("vmas", 0));
    } else {
      fmt::print("pid {}: {} difference(s) between the model and /proc/{}/maps\n", pid,
                 r["differences"].size(), pid);
      for (const auto& d : r["differences"]) {
        if (d.contains("model")) fmt::print("  - model:  {}\n", d["model"].get<std::string>());
        if (d.contains("kernel")) fmt::print("  + kernel: {}\n", d["kernel"].get<std::string>());
      }
      rc = 1;
    }
    for (const auto& d : r["drift"])
      fmt::print("  drift: stack grew by {} KiB through page faults (no syscall)\n",
                 d.value("bytes", uint64_t(0)) / 1024);
  }
  return rc;
}

int run_history(const HistoryCommand& c) {
  auto range = parse_history_range(c.range);
  if (!range) {
    fmt::print(stderr, "maptrail history: {}\n", range.error().message);
    return 2;
  }
  auto answer = daemon::ask(
      c.socket, {{"op", "history"}, {"pid", c.pid}, {"lo", range->first}, {"hi", range->second}});
  if (!answer) {
    fmt::print(stderr, "maptrail history: {}\n", answer.error().message);
    return 2;
  }
  const auto& changes = (*answer)["changes"];
  if (changes.empty()) {
    fmt::print("no recorded change touched {:#x}-{:#x} in pid {}\n", range->first, range->second,
               c.pid);
  }
  for (const auto& ch : changes) {
    std::string ranges;
    for (const auto& r : ch["ranges"])
      ranges += fmt::format("{}{:#x}-{:#x}", ranges.empty() ? "" : " ", r[0].get<uint64_t>(),
                            r[1].get<uint64_t>());
    // A syscall is shown as the trace log shows it; fork and exec by name.
    std::string call = ch["call"].get<std::string>();
    event::Event e;
    e.syscall = event::syscall_by_name(call);
    e.ret = ch["ret"].get<int64_t>();
    for (size_t i = 0; i < e.args.size() && i < ch["args"].size(); i++)
      e.args[i] = ch["args"][i].get<uint64_t>();
    std::string what = call, result;
    if (e.syscall != event::Syscall::kNone) {
      what = render::call_text(e, ch.value("file", ""));
      result = " " + render::result_text(e);
    }
    fmt::print("{:.6f} {}[{}/{}] {}{}  [{}]\n", ch["time_ns"].get<uint64_t>() / 1e9,
               ch["comm"].get<std::string>(), ch["pid"].get<uint32_t>(), ch["tid"].get<uint32_t>(),
               what, result, ranges);
    int caller = ch.value("caller", -1);
    const auto& stack = ch["stack"];
    if (!stack.empty()) {
      std::string line = "    by";
      size_t first = caller >= 0 ? size_t(caller) : 0;
      for (size_t i = first; i < stack.size() && i < first + 4; i++) {
        std::string next = (i == first ? " " : " < ") + stack[i].get<std::string>();
        if (i > first && line.size() + next.size() > 100) break;  // the width a person reads
        line += next;
      }
      fmt::print("{}\n", line);
    }
  }
  if ((*answer).value("dropped", 0) > 0)
    fmt::print("({} older changes of this process were dropped from the history)\n",
               (*answer)["dropped"].get<uint64_t>());
  return 0;
}

int run_report(const ReportCommand& c) {
  std::string by = c.folded ? "stack" : c.by;
  auto answer = daemon::ask(c.socket, {{"op", "report"}, {"by", by}, {"anon_only", c.anon_only}});
  if (!answer) {
    fmt::print(stderr, "maptrail report: {}\n", answer.error().message);
    return 2;
  }
  if (c.json) {
    fmt::print("{}\n", (*answer)["rows"].dump());
    return 0;
  }
  auto rows = render::report_rows_from_json((*answer)["rows"]);
  if (c.folded)
    fmt::print("{}", render::report_folded(rows));
  else
    fmt::print("{}", render::report_text(rows, render::parse_report_by(by)));
  return 0;
}

}  // namespace maptrail::cli
