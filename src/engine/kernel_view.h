// What the engine reads from the running system: whole layouts (/proc/PID/maps) and exact
// ranges (PROCMAP_QUERY). Behind an interface so the engine's logic is tested without /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "model/vma.h"
#include "procfs/procmap_query.h"
#include "util/result.h"

namespace maptrail::engine {

class KernelView {
 public:
  virtual ~KernelView() = default;
  virtual Result<std::vector<model::Vma>> read_maps(pid_t pid) = 0;
  // The VMAs intersecting [lo, hi) now.
  virtual Result<std::vector<model::Vma>> read_range(pid_t pid, uint64_t lo, uint64_t hi) = 0;
  // The architecture's gate area ([vsyscall] on x86-64) as /proc prints it, if any.
  virtual std::optional<model::Vma> gate_vma() { return std::nullopt; }
  // The process exec'd or exited: drop what is cached for it.
  virtual void forget(pid_t) {}
  // CLOCK_MONOTONIC, the clock of the records' timestamps: a read that begins after a
  // record's exit_ns shows what its call did.
  virtual uint64_t monotonic_ns();
};

// The real thing: /proc/PID/maps, and PROCMAP_QUERY (kernel 6.11+) on a descriptor kept per
// process, falling back to filtering a full read on older kernels.
class ProcKernelView : public KernelView {
 public:
  Result<std::vector<model::Vma>> read_maps(pid_t pid) override;
  Result<std::vector<model::Vma>> read_range(pid_t pid, uint64_t lo, uint64_t hi) override;
  void forget(pid_t pid) override { queries_.erase(pid); }
  std::optional<model::Vma> gate_vma() override { return procfs::system_gate_vma(); }

 private:
  std::map<pid_t, procfs::MapsQuery> queries_;
};

}  // namespace maptrail::engine
