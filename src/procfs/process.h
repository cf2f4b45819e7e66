// Facts about a process read from /proc, plus the shared way this layer reads /proc files
// and words their errors.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace maptrail::procfs {

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t tgid = 0;    // the process a thread id belongs to (= pid for a process)
  uid_t uid = 0;     // effective uid, the owner ps shows
  std::string comm;  // raw (spaces, parentheses and all), at most 15 bytes
  std::string exe;   // target of /proc/PID/exe; "" for kernel threads or when unreadable
};

// Reads /proc/PID/stat (comm, ppid), /proc/PID/status (uid, tgid) and /proc/PID/exe.
// PID may be a thread id.
Result<ProcessInfo> read_process(pid_t pid);

// Parses the pid, comm and ppid of a /proc/PID/stat line. comm is whatever lies between
// the first '(' and the LAST ')', since a comm may itself contain ") (".
Result<ProcessInfo> parse_stat(std::string_view stat_text);

// True while the pid (or thread id) exists, zombies included.
bool process_exists(pid_t pid);

// What /proc/PID/fd/FD points to: a path, "socket:[123]", "anon_inode:[eventfd]", ...
Result<std::string> fd_path(pid_t pid, int fd);

// The thread ids of the process (sorted; empty when it is gone or unreadable).
std::vector<pid_t> thread_ids(pid_t pid);

// Reads a whole file; for /proc this is the only way to get a complete seq_file.
Result<std::string> read_text_file(const std::string& path);

// The error for a failed access to a /proc/PID file, worded for the user:
// ENOENT/ESRCH -> "process PID not found (it may have exited)",
// EACCES/EPERM -> "permission denied reading PATH: run as root or as the process's owner",
// anything else -> "PATH: strerror".
Error proc_access_error(pid_t pid, std::string_view path, int err);

}  // namespace maptrail::procfs
