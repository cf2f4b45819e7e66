// Checks the model of a process against the kernel (`maptrail verify`, `trace
// --verify-every`), without stopping the process and without being fooled by one that
// changes its mappings while /proc is read: the read counts only when no event for that
// space arrived during it and none of its mapping calls was in flight; otherwise it is
// retried.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/kernel_view.h"
#include "model/diff.h"

namespace maptrail::engine {

// A difference the kernel makes without a system call, named.
struct Drift {
  enum Kind { kStackGrowth } kind;
  model::Vma before, after;
};

struct VerifyReport {
  pid_t pid = 0;
  bool ok = false;     // a stable read was compared (false: see error)
  bool exact = false;  // no unexplained difference (named drift is reconciled and listed)
  std::vector<model::Difference> differences;  // unexplained
  std::vector<Drift> drift;
  int attempts = 0;
  size_t vmas = 0;
  std::string error;
};

class Verifier {
 public:
  // drain: deliver every record already in the ring buffer to the engine.
  // in_flight: true while a mapping call of that process is between entry and exit.
  Verifier(Engine& engine, KernelView& kernel, std::function<void()> drain,
           std::function<bool(pid_t)> in_flight);

  VerifyReport verify(pid_t pid, int max_attempts = 20);

 private:
  Engine& engine_;
  KernelView& kernel_;
  std::function<void()> drain_;
  std::function<bool(pid_t)> in_flight_;
};

// Human-readable report: "pid 42: exact (318 VMAs)" or the differences as -/+ maps lines.
std::string format_report(const VerifyReport& report);

}  // namespace maptrail::engine
