// Checks made before loading BPF, so a missing prerequisite is reported as what it is
// (not root, no BTF, no tracefs) instead of as a libbpf errno.
#pragma once

#include "util/result.h"

namespace maptrail::trace {

// Root or CAP_BPF+CAP_PERFMON; kernel BTF present; the bpf() syscall usable.
Result<void> check_privileges_and_kernel();

// libbpf attaches tracepoints through tracefs: mount it at /sys/kernel/tracing if it is
// missing there and under /sys/kernel/debug/tracing.
Result<void> ensure_tracefs();

}  // namespace maptrail::trace
