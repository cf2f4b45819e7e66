// The bounded history of the changes made to one address space: what `maptrail history`
// shows. Oldest entries go first when the limit is reached, and are counted.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "model/call_site.h"

namespace maptrail::model {

struct Change {
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC at the call's entry
  uint64_t latency_ns = 0;
  uint32_t pid = 0, tid = 0;
  std::string comm;
  std::string call;  // the syscall or lifecycle event name: "mmap", "exec"
  std::array<uint64_t, 6> args{};
  int64_t ret = 0;
  std::string file;                                   // mmap of a file: its path
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [lo, hi) the change covered
  std::shared_ptr<const CallSite> site;               // the stack, when one was captured
};

class History {
 public:
  explicit History(size_t max_entries = 10000) : max_entries_(max_entries) {}

  void add(Change change);
  // The changes whose ranges intersect [lo, hi), oldest first.
  std::vector<const Change*> touching(uint64_t lo, uint64_t hi) const;
  size_t size() const { return changes_.size(); }
  uint64_t dropped() const { return dropped_; }
  size_t max_entries() const { return max_entries_; }

 private:
  size_t max_entries_;
  std::deque<Change> changes_;
  uint64_t dropped_ = 0;
};

}  // namespace maptrail::model
