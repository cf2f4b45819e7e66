// `maptrail daemon`: traces processes until stopped, keeps the live model of each, and
// answers questions about them on a Unix socket.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "trace/tracer.h"

namespace maptrail::daemon {

struct DaemonOptions {
  std::string socket_path;
  std::vector<pid_t> pids;  // empty: every process
  uint64_t ringbuf_bytes = 16ull << 20;
  size_t history_limit = 10000;  // changes kept per address space
  trace::StackOptions stack;
};

int run_daemon(const DaemonOptions& options);

}  // namespace maptrail::daemon
