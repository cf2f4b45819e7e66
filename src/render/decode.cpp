#include "render/decode.h"

#include <cerrno>
#include <span>

#include <sys/mman.h>
#include <linux/mman.h>
#include <sys/shm.h>

#include <fmt/compile.h>
#include <fmt/format.h>

// Older user-space headers (Debian 12's among them) lag the kernel. The values below are the
// kernel's uapi ABI, which never changes once released, so defining them here is safe.
#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#ifndef PROT_GROWSDOWN
#define PROT_GROWSDOWN 0x01000000
#endif
#ifndef PROT_GROWSUP
#define PROT_GROWSUP 0x02000000
#endif

#ifndef MAP_TYPE
#define MAP_TYPE 0x0f
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MAP_32BIT
#define MAP_32BIT 0x40
#endif
#ifndef MAP_ABOVE4G
#define MAP_ABOVE4G 0x80
#endif
#ifndef MAP_STACK
#define MAP_STACK 0x20000
#endif
#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_MASK
#define MAP_HUGE_MASK 0x3f
#endif

#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MADV_KEEPONFORK
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif

namespace maptrail::render {
namespace {

struct NamedBit {
  uint64_t bit;
  std::string_view name;
};

struct NamedValue {
  int64_t value;
  std::string_view name;
};

#define MAPTRAIL_NAMED(constant) \
  { constant, #constant }

// Each table is in ascending bit order; flags_to_text relies on that for its output order.
constexpr NamedBit kProtBits[] = {
    MAPTRAIL_NAMED(PROT_READ), MAPTRAIL_NAMED(PROT_WRITE),     MAPTRAIL_NAMED(PROT_EXEC),
    MAPTRAIL_NAMED(PROT_SEM),  MAPTRAIL_NAMED(PROT_GROWSDOWN), MAPTRAIL_NAMED(PROT_GROWSUP),
};

constexpr NamedValue kMapTypes[] = {
    MAPTRAIL_NAMED(MAP_SHARED),
    MAPTRAIL_NAMED(MAP_PRIVATE),
    MAPTRAIL_NAMED(MAP_SHARED_VALIDATE),
    MAPTRAIL_NAMED(MAP_DROPPABLE),
};

// MAP_UNINITIALIZED is absent: its bit doubles as the huge page size field, so mmap_flags
// decides what it means from MAP_HUGETLB.
constexpr NamedBit kMapBits[] = {
    MAPTRAIL_NAMED(MAP_FIXED),           MAPTRAIL_NAMED(MAP_ANONYMOUS),
    MAPTRAIL_NAMED(MAP_32BIT),           MAPTRAIL_NAMED(MAP_ABOVE4G),
    MAPTRAIL_NAMED(MAP_GROWSDOWN),       MAPTRAIL_NAMED(MAP_DENYWRITE),
    MAPTRAIL_NAMED(MAP_EXECUTABLE),      MAPTRAIL_NAMED(MAP_LOCKED),
    MAPTRAIL_NAMED(MAP_NORESERVE),       MAPTRAIL_NAMED(MAP_POPULATE),
    MAPTRAIL_NAMED(MAP_NONBLOCK),        MAPTRAIL_NAMED(MAP_STACK),
    MAPTRAIL_NAMED(MAP_HUGETLB),         MAPTRAIL_NAMED(MAP_SYNC),
    MAPTRAIL_NAMED(MAP_FIXED_NOREPLACE),
};

// log2(page size) -> the kernel's MAP_HUGE_* name (include/uapi/linux/mman.h). Sizes the
// kernel never named fall back to strace's "N<<MAP_HUGE_SHIFT" rather than an invented name.
constexpr NamedValue kHugePageSizes[] = {
    {14, "MAP_HUGE_16KB"},  {16, "MAP_HUGE_64KB"},  {19, "MAP_HUGE_512KB"}, {20, "MAP_HUGE_1MB"},
    {21, "MAP_HUGE_2MB"},   {23, "MAP_HUGE_8MB"},   {24, "MAP_HUGE_16MB"},  {25, "MAP_HUGE_32MB"},
    {28, "MAP_HUGE_256MB"}, {29, "MAP_HUGE_512MB"}, {30, "MAP_HUGE_1GB"},   {31, "MAP_HUGE_2GB"},
    {34, "MAP_HUGE_16GB"},
};

constexpr NamedBit kMremapBits[] = {
    MAPTRAIL_NAMED(MREMAP_MAYMOVE),
    MAPTRAIL_NAMED(MREMAP_FIXED),
    MAPTRAIL_NAMED(MREMAP_DONTUNMAP),
};

constexpr NamedValue kMadviseAdvice[] = {
    MAPTRAIL_NAMED(MADV_NORMAL),         MAPTRAIL_NAMED(MADV_RANDOM),
    MAPTRAIL_NAMED(MADV_SEQUENTIAL),     MAPTRAIL_NAMED(MADV_WILLNEED),
    MAPTRAIL_NAMED(MADV_DONTNEED),       MAPTRAIL_NAMED(MADV_FREE),
    MAPTRAIL_NAMED(MADV_REMOVE),         MAPTRAIL_NAMED(MADV_DONTFORK),
    MAPTRAIL_NAMED(MADV_DOFORK),         MAPTRAIL_NAMED(MADV_MERGEABLE),
    MAPTRAIL_NAMED(MADV_UNMERGEABLE),    MAPTRAIL_NAMED(MADV_HUGEPAGE),
    MAPTRAIL_NAMED(MADV_NOHUGEPAGE),     MAPTRAIL_NAMED(MADV_DONTDUMP),
    MAPTRAIL_NAMED(MADV_DODUMP),         MAPTRAIL_NAMED(MADV_WIPEONFORK),
    MAPTRAIL_NAMED(MADV_KEEPONFORK),     MAPTRAIL_NAMED(MADV_COLD),
    MAPTRAIL_NAMED(MADV_PAGEOUT),        MAPTRAIL_NAMED(MADV_POPULATE_READ),
    MAPTRAIL_NAMED(MADV_POPULATE_WRITE), MAPTRAIL_NAMED(MADV_DONTNEED_LOCKED),
    MAPTRAIL_NAMED(MADV_COLLAPSE),       MAPTRAIL_NAMED(MADV_HWPOISON),
    MAPTRAIL_NAMED(MADV_SOFT_OFFLINE),   MAPTRAIL_NAMED(MADV_GUARD_INSTALL),
    MAPTRAIL_NAMED(MADV_GUARD_REMOVE),
};

constexpr NamedBit kMlock2Bits[] = {
    MAPTRAIL_NAMED(MLOCK_ONFAULT),
};

constexpr NamedBit kMlockallBits[] = {
    MAPTRAIL_NAMED(MCL_CURRENT),
    MAPTRAIL_NAMED(MCL_FUTURE),
    MAPTRAIL_NAMED(MCL_ONFAULT),
};

constexpr NamedBit kShmatBits[] = {
    MAPTRAIL_NAMED(SHM_RDONLY),
    MAPTRAIL_NAMED(SHM_RND),
    MAPTRAIL_NAMED(SHM_REMAP),
    MAPTRAIL_NAMED(SHM_EXEC),
};

#undef MAPTRAIL_NAMED

// The kernel reads `int` syscall arguments from the low half of the register only.
uint64_t as_kernel_int_flags(uint64_t raw) {
  return static_cast<uint32_t>(raw);
}

void append_part(std::string& out, std::string_view part) {
  if (!out.empty()) out += '|';
  out += part;
}

// Appends the names of the known bits in `flags` (table order) and returns the bits left over.
uint64_t append_named_bits(std::string& out, uint64_t flags, std::span<const NamedBit> names) {
  for (const NamedBit& named : names) {
    if ((flags & named.bit) == named.bit) {
      append_part(out, named.name);
      flags &= ~named.bit;
    }
  }
  return flags;
}

void append_unknown_bits(std::string& out, uint64_t leftover) {
  if (leftover != 0) append_part(out, fmt::format(FMT_COMPILE("{:#x}"), leftover));
}

std::string flags_to_text(uint64_t flags, std::span<const NamedBit> names) {
  if (flags == 0) return "0";
  std::string out;
  append_unknown_bits(out, append_named_bits(out, flags, names));
  return out;
}

const NamedValue* find_value(int64_t value, std::span<const NamedValue> names) {
  for (const NamedValue& named : names) {
    if (named.value == value) return &named;
  }
  return nullptr;
}

std::string_view errno_symbol(int err) {
#define MAPTRAIL_ERRNO(constant) \
  case constant:                 \
    return #constant;
  // Aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) are left out: they share a number with the
  // spelling strace prints, and the switch would reject the duplicate.
  switch (err) {
    MAPTRAIL_ERRNO(EPERM)
    MAPTRAIL_ERRNO(ENOENT)
    MAPTRAIL_ERRNO(ESRCH)
    MAPTRAIL_ERRNO(EINTR)
    MAPTRAIL_ERRNO(EIO)
    MAPTRAIL_ERRNO(ENXIO)
    MAPTRAIL_ERRNO(E2BIG)
    MAPTRAIL_ERRNO(ENOEXEC)
    MAPTRAIL_ERRNO(EBADF)
    MAPTRAIL_ERRNO(ECHILD)
    MAPTRAIL_ERRNO(EAGAIN)
    MAPTRAIL_ERRNO(ENOMEM)
    MAPTRAIL_ERRNO(EACCES)
    MAPTRAIL_ERRNO(EFAULT)
    MAPTRAIL_ERRNO(ENOTBLK)
    MAPTRAIL_ERRNO(EBUSY)
    MAPTRAIL_ERRNO(EEXIST)
    MAPTRAIL_ERRNO(EXDEV)
    MAPTRAIL_ERRNO(ENODEV)
    MAPTRAIL_ERRNO(ENOTDIR)
    MAPTRAIL_ERRNO(EISDIR)
    MAPTRAIL_ERRNO(EINVAL)
    MAPTRAIL_ERRNO(ENFILE)
    MAPTRAIL_ERRNO(EMFILE)
    MAPTRAIL_ERRNO(ENOTTY)
    MAPTRAIL_ERRNO(ETXTBSY)
    MAPTRAIL_ERRNO(EFBIG)
    MAPTRAIL_ERRNO(ENOSPC)
    MAPTRAIL_ERRNO(ESPIPE)
    MAPTRAIL_ERRNO(EROFS)
    MAPTRAIL_ERRNO(EMLINK)
    MAPTRAIL_ERRNO(EPIPE)
    MAPTRAIL_ERRNO(EDOM)
    MAPTRAIL_ERRNO(ERANGE)
    MAPTRAIL_ERRNO(EDEADLK)
    MAPTRAIL_ERRNO(ENAMETOOLONG)
    MAPTRAIL_ERRNO(ENOLCK)
    MAPTRAIL_ERRNO(ENOSYS)
    MAPTRAIL_ERRNO(ENOTEMPTY)
    MAPTRAIL_ERRNO(ELOOP)
    MAPTRAIL_ERRNO(ENOMSG)
    MAPTRAIL_ERRNO(EIDRM)
    MAPTRAIL_ERRNO(ECHRNG)
    MAPTRAIL_ERRNO(EL2NSYNC)
    MAPTRAIL_ERRNO(EL3HLT)
    MAPTRAIL_ERRNO(EL3RST)
    MAPTRAIL_ERRNO(ELNRNG)
    MAPTRAIL_ERRNO(EUNATCH)
    MAPTRAIL_ERRNO(ENOCSI)
    MAPTRAIL_ERRNO(EL2HLT)
    MAPTRAIL_ERRNO(EBADE)
    MAPTRAIL_ERRNO(EBADR)
    MAPTRAIL_ERRNO(EXFULL)
    MAPTRAIL_ERRNO(ENOANO)
    MAPTRAIL_ERRNO(EBADRQC)
    MAPTRAIL_ERRNO(EBADSLT)
    MAPTRAIL_ERRNO(EBFONT)
    MAPTRAIL_ERRNO(ENOSTR)
    MAPTRAIL_ERRNO(ENODATA)
    MAPTRAIL_ERRNO(ETIME)
    MAPTRAIL_ERRNO(ENOSR)
    MAPTRAIL_ERRNO(ENONET)
    MAPTRAIL_ERRNO(ENOPKG)
    MAPTRAIL_ERRNO(EREMOTE)
    MAPTRAIL_ERRNO(ENOLINK)
    MAPTRAIL_ERRNO(EADV)
    MAPTRAIL_ERRNO(ESRMNT)
    MAPTRAIL_ERRNO(ECOMM)
    MAPTRAIL_ERRNO(EPROTO)
    MAPTRAIL_ERRNO(EMULTIHOP)
    MAPTRAIL_ERRNO(EDOTDOT)
    MAPTRAIL_ERRNO(EBADMSG)
    MAPTRAIL_ERRNO(EOVERFLOW)
    MAPTRAIL_ERRNO(ENOTUNIQ)
    MAPTRAIL_ERRNO(EBADFD)
    MAPTRAIL_ERRNO(EREMCHG)
    MAPTRAIL_ERRNO(ELIBACC)
    MAPTRAIL_ERRNO(ELIBBAD)
    MAPTRAIL_ERRNO(ELIBSCN)
    MAPTRAIL_ERRNO(ELIBMAX)
    MAPTRAIL_ERRNO(ELIBEXEC)
    MAPTRAIL_ERRNO(EILSEQ)
    MAPTRAIL_ERRNO(ERESTART)
    MAPTRAIL_ERRNO(ESTRPIPE)
    MAPTRAIL_ERRNO(EUSERS)
    MAPTRAIL_ERRNO(ENOTSOCK)
    MAPTRAIL_ERRNO(EDESTADDRREQ)
    MAPTRAIL_ERRNO(EMSGSIZE)
    MAPTRAIL_ERRNO(EPROTOTYPE)
    MAPTRAIL_ERRNO(ENOPROTOOPT)
    MAPTRAIL_ERRNO(EPROTONOSUPPORT)
    MAPTRAIL_ERRNO(ESOCKTNOSUPPORT)
    MAPTRAIL_ERRNO(EOPNOTSUPP)
    MAPTRAIL_ERRNO(EPFNOSUPPORT)
    MAPTRAIL_ERRNO(EAFNOSUPPORT)
    MAPTRAIL_ERRNO(EADDRINUSE)
    MAPTRAIL_ERRNO(EADDRNOTAVAIL)
    MAPTRAIL_ERRNO(ENETDOWN)
    MAPTRAIL_ERRNO(ENETUNREACH)
    MAPTRAIL_ERRNO(ENETRESET)
    MAPTRAIL_ERRNO(ECONNABORTED)
    MAPTRAIL_ERRNO(ECONNRESET)
    MAPTRAIL_ERRNO(ENOBUFS)
    MAPTRAIL_ERRNO(EISCONN)
    MAPTRAIL_ERRNO(ENOTCONN)
    MAPTRAIL_ERRNO(ESHUTDOWN)
    MAPTRAIL_ERRNO(ETOOMANYREFS)
    MAPTRAIL_ERRNO(ETIMEDOUT)
    MAPTRAIL_ERRNO(ECONNREFUSED)
    MAPTRAIL_ERRNO(EHOSTDOWN)
    MAPTRAIL_ERRNO(EHOSTUNREACH)
    MAPTRAIL_ERRNO(EALREADY)
    MAPTRAIL_ERRNO(EINPROGRESS)
    MAPTRAIL_ERRNO(ESTALE)
    MAPTRAIL_ERRNO(EUCLEAN)
    MAPTRAIL_ERRNO(ENOTNAM)
    MAPTRAIL_ERRNO(ENAVAIL)
    MAPTRAIL_ERRNO(EISNAM)
    MAPTRAIL_ERRNO(EREMOTEIO)
    MAPTRAIL_ERRNO(EDQUOT)
    MAPTRAIL_ERRNO(ENOMEDIUM)
    MAPTRAIL_ERRNO(EMEDIUMTYPE)
    MAPTRAIL_ERRNO(ECANCELED)
    MAPTRAIL_ERRNO(ENOKEY)
    MAPTRAIL_ERRNO(EKEYEXPIRED)
    MAPTRAIL_ERRNO(EKEYREVOKED)
    MAPTRAIL_ERRNO(EKEYREJECTED)
    MAPTRAIL_ERRNO(EOWNERDEAD)
    MAPTRAIL_ERRNO(ENOTRECOVERABLE)
    MAPTRAIL_ERRNO(ERFKILL)
    MAPTRAIL_ERRNO(EHWPOISON)
    // Kernel-internal (include/linux/errno.h): never reach user space, but sys_exit runs
    // before signal delivery turns ERESTARTSYS and friends into EINTR or a restart.
    case 512:
      return "ERESTARTSYS";
    case 513:
      return "ERESTARTNOINTR";
    case 514:
      return "ERESTARTNOHAND";
    case 515:
      return "ENOIOCTLCMD";
    case 516:
      return "ERESTART_RESTARTBLOCK";
    case 517:
      return "EPROBE_DEFER";
    case 518:
      return "EOPENSTALE";
    case 519:
      return "ENOPARAM";
    case 521:
      return "EBADHANDLE";
    case 522:
      return "ENOTSYNC";
    case 523:
      return "EBADCOOKIE";
    case 524:
      return "ENOTSUPP";
    case 525:
      return "ETOOSMALL";
    case 526:
      return "ESERVERFAULT";
    case 527:
      return "EBADTYPE";
    case 528:
      return "EJUKEBOX";
    case 529:
      return "EIOCBQUEUED";
    case 530:
      return "ERECALLCONFLICT";
    case 531:
      return "ENOGRACE";
    default:
      return {};
  }
#undef MAPTRAIL_ERRNO
}

}  // namespace

std::string mmap_prot(uint64_t prot) {
  if (prot == 0) return "PROT_NONE";
  return flags_to_text(prot, kProtBits);
}

std::string prot_rwx(uint64_t prot) {
  std::string out = {
      (prot & PROT_READ) ? 'r' : '-',
      (prot & PROT_WRITE) ? 'w' : '-',
      (prot & PROT_EXEC) ? 'x' : '-',
  };
  const uint64_t other = prot & ~uint64_t{PROT_READ | PROT_WRITE | PROT_EXEC};
  if (other != 0) out += fmt::format(FMT_COMPILE("+{:#x}"), other);
  return out;
}

std::string mmap_flags(uint64_t flags) {
  if (flags == 0) return "0";
  std::string out;

  const uint64_t type = flags & MAP_TYPE;
  if (const NamedValue* named = find_value(static_cast<int64_t>(type), kMapTypes)) {
    out = named->name;
  } else {
    out = fmt::format(FMT_COMPILE("{:#x}"), type);
  }
  flags &= ~uint64_t{MAP_TYPE};

  // Take the size field out before naming bits so its bit 26 is not read as MAP_UNINITIALIZED.
  constexpr uint64_t kHugeField = uint64_t{MAP_HUGE_MASK} << MAP_HUGE_SHIFT;
  const uint64_t huge_log2 = (flags & MAP_HUGETLB) ? (flags & kHugeField) >> MAP_HUGE_SHIFT : 0;
  if (flags & MAP_HUGETLB) flags &= ~kHugeField;

  uint64_t leftover = append_named_bits(out, flags, kMapBits);
  if (leftover & MAP_UNINITIALIZED) {
    // Still in bit order: every bit in kMapBits is below bit 26.
    append_part(out, "MAP_UNINITIALIZED");
    leftover &= ~uint64_t{MAP_UNINITIALIZED};
  }

  if (huge_log2 != 0) {
    if (const NamedValue* named = find_value(static_cast<int64_t>(huge_log2), kHugePageSizes)) {
      append_part(out, named->name);
    } else {
      append_part(out, fmt::format(FMT_COMPILE("{}<<MAP_HUGE_SHIFT"), huge_log2));
    }
  }
  append_unknown_bits(out, leftover);
  return out;
}

std::string mremap_flags(uint64_t flags) {
  return flags_to_text(flags, kMremapBits);
}

std::string madvise_advice(uint64_t advice) {
  const int32_t as_kernel_reads_it = static_cast<int32_t>(advice);
  if (const NamedValue* named = find_value(as_kernel_reads_it, kMadviseAdvice)) {
    return std::string(named->name);
  }
  return fmt::format(FMT_COMPILE("{}"), as_kernel_reads_it);
}

std::string mlock2_flags(uint64_t flags) {
  return flags_to_text(as_kernel_int_flags(flags), kMlock2Bits);
}

std::string mlockall_flags(uint64_t flags) {
  return flags_to_text(as_kernel_int_flags(flags), kMlockallBits);
}

std::string shmat_flags(uint64_t flags) {
  return flags_to_text(as_kernel_int_flags(flags), kShmatBits);
}

std::string errno_name(int err) {
  if (err == 0) return "0";
  // Negate in 64 bits: -INT_MIN does not fit in an int.
  const int64_t magnitude = err < 0 ? -static_cast<int64_t>(err) : err;
  if (magnitude <= 4095) {  // MAX_ERRNO: the kernel never returns a larger error code
    const std::string_view symbol = errno_symbol(static_cast<int>(magnitude));
    if (!symbol.empty()) return std::string(symbol);
  }
  return fmt::format(FMT_COMPILE("E{}"), magnitude);
}

std::string human_size(uint64_t bytes) {
  if (bytes < 1024) return fmt::format(FMT_COMPILE("{}B"), bytes);

  constexpr std::string_view kUnits = "KMGTPE";
  size_t unit_index = 0;
  while (unit_index + 1 < kUnits.size() && (bytes >> (10 * (unit_index + 2))) != 0) {
    ++unit_index;
  }
  const uint64_t unit = uint64_t{1} << (10 * (unit_index + 1));
  uint64_t whole = bytes / unit;
  const uint64_t remainder = bytes % unit;
  if (remainder == 0) return fmt::format(FMT_COMPILE("{}{}"), whole, kUnits[unit_index]);

  // remainder < unit <= 2^60, so remainder * 10 cannot overflow 64 bits.
  const bool exact_tenths = (remainder * 10) % unit == 0;
  uint64_t tenths = (remainder * 10 + unit / 2) / unit;
  if (tenths == 10) {
    tenths = 0;
    ++whole;
  }
  if (whole == 1024) {  // rounded up into the next unit; only possible below the E unit
    whole = 1;
    ++unit_index;
  }
  return fmt::format(FMT_COMPILE("{}{}.{}{}"), exact_tenths ? "" : "~", whole, tenths,
                     kUnits[unit_index]);
}

std::string hex_addr(uint64_t addr) {
  return fmt::format(FMT_COMPILE("{:#x}"), addr);
}

std::string signed_offset(int64_t offset) {
  // Negate as unsigned so INT64_MIN keeps its magnitude instead of overflowing.
  const uint64_t magnitude =
      offset < 0 ? uint64_t{0} - static_cast<uint64_t>(offset) : static_cast<uint64_t>(offset);
  return fmt::format(FMT_COMPILE("{}{:#x}"), offset < 0 ? '-' : '+', magnitude);
}

std::string paint(Color color, Style style, std::string_view text) {
  if (color == Color::kNone || text.empty()) return std::string(text);
  std::string_view sgr;
  switch (style) {
    case Style::kTime:
      sgr = "2";
      break;  // dim: context, not content
    case Style::kProcess:
      sgr = "36";
      break;  // cyan
    case Style::kSyscall:
      sgr = "1";
      break;  // bold
    case Style::kError:
      sgr = "1;31";
      break;  // bold red
    case Style::kAddress:
      sgr = "33";
      break;  // yellow
    case Style::kDim:
      sgr = "2";
      break;
  }
  return fmt::format(FMT_COMPILE("\x1b[{}m{}\x1b[0m"), sgr, text);
}

}  // namespace maptrail::render
