// Who made each page of an address space, and who changed it last (DESIGN.md principle 5).
// Kept apart from the VMAs, by page range, so it survives the kernel merging and splitting
// VMAs: a merged [heap] still knows which brk created which part, and memory that mremap
// moved keeps the origin of the mmap that made it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/call_site.h"

namespace maptrail::model {

// One change, as much as provenance needs to name it.
struct Origin {
  uint64_t time_ns = 0;
  uint32_t pid = 0, tid = 0;
  std::string call;                      // "mmap", "brk", "mremap", "exec"
  std::shared_ptr<const CallSite> site;  // the stack of the call, when one was captured
  uint32_t report_key = UINT32_MAX;      // its entry in the engine's ReportBook
  bool inherited = false;                // a fork child's copy of another process's pages

  std::string caller() const { return site ? site->caller_frame() : ""; }
};

class Provenance {
 public:
  struct Span {
    uint64_t lo, hi;
    std::shared_ptr<const Origin> created;  // null: present before tracing began
    std::shared_ptr<const Origin> last;     // the last change to these pages
  };

  // Pages [lo, hi) were mapped by `by` (mmap, brk growth, shmat, the new part of mremap).
  // Returns the spans it replaced (a MAP_FIXED mapping over others unmaps them).
  std::vector<Span> created(uint64_t lo, uint64_t hi, std::shared_ptr<const Origin> by);
  // Pages [lo, hi) that exist were changed (mprotect, madvise, mlock...).
  void changed(uint64_t lo, uint64_t hi, std::shared_ptr<const Origin> by);
  // Pages [lo, hi) were unmapped; returns the spans that were there.
  std::vector<Span> removed(uint64_t lo, uint64_t hi);
  // mremap moved `length` bytes from `from` to `to`: they keep who created them. Returns
  // the spans the move replaced at the destination.
  std::vector<Span> moved(uint64_t from, uint64_t to, uint64_t length,
                          std::shared_ptr<const Origin> by);
  // Pages known from a /proc seed, with no origin of their own.
  void seeded(uint64_t lo, uint64_t hi);
  void clear() { spans_.clear(); }
  // Replaces every span's creator by what `f` returns for it (a fork child marks its copies).
  void replace_creators(
      const std::function<std::shared_ptr<const Origin>(const std::shared_ptr<const Origin>&)>& f);

  // The spans intersecting [lo, hi), clipped to it, in address order.
  std::vector<Span> in_range(uint64_t lo, uint64_t hi) const;
  std::vector<Span> all() const { return in_range(0, ~0ull); }
  size_t size() const { return spans_.size(); }

 private:
  struct Entry {
    uint64_t hi;
    std::shared_ptr<const Origin> created, last;
  };
  // Splits any span crossing `at` so that `at` is a boundary.
  void split_at(uint64_t at);
  void coalesce_around(uint64_t lo, uint64_t hi);

  std::map<uint64_t, Entry> spans_;  // keyed by lo; non-overlapping
};

}  // namespace maptrail::model
