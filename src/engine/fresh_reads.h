// Where a model's content is still, untouched since, what one read of the kernel returned,
// and when that read began. A call that returned before the read began needs no read of its
// own there: the read already shows what the call did (the call's record comes later than
// the read only because the reader is behind). Skipping that read is what keeps a reader
// that falls behind a multithreaded storm from spending its time re-reading ranges it has
// just read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

namespace maptrail::engine {

class FreshReads {
 public:
  // [lo, hi) now holds what a read that began at `began_ns` (CLOCK_MONOTONIC) returned, all
  // of every VMA it returned included.
  void read(uint64_t lo, uint64_t hi, uint64_t began_ns);
  // Something else was written over [lo, hi): every read reaching into it is forgotten
  // whole, not trimmed (what would be left of it might hold a VMA clipped at the write,
  // which the kernel never had).
  void written(uint64_t lo, uint64_t hi);
  void clear() { reads_.clear(); }
  // True when a single remembered read covers [lo, hi) and began after `after_ns`.
  bool shows(uint64_t lo, uint64_t hi, uint64_t after_ns) const;
  size_t size() const { return reads_.size(); }

  // Beyond this many remembered reads, all are forgotten: a bound on memory, costing only
  // reads that could have been skipped.
  static constexpr size_t kLimit = 4096;

 private:
  struct Read {
    uint64_t hi;
    uint64_t began_ns;
  };
  std::map<uint64_t, Read> reads_;  // by lo; no two overlap
};

}  // namespace maptrail::engine
