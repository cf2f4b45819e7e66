#include "model/address_space.h"

#include <algorithm>
#include <atomic>
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

uint64_t AddressSpace::next_exec_epoch() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

bool AddressSpace::well_formed(std::span<const Vma> vmas) {
  for (size_t i = 0; i < vmas.size(); ++i) {
    if (vmas[i].start >= vmas[i].end) return false;
    if (i > 0 && vmas[i - 1].end > vmas[i].start) return false;
  }
  return true;
}

AddressSpace::AddressSpace(const AddressSpace& other) {
  *this = other;
}

AddressSpace& AddressSpace::operator=(const AddressSpace& other) {
  if (this == &other) return *this;
  vmas_.clear();
  for (const auto& [start, vma] : other.vmas_)
    vmas_.emplace_hint(vmas_.end(), start, std::make_unique<Vma>(*vma));
  exec_epoch_ = other.exec_epoch_;  // the same code at the same places
  return *this;
}

AddressSpace& AddressSpace::operator=(AddressSpace&& other) noexcept {
  if (this == &other) return *this;
  vmas_ = std::move(other.vmas_);
  exec_epoch_ = other.exec_epoch_;
  other.clear();  // left empty, so no longer the code the epoch names
  return *this;
}

bool AddressSpace::operator==(const AddressSpace& other) const {
  return std::equal(begin(), end(), other.begin(), other.end());
}

std::unique_ptr<Vma> AddressSpace::make_vma(const Vma& vma) {
  if (spare_.empty()) return std::make_unique<Vma>(vma);
  std::unique_ptr<Vma> reused = std::move(spare_.back());
  spare_.pop_back();
  *reused = vma;
  return reused;
}

AddressSpace::Carved AddressSpace::carve(uint64_t lo, uint64_t hi, bool& touched_exec) {
  // One search: the first VMA ending after lo; everything else is a walk from it.
  auto it = vmas_.upper_bound(lo);
  if (it != vmas_.begin() && std::prev(it)->second->end > lo) --it;
  if (lo >= hi) return {it, nullptr};

  if (it != vmas_.end() && it->first < lo) {
    // Starts before lo and reaches past it: keeps what lies before lo, and if it also
    // reaches past hi it is the only VMA touching the range and its tail survives.
    Vma& before = *it->second;
    touched_exec |= (before.perms & kExec) != 0;
    uint64_t end = before.end;
    before.end = lo;
    if (end > hi) {
      std::unique_ptr<Vma> tail = make_vma(tail_of(before, hi));
      tail->end = end;
      return {std::next(it), std::move(tail)};
    }
    ++it;
  }
  auto first = it;
  std::unique_ptr<Vma> tail;
  for (; it != vmas_.end() && it->first < hi; ++it) {
    touched_exec |= (it->second->perms & kExec) != 0;
    if (it->second->end > hi) {
      // Ends past hi: keeps its part from hi on, in the same allocation under a new key.
      tail = std::move(it->second);
      *tail = tail_of(*tail, hi);
      ++it;
      break;
    }
    spare_.push_back(std::move(it->second));
  }
  return {vmas_.erase(first, it), std::move(tail)};
}

std::pair<uint64_t, uint64_t> AddressSpace::window_extent(uint64_t lo, uint64_t hi,
                                                          std::span<const Vma> vmas) {
  if (!vmas.empty()) {
    lo = std::min(lo, vmas.front().start);
    hi = std::max(hi, vmas.back().end);
  }
  if (lo < hi) {
    lo = page_down(lo);
    hi = page_up(hi);
  }
  return {lo, hi};
}

bool AddressSpace::replace_window(uint64_t lo, uint64_t hi, std::span<const Vma> vmas) {
  if (!well_formed(vmas)) return false;
  auto [covered_lo, covered_hi] = window_extent(lo, hi, vmas);
  bool touched_exec = false;
  if (!replace_whole_vmas(covered_lo, covered_hi, vmas, touched_exec)) {
    auto [hint, tail] = carve(covered_lo, covered_hi, touched_exec);
    // Sorted input, all of it inside the carved range: each goes just past the one before.
    for (const Vma& vma : vmas) {
      touched_exec |= (vma.perms & kExec) != 0;
      hint = std::next(vmas_.emplace_hint(hint, vma.start, make_vma(vma)));
    }
    if (tail) {
      uint64_t start = tail->start;
      vmas_.emplace_hint(hint, start, std::move(tail));
    }
  }
  if (touched_exec) exec_epoch_ = next_exec_epoch();
  spare_.clear();
  return true;
}

bool AddressSpace::replace_whole_vmas(uint64_t lo, uint64_t hi, std::span<const Vma> vmas,
                                      bool& touched_exec) {
  if (lo >= hi) return false;
  auto it = vmas_.lower_bound(lo);
  if (it != vmas_.begin() && std::prev(it)->second->end > lo) return false;
  for (auto last = it; last != vmas_.end() && last->first < hi; ++last) {
    if (last->second->end > hi) return false;
  }
  size_t next = 0;
  while (true) {
    bool old_left = it != vmas_.end() && it->first < hi;
    bool new_left = next < vmas.size();
    if (!old_left && !new_left) break;
    if (old_left && new_left && it->first == vmas[next].start) {
      touched_exec |= ((it->second->perms | vmas[next].perms) & kExec) != 0;
      *it->second = vmas[next++];
      ++it;
    } else if (old_left && (!new_left || it->first < vmas[next].start)) {
      touched_exec |= (it->second->perms & kExec) != 0;
      spare_.push_back(std::move(it->second));
      it = vmas_.erase(it);
    } else {
      const Vma& vma = vmas[next++];
      touched_exec |= (vma.perms & kExec) != 0;
      it = std::next(vmas_.emplace_hint(it, vma.start, make_vma(vma)));
    }
  }
  return true;
}

bool AddressSpace::assign(std::vector<Vma> vmas) {
  if (!well_formed(vmas)) return false;
  vmas_.clear();
  exec_epoch_ = next_exec_epoch();
  for (Vma& vma : vmas) {
    uint64_t start = vma.start;
    vmas_.emplace_hint(vmas_.end(), start, std::make_unique<Vma>(std::move(vma)));
  }
  return true;
}

const Vma* AddressSpace::find(uint64_t addr) const {
  auto after = vmas_.upper_bound(addr);
  if (after == vmas_.begin()) return nullptr;
  const Vma& candidate = *std::prev(after)->second;
  return candidate.contains(addr) ? &candidate : nullptr;
}

std::vector<Vma> AddressSpace::in_range(uint64_t lo, uint64_t hi) const {
  std::vector<Vma> found;
  if (lo >= hi) return found;
  auto it = vmas_.upper_bound(lo);
  if (it != vmas_.begin() && std::prev(it)->second->end > lo) --it;
  for (; it != vmas_.end() && it->first < hi; ++it) found.push_back(*it->second);
  return found;
}

std::vector<Vma> AddressSpace::vmas() const {
  std::vector<Vma> all;
  all.reserve(vmas_.size());
  for (const auto& [start, vma] : vmas_) all.push_back(*vma);
  return all;
}

uint64_t AddressSpace::total_size() const {
  uint64_t total = 0;
  for (const auto& [start, vma] : vmas_) total += vma->size();
  return total;
}

}  // namespace maptrail::model
