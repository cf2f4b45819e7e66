#include "model/diff.h"

#include <algorithm>

namespace maptrail::model {

std::vector<Difference> diff(const AddressSpace& model, std::span<const Vma> kernel) {
  std::vector<Vma> sorted_copy;
  auto by_start = [](const Vma& a, const Vma& b) { return a.start < b.start; };
  if (!std::is_sorted(kernel.begin(), kernel.end(), by_start)) {
    sorted_copy.assign(kernel.begin(), kernel.end());
    std::stable_sort(sorted_copy.begin(), sorted_copy.end(), by_start);
    kernel = sorted_copy;
  }

  std::vector<Difference> differences;
  auto model_it = model.begin();
  size_t kernel_index = 0;
  while (model_it != model.end() || kernel_index < kernel.size()) {
    const bool model_left = model_it != model.end();
    const bool kernel_left = kernel_index < kernel.size();
    if (model_left && (!kernel_left || model_it->start < kernel[kernel_index].start)) {
      differences.push_back({Difference::kExtra, *model_it, std::nullopt});
      ++model_it;
    } else if (kernel_left && (!model_left || kernel[kernel_index].start < model_it->start)) {
      differences.push_back({Difference::kMissing, std::nullopt, kernel[kernel_index]});
      ++kernel_index;
    } else {
      if (!same_as_proc(*model_it, kernel[kernel_index])) {
        differences.push_back({Difference::kChanged, *model_it, kernel[kernel_index]});
      }
      ++model_it;
      ++kernel_index;
    }
  }
  return differences;
}

}  // namespace maptrail::model
