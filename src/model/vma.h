// One virtual memory area, described with the fields /proc/PID/maps shows plus the kernel's
// vm_flags when an event told us. Pure data: no I/O, no kernel headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace maptrail::model {

enum Perm : uint8_t { kRead = 1, kWrite = 2, kExec = 4, kShared = 8 };

struct Vma {
  uint64_t start = 0, end = 0;  // [start, end)
  uint8_t perms = 0;            // Perm bits
  uint64_t offset = 0;          // bytes, as /proc prints it (0 for anonymous)
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  // Exactly as /proc/PID/maps prints it: a path (with '\n' escaped as "\012" and a
  // " (deleted)" suffix when unlinked), "[heap]", "[stack]", "[vdso]", "[anon:x]",
  // "/memfd:x (deleted)", or "" for unnamed anonymous memory.
  std::string name;
  // Kernel vm_flags when an event told them; 0 when seeded from /proc, except VM_DONTCOPY
  // learned from a fork that did not copy the VMA.
  uint64_t vm_flags = 0;

  uint64_t size() const { return end - start; }
  bool contains(uint64_t addr) const { return start <= addr && addr < end; }
  bool intersects(uint64_t lo, uint64_t hi) const { return start < hi && lo < end; }
  // True when the offset column follows the mapping's position (a file or shmem object
  // behind it), so a piece cut from the middle has offset + distance from start.
  bool has_backing_object() const {
    return inode != 0 || dev_major != 0 || dev_minor != 0 || offset != 0;
  }
  bool operator==(const Vma&) const = default;
};

// "rw-p", "r-xs": the four permission characters of a maps line.
std::string perms_string(uint8_t perms);
// Inverse of perms_string; nullopt unless exactly four characters of the form [r-][w-][x-][sp].
std::optional<uint8_t> parse_perms(std::string_view text);

// Equal on the six /proc fields: range, perms, offset, device, inode, name (vm_flags ignored,
// since /proc does not show them).
bool same_as_proc(const Vma& a, const Vma& b);

// A mapped file's path as /proc/PID/maps prints it: seq_path() escapes '\n' as "\012".
// (Anonymous VMA names cannot hold '\n': prctl refuses it.)
std::string path_as_proc_shows_it(std::string_view raw);

// The line the kernel's show_map_vma() prints for this VMA, without the newline.
// The kernel pads the name to column 73 on 64-bit builds; a line without a name keeps the
// single space that ends the inode column ("... 00:00 0 ").
std::string format_maps_line(const Vma& vma);

// VMAs start and end on page boundaries; every Linux page size is a multiple of this one,
// so rounding a hole out to it never claims more than the kernel said.
inline constexpr uint64_t kMinPageSize = 4096;

// Column at which the kernel starts the name when the fields before it are short enough.
inline constexpr size_t kMapsNameColumn = 73;

}  // namespace maptrail::model
