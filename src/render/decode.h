// Turns raw x86-64 Linux syscall argument and return values into the spellings strace uses, so
// a systems engineer can read the live log without a man page. Everything here is pure: no
// I/O, no global state, safe to call from any thread.
//
// Flag-set rules shared by every *_flags / mmap_prot decoder:
//   * Known flags are named and joined with '|'. They appear in ascending bit order, except
//     that mmap's map type (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_DROPPABLE) always
//     comes first because it is an enumerated field, not a bit.
//   * Bits nobody has named are gathered into one lowercase hex number placed last
//     ("PROT_READ|0x1000"), so no input bit is ever dropped from the text.
//   * A value of zero prints as "0" (mmap_prot prints "PROT_NONE", which is a real name).
//   * Arguments the kernel declares as `int` (madvise advice, mlock2/mlockall flags, shmat
//     shmflg) are decoded from their low 32 bits, exactly as the kernel reads them; upper
//     register bits the kernel ignores are ignored here too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace maptrail::render {

// "PROT_READ|PROT_WRITE", "PROT_NONE" for 0, unknown bits as hex: "PROT_READ|0x1000".
std::string mmap_prot(uint64_t prot);

// Compact three-column form for the log: "rw-", "---", "r-x". Any bit other than
// read/write/exec (including named ones such as PROT_GROWSDOWN) is appended as hex: "rw-+0x10".
std::string prot_rwx(uint64_t prot);

// "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS". Order: map type, then named flags in ascending bit
// order, then the huge page size, then leftover hex. An unknown map type (including 0) is
// printed as hex in the type slot: "0x0|MAP_ANONYMOUS".
// Bits 26..31 are only a huge page size field when MAP_HUGETLB is set (as in the kernel);
// the size prints as the kernel's name ("MAP_HUGE_2MB", "MAP_HUGE_1GB") or, when the kernel
// has no name for it, strace's "12<<MAP_HUGE_SHIFT". Without MAP_HUGETLB, bit 26 is
// MAP_UNINITIALIZED and bits 27..31 are unknown.
std::string mmap_flags(uint64_t flags);

// "MREMAP_MAYMOVE|MREMAP_FIXED", "MREMAP_MAYMOVE|MREMAP_DONTUNMAP".
std::string mremap_flags(uint64_t flags);

// A single value, not a flag set: "MADV_DONTNEED"; unknown advice as signed decimal ("99").
std::string madvise_advice(uint64_t advice);

// "MLOCK_ONFAULT".
std::string mlock2_flags(uint64_t flags);

// "MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT".
std::string mlockall_flags(uint64_t flags);

// "SHM_RDONLY|SHM_RND|SHM_REMAP|SHM_EXEC".
std::string shmat_flags(uint64_t flags);

// Symbolic errno name: "ENOMEM", "EACCES". Covers every errno Linux can hand to user space
// plus the kernel-internal codes (ERESTARTSYS ... ENOGRACE, 512..531) that a tracer can see
// at syscall exit before signal handling rewrites them. Either sign is accepted because
// syscall returns carry -errno: errno_name(-12) == "ENOMEM". Aliases print as strace does
// (EAGAIN not EWOULDBLOCK, EDEADLK, EOPNOTSUPP). 0 prints "0"; anything unnamed "E9999".
std::string errno_name(int err);

// Binary (1024-based) sizes, short and never silently rounded:
//   * under 1024 bytes: exact bytes, "0B", "123B";
//   * otherwise the largest unit U in K, M, G, T, P, E with U <= bytes, and
//       - a whole number of U:            "4K", "2M", "1G", "1T";
//       - exactly N.5 U:                  "1.5M";
//       - anything else, rounded to one decimal and marked approximate with '~': "~1.2M".
//     Rounding that reaches 1024 of a unit moves to the next unit: 1M-1 -> "~1.0M".
// So text without '~' is always the exact byte count.
std::string human_size(uint64_t bytes);

// Lowercase, no padding: "0x7f12a4c00000", "0x0".
std::string hex_addr(uint64_t addr);

// Always signed hex so a column of offsets lines up by sign: "+0x1000", "-0x1000", "+0x0".
std::string signed_offset(int64_t offset);

enum class Color { kNone, kAnsi };
enum class Style { kTime, kProcess, kSyscall, kError, kAddress, kDim };

// Wraps text in ANSI SGR codes for the style when color is kAnsi; returns it unchanged for
// kNone. Empty text stays empty so that skipped columns leave no stray escape codes.
std::string paint(Color color, Style style, std::string_view text);

}  // namespace maptrail::render
