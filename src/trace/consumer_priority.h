// The scheduling of the thread that handles a Tracer's events. While it keeps up it runs as
// SCHED_IDLE: its work can wait in the backlog, and the scheduler then treats its core as
// idle when it places a waking thread, so the traced program's threads (a JVM starting on
// every core) go there at once instead of queueing behind each other; a nice value alone
// did not measurably help. Once the backlog grows past a mark, the reader thread gives it
// back the policy it started with, so politeness never costs a record.
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

  // On the consumer's thread, once: remembers it and its policy, then lowers it. Does
  // nothing unless it runs as SCHED_OTHER or SCHED_BATCH (a real-time consumer was asked
  // for) and could be given its policy back (CAP_SYS_NICE): a consumer stuck idle could
  // fall behind for good.
  void adopt_current_thread();
  // From any thread: back to the consumer's own policy, if it is lowered.
  void raise();
  // On the consumer's thread: idle again, if it was raised.
  void lower();

  bool lowered() const { return lowered_; }
  uint64_t raises() const { return raises_; }

 private:
  pid_t tid_ = 0;
  int own_policy_ = 0;
  std::atomic<bool> lowered_{false};
  std::atomic<uint64_t> raises_{0};
};

}  // namespace maptrail::trace
