// Parser for /proc/PID/maps, the reference picture every model is checked against.
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

#include "model/vma.h"
#include "util/result.h"

namespace maptrail::procfs {

// Parses one maps line (a trailing '\n' is allowed). The name is everything after the
// kernel's padding, kept byte for byte (spaces, " (deleted)", "\012" escapes), so
// model::format_maps_line() gives the line back. A malformed line gives an Error that
// quotes the line and names the bad field; this never throws.
Result<model::Vma> parse_maps_line(std::string_view line);

// Parses a whole maps file; an error names the 1-based line number. Empty lines are skipped.
Result<std::vector<model::Vma>> parse_maps(std::string_view text);

// Reads and parses /proc/PID/maps. A process without an mm (kernel thread, a zombie, or one
// that exited after the file was opened) gives an empty list.
// The read is not atomic: a process changing its mappings meanwhile can give lines from
// before and after the change (use PROCMAP_QUERY over the range to repair that).
Result<std::vector<model::Vma>> read_maps(pid_t pid);

}  // namespace maptrail::procfs
