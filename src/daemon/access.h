// Who may ask the daemon about a process: whoever could read its /proc/PID/maps, that is
// root, or the owner of a dumpable process (the kernel's ptrace read check, approximated
// from what /proc shows: all of the process's uids are the caller's, and /proc/PID is
// owned by the caller, which it is not for a non-dumpable process).
#pragma once

#include <sys/types.h>

#include "util/result.h"

namespace maptrail::daemon {

Result<void> may_read_maps(uid_t caller_uid, pid_t pid);

}  // namespace maptrail::daemon
