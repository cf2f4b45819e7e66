// pmap output, byte for byte as procps-ng 4.0.2 prints it (shared/pmap-spec.md), except
// for these deliberate deviations from pmap bugs. Each says what pmap does, what we do and
// why; everything else (including 4.0.2's '?' for every non-ASCII byte of a name, the
// inclusive "[ stack ]" bounds and -X's trailing space after an unnamed mapping) is kept.
//
// 1. Long maps lines (spec §9.1). pmap's default, -x and -d modes read maps/smaps with
//    fgets() into a 1024-byte buffer and treat each piece as a line, so a line of 1023
//    bytes or more (a name of about 950 bytes or more) gives a phantom "[ anon ]" row, an
//    -x row named "[ anon ]" or after what later lines left in the buffer, rows parsed
//    from the tail of the name, or a truncated name, and can count a shared mapping twice. We print
//    one row per VMA with its whole name: the pieces are an artifact of the buffer, not something
//    pmap means to show.
// 2. -X/-XX names cut at 127 bytes (spec §7, §9.1). pmap scans the name into a 128-byte
//    buffer, so a long path's "basename" can be part of a directory name. We take the
//    basename (or with -p the name) of the whole name, for the same reason as 1.
// 3. -x with -A (spec §9.3). pmap's RSS and Dirty totals also count the mappings below
//    the range, whose rows it skips, while its Kbytes total does not. Our totals cover
//    exactly the rows shown, as Kbytes already does.
// 4. -X/-XX with several PIDs (spec §9.4). 4.0.2 carries the field list, the column
//    widths and the totals over from one process to the next (upstream issue #298, fixed
//    in 4.0.4), so each footer is a running total and an empty process after another
//    prints a footer. We render every process on its own, as 4.0.4 does: several PIDs
//    print as the concatenation of single-process renders.
// 5. -A with -X/-XX (spec §9.5). 4.0.2 ignores -A there (fixed upstream after 4.0.6). We
//    apply it, and the output is what pmap -X prints for a process whose only mappings are
//    the shown ones: columns, widths and totals from the shown rows, and nothing but the
//    title when none is shown. (Later upstream versions size the fixed columns over all
//    mappings and print a header with no row, because they measure in the unfiltered
//    first pass; the shown rows alone are what -A asks for.)
// 6. Two reads of smaps in -X (spec §9.6). pmap measures widths in one pass and prints in
//    a second, so a changing process can misalign columns. We render one snapshot.
// 7. Rows come from our model, counters from smaps matched by start address (pmap gets
//    both from smaps, so it cannot disagree with itself). A VMA with no smaps block gets
//    blank counters and adds nothing to the totals; -X/-XX columns are the ordered union
//    of the keys of the shown blocks, and a block lacking a key gets a blank there (pmap
//    exits with "inconsistent detail field"). pmap prints an -x row when it reads the
//    block's Swap line; we print one per VMA, the same for every kernel with a Swap line.

#include "render/pmap.h"

#include <stdlib.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace maptrail::render {
namespace {

using model::Vma;

// procps's esc_all (the C-locale rule): control characters as '.', bytes >= 0x80 as '?'.
void escape_c_locale(std::string& text, size_t from) {
  for (size_t i = from; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      text[i] = '.';
    } else if (c >= 0x80) {
      text[i] = '?';
    }
  }
}

// Sequence length procps 4.0.2 assumes for a UTF-8 lead byte; -1 for bytes that cannot
// start one. It does not look at continuation bytes, so neither do we.
int utf8_sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return 2;
  if (c >= 0xe0 && c <= 0xef) return 3;
  if (c >= 0xf0 && c <= 0xf4) return 4;
  return -1;
}

// procps 4.0.2 escape_str(): in a UTF-8 locale control characters become '?' until the
// first byte that cannot start a sequence, from where the C-locale rule takes over.
std::string escape_procps(std::string text, bool utf8) {
  if (!utf8) {
    escape_c_locale(text, 0);
    return text;
  }
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    int length = utf8_sequence_length(c);
    if (length < 0 || i + static_cast<size_t>(length) > text.size()) {
      escape_c_locale(text, i);
      break;
    }
    if (c < 0x20 || c == 0x7f) text[i] = '?';
    i += static_cast<size_t>(length);
  }
  return text;
}

std::string sanitize_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e) c = '?';
  }
  return out;
}

// The mappings pmap lists with -A: it skips those ending before lo and stops at the first
// starting after hi.
std::vector<const Vma*> shown_vmas(std::span<const Vma> vmas, const PmapOptions& options) {
  std::vector<const Vma*> shown;
  shown.reserve(vmas.size());
  for (const Vma& vma : vmas) {
    if (options.range) {
      if (vma.end - 1 < options.range->first) continue;
      if (vma.start > options.range->second) break;
    }
    shown.push_back(&vma);
  }
  return shown;
}

// The byte totals of spec §3.3.
struct SizeTotals {
  uint64_t shared = 0, private_writeable = 0, private_readonly = 0;

  void add(const Vma& vma) {
    uint64_t size = vma.end - vma.start;
    if (vma.perms & model::kShared) {
      shared += size;
    } else if (vma.perms & model::kWrite) {
      private_writeable += size;
    } else {
      private_readonly += size;
    }
  }
  uint64_t mapped() const { return shared + private_writeable + private_readonly; }
};

// Rows are formatted through fmt::appender into a memory_buffer, which fmt writes straight
// into; a std::string behind back_inserter is resized (and zero-filled) on every call.
void append(fmt::memory_buffer& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

std::string render_default(const PmapProcess& process, const std::vector<const Vma*>& shown,
                           const PmapOptions& options) {
  fmt::memory_buffer out;
  SizeTotals totals;
  for (const Vma* vma : shown) {
    totals.add(*vma);
    fmt::format_to(
        fmt::appender(out), "{:016x} {:6}K {} {}\n", vma->start, vma->size() >> 10,
        pmap_mode(vma->perms),
        pmap_mapping_name(*vma, process.start_stack, options.show_path, options.shm_minor));
  }
  if (!options.quiet) {
    fmt::format_to(fmt::appender(out), " total {:16}K\n", totals.mapped() >> 10);
  }
  return fmt::to_string(out);
}

std::string render_device(const PmapProcess& process, const std::vector<const Vma*>& shown,
                          const PmapOptions& options) {
  fmt::memory_buffer out;
  if (!options.quiet)
    append(out, "Address           Kbytes Mode  Offset           Device    Mapping\n");
  SizeTotals totals;
  for (const Vma* vma : shown) {
    totals.add(*vma);
    fmt::format_to(
        fmt::appender(out), "{:016x} {:7} {} {:016x} {:03x}:{:05x} {}\n", vma->start,
        vma->size() >> 10, pmap_mode(vma->perms), vma->offset, vma->dev_major, vma->dev_minor,
        pmap_mapping_name(*vma, process.start_stack, options.show_path, options.shm_minor));
  }
  if (!options.quiet) {
    fmt::format_to(fmt::appender(out), "mapped: {}K    writeable/private: {}K    shared: {}K\n",
                   totals.mapped() >> 10, totals.private_writeable >> 10, totals.shared >> 10);
  }
  return fmt::to_string(out);
}

// The smaps block of each shown VMA. Rows come in address order, as smaps does: walk both
// together, and search only when a row goes back.
class SmapsWalk {
 public:
  explicit SmapsWalk(const SmapsData& smaps) : smaps_(smaps), entries_(smaps.entries) {}
  const procfs::SmapsEntry* find(uint64_t start) {
    if (next_ > 0 && next_ <= entries_.size() && entries_[next_ - 1].vma.start >= start) {
      const procfs::SmapsEntry* entry = smaps_.find(start);
      next_ = entry ? size_t(entry - entries_.data()) + 1 : 0;
      return entry;
    }
    while (next_ < entries_.size() && entries_[next_].vma.start < start) ++next_;
    if (next_ == entries_.size() || entries_[next_].vma.start != start) return nullptr;
    return &entries_[next_++];
  }

 private:
  const SmapsData& smaps_;
  const std::vector<procfs::SmapsEntry>& entries_;
  size_t next_ = 0;
};

// The counters -x shows, in one pass over the block's fields.
struct RssDirty {
  uint64_t rss = 0, dirty = 0;
};
RssDirty rss_and_dirty(const procfs::SmapsEntry& entry) {
  const procfs::SmapsField *rss = nullptr, *shared_dirty = nullptr, *private_dirty = nullptr;
  using namespace std::string_view_literals;  // compared by length first, not by strcmp
  for (const procfs::SmapsField& field : entry.fields) {
    std::string_view key = field.key;
    if (!rss && key == "Rss"sv) rss = &field;
    if (!shared_dirty && key == "Shared_Dirty"sv) shared_dirty = &field;
    if (!private_dirty && key == "Private_Dirty"sv) private_dirty = &field;
    if (rss && shared_dirty && private_dirty) break;
  }
  auto number = [](const procfs::SmapsField* f) { return f ? f->number : 0; };
  return {number(rss), number(shared_dirty) + number(private_dirty)};
}

std::string render_extended(const PmapProcess& process, const std::vector<const Vma*>& shown,
                            const SmapsData& smaps, const PmapOptions& options) {
  fmt::memory_buffer out;
  if (!options.quiet) append(out, "Address           Kbytes     RSS   Dirty Mode  Mapping\n");
  SizeTotals totals;
  uint64_t total_rss = 0, total_dirty = 0;
  SmapsWalk walk(smaps);
  for (const Vma* vma : shown) {
    totals.add(*vma);
    // blank when smaps has no block for this VMA (deviation 7)
    std::optional<fmt::format_int> rss, dirty;
    if (const procfs::SmapsEntry* entry = walk.find(vma->start)) {
      RssDirty counters = rss_and_dirty(*entry);
      total_rss += counters.rss;
      total_dirty += counters.dirty;
      rss.emplace(counters.rss);
      dirty.emplace(counters.dirty);
    }
    auto text = [](const std::optional<fmt::format_int>& n) {
      return n ? std::string_view(n->data(), n->size()) : std::string_view();
    };
    fmt::format_to(
        fmt::appender(out), "{:016x} {:7} {:>7} {:>7} {:>5} {}\n", vma->start, vma->size() >> 10,
        text(rss), text(dirty), pmap_mode(vma->perms),
        pmap_mapping_name(*vma, process.start_stack, options.show_path, options.shm_minor));
  }
  if (!options.quiet) {
    append(out, "---------------- ------- ------- ------- \n");
    fmt::format_to(fmt::appender(out), "{:<16} {:7} {:7} {:7}\n", "total kB", totals.mapped() >> 10,
                   total_rss, total_dirty);
  }
  return fmt::to_string(out);
}

// pmap's integer_width(): decimal digits, 1 for zero.
size_t decimal_width(uint64_t n) {
  return fmt::formatted_size("{}", n);
}

// -X hides these; -XX shows every key.
bool hidden_by_single_x(std::string_view key) {
  constexpr std::string_view kHidden[] = {"AnonHugePages", "KernelPageSize", "MMUPageSize",
                                          "Shared_Dirty",  "Private_Dirty",  "Shared_Clean",
                                          "Private_Clean", "VmFlags"};
  return std::find(std::begin(kHidden), std::end(kHidden), key) != std::end(kHidden);
}

// pmap reads VmFlags with "%127[a-z ]" and drops one trailing space.
std::string vm_flags_text(std::string_view raw) {
  constexpr size_t kMaxFlags = 127;
  size_t n = 0;
  while (n < raw.size() && n < kMaxFlags && ((raw[n] >= 'a' && raw[n] <= 'z') || raw[n] == ' ')) {
    ++n;
  }
  std::string flags(raw.substr(0, n));
  if (!flags.empty() && flags.back() == ' ') flags.pop_back();
  return flags;
}

// The Mapping column of -X/-XX: the kernel's name unsanitized, brackets kept; pmap's
// sscanf skips leading blanks before it.
std::string_view extended_description(std::string_view name, bool show_path) {
  size_t begin = 0;
  while (begin < name.size() &&
         (name[begin] == ' ' || (name[begin] >= '\t' && name[begin] <= '\r'))) {
    ++begin;
  }
  name.remove_prefix(begin);
  if (show_path) return name;
  size_t slash = name.rfind('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

std::string render_more_extended(const std::vector<const Vma*>& shown, const SmapsData& smaps,
                                 const PmapOptions& options) {
  if (shown.empty()) return {};
  const bool all_fields = options.mode == PmapOptions::kAll;

  struct Row {
    std::string fixed[5];  // Address Perm Offset Device Inode, as the kernel prints them
    const procfs::SmapsEntry* entry;
    std::string description;
  };
  struct Column {
    std::string key;
    size_t width = 0;
    uint64_t total = 0;
  };
  constexpr std::string_view kFixedHeadings[5] = {"Address", "Perm", "Offset", "Device", "Inode"};

  std::vector<Row> rows;
  rows.reserve(shown.size());
  SmapsWalk walk(smaps);
  size_t fixed_width[5] = {};
  if (!options.quiet) {
    for (size_t i = 0; i < 5; ++i) fixed_width[i] = kFixedHeadings[i].size();
  }
  std::vector<Column> columns;
  bool have_flags = false;
  size_t flags_width = options.quiet ? 0 : std::string_view("VmFlags").size();

  for (const Vma* vma : shown) {
    Row row{
        {fmt::format("{:08x}", vma->start), model::perms_string(vma->perms),
         fmt::format("{:08x}", vma->offset),
         fmt::format("{:02x}:{:02x}", vma->dev_major, vma->dev_minor), std::to_string(vma->inode)},
        walk.find(vma->start),
        std::string(extended_description(vma->name, options.show_path))};
    for (size_t i = 0; i < 5; ++i) fixed_width[i] = std::max(fixed_width[i], row.fixed[i].size());
    if (row.entry) {
      for (const procfs::SmapsField& field : row.entry->fields) {
        if (!all_fields && hidden_by_single_x(field.key)) continue;
        auto column = std::find_if(columns.begin(), columns.end(),
                                   [&](const Column& c) { return c.key == field.key; });
        if (column == columns.end()) {
          columns.push_back(Column{field.key, options.quiet ? 0 : field.key.size(), 0});
          column = columns.end() - 1;
        }
        column->total += field.number;
        if (options.quiet) column->width = std::max(column->width, field.value.size());
      }
      if (all_fields && row.entry->vm_flags) {
        have_flags = true;
        flags_width = std::max(flags_width, vm_flags_text(*row.entry->vm_flags).size());
      }
    }
    rows.push_back(std::move(row));
  }
  if (!options.quiet) {
    for (Column& column : columns) {
      column.width = std::max(column.width, decimal_width(column.total));
    }
  }

  fmt::memory_buffer out;
  auto out_it = fmt::appender(out);
  if (!options.quiet) {
    for (size_t i = 0; i < 5; ++i) {
      fmt::format_to(out_it, "{:>{}} ", kFixedHeadings[i], fixed_width[i]);
    }
    for (const Column& column : columns) {
      fmt::format_to(out_it, "{:>{}} ", column.key, column.width);
    }
    if (have_flags) fmt::format_to(out_it, "{:>{}} ", "VmFlags", flags_width);
    append(out, "Mapping\n");
  }
  for (const Row& row : rows) {
    fmt::format_to(out_it, "{:>{}}", row.fixed[0], fixed_width[0]);
    for (size_t i = 1; i < 5; ++i) fmt::format_to(out_it, " {:>{}}", row.fixed[i], fixed_width[i]);
    for (const Column& column : columns) {
      const procfs::SmapsField* field = row.entry ? row.entry->field(column.key) : nullptr;
      fmt::format_to(out_it, " {:>{}}", field ? std::string_view(field->value) : "", column.width);
    }
    if (have_flags) {
      std::string flags =
          row.entry && row.entry->vm_flags ? vm_flags_text(*row.entry->vm_flags) : std::string();
      fmt::format_to(out_it, " {:>{}}", flags, flags_width);
    }
    fmt::format_to(out_it, " {}\n", row.description);
  }
  if (!options.quiet && !columns.empty()) {
    size_t gap = 0;
    for (size_t width : fixed_width) gap += width + 1;
    fmt::format_to(out_it, "{:{}}", "", gap);
    for (const Column& column : columns) {
      fmt::format_to(out_it, "{:=>{}} ", "", column.width);
    }
    out.push_back('\n');
    fmt::format_to(out_it, "{:{}}", "", gap);
    for (const Column& column : columns) {
      fmt::format_to(out_it, "{:>{}} ", column.total, column.width);
    }
    append(out, "KB \n");
  }
  return fmt::to_string(out);
}

}  // namespace

bool pmap_needs_smaps(const PmapOptions& options) {
  return options.mode == PmapOptions::kExtended || options.mode == PmapOptions::kMoreExtended ||
         options.mode == PmapOptions::kAll;
}

std::string pmap_command_text(const PmapProcess& process, bool utf8) {
  if (process.cmdline.empty()) {
    // Kernel threads and zombies: procps shows the escaped comm in brackets.
    std::string text = "[" + escape_procps(process.comm, utf8) + "]";
    if (process.state == 'Z') text += " <defunct>";
    return text;
  }
  // procps read_unvectored(): trailing NULs dropped, inner NULs and newlines as spaces, and
  // a last byte that is a space (a setproctitle() without NUL) cut.
  std::string buffer = process.cmdline.substr(0, procfs::kPmapCmdlineMax);
  size_t kept = buffer.size();
  while (kept > 0 && buffer[kept - 1] == '\0') --kept;
  for (size_t i = 0; i < kept; ++i) {
    if (buffer[i] == '\0' || buffer[i] == '\n') buffer[i] = ' ';
  }
  if (buffer.back() == ' ') buffer.back() = '\0';
  buffer.resize(std::min(buffer.find('\0'), buffer.size()));
  std::string text = escape_procps(std::move(buffer), utf8);
  return text.empty() ? "?" : text;
}

std::string render_pmap_title(const PmapProcess& process, const PmapOptions& options) {
  return fmt::format("{}:   {}\n", process.tgid, pmap_command_text(process, options.utf8));
}

std::string pmap_mode(uint8_t perms) {
  std::string mode = "-----";
  if (perms & model::kRead) mode[0] = 'r';
  if (perms & model::kWrite) mode[1] = 'w';
  if (perms & model::kExec) mode[2] = 'x';
  if (perms & model::kShared) mode[3] = 's';
  return mode;
}

std::string pmap_mapping_name(const Vma& vma, uint64_t start_stack, bool show_path,
                              std::optional<uint32_t> shm_minor) {
  std::string name = sanitize_name(vma.name);
  if (vma.dev_major == 0 && shm_minor && vma.dev_minor == *shm_minor &&
      name.find("/SYSV") != std::string::npos) {
    return fmt::format("  [ shmid=0x{:x} ]", vma.inode);
  }
  size_t last_slash = name.rfind('/');
  if (last_slash != std::string::npos) {
    if (show_path) return name.substr(name.find('/'));
    return last_slash + 1 < name.size() ? name.substr(last_slash + 1) : "/";
  }
  // Inclusive at both ends, as pmap compares: a stack pointer on a boundary labels both.
  if (vma.start <= start_stack && start_stack <= vma.end) return "  [ stack ]";
  return "  [ anon ]";
}

std::string render_pmap(const PmapProcess& process, std::span<const Vma> vmas,
                        const SmapsData* smaps, const PmapOptions& options) {
  std::string out = render_pmap_title(process, options);
  if (pmap_needs_smaps(options) && !smaps) return out;
  std::vector<const Vma*> shown = shown_vmas(vmas, options);
  switch (options.mode) {
    case PmapOptions::kDefault:
      out += render_default(process, shown, options);
      break;
    case PmapOptions::kDevice:
      out += render_device(process, shown, options);
      break;
    case PmapOptions::kExtended:
      out += render_extended(process, shown, *smaps, options);
      break;
    case PmapOptions::kMoreExtended:
    case PmapOptions::kAll:
      out += render_more_extended(shown, *smaps, options);
      break;
  }
  return out;
}

Result<std::pair<uint64_t, uint64_t>> parse_pmap_range(std::string_view arg) {
  auto failed = [&] { return Error{EINVAL, fmt::format("failed to parse argument: '{}'", arg)}; };
  // pmap parses each half with strtoul(.., 16) and insists it consumed everything; the
  // same call keeps its corner cases (0x prefix, sign, saturation) identical.
  auto parse_half = [](const std::string& text, uint64_t& value) {
    if (text.empty()) return true;
    char* end = nullptr;
    value = ::strtoul(text.c_str(), &end, 16);
    return *end == '\0';
  };
  if (arg.find('\0') != std::string_view::npos) return failed();
  size_t comma = arg.find(',');
  std::string low(arg.substr(0, comma));
  std::string high(comma == std::string_view::npos ? arg : arg.substr(comma + 1));
  std::pair<uint64_t, uint64_t> range{0, UINT64_MAX};
  if (!parse_half(low, range.first) || !parse_half(high, range.second)) return failed();
  return range;
}

}  // namespace maptrail::render
