// Exact reads of one address range through the PROCMAP_QUERY ioctl on /proc/PID/maps
// (Linux 6.11+): microseconds per VMA instead of formatting and parsing the whole file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "model/vma.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace maptrail::procfs {

class MapsQuery {
 public:
  // Opens /proc/PID/maps. The descriptor stays bound to the address space the process had
  // at this moment: after the process execs or exits, queries fail with ESRCH.
  static Result<MapsQuery> open(pid_t pid);

  // Whether this kernel has PROCMAP_QUERY (probed once on /proc/self/maps).
  static bool supported();

  // The VMAs intersecting [lo, hi), each field as /proc/PID/maps prints it, so the result
  // equals the read_maps() lines of that range. That includes the x86-64 "[vsyscall]" gate
  // area, which is not in the mm's VMA tree and which the ioctl therefore never returns.
  // Each VMA is a separate query: a process changing its mappings meanwhile can be seen
  // partly before and partly after the change, but never as two VMAs overlapping (a VMA
  // read later that reaches below one read before replaces what it overlaps).
  // Errors: ENOTTY (kernel older than 6.11), ESRCH (the process exited or exec'd).
  Result<std::vector<model::Vma>> range(uint64_t lo, uint64_t hi);

  // The VMA containing addr, else the first one above it; nullopt when there is none.
  // Never returns the gate area.
  Result<std::optional<model::Vma>> covering_or_next(uint64_t addr);

  pid_t pid() const { return pid_; }

 private:
  MapsQuery(pid_t pid, UniqueFd maps_fd) : pid_(pid), maps_fd_(std::move(maps_fd)) {}

  // Whether this address space is a native 64-bit one, which the kernel gives a gate area.
  Result<bool> has_gate_area();

  pid_t pid_ = 0;
  UniqueFd maps_fd_;
  std::vector<char> name_buffer_;
  std::optional<bool> has_gate_area_;
};

// The gate area every native 64-bit process on this machine shows as its last maps line
// ("[vsyscall]" on x86-64 unless vsyscall=none), learned from /proc/self/maps once.
std::optional<model::Vma> system_gate_vma();

}  // namespace maptrail::procfs
