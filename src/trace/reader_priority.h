// The scheduling of the thread that empties the kernel's ring buffer. It is the one thread
// whose lateness loses records: while it waits for a CPU the ring fills, and at 400,000
// calls/s with stacks 16 MiB last ~90 ms. Behind a storm on every core it shared the CPUs
// with the workload's threads and the consumer at equal weight and waited ~100 ms of a
// 0.4 s storm in the run queue; 2 of 40 such runs lost records. Raised to a better nice
// value it waited ~15 ms and lost none in 90. It is raised only under pressure (a pass that
// found at least the wake-up mark of records) and gives the priority back after a quiet
// second, so a JVM starting beside a light trace never meets a reader ahead of its threads.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace maptrail::trace {

class ReaderPriority {
 public:
  static constexpr int kRaiseBy = 10;  // nice steps; weight 1024 -> 9548 at nice 0
  static constexpr std::chrono::milliseconds kQuiet{1000};

  // On the reader's thread, once: remembers its nice value. The rest may be read anywhere.
  void adopt_current_thread();
  // On the reader's thread, after each pass over the ring.
  void after_pass(bool pressed, std::chrono::steady_clock::time_point now);

  pid_t tid() const { return tid_; }
  bool raised() const { return raised_; }
  uint64_t raises() const { return raises_; }

 private:
  std::atomic<pid_t> tid_{0};
  int own_nice_ = 0;
  std::atomic<bool> raised_{false};
  bool can_raise_ = true;  // false after the kernel refused (no CAP_SYS_NICE)
  std::atomic<uint64_t> raises_{0};
  std::chrono::steady_clock::time_point last_pressed_{};
};

}  // namespace maptrail::trace
