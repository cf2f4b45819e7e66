// What is known about one address of a process, cached by (exec epoch, address): the
// unwinder keeps each return address's rule here, the symbolizer its names. A warm frame
// then reads one slot instead of walking the model's B-tree and the modules' hash tables,
// which the traced program evicts from the CPU caches between two wake-ups of the reader.
// An epoch names a set of executable mappings (model::AddressSpace::exec_epoch), so a slot
// can never answer for code that has since been unmapped or replaced.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace maptrail::symbolize {

template <class Value, size_t kSlots>
class AddressCache {
  static_assert(std::has_single_bit(kSlots));

 public:
  struct Slot {
    uint64_t epoch = 0;  // 0: empty (epochs start at 1)
    uint64_t addr = 0;
    Value value{};
    bool holds(uint64_t e, uint64_t a) const { return epoch == e && addr == a; }
  };

  // The one slot (epoch, addr) may occupy: direct-mapped, so a collision replaces what
  // was there. The caller checks holds() and, on a miss, fills the whole slot.
  Slot& slot_for(uint64_t epoch, uint64_t addr) {
    if (slots_.empty()) slots_.resize(kSlots);  // allocated once used
    uint64_t hash = (addr ^ (epoch << 40)) * 0x9e3779b97f4a7c15ull;
    return slots_[hash >> (64 - std::countr_zero(kSlots))];
  }

  void clear() { slots_.assign(slots_.size(), Slot{}); }

 private:
  std::vector<Slot> slots_;
};

}  // namespace maptrail::symbolize
