#include "procfs/procmap_query.h"

#include <fcntl.h>
#include <linux/ioctl.h>
#include <linux/limits.h>
#include <linux/types.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "procfs/maps.h"
#include "procfs/process.h"

namespace maptrail::procfs {
namespace {

// From include/uapi/linux/fs.h of Linux 6.11; Debian 12's headers predate it.
struct procmap_query {
  __u64 size;
  __u64 query_flags;
  __u64 query_addr;
  __u64 vma_start;
  __u64 vma_end;
  __u64 vma_flags;
  __u64 vma_page_size;
  __u64 vma_offset;
  __u64 inode;
  __u32 dev_major;
  __u32 dev_minor;
  __u32 vma_name_size;
  __u32 build_id_size;
  __u64 vma_name_addr;
  __u64 build_id_addr;
};
static_assert(sizeof(procmap_query) == 104, "PROCMAP_QUERY ABI (Linux 6.11)");

constexpr unsigned kProcfsIoctlMagic = 'f';
constexpr unsigned long kProcmapQuery = _IOWR(kProcfsIoctlMagic, 17, struct procmap_query);

constexpr __u64 kQueryCoveringOrNextVma = 0x10;
constexpr __u64 kVmaReadable = 0x1;
constexpr __u64 kVmaWritable = 0x2;
constexpr __u64 kVmaExecutable = 0x4;
constexpr __u64 kVmaShared = 0x8;  // VM_MAYSHARE, the 's' of /proc

// Processes whose address space reaches above 4 GiB are native 64-bit ones; 32-bit
// (ia32, x32) processes cannot map there and get no gate area.
constexpr uint64_t kFourGiB = uint64_t{1} << 32;

Error query_error(pid_t pid, int err) {
  switch (err) {
    case ENOTTY:
      return Error{err,
                   "the PROCMAP_QUERY ioctl is not supported by this kernel (it needs "
                   "Linux 6.11 or newer): read /proc/PID/maps instead"};
    case ESRCH:
      return Error{err, fmt::format("process {} exited or exec'd since its maps were opened", pid)};
    default:
      return Error::from_errno(fmt::format("PROCMAP_QUERY on /proc/{}/maps", pid), err);
  }
}

}  // namespace

Result<MapsQuery> MapsQuery::open(pid_t pid) {
  if (pid <= 0) return Error{EINVAL, fmt::format("invalid pid {}", pid)};
  std::string path = fmt::format("/proc/{}/maps", pid);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return proc_access_error(pid, path, errno);
  return MapsQuery(pid, std::move(fd));
}

bool MapsQuery::supported() {
  static const bool kSupported = [] {
    auto self = open(::getpid());
    if (!self) return false;
    auto probe = self->covering_or_next(0);
    return probe.ok() || probe.error().err != ENOTTY;
  }();
  return kSupported;
}

Result<std::optional<model::Vma>> MapsQuery::covering_or_next(uint64_t addr) {
  // PATH_MAX bounds the kernel's d_path() buffer; longer names fail with ENAMETOOLONG.
  name_buffer_.resize(PATH_MAX);
  procmap_query query{};
  query.size = sizeof(query);
  query.query_flags = kQueryCoveringOrNextVma;
  query.query_addr = addr;
  query.vma_name_addr = reinterpret_cast<uintptr_t>(name_buffer_.data());
  query.vma_name_size = static_cast<__u32>(name_buffer_.size());
  int rc;
  do {
    rc = ::ioctl(maps_fd_.get(), kProcmapQuery, &query);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (errno == ENOENT) return std::optional<model::Vma>();
    return query_error(pid_, errno);
  }

  model::Vma vma;
  vma.start = query.vma_start;
  vma.end = query.vma_end;
  if (query.vma_flags & kVmaReadable) vma.perms |= model::kRead;
  if (query.vma_flags & kVmaWritable) vma.perms |= model::kWrite;
  if (query.vma_flags & kVmaExecutable) vma.perms |= model::kExec;
  if (query.vma_flags & kVmaShared) vma.perms |= model::kShared;
  vma.offset = query.vma_offset;
  vma.dev_major = query.dev_major;
  vma.dev_minor = query.dev_minor;
  vma.inode = query.inode;
  // vma_name_size counts the terminating NUL; 0 means the VMA has no name.
  if (query.vma_name_size > 1) {
    // the ioctl names the file with d_path(), which does not escape as maps does
    vma.name = model::path_as_proc_shows_it(
        std::string_view(name_buffer_.data(), query.vma_name_size - 1));
  }
  return std::optional<model::Vma>(std::move(vma));
}

Result<bool> MapsQuery::has_gate_area() {
  if (!has_gate_area_) {
    auto high = covering_or_next(kFourGiB);
    if (!high) return high.error();
    has_gate_area_ = high->has_value();
  }
  return *has_gate_area_;
}

Result<std::vector<model::Vma>> MapsQuery::range(uint64_t lo, uint64_t hi) {
  std::vector<model::Vma> found;
  uint64_t addr = lo;
  while (addr < hi) {
    auto next = covering_or_next(addr);
    if (!next) return next.error();
    if (!next->has_value() || (*next)->start >= hi) break;
    if ((*next)->end <= addr) break;  // cannot happen; guards against looping forever
    // The VMA before ended at addr: one starting below it changed since it was read.
    addr = (*next)->end;
    append_newer(found, std::move(**next));
  }

  if (auto gate = system_gate_vma(); gate && gate->intersects(lo, hi)) {
    auto has_gate = has_gate_area();
    if (!has_gate) return has_gate.error();
    if (*has_gate) found.push_back(*gate);
  }
  return found;
}

std::optional<model::Vma> system_gate_vma() {
  static const std::optional<model::Vma> kGate = []() -> std::optional<model::Vma> {
    auto self = read_maps(::getpid());
    if (!self || self->empty()) return std::nullopt;
    // The kernel prints the gate area after the mm's VMAs, above every user address.
    const model::Vma& last = self->back();
    if (last.name == "[vsyscall]") return last;
    return std::nullopt;
  }();
  return kGate;
}

}  // namespace maptrail::procfs
