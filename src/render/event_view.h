// What the log renderers need to print one event: the event itself, its resolved stack,
// context only user space knows (fd path), and the trace's clock.
#pragma once

#include <cstdint>
#include <string>

#include "event/event.h"
#include "symbolize/stack.h"

namespace maptrail::render {

// Kernel timestamps are CLOCK_MONOTONIC; the wall-clock offset is taken once at start.
struct TraceClock {
  uint64_t start_monotonic_ns = 0;
  int64_t realtime_minus_monotonic_ns = 0;

  static TraceClock now();
  uint64_t wall_ns(uint64_t monotonic_ns) const {
    return monotonic_ns + realtime_minus_monotonic_ns;
  }
  double seconds_since_start(uint64_t monotonic_ns) const {
    return monotonic_ns >= start_monotonic_ns ? (monotonic_ns - start_monotonic_ns) / 1e9
                                              : -((start_monotonic_ns - monotonic_ns) / 1e9);
  }
};

struct EventView {
  const event::Event& event;
  const symbolize::Stack& stack;
  std::string fd_path;  // mmap with a file: the path behind fd, when known
};

// "2026-11-22T01:58:12.123456789Z"
std::string rfc3339_ns(uint64_t wall_ns);
// "01:58:12.123456" in local time
std::string clock_time_us(uint64_t wall_ns);

}  // namespace maptrail::render
