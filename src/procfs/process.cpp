#include "procfs/process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "util/unique_fd.h"

namespace maptrail::procfs {
namespace {

template <class Integer>
bool parse_decimal(std::string_view text, Integer& value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// readlink() into a std::string, growing the buffer until the target fits.
Result<std::string> read_link(const std::string& path) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t length = ::readlink(path.c_str(), target.data(), target.size());
    if (length < 0) return Error::from_errno("readlink " + path);
    if (static_cast<size_t>(length) < target.size()) {
      target.resize(static_cast<size_t>(length));
      return target;
    }
    target.resize(target.size() * 2);
  }
}

// Column `column` (0-based) of the "Field:" line of /proc/PID/status, as a number.
Result<unsigned long> status_field(std::string_view status, std::string_view field, int column) {
  while (!status.empty()) {
    size_t line_end = std::min(status.find('\n'), status.size());
    std::string_view line = status.substr(0, line_end);
    status.remove_prefix(std::min(line_end + 1, status.size()));
    if (!line.starts_with(field) || line.substr(field.size(), 1) != ":") continue;
    line.remove_prefix(field.size() + 1);
    for (int i = 0;; ++i) {
      size_t begin = line.find_first_not_of(" \t");
      if (begin == std::string_view::npos) break;
      line.remove_prefix(begin);
      size_t stop = std::min(line.find_first_of(" \t"), line.size());
      unsigned long value = 0;
      if (i == column) {
        if (parse_decimal(line.substr(0, stop), value)) return value;
        break;
      }
      line.remove_prefix(stop);
    }
    return Error{0, fmt::format("malformed {} line", field)};
  }
  return Error{0, fmt::format("no {} line", field)};
}

}  // namespace

Error proc_access_error(pid_t pid, std::string_view path, int err) {
  switch (err) {
    case ENOENT:
    case ESRCH:
      return Error{err, fmt::format("process {} not found (it may have exited)", pid)};
    case EACCES:
    case EPERM:
      return Error{err, fmt::format("permission denied reading {}: run as root or as the "
                                    "process's owner",
                                    path)};
    default:
      return Error::from_errno(std::string(path), err);
  }
}

Result<std::string> read_text_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("open " + path);
  std::string text;
  // seq_file hands out about a page per read(); a large buffer just saves reallocations.
  constexpr size_t kChunk = 64 * 1024;
  for (;;) {
    size_t used = text.size();
    text.resize(used + kChunk);
    ssize_t got = ::read(fd.get(), text.data() + used, kChunk);
    if (got < 0) {
      if (errno == EINTR) {
        text.resize(used);
        continue;
      }
      return Error::from_errno("read " + path);
    }
    text.resize(used + static_cast<size_t>(got));
    if (got == 0) return text;
  }
}

Result<ProcessInfo> parse_stat(std::string_view stat_text) {
  auto malformed = [&](std::string_view what) {
    return Error{0, fmt::format("malformed /proc stat \"{}\": {}", stat_text.substr(0, 200), what)};
  };
  size_t open_paren = stat_text.find('(');
  size_t close_paren = stat_text.rfind(')');
  if (open_paren == std::string_view::npos || close_paren == std::string_view::npos ||
      close_paren < open_paren) {
    return malformed("no (comm)");
  }
  ProcessInfo info;
  std::string_view pid_text = stat_text.substr(0, open_paren);
  while (!pid_text.empty() && pid_text.back() == ' ') pid_text.remove_suffix(1);
  if (!parse_decimal(pid_text, info.pid) || info.pid <= 0) return malformed("bad pid");
  info.comm = std::string(stat_text.substr(open_paren + 1, close_paren - open_paren - 1));

  // After ") " come the state letter and the ppid.
  std::string_view rest = stat_text.substr(close_paren + 1);
  if (rest.size() < 4 || rest[0] != ' ' || rest[2] != ' ') return malformed("bad state");
  rest.remove_prefix(3);
  std::string_view ppid_text = rest.substr(0, rest.find(' '));
  if (!parse_decimal(ppid_text, info.ppid) || info.ppid < 0) return malformed("bad ppid");
  return info;
}

Result<ProcessInfo> read_process(pid_t pid) {
  if (pid <= 0) return Error{EINVAL, fmt::format("invalid pid {}", pid)};
  std::string stat_path = fmt::format("/proc/{}/stat", pid);
  auto stat_text = read_text_file(stat_path);
  if (!stat_text) return proc_access_error(pid, stat_path, stat_text.error().err);
  auto info = parse_stat(*stat_text);
  if (!info) return info.error();

  std::string status_path = fmt::format("/proc/{}/status", pid);
  auto status_text = read_text_file(status_path);
  if (!status_text) return proc_access_error(pid, status_path, status_text.error().err);
  // "Uid:\treal\teffective\tsaved\tfs"
  auto effective_uid = status_field(*status_text, "Uid", 1);
  if (!effective_uid) {
    return Error{0, fmt::format("{}: {}", status_path, effective_uid.error().message)};
  }
  info->uid = static_cast<uid_t>(*effective_uid);
  auto tgid = status_field(*status_text, "Tgid", 0);
  if (!tgid) return Error{0, fmt::format("{}: {}", status_path, tgid.error().message)};
  info->tgid = static_cast<pid_t>(*tgid);

  // Kernel threads have no exe and other users' processes may hide it: not an error.
  if (auto exe = read_link(fmt::format("/proc/{}/exe", pid))) info->exe = std::move(*exe);
  return info;
}

bool process_exists(pid_t pid) {
  // pid 0 and negative pids mean process groups to kill(), never one process.
  if (pid <= 0) return false;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

Result<std::string> fd_path(pid_t pid, int fd) {
  std::string path = fmt::format("/proc/{}/fd/{}", pid, fd);
  auto target = read_link(path);
  if (target) return target;
  int err = target.error().err;
  if (err == ENOENT && process_exists(pid)) {
    return Error{err, fmt::format("process {} has no open fd {}", pid, fd)};
  }
  return proc_access_error(pid, path, err);
}

std::vector<pid_t> thread_ids(pid_t pid) {
  std::vector<pid_t> ids;
  if (pid <= 0) return ids;
  std::error_code error;
  std::filesystem::directory_iterator it(fmt::format("/proc/{}/task", pid), error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    pid_t tid = 0;
    if (parse_decimal(it->path().filename().native(), tid)) ids.push_back(tid);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace maptrail::procfs
