#include "model/history.h"

namespace maptrail::model {

void History::add(Change change) {
  if (max_entries_ == 0) {
    dropped_++;
    return;
  }
  if (changes_.size() == max_entries_) {
    changes_.pop_front();
    dropped_++;
  }
  changes_.push_back(std::move(change));
}

std::vector<const Change*> History::touching(uint64_t lo, uint64_t hi) const {
  std::vector<const Change*> out;
  for (const auto& c : changes_) {
    for (const auto& [r_lo, r_hi] : c.ranges) {
      if (r_lo < hi && lo < r_hi) {
        out.push_back(&c);
        break;
      }
    }
  }
  return out;
}

}  // namespace maptrail::model
