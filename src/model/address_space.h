// The VMAs of one mm_struct as an ordered interval map, updated by replacing windows with
// what the kernel reported (DESIGN.md principle 1), never by emulating mmap/mprotect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>

#include "model/vma.h"

namespace maptrail::model {

class AddressSpace {
  // Keyed by Vma::start. A B-tree of small slots: a lookup in 65,530 VMAs follows 4 or 5
  // nodes where a red-black tree follows 17 (each one a cache miss once the space outgrows
  // L2), and a Vma kept in place of the pointer would leave 2 slots per node.
  using Map = absl::btree_map<uint64_t, std::unique_ptr<Vma>>;

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
    reference operator*() const { return *it_->second; }
    pointer operator->() const { return it_->second.get(); }
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

  AddressSpace() = default;
  AddressSpace(const AddressSpace& other);
  AddressSpace& operator=(const AddressSpace& other);
  AddressSpace(AddressSpace&& other) noexcept { *this = std::move(other); }
  AddressSpace& operator=(AddressSpace&& other) noexcept;

  // "After a syscall the VMAs intersecting [lo, hi) are exactly `vmas`." The vmas may
  // extend beyond [lo, hi); the replaced range is that union, widened to whole 4 KiB pages
  // (a byte of [lo, hi) that no VMA covers means its whole page is unmapped, and clipping
  // a stale VMA mid-page would give a VMA the kernel can never have). Existing VMAs inside
  // it are dropped, VMAs straddling its ends keep only their part outside it, then `vmas`
  // go in. Applying the same window twice leaves the same state. Returns false, changing
  // nothing, when `vmas` is not well_formed (a corrupt event must not corrupt the model).
  bool replace_window(uint64_t lo, uint64_t hi, std::span<const Vma> vmas);
  // The range replace_window(lo, hi, vmas) replaces (empty when lo >= hi and no VMAs).
  static std::pair<uint64_t, uint64_t> window_extent(uint64_t lo, uint64_t hi,
                                                     std::span<const Vma> vmas);

  void clear() {
    vmas_.clear();
    exec_epoch_ = next_exec_epoch();
  }
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

  // Names the executable VMAs as they are: it changes, to a value no address space in this
  // process has had, whenever a change might have added, removed or altered one. Two spaces
  // with equal epochs map the same code at the same addresses, so what was learned about a
  // return address (its module, unwind rule, symbol) holds for both. Never 0.
  uint64_t exec_epoch() const { return exec_epoch_; }

  bool operator==(const AddressSpace& other) const;

 private:
  // Leaves nothing of the model inside [lo, hi): VMAs straddling an end are clipped, and
  // the VMAs removed go to spare_. Returns the position past the carved range and the tail
  // cut from a VMA that reached past hi, for the caller to insert after the window's VMAs
  // (a B-tree insert moves every iterator, so nothing is inserted here).
  struct Carved {
    Map::iterator next;
    std::unique_ptr<Vma> tail;
  };
  // Sets touched_exec when it clips or removes an executable VMA.
  Carved carve(uint64_t lo, uint64_t hi, bool& touched_exec);
  // When no VMA reaches into [lo, hi) from outside it (the common case: a window reports
  // whole VMAs), replaces the VMAs there with `vmas` walking both in address order: a VMA
  // whose start is kept is overwritten in place, so only added or removed starts cost a
  // B-tree insert or erase. Returns false, changing nothing, when a VMA straddles lo or hi.
  bool replace_whole_vmas(uint64_t lo, uint64_t hi, std::span<const Vma> vmas, bool& touched_exec);
  // A VMA equal to `vma`, in an allocation from spare_ when there is one: a window
  // replaces VMAs with about as many, and a reused Vma's name keeps its capacity.
  std::unique_ptr<Vma> make_vma(const Vma& vma);

  static uint64_t next_exec_epoch();

  Map vmas_;
  uint64_t exec_epoch_ = next_exec_epoch();
  // Scratch space between carve and the inserts of one window; a copy starts empty.
  std::vector<std::unique_ptr<Vma>> spare_;
};

}  // namespace maptrail::model
