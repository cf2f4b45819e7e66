// `maptrail report`: mappings aggregated by caller, by whole stack or by module, sorted by
// the bytes still live; the same rows as text, JSON (the daemon's answer) or folded stacks
// for flame-graph tools (one "outermost;...;innermost BYTES" line per stack).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/report_book.h"

namespace maptrail::render {

enum class ReportBy { kCaller, kStack, kModule };

struct ReportRow {
  std::string label;               // the caller, the module, or the caller of the stack
  std::vector<std::string> stack;  // by stack: the functions, innermost first
  uint64_t count = 0, mapped = 0, inherited = 0, unmapped = 0, exited = 0, largest = 0;
  uint64_t first_ns = 0, last_ns = 0;
  uint64_t live() const { return mapped > unmapped ? mapped - unmapped : 0; }
};

// Groups the book's entries; sorted by live bytes, then bytes mapped, then label.
std::vector<ReportRow> report_rows(const std::vector<model::ReportEntry>& entries, ReportBy by,
                                   bool anon_only);

std::string report_text(const std::vector<ReportRow>& rows, ReportBy by);
// Rows grouped by stack; stacks without live bytes are left out (a flame graph of zero).
std::string report_folded(const std::vector<ReportRow>& rows);

nlohmann::json report_json(const std::vector<ReportRow>& rows);
std::vector<ReportRow> report_rows_from_json(const nlohmann::json& rows);

ReportBy parse_report_by(const std::string& text);  // "caller", "stack", "module"

}  // namespace maptrail::render
