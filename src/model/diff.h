// Compares the model of an address space with what the kernel shows (verify / reconcile).
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "model/address_space.h"
#include "model/vma.h"

namespace maptrail::model {

struct Difference {
  enum Kind {
    kMissing,  // the kernel has this VMA, the model does not: only `kernel` is set
    kExtra,    // the model has this VMA, the kernel does not: only `model` is set
    kChanged,  // both start at the same address but differ in a /proc field: both set
  } kind;
  std::optional<Vma> model, kernel;
};

// Differences between `model` and `kernel` (e.g. read_maps output), in address order.
// VMAs are paired by start address and compared with same_as_proc, so a model VMA that
// the kernel has split shows as one kChanged (the shared start) plus kMissing pieces.
// Empty result means the model is exact. `kernel` need not be sorted.
std::vector<Difference> diff(const AddressSpace& model, std::span<const Vma> kernel);

}  // namespace maptrail::model
