// The priority of the thread that handles a Tracer's events. While it keeps up it runs
// niced, so that on a machine whose cores the traced program wants (a JVM starting on every
// core) it does not preempt the program's threads: its work can wait in the backlog. Once
// the backlog grows past a mark, the reader thread gives it back the priority it started
// with, so politeness never costs a record.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace maptrail::trace {

class ConsumerPriority {
 public:
  ConsumerPriority() = default;
  ~ConsumerPriority() { raise(); }  // the thread outlives its tracer: give it back as it was
  ConsumerPriority(const ConsumerPriority&) = delete;
  ConsumerPriority& operator=(const ConsumerPriority&) = delete;

  // On the consumer's thread, once: remembers it and its nice value, then lowers it to
  // polite_nice (1..19; 0: leave it alone). Does nothing when it could not be raised again
  // (no CAP_SYS_NICE): a consumer stuck at a low priority could fall behind for good.
  void adopt_current_thread(int polite_nice);
  // From any thread: back to the consumer's own priority, if it is lowered.
  void raise();
  // On the consumer's thread: niced again, if it was raised.
  void lower();

  bool active() const { return tid_ != 0; }
  bool lowered() const { return lowered_; }
  uint64_t raises() const { return raises_; }

 private:
  int polite_nice_ = 0;
  pid_t tid_ = 0;
  int own_nice_ = 0;
  std::atomic<bool> lowered_{false};
  std::atomic<uint64_t> raises_{0};
};

// True if this process may lower a thread's nice value (CAP_SYS_NICE in its effective set).
bool can_raise_priority();

}  // namespace maptrail::trace
