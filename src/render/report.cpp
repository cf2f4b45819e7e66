#include "render/report.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "render/decode.h"

namespace maptrail::render {

namespace {

constexpr const char* kNoStack = "(no stack captured)";

std::string caller_label(const model::ReportEntry& e) {
  if (!e.site || e.site->functions.empty()) return kNoStack;
  if (e.site->caller >= 0) return e.site->functions[size_t(e.site->caller)];
  // Every frame is runtime (the loader mapping libraries at start-up): name the deepest.
  return "(runtime) " + e.site->functions.back();
}

std::string module_label(const model::ReportEntry& e) {
  if (!e.site || e.site->functions.empty()) return kNoStack;
  if (e.site->caller >= 0 && !e.site->modules[size_t(e.site->caller)].empty())
    return e.site->modules[size_t(e.site->caller)];
  return "(runtime)";
}

void add(ReportRow& row, const model::ReportEntry& e) {
  if (row.count == 0 || e.first_ns < row.first_ns) row.first_ns = e.first_ns;
  row.last_ns = std::max(row.last_ns, e.last_ns);
  row.count += e.count;
  row.mapped += e.mapped;
  row.inherited += e.inherited;
  row.unmapped += e.unmapped;
  row.exited += e.exited;
  row.largest = std::max(row.largest, e.largest);
}

std::string seconds(uint64_t ns) {
  return fmt::format("{:.6f}", double(ns) / 1e9);
}

}  // namespace

ReportBy parse_report_by(const std::string& text) {
  if (text == "stack") return ReportBy::kStack;
  if (text == "module") return ReportBy::kModule;
  return ReportBy::kCaller;
}

std::vector<ReportRow> report_rows(const std::vector<model::ReportEntry>& entries, ReportBy by,
                                   bool anon_only) {
  std::map<std::string, ReportRow> groups;
  for (const auto& e : entries) {
    if (e.count == 0 && e.inherited == 0) continue;
    if (anon_only && !e.anonymous) continue;
    std::string key;
    std::vector<std::string> stack;
    switch (by) {
      case ReportBy::kCaller:
        key = caller_label(e);
        break;
      case ReportBy::kModule:
        key = module_label(e);
        break;
      case ReportBy::kStack:
        if (e.site) stack = e.site->functions;
        key = caller_label(e);
        for (const auto& f : stack) key += "\n" + f;
        break;
    }
    ReportRow& row = groups[key];
    if (row.label.empty()) {
      row.label = by == ReportBy::kModule ? module_label(e) : caller_label(e);
      row.stack = std::move(stack);
    }
    add(row, e);
  }
  std::vector<ReportRow> rows;
  for (auto& [key, row] : groups) rows.push_back(std::move(row));
  std::stable_sort(rows.begin(), rows.end(), [](const ReportRow& a, const ReportRow& b) {
    if (a.live() != b.live()) return a.live() > b.live();
    if (a.mapped != b.mapped) return a.mapped > b.mapped;
    return a.label < b.label;
  });
  return rows;
}

std::string report_text(const std::vector<ReportRow>& rows, ReportBy by) {
  const char* what = by == ReportBy::kModule ? "MODULE" : "CALLER";
  std::string out = fmt::format("{:>9} {:>9} {:>9} {:>6} {:>9} {:>17} {:>17}  {}\n", "LIVE",
                                "MAPPED", "UNMAPPED", "CALLS", "LARGEST", "FIRST", "LAST", what);
  uint64_t live = 0, mapped = 0, unmapped = 0, calls = 0;
  for (const auto& r : rows) {
    out += fmt::format("{:>9} {:>9} {:>9} {:>6} {:>9} {:>17} {:>17}  {}\n", human_size(r.live()),
                       human_size(r.mapped), human_size(r.unmapped), r.count, human_size(r.largest),
                       seconds(r.first_ns), seconds(r.last_ns), r.label);
    if (by == ReportBy::kStack)
      for (const auto& f : r.stack) out += fmt::format("      at {}\n", f);
    live += r.live();
    mapped += r.mapped;
    unmapped += r.unmapped;
    calls += r.count;
  }
  out += fmt::format("{:>9} {:>9} {:>9} {:>6}  total of {} {}\n", human_size(live),
                     human_size(mapped), human_size(unmapped), calls, rows.size(),
                     by == ReportBy::kStack    ? "stacks"
                     : by == ReportBy::kModule ? "modules"
                                               : "callers");
  out +=
      "LIVE: mapped and not unmapped by any call since (memory of processes that have ended "
      "counts until their end)\n";
  return out;
}

std::string report_folded(const std::vector<ReportRow>& rows) {
  std::string out;
  for (const auto& r : rows) {
    if (r.live() == 0) continue;
    std::string line;
    for (auto it = r.stack.rbegin(); it != r.stack.rend(); ++it) {
      std::string frame = *it;
      std::replace(frame.begin(), frame.end(), ';', ':');  // ';' separates frames
      line += (line.empty() ? "" : ";") + frame;
    }
    if (line.empty()) line = r.label;
    out += fmt::format("{} {}\n", line, r.live());
  }
  return out;
}

nlohmann::json report_json(const std::vector<ReportRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows)
    out.push_back({{"label", r.label},
                   {"stack", r.stack},
                   {"calls", r.count},
                   {"mapped", r.mapped},
                   {"inherited", r.inherited},
                   {"unmapped", r.unmapped},
                   {"exited", r.exited},
                   {"live", r.live()},
                   {"largest", r.largest},
                   {"first_ns", r.first_ns},
                   {"last_ns", r.last_ns}});
  return out;
}

std::vector<ReportRow> report_rows_from_json(const nlohmann::json& rows) {
  std::vector<ReportRow> out;
  for (const auto& j : rows) {
    ReportRow r;
    r.label = j.value("label", "");
    r.stack = j.value("stack", std::vector<std::string>{});
    r.count = j.value("calls", uint64_t(0));
    r.mapped = j.value("mapped", uint64_t(0));
    r.inherited = j.value("inherited", uint64_t(0));
    r.unmapped = j.value("unmapped", uint64_t(0));
    r.exited = j.value("exited", uint64_t(0));
    r.largest = j.value("largest", uint64_t(0));
    r.first_ns = j.value("first_ns", uint64_t(0));
    r.last_ns = j.value("last_ns", uint64_t(0));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace maptrail::render
