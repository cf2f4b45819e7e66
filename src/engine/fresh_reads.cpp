#include "engine/fresh_reads.h"

#include <iterator>

namespace maptrail::engine {

void FreshReads::read(uint64_t lo, uint64_t hi, uint64_t began_ns) {
  if (lo >= hi) return;
  written(lo, hi);
  if (reads_.size() >= kLimit) reads_.clear();
  reads_.emplace(lo, Read{hi, began_ns});
}

void FreshReads::written(uint64_t lo, uint64_t hi) {
  if (reads_.empty() || lo >= hi) return;
  auto it = reads_.upper_bound(lo);
  if (it != reads_.begin() && std::prev(it)->second.hi > lo) --it;
  while (it != reads_.end() && it->first < hi) it = reads_.erase(it);
}

bool FreshReads::shows(uint64_t lo, uint64_t hi, uint64_t after_ns) const {
  if (lo >= hi) return true;  // an empty range: nothing to read
  auto it = reads_.upper_bound(lo);
  if (it == reads_.begin()) return false;
  --it;
  return it->second.hi >= hi && it->second.began_ns > after_ns;
}

}  // namespace maptrail::engine
