// The VMAs of one mm_struct as an ordered interval map, updated by replacing windows with
// what the kernel reported (DESIGN.md principle 1), never by emulating mmap/mprotect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <span>
#include <vector>

#include "model/vma.h"

namespace maptrail::model {

class AddressSpace {
  using Map = std::map<uint64_t, Vma>;  // keyed by Vma::start

 public:
  // Iterates the VMAs (not the map's pairs) in address order.
  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = Vma;
    using difference_type = std::ptrdiff_t;
    using pointer = const Vma*;
    using reference = const Vma&;

    const_iterator() = default;
    explicit const_iterator(Map::const_iterator it) : it_(it) {}
    reference operator*() const { return it_->second; }
    pointer operator->() const { return &it_->second; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) { return const_iterator(it_++); }
    const_iterator& operator--() {
      --it_;
      return *this;
    }
    const_iterator operator--(int) { return const_iterator(it_--); }
    bool operator==(const const_iterator&) const = default;

   private:
    Map::const_iterator it_;
  };

  // True when `vmas` is a usable window report: every VMA non-empty, sorted by start,
  // no two overlapping.
  static bool well_formed(std::span<const Vma> vmas);

  // "After a syscall the VMAs intersecting [lo, hi) are exactly `vmas`." The vmas may
  // extend beyond [lo, hi); the replaced range is that union, widened to whole 4 KiB pages
  // (a byte of [lo, hi) that no VMA covers means its whole page is unmapped, and clipping
  // a stale VMA mid-page would give a VMA the kernel can never have). Existing VMAs inside
  // it are dropped, VMAs straddling its ends keep only their part outside it, then `vmas`
  // go in. Applying the same window twice leaves the same state. Returns false, changing
  // nothing, when `vmas` is not well_formed (a corrupt event must not corrupt the model).
  bool replace_window(uint64_t lo, uint64_t hi, std::span<const Vma> vmas);

  void clear() { vmas_.clear(); }
  // Replaces the whole content (a seed from /proc or PROCMAP_QUERY). Returns false,
  // changing nothing, when `vmas` is not well_formed.
  bool assign(std::vector<Vma> vmas);

  // The VMA containing addr, or nullptr. The pointer is valid until the next change.
  const Vma* find(uint64_t addr) const;
  // The VMAs intersecting [lo, hi), in address order.
  std::vector<Vma> in_range(uint64_t lo, uint64_t hi) const;

  size_t size() const { return vmas_.size(); }
  bool empty() const { return vmas_.empty(); }
  const_iterator begin() const { return const_iterator(vmas_.begin()); }
  const_iterator end() const { return const_iterator(vmas_.end()); }
  std::vector<Vma> vmas() const;

  // Sum of VMA sizes, i.e. what pmap calls the total and ps calls VSZ.
  uint64_t total_size() const;

  bool operator==(const AddressSpace& other) const { return vmas_ == other.vmas_; }

 private:
  // Leaves nothing of the model inside [lo, hi): VMAs straddling an end are clipped. Returns
  // the position just past the carved range; the nodes of removed VMAs go to spare_.
  Map::iterator carve(uint64_t lo, uint64_t hi);

  Map vmas_;
  // Map nodes freed by the last carve, reused by the inserts that follow it: a window
  // replaces VMAs with about as many, and a node's name keeps its allocation. Scratch
  // space: a copy of the address space starts without any.
  struct SpareNodes : std::vector<Map::node_type> {
    SpareNodes() = default;
    SpareNodes(const SpareNodes&) : std::vector<Map::node_type>() {}
    SpareNodes& operator=(const SpareNodes&) { return *this; }
    SpareNodes(SpareNodes&&) = default;
    SpareNodes& operator=(SpareNodes&&) = default;
  };
  SpareNodes spare_;
};

}  // namespace maptrail::model
