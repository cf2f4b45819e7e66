// Launches the traced command held at a gate: forked first, it waits until the tracer has
// its pid in the traced set, so not one of its mappings is missed, then execs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace maptrail::cli {

class GatedChild {
 public:
  // Forks a child that will exec argv[0] (searched in PATH) once released.
  static Result<GatedChild> spawn(const std::vector<std::string>& argv);
  GatedChild(GatedChild&&) = default;
  GatedChild& operator=(GatedChild&&) = default;
  ~GatedChild();

  pid_t pid() const { return pid_; }
  // Lets the child exec; fails with the exec error (command not found, not executable).
  Result<void> release();
  // Non-blocking: true once the child has exited; status as from waitpid.
  bool poll_exit(int* status);
  // Kills and reaps a child that must not run (the tracer failed to start).
  void abandon();

 private:
  GatedChild() = default;
  pid_t pid_ = -1;
  bool reaped_ = true;
  UniqueFd gate_write_;
  UniqueFd exec_error_read_;
};

// "ls" -> "/usr/bin/ls"; empty when not found or not executable.
std::string find_in_path(const std::string& name);

}  // namespace maptrail::cli
