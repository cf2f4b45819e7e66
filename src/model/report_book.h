// What `maptrail report` aggregates: for each distinct call site (whole stack, anonymous or
// not), how many mappings it made, how many bytes, and what became of them: unmapped by a
// later call, or still mapped ("live": mapped and not unmapped by any call, including pages
// still mapped when their process ended, which `exited` tells apart). Fed by the engine
// from the provenance of each page, so bytes unmapped by anyone are charged to the call that
// created them, through merges, splits and mremap moves. A fork child's copies are counted
// apart (`inherited`) and never charged: the parent's pages are the ones that count.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/call_site.h"

namespace maptrail::model {

struct ReportEntry {
  std::shared_ptr<const CallSite> site;  // the first event's: all of this key share the stack
  bool anonymous = false;
  uint64_t count = 0;      // calls that mapped memory
  uint64_t mapped = 0;     // bytes those calls mapped
  uint64_t inherited = 0;  // bytes fork children got a copy of (not in `live`)
  uint64_t unmapped = 0;   // bytes unmapped later, by any call (munmap, MAP_FIXED over, ...)
  uint64_t exited = 0;     // bytes still mapped when their address space ended
  uint64_t largest = 0;    // the biggest single mapping
  uint64_t first_ns = 0, last_ns = 0;  // CLOCK_MONOTONIC of the first and last mapping

  uint64_t live() const { return mapped > unmapped ? mapped - unmapped : 0; }
};

class ReportBook {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // The entry for a call site (created on first use). A null site (no stack captured)
  // has an entry of its own.
  uint32_t key_for(const std::shared_ptr<const CallSite>& site, bool anonymous);

  void mapped(uint32_t key, uint64_t bytes, uint64_t time_ns);
  void inherited(uint32_t key, uint64_t bytes);
  void unmapped(uint32_t key, uint64_t bytes);
  void exited(uint32_t key, uint64_t bytes);

  const std::vector<ReportEntry>& entries() const { return entries_; }

 private:
  ReportEntry* at(uint32_t key) { return key < entries_.size() ? &entries_[key] : nullptr; }
  std::map<std::pair<std::vector<std::string>, bool>, uint32_t> keys_;
  std::vector<ReportEntry> entries_;
};

}  // namespace maptrail::model
