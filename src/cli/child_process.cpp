#include "cli/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace maptrail::cli {

std::string find_in_path(const std::string& name) {
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) return executable(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(begin, end - begin);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (executable(candidate)) return candidate;
    begin = end + 1;
  }
  return "";
}

Result<GatedChild> GatedChild::spawn(const std::vector<std::string>& argv) {
  if (argv.empty()) return Error{EINVAL, "no command given after --"};
  std::string program = find_in_path(argv[0]);
  if (program.empty())
    return Error{ENOENT, fmt::format("command not found or not executable: {}", argv[0])};

  int gate[2], exec_error[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  if (pipe2(exec_error, O_CLOEXEC) != 0) {
    close(gate[0]);
    close(gate[1]);
    return Error::from_errno("pipe");
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return Error::from_errno("fork");
  if (pid == 0) {
    close(gate[1]);
    close(exec_error[0]);
    char go;
    // EOF without a byte: the tracer gave up; do not run untraced.
    if (read(gate[0], &go, 1) != 1) _exit(127);
    execv(program.c_str(), args.data());
    int err = errno;
    (void)!write(exec_error[1], &err, sizeof(err));
    _exit(127);
  }
  close(gate[0]);
  close(exec_error[1]);
  GatedChild child;
  child.pid_ = pid;
  child.reaped_ = false;
  child.gate_write_.reset(gate[1]);
  child.exec_error_read_.reset(exec_error[0]);
  return child;
}

Result<void> GatedChild::release() {
  char go = 1;
  if (write(gate_write_.get(), &go, 1) != 1) return Error::from_errno("releasing the command");
  gate_write_.reset();
  int err = 0;
  ssize_t n = read(exec_error_read_.get(), &err, sizeof(err));  // EOF: exec succeeded
  exec_error_read_.reset();
  if (n == sizeof(err)) return Error::from_errno("cannot run the command", err);
  return {};
}

bool GatedChild::poll_exit(int* status) {
  if (reaped_) return true;
  pid_t r = waitpid(pid_, status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) reaped_ = true;
  return reaped_;
}

void GatedChild::abandon() {
  if (reaped_) return;
  gate_write_.reset();  // the child sees EOF and exits without exec
  int status;
  waitpid(pid_, &status, 0);
  reaped_ = true;
}

GatedChild::~GatedChild() {
  if (!reaped_ && gate_write_.valid()) abandon();
}

}  // namespace maptrail::cli
