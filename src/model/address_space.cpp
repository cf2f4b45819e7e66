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

AddressSpace::Map::iterator AddressSpace::carve(uint64_t lo, uint64_t hi) {
  // One search: the first VMA ending after lo; everything else is a walk from it.
  auto it = vmas_.upper_bound(lo);
  if (it != vmas_.begin() && std::prev(it)->second.end > lo) --it;
  if (lo >= hi) return it;

  if (it != vmas_.end() && it->second.start < lo) {
    // Starts before lo and reaches past it: keeps what lies before lo, and if it also
    // reaches past hi it is the only VMA touching the range and its tail survives.
    Vma& before = it->second;
    uint64_t end = before.end;
    before.end = lo;
    ++it;
    if (end > hi) {
      Vma tail = tail_of(before, hi);
      tail.end = end;
      return vmas_.emplace_hint(it, tail.start, std::move(tail));
    }
  }
  while (it != vmas_.end() && it->second.start < hi) {
    auto next = std::next(it);
    if (it->second.end > hi) {
      // Ends past hi: keeps its part from hi on (same node, new key).
      auto node = vmas_.extract(it);
      node.mapped() = tail_of(node.mapped(), hi);
      node.key() = hi;
      return vmas_.insert(next, std::move(node));
    }
    spare_.push_back(vmas_.extract(it));
    it = next;
  }
  return it;
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
  auto hint = carve(covered_lo, covered_hi);
  // Sorted input: each one goes just before the position past the carved range.
  for (const Vma& vma : vmas) {
    if (!spare_.empty()) {
      auto node = std::move(spare_.back());
      spare_.pop_back();
      node.key() = vma.start;
      node.mapped() = vma;
      vmas_.insert(hint, std::move(node));
    } else {
      vmas_.emplace_hint(hint, vma.start, vma);
    }
  }
  spare_.clear();
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
