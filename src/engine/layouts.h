// The address-space layouts of traced processes, kept by mm and updated from each event's
// window. This is what symbolization and filters consult; the verified model with history
// builds on it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <unordered_map>

#include "event/event.h"
#include "model/address_space.h"

namespace maptrail::engine {

class Layouts {
 public:
  // Applies a lifecycle or syscall event. A space seen for the first time is seeded from
  // /proc/PID/maps (when the process still exists) before its window is applied.
  void apply(const event::Event& e);

  // The layout of an mm before the event being handled (call before apply()).
  const model::AddressSpace* find(uint64_t mm) const;
  // Seeds mm from /proc/PID/maps now if it has not been seen yet.
  const model::AddressSpace* find_or_seed(uint64_t mm, pid_t pid);

  size_t size() const { return spaces_.size(); }
  uint64_t windows_applied() const { return windows_applied_; }
  uint64_t windows_incomplete() const { return windows_incomplete_; }

 private:
  model::AddressSpace& space_for(uint64_t mm, pid_t pid);

  std::unordered_map<uint64_t, model::AddressSpace> spaces_;
  uint64_t windows_applied_ = 0;
  uint64_t windows_incomplete_ = 0;
};

}  // namespace maptrail::engine
