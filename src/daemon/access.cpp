#include "daemon/access.h"

#include <sys/stat.h>

#include <sstream>
#include <string>

#include <fmt/format.h>

#include "procfs/process.h"

namespace maptrail::daemon {

Result<void> may_read_maps(uid_t caller_uid, pid_t pid) {
  struct stat st;
  std::string dir = fmt::format("/proc/{}", pid);
  if (stat(dir.c_str(), &st) != 0) return Error{ESRCH, fmt::format("no process with pid {}", pid)};
  if (caller_uid == 0) return {};
  auto status = procfs::read_text_file(dir + "/status");
  if (!status) return Error{ESRCH, fmt::format("no process with pid {}", pid)};
  std::istringstream lines(*status);
  std::string line;
  bool uids_match = false;
  while (std::getline(lines, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    uid_t real, effective, saved, fs;
    if (fields >> real >> effective >> saved >> fs)
      uids_match =
          real == caller_uid && effective == caller_uid && saved == caller_uid && fs == caller_uid;
  }
  if (uids_match && st.st_uid == caller_uid) return {};
  return Error{EPERM, fmt::format("permission denied: uid {} may not read the mappings of pid {} "
                                  "(only root or the process's owner may)",
                                  caller_uid, pid)};
}

}  // namespace maptrail::daemon
