#include "procfs/maps.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "procfs/process.h"

namespace maptrail::procfs {
namespace {

// The line as it can be shown inside an error message: bounded, non-printables escaped
// (fuzzed or binary input must not garble the terminal).
std::string quote_for_error(std::string_view line) {
  constexpr size_t kMaxShown = 160;
  std::string quoted = "\"";
  for (char c : line.substr(0, kMaxShown)) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (std::isprint(byte)) {
      quoted += c;
    } else {
      quoted += fmt::format("\\x{:02x}", byte);
    }
  }
  quoted += line.size() > kMaxShown ? "\"..." : "\"";
  return quoted;
}

template <class Integer>
bool parse_number(std::string_view text, int base, Integer& value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return ec == std::errc() && end == text.data() + text.size();
}

// Splits off the next space-separated field; the kernel separates them by one space but
// hand-written data may use more.
std::string_view next_field(std::string_view& rest) {
  size_t begin = std::min(rest.find_first_not_of(' '), rest.size());
  rest.remove_prefix(begin);
  size_t stop = std::min(rest.find(' '), rest.size());
  std::string_view field = rest.substr(0, stop);
  rest.remove_prefix(stop);
  return field;
}

}  // namespace

Result<model::Vma> parse_maps_line(std::string_view line) {
  const std::string_view whole_line = line;
  if (line.ends_with('\n')) line.remove_suffix(1);
  auto bad = [&](std::string_view field, std::string_view value) {
    return Error{0, fmt::format("malformed maps line {}: bad {} \"{}\"",
                                quote_for_error(whole_line), field, value.substr(0, 40))};
  };

  // A raw newline never appears inside a maps line (seq_path escapes it as "\012").
  if (line.find('\n') != std::string_view::npos) {
    return Error{
        0, fmt::format("malformed maps line {}: more than one line", quote_for_error(whole_line))};
  }

  std::string_view rest = line;
  model::Vma vma;

  std::string_view range = next_field(rest);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos || !parse_number(range.substr(0, dash), 16, vma.start) ||
      !parse_number(range.substr(dash + 1), 16, vma.end) || vma.start >= vma.end) {
    return bad("address range", range);
  }

  std::string_view perms_text = next_field(rest);
  auto perms = model::parse_perms(perms_text);
  if (!perms) return bad("permissions", perms_text);
  vma.perms = *perms;

  std::string_view offset_text = next_field(rest);
  if (!parse_number(offset_text, 16, vma.offset)) return bad("offset", offset_text);

  std::string_view device = next_field(rest);
  size_t colon = device.find(':');
  if (colon == std::string_view::npos ||
      !parse_number(device.substr(0, colon), 16, vma.dev_major) ||
      !parse_number(device.substr(colon + 1), 16, vma.dev_minor)) {
    return bad("device", device);
  }

  std::string_view inode_text = next_field(rest);
  if (!parse_number(inode_text, 10, vma.inode)) return bad("inode", inode_text);

  // The kernel ends the inode column with a space, pads to column 72 and adds one more
  // space before the name. Taking the name from exactly there keeps any leading spaces of
  // the name itself; lines typed by hand with other spacing fall back to skipping blanks.
  const size_t after_inode = line.size() - rest.size();
  const size_t kernel_name_start = std::max(after_inode + 1, model::kMapsNameColumn - 1) + 1;
  if (line.size() > kernel_name_start &&
      line.substr(after_inode, kernel_name_start - after_inode).find_first_not_of(' ') ==
          std::string_view::npos) {
    vma.name = std::string(line.substr(kernel_name_start));
  } else {
    size_t name_start = rest.find_first_not_of(' ');
    if (name_start != std::string_view::npos) vma.name = std::string(rest.substr(name_start));
  }
  return vma;
}

Result<std::vector<model::Vma>> parse_maps(std::string_view text) {
  std::vector<model::Vma> vmas;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t line_end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, line_end);
    text.remove_prefix(std::min(line_end + 1, text.size()));
    if (line.empty()) continue;
    auto vma = parse_maps_line(line);
    if (!vma) return Error{0, fmt::format("line {}: {}", line_number, vma.error().message)};
    vmas.push_back(std::move(*vma));
  }
  return vmas;
}

Result<std::vector<model::Vma>> read_maps(pid_t pid) {
  if (pid <= 0) return Error{EINVAL, fmt::format("invalid pid {}", pid)};
  std::string path = fmt::format("/proc/{}/maps", pid);
  auto text = read_text_file(path);
  if (!text) return proc_access_error(pid, path, text.error().err);
  auto lines = parse_maps(*text);
  if (!lines) return Error{0, fmt::format("{}: {}", path, lines.error().message)};
  std::vector<model::Vma> vmas;
  vmas.reserve(lines->size());
  for (auto& vma : *lines) append_newer(vmas, std::move(vma));
  return vmas;
}

void append_newer(std::vector<model::Vma>& read, model::Vma vma) {
  while (!read.empty() && read.back().end > vma.start) {
    if (read.back().start < vma.start) {
      read.back().end = vma.start;
      break;
    }
    read.pop_back();
  }
  read.push_back(std::move(vma));
}

}  // namespace maptrail::procfs
