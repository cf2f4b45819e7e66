// What `maptrail pmap` needs from /proc besides the VMAs themselves: the per-mapping
// counters of /proc/PID/smaps, the few per-process facts pmap's title line and labels use,
// and the device minor of SysV shared memory (pmap-spec.md §1).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/vma.h"
#include "util/result.h"

namespace maptrail::procfs {

// One numeric "Key:   value [kB]" line of an smaps block.
struct SmapsField {
  std::string key;    // "Rss", "THPeligible"
  std::string value;  // the digits exactly as the kernel printed them
  uint64_t number = 0;

  bool operator==(const SmapsField&) const = default;
};

// One smaps block: its header line (identical to the maps line) and its counters.
struct SmapsEntry {
  model::Vma vma;
  // Every numeric line, in kernel order (pmap -X makes one column per key, in this order).
  std::vector<SmapsField> fields;
  // The text after "VmFlags:" with the leading blanks removed, e.g. "rd wr mr mw me ac ".
  std::optional<std::string> vm_flags;

  const SmapsField* field(std::string_view key) const;
  // The value of `key`, or nullopt when the block has no such line.
  std::optional<uint64_t> value(std::string_view key) const;
};

struct SmapsData {
  std::vector<SmapsEntry> entries;  // address order, as the kernel prints them

  // The block whose mapping starts at `start` (how a model VMA finds its counters).
  const SmapsEntry* find(uint64_t start) const;
};

// True when `line` is a counter line in the sense pmap -X uses: "Key:" (1 to 31 bytes
// without ':'), blanks, 1 to 20 digits, then nothing, "kB", or anything other than "kB"
// followed by more text. Sets key/value when true.
bool parse_smaps_field(std::string_view line, SmapsField& field);

// Parses a whole smaps file. A block starts at each line beginning with a lowercase hex
// digit (counter keys start with an uppercase letter); lines that are neither counters nor
// VmFlags are skipped, so a kernel adding a text line does not break the parse. An error
// names the 1-based line number.
Result<SmapsData> parse_smaps(std::string_view text);

// Reads and parses /proc/PID/smaps. A process without an mm gives no entries.
Result<SmapsData> read_smaps(pid_t pid);

// The per-process facts pmap prints or uses for labels (pmap-spec.md §1).
struct PmapProcess {
  pid_t tgid = 0;  // a thread id argument is shown as its thread group
  // Raw bytes of /proc/PID/cmdline, at most kPmapCmdlineMax of them (what procps reads);
  // the renderer does procps's NUL/newline folding and escaping.
  std::string cmdline;
  std::string comm;          // raw, from stat (between '(' and the last ')')
  char state = '?';          // stat state letter; 'Z' adds " <defunct>" when cmdline is empty
  uint64_t start_stack = 0;  // stat field 28: the "[ stack ]" label goes to the VMA holding it
};

// procps reads cmdline into a 128 KiB buffer and keeps one byte for its NUL.
inline constexpr size_t kPmapCmdlineMax = 128 * 1024 - 1;

// Builds a PmapProcess from the texts of /proc/PID/status and /proc/PID/stat and the
// cmdline bytes (longer ones are cut to kPmapCmdlineMax).
Result<PmapProcess> parse_pmap_process(std::string_view status_text, std::string_view stat_text,
                                       std::string cmdline);

// Reads /proc/PID/{status,stat,cmdline}.
Result<PmapProcess> read_pmap_process(pid_t pid);

// The device minor of SysV shared memory on this system, found as pmap finds it: attach a
// private segment and look at its maps line. Worked out on the first call only (it costs a
// segment create/attach/remove); nullopt when SysV IPC is unavailable, and then no mapping
// gets a "[ shmid=... ]" label, as with pmap.
std::optional<uint32_t> shm_minor();

// The SysV shm minor given our own VMAs and the address a segment is attached at: the
// device minor of the shared, major-0, "/SYSV" mapping starting there. Split out of
// shm_minor() so the rule is testable on fixed data.
std::optional<uint32_t> shm_minor_from_maps(const std::vector<model::Vma>& own_maps,
                                            uint64_t segment_address);

}  // namespace maptrail::procfs
