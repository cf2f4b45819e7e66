#include "model/report_book.h"

#include <algorithm>

namespace maptrail::model {

uint32_t ReportBook::key_for(const std::shared_ptr<const CallSite>& site, bool anonymous) {
  std::vector<std::string> functions = site ? site->functions : std::vector<std::string>{};
  auto [it, inserted] = keys_.try_emplace({std::move(functions), anonymous}, entries_.size());
  if (inserted) {
    ReportEntry entry;
    entry.site = site;
    entry.anonymous = anonymous;
    entries_.push_back(std::move(entry));
  }
  return it->second;
}

void ReportBook::mapped(uint32_t key, uint64_t bytes, uint64_t time_ns) {
  ReportEntry* e = at(key);
  if (!e || bytes == 0) return;
  if (e->count == 0 || time_ns < e->first_ns) e->first_ns = time_ns;
  e->last_ns = std::max(e->last_ns, time_ns);
  e->count++;
  e->mapped += bytes;
  e->largest = std::max(e->largest, bytes);
}

void ReportBook::inherited(uint32_t key, uint64_t bytes) {
  if (ReportEntry* e = at(key)) e->inherited += bytes;
}

void ReportBook::unmapped(uint32_t key, uint64_t bytes) {
  if (ReportEntry* e = at(key)) e->unmapped += bytes;
}

void ReportBook::exited(uint32_t key, uint64_t bytes) {
  if (ReportEntry* e = at(key)) e->exited += bytes;
}

}  // namespace maptrail::model
