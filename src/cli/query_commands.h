// The commands that ask a running daemon: pmap, verify, history, and the daemon itself.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "render/pmap.h"

namespace maptrail::cli {

struct PmapCommand {
  std::string socket;
  render::PmapOptions options;
  bool origin = false;  // add who created each mapping
  std::vector<pid_t> pids;
};
int run_pmap(const PmapCommand& c);

int run_verify(const std::string& socket, const std::vector<pid_t>& pids);

struct HistoryCommand {
  std::string socket;
  pid_t pid = 0;
  std::string range;  // ADDR or LO,HI (hex)
};
int run_history(const HistoryCommand& c);

struct ReportCommand {
  std::string socket;
  std::string by = "caller";  // caller, stack, module
  bool anon_only = false;
  bool folded = false;  // folded stacks weighted by live bytes, for flame-graph tools
  bool json = false;
};
int run_report(const ReportCommand& c);

}  // namespace maptrail::cli
