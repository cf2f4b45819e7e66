#include "model/address_space.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace maptrail::model {
namespace {

// The part of `vma` from `new_start` on: a backing object's offset moves with the start,
// anonymous memory keeps /proc's offset 0.
Vma tail_of(const Vma& vma, uint64_t new_start) {
  Vma tail = vma;
  if (vma.has_backing_object()) tail.offset += new_start - vma.start;
  tail.start = new_start;
  return tail;
}

uint64_t page_down(uint64_t addr) {
  return addr & ~(kMinPageSize - 1);
}

// Rounds up to a page boundary, saturating at the top of the address space.
uint64_t page_up(uint64_t addr) {
  uint64_t down = page_down(addr);
  if (down == addr) return addr;
  return down + kMinPageSize == 0 ? UINT64_MAX : down + kMinPageSize;
}

}  // namespace

bool AddressSpace::well_formed(std::span<const Vma> vmas) {
  for (size_t i = 0; i < vmas.size(); ++i) {
    if (vmas[i].start >= vmas[i].end) return false;
    if (i > 0 && vmas[i - 1].end > vmas[i].start) return false;
  }
  return true;
}

void AddressSpace::carve(uint64_t lo, uint64_t hi) {
  if (lo >= hi) return;

  // A VMA starting before lo and reaching past it loses everything from lo on; if it also
  // reaches past hi it is the only VMA touching the range and its tail survives.
  auto after_lo = vmas_.upper_bound(lo);
  if (after_lo != vmas_.begin()) {
    Vma& before = std::prev(after_lo)->second;
    if (before.start < lo && before.end > lo) {
      if (before.end > hi) {
        Vma tail = tail_of(before, hi);
        before.end = lo;
        vmas_.emplace_hint(after_lo, tail.start, std::move(tail));
        return;
      }
      before.end = lo;
    }
  }

  // A VMA starting inside [lo, hi) and ending past hi keeps its part from hi on.
  auto first_inside = vmas_.lower_bound(lo);
  auto past_inside = vmas_.lower_bound(hi);
  if (past_inside != first_inside) {
    auto last_inside = std::prev(past_inside);
    if (last_inside->second.end > hi) {
      Vma tail = tail_of(last_inside->second, hi);
      vmas_.erase(last_inside);
      past_inside = vmas_.emplace_hint(past_inside, tail.start, std::move(tail));
      first_inside = vmas_.lower_bound(lo);
    }
  }
  vmas_.erase(first_inside, past_inside);
}

bool AddressSpace::replace_window(uint64_t lo, uint64_t hi, std::span<const Vma> vmas) {
  if (!well_formed(vmas)) return false;
  uint64_t covered_lo = lo;
  uint64_t covered_hi = hi;
  if (!vmas.empty()) {
    covered_lo = std::min(lo, vmas.front().start);
    covered_hi = std::max(hi, vmas.back().end);
  }
  if (covered_lo < covered_hi) {
    covered_lo = page_down(covered_lo);
    covered_hi = page_up(covered_hi);
  }
  carve(covered_lo, covered_hi);
  auto hint = vmas_.lower_bound(covered_lo);
  for (const Vma& vma : vmas) {
    // Sorted input: each insertion lands just before the previous hint position.
    hint = std::next(vmas_.emplace_hint(hint, vma.start, vma));
  }
  return true;
}

bool AddressSpace::assign(std::vector<Vma> vmas) {
  if (!well_formed(vmas)) return false;
  vmas_.clear();
  for (Vma& vma : vmas) {
    uint64_t start = vma.start;
    vmas_.emplace_hint(vmas_.end(), start, std::move(vma));
  }
  return true;
}

const Vma* AddressSpace::find(uint64_t addr) const {
  auto after = vmas_.upper_bound(addr);
  if (after == vmas_.begin()) return nullptr;
  const Vma& candidate = std::prev(after)->second;
  return candidate.contains(addr) ? &candidate : nullptr;
}

std::vector<Vma> AddressSpace::in_range(uint64_t lo, uint64_t hi) const {
  std::vector<Vma> found;
  if (lo >= hi) return found;
  auto it = vmas_.upper_bound(lo);
  if (it != vmas_.begin() && std::prev(it)->second.end > lo) --it;
  for (; it != vmas_.end() && it->second.start < hi; ++it) found.push_back(it->second);
  return found;
}

std::vector<Vma> AddressSpace::vmas() const {
  std::vector<Vma> all;
  all.reserve(vmas_.size());
  for (const auto& [start, vma] : vmas_) all.push_back(vma);
  return all;
}

uint64_t AddressSpace::total_size() const {
  uint64_t total = 0;
  for (const auto& [start, vma] : vmas_) total += vma.size();
  return total;
}

}  // namespace maptrail::model
