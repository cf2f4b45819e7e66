#include "engine/kernel_view.h"

#include <time.h>

#include "procfs/maps.h"

namespace maptrail::engine {

uint64_t KernelView::monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return uint64_t(now.tv_sec) * 1000000000ull + uint64_t(now.tv_nsec);
}

Result<std::vector<model::Vma>> ProcKernelView::read_maps(pid_t pid) {
  return procfs::read_maps(pid);
}

Result<std::vector<model::Vma>> ProcKernelView::read_range(pid_t pid, uint64_t lo, uint64_t hi) {
  if (!procfs::MapsQuery::supported()) {
    auto all = procfs::read_maps(pid);
    if (!all) return all.error();
    std::vector<model::Vma> in_range;
    for (auto& v : *all)
      if (v.intersects(lo, hi)) in_range.push_back(std::move(v));
    return in_range;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    auto it = queries_.find(pid);
    if (it == queries_.end()) {
      auto opened = procfs::MapsQuery::open(pid);
      if (!opened) return opened.error();
      it = queries_.emplace(pid, std::move(*opened)).first;
    }
    auto result = it->second.range(lo, hi);
    // ESRCH: the descriptor belongs to the image before an exec; a new one may work.
    if (result.ok() || result.error().err != ESRCH) return result;
    queries_.erase(it);
  }
  return Error{ESRCH, "process " + std::to_string(pid) + " exited"};
}

}  // namespace maptrail::engine
