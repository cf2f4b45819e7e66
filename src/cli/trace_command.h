// `maptrail trace`: the live log of mapping changes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "trace/tracer.h"

namespace maptrail::cli {

struct TraceOptions {
  std::vector<pid_t> pids;
  bool all = false;
  bool json = false;
  std::string output;  // empty: stdout
  bool anon_only = false;
  uint64_t min_size = 0;
  double duration = 0;      // seconds, 0: until stopped
  double verify_every = 0;  // seconds between checks of the model against /proc, 0: never
  uint64_t ringbuf_bytes = 16ull << 20;
  trace::StackOptions stack;
  std::string color = "auto";
  bool report = false;  // print `maptrail report` at the end, to stderr
  std::string report_by = "caller";
  std::string folded;                // write folded stacks (weighted by live bytes) to this file
  std::vector<std::string> command;  // after "--"
};

// Runs the trace; returns the process exit status (the command's, when one was launched).
int run_trace(const TraceOptions& options);

}  // namespace maptrail::cli
