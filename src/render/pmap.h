// pmap output: the bytes procps-ng 4.0.2 `pmap` prints (pmap-spec.md), rendered from our
// model's VMAs instead of /proc/PID/maps. Pure: no /proc access here (procfs/smaps.h reads
// what the renderer needs). Deviations from pmap's known bugs are listed in pmap.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "model/vma.h"
#include "procfs/smaps.h"
#include "util/result.h"

namespace maptrail::render {

using procfs::PmapProcess;
using procfs::SmapsData;

struct PmapOptions {
  enum Mode {
    kDefault,
    kExtended,      // -x
    kMoreExtended,  // -X
    kAll,           // -XX
    kDevice,        // -d
  };
  Mode mode = kDefault;
  bool quiet = false;      // -q: no column header, no footer
  bool show_path = false;  // -p: the name from its first '/' instead of the basename
  // -A lo,hi: only the mappings overlapping [lo, hi] (both inclusive); see parse_pmap_range.
  std::optional<std::pair<uint64_t, uint64_t>> range;
  // Device minor of SysV shm (procfs::shm_minor()); nullopt: no "[ shmid=... ]" labels,
  // which is what pmap does where SysV IPC is unavailable.
  std::optional<uint32_t> shm_minor;
  // Escape the command line as pmap does in a UTF-8 locale (C.UTF-8); false: C/POSIX.
  bool utf8 = true;
};

// True for the modes that need procfs::read_smaps (-x, -X, -XX).
bool pmap_needs_smaps(const PmapOptions& options);

// One process, exactly as `pmap [options] PID` prints it. `vmas` in address order (from
// the model); `smaps` holds the counters for -x/-X/-XX, matched to VMAs by start address,
// and is ignored otherwise. For those modes a null `smaps` means "smaps unreadable" and
// gives only the title line, as pmap does. Several PIDs print as the concatenation of
// their renders (pmap 4.0.2 carries -X totals over; we do not, see pmap.cpp).
std::string render_pmap(const PmapProcess& process, std::span<const model::Vma> vmas,
                        const SmapsData* smaps, const PmapOptions& options);

// "PID:   command\n" alone: all pmap prints for a process whose maps cannot be read.
std::string render_pmap_title(const PmapProcess& process, const PmapOptions& options);

// The command as the title shows it: cmdline with NULs and newlines as spaces, or
// "[comm]" (plus " <defunct>" for a zombie) when empty, escaped as procps escapes it.
std::string pmap_command_text(const PmapProcess& process, bool utf8);

// The 5-character Mode column of the default, -x and -d modes ("r-x--", "rw-s-").
std::string pmap_mode(uint8_t perms);

// The Mapping column of the default, -x and -d modes: basename (or path with show_path),
// "  [ shmid=0x.. ]", "  [ stack ]" or "  [ anon ]"; bytes outside printable ASCII as '?'.
std::string pmap_mapping_name(const model::Vma& vma, uint64_t start_stack, bool show_path,
                              std::optional<uint32_t> shm_minor);

// Parses the argument of -A as pmap does: "lo,hi", "lo," (no upper bound), ",hi" (from 0)
// or "v" (lo = hi = v), each hex with an optional 0x. The error reads like pmap's:
// "failed to parse argument: '<arg>'".
Result<std::pair<uint64_t, uint64_t>> parse_pmap_range(std::string_view arg);

}  // namespace maptrail::render
