#include "trace/preflight.h"

#include <linux/bpf.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace maptrail::trace {
namespace {

constexpr const char* kTracefsDirs[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool has_capability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return data[cap / 32].effective & (1u << (cap % 32));
}

}  // namespace

Result<void> check_privileges_and_kernel() {
  bool privileged = geteuid() == 0 || has_capability(CAP_SYS_ADMIN) ||
                    (has_capability(CAP_BPF) && has_capability(CAP_PERFMON));
  if (!privileged)
    return Error{EPERM,
                 "maptrail needs root (or CAP_BPF and CAP_PERFMON) to load its BPF programs: "
                 "run it with sudo"};
  if (!exists("/sys/kernel/btf/vmlinux"))
    return Error{ENOENT,
                 "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): maptrail needs a "
                 "kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's kernels have it)"};
  // A zero-sized probe: EINVAL means the syscall exists and we may call it.
  union bpf_attr attr = {};
  long rc = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  if (rc < 0 && (errno == ENOSYS))
    return Error{ENOSYS, "this kernel has no bpf() system call (CONFIG_BPF_SYSCALL is off)"};
  if (rc < 0 && errno == EPERM)
    return Error{EPERM,
                 "the kernel refused bpf(): check kernel.unprivileged_bpf_disabled, a seccomp "
                 "or LSM policy, or a container that drops CAP_BPF"};
  return {};
}

Result<void> ensure_tracefs() {
  for (const char* dir : kTracefsDirs)
    if (exists(std::string(dir) + "/events")) return {};
  if (::mount("nodev", kTracefsDirs[0], "tracefs", 0, nullptr) != 0)
    return Error::from_errno(
        "tracefs is not mounted and mounting it at /sys/kernel/tracing failed (try: mount -t "
        "tracefs nodev /sys/kernel/tracing)");
  return {};
}

}  // namespace maptrail::trace
