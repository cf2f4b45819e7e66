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

// Adds `vma`, read after everything in `read` (whose VMAs are in address order), to it. A
// read of a process that changes its mappings meanwhile is not atomic: the kernel resumes
// each chunk of /proc/PID/maps (and each PROCMAP_QUERY) at the end of the VMA before, and
// the VMA it finds there may have grown down over what was read already (a merge, a
// mremap, the later part of a split): the same range comes twice, old and new. What is
// read last is newer: it replaces what it overlaps, and a VMA it cuts into keeps its part
// below, as a split leaves it. The result is well formed (sorted, no overlap); the calls
// that changed it during the read return after the read began, so their records replay
// on top of it.
void append_newer(std::vector<model::Vma>& read, model::Vma vma);

// Reads and parses /proc/PID/maps. A process without an mm (kernel thread, a zombie, or one
// that exited after the file was opened) gives an empty list.
// The read is not atomic: a process changing its mappings meanwhile can give lines from
// before and after the change; an overlap between them is resolved by append_newer, so the
// list is always well formed.
Result<std::vector<model::Vma>> read_maps(pid_t pid);

}  // namespace maptrail::procfs
