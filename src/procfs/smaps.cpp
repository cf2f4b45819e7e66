#include "procfs/smaps.h"

#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "procfs/maps.h"
#include "procfs/process.h"

namespace maptrail::procfs {
namespace {

// The blanks sscanf's " " skips.
bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view skip_blanks(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && is_blank(text[i])) ++i;
  return text.substr(i);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool starts_block(std::string_view line) {
  return !line.empty() && (is_digit(line[0]) || (line[0] >= 'a' && line[0] <= 'f'));
}

template <class Integer>
bool parse_decimal(std::string_view text, Integer& value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// The first line of `text` and the rest after its newline.
std::string_view take_line(std::string_view& text) {
  size_t end = std::min(text.find('\n'), text.size());
  std::string_view line = text.substr(0, end);
  text.remove_prefix(std::min(end + 1, text.size()));
  return line;
}

}  // namespace

const SmapsField* SmapsEntry::field(std::string_view key) const {
  for (const SmapsField& f : fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::optional<uint64_t> SmapsEntry::value(std::string_view key) const {
  const SmapsField* f = field(key);
  if (!f) return std::nullopt;
  return f->number;
}

const SmapsEntry* SmapsData::find(uint64_t start) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), start,
                             [](const SmapsEntry& e, uint64_t s) { return e.vma.start < s; });
  if (it == entries.end() || it->vma.start != start) return nullptr;
  return &*it;
}

bool parse_smaps_field(std::string_view line, SmapsField& field) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  // pmap reads these with sscanf("%31[^:]: %20[0-9] kB %c") and takes exactly two
  // conversions as a counter: a third one means text after the unit, i.e. not a counter.
  constexpr size_t kMaxKey = 31, kMaxDigits = 20;
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > kMaxKey) return false;
  std::string_view rest = skip_blanks(line.substr(colon + 1));
  size_t digits = 0;
  while (digits < rest.size() && is_digit(rest[digits])) ++digits;
  if (digits == 0 || digits > kMaxDigits) return false;
  std::string_view tail = skip_blanks(rest.substr(digits));
  if (tail.starts_with("kB") && !skip_blanks(tail.substr(2)).empty()) return false;

  field.key = std::string(line.substr(0, colon));
  field.value = std::string(rest.substr(0, digits));
  // Twenty digits can exceed 64 bits; strtoul (which pmap uses) saturates, and so do we.
  if (!parse_decimal(field.value, field.number)) field.number = UINT64_MAX;
  return true;
}

Result<SmapsData> parse_smaps(std::string_view text) {
  SmapsData data;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    std::string_view line = take_line(text);
    if (line.empty()) continue;
    if (starts_block(line)) {
      auto vma = parse_maps_line(line);
      if (!vma) return Error{0, fmt::format("line {}: {}", line_number, vma.error().message)};
      if (!data.entries.empty() && data.entries.back().vma.start >= vma->start) {
        return Error{0, fmt::format("line {}: mapping at {:x} is out of address order", line_number,
                                    vma->start)};
      }
      data.entries.push_back(SmapsEntry{std::move(*vma), {}, std::nullopt});
      continue;
    }
    if (data.entries.empty()) {
      return Error{0, fmt::format("line {}: counter line before any mapping", line_number)};
    }
    SmapsEntry& entry = data.entries.back();
    if (line.starts_with("VmFlags:")) {
      entry.vm_flags = std::string(skip_blanks(line.substr(8)));
      continue;
    }
    SmapsField field;
    if (parse_smaps_field(line, field)) entry.fields.push_back(std::move(field));
  }
  return data;
}

Result<SmapsData> read_smaps(pid_t pid) {
  if (pid <= 0) return Error{EINVAL, fmt::format("invalid pid {}", pid)};
  std::string path = fmt::format("/proc/{}/smaps", pid);
  auto text = read_text_file(path);
  if (!text) return proc_access_error(pid, path, text.error().err);
  auto data = parse_smaps(*text);
  if (!data) return Error{0, fmt::format("{}: {}", path, data.error().message)};
  return data;
}

Result<PmapProcess> parse_pmap_process(std::string_view status_text, std::string_view stat_text,
                                       std::string cmdline) {
  PmapProcess process;

  bool have_tgid = false;
  while (!status_text.empty()) {
    std::string_view line = take_line(status_text);
    if (!line.starts_with("Tgid:")) continue;
    have_tgid = parse_decimal(skip_blanks(line.substr(5)), process.tgid) && process.tgid > 0;
    break;
  }
  if (!have_tgid) return Error{0, "malformed /proc status: no valid Tgid line"};

  auto malformed = [&](std::string_view what) {
    return Error{0, fmt::format("malformed /proc stat \"{}\": {}", stat_text.substr(0, 200), what)};
  };
  // comm may hold spaces and ") (", so only the last ')' ends it.
  size_t open_paren = stat_text.find('(');
  size_t close_paren = stat_text.rfind(')');
  if (open_paren == std::string_view::npos || close_paren == std::string_view::npos ||
      close_paren < open_paren) {
    return malformed("no (comm)");
  }
  process.comm = std::string(stat_text.substr(open_paren + 1, close_paren - open_paren - 1));

  // Fields after the comm: state is field 3 of the line, startstack field 28.
  constexpr size_t kStateField = 3, kStartStackField = 28;
  std::string_view rest = stat_text.substr(close_paren + 1);
  for (size_t field = kStateField; field <= kStartStackField; ++field) {
    rest = skip_blanks(rest);
    size_t end = 0;
    while (end < rest.size() && !is_blank(rest[end])) ++end;
    std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);
    if (token.empty()) return malformed(fmt::format("no field {}", field));
    if (field == kStateField) {
      if (token.size() != 1) return malformed("bad state");
      process.state = token[0];
    } else if (field == kStartStackField && !parse_decimal(token, process.start_stack)) {
      return malformed("bad startstack");
    }
  }

  if (cmdline.size() > kPmapCmdlineMax) cmdline.resize(kPmapCmdlineMax);
  process.cmdline = std::move(cmdline);
  return process;
}

Result<PmapProcess> read_pmap_process(pid_t pid) {
  if (pid <= 0) return Error{EINVAL, fmt::format("invalid pid {}", pid)};
  std::string texts[3];
  const char* names[3] = {"status", "stat", "cmdline"};
  for (size_t i = 0; i < 3; ++i) {
    std::string path = fmt::format("/proc/{}/{}", pid, names[i]);
    auto text = read_text_file(path);
    if (!text) return proc_access_error(pid, path, text.error().err);
    texts[i] = std::move(*text);
  }
  auto process = parse_pmap_process(texts[0], texts[1], std::move(texts[2]));
  if (!process) return Error{0, fmt::format("process {}: {}", pid, process.error().message)};
  return process;
}

std::optional<uint32_t> shm_minor_from_maps(const std::vector<model::Vma>& own_maps,
                                            uint64_t segment_address) {
  for (const model::Vma& vma : own_maps) {
    if (vma.start != segment_address) continue;
    if (vma.dev_major != 0 || !(vma.perms & model::kShared) ||
        vma.name.find("/SYSV") == std::string::npos) {
      return std::nullopt;
    }
    return vma.dev_minor;
  }
  return std::nullopt;
}

namespace {

std::optional<uint32_t> discover_shm_minor() {
  // The segment must exist only for the look: private key, smallest size, removed at once.
  int id = ::shmget(IPC_PRIVATE, 42, IPC_CREAT | 0600);
  if (id < 0) return std::nullopt;
  std::optional<uint32_t> minor;
  void* address = ::shmat(id, nullptr, SHM_RDONLY);
  if (address != reinterpret_cast<void*>(-1)) {
    if (auto maps = read_maps(::getpid())) {
      minor = shm_minor_from_maps(*maps, reinterpret_cast<uint64_t>(address));
    }
    ::shmdt(address);
  }
  ::shmctl(id, IPC_RMID, nullptr);
  return minor;
}

}  // namespace

std::optional<uint32_t> shm_minor() {
  static const std::optional<uint32_t> minor = discover_shm_minor();
  return minor;
}

}  // namespace maptrail::procfs
