#include "model/vma.h"

#include <fmt/format.h>

namespace maptrail::model {

std::string perms_string(uint8_t perms) {
  std::string text(4, '-');
  if (perms & kRead) text[0] = 'r';
  if (perms & kWrite) text[1] = 'w';
  if (perms & kExec) text[2] = 'x';
  text[3] = (perms & kShared) ? 's' : 'p';
  return text;
}

std::optional<uint8_t> parse_perms(std::string_view text) {
  if (text.size() != 4) return std::nullopt;
  uint8_t perms = 0;
  constexpr char kLetters[3] = {'r', 'w', 'x'};
  constexpr Perm kBits[3] = {kRead, kWrite, kExec};
  for (size_t i = 0; i < 3; ++i) {
    if (text[i] == kLetters[i]) {
      perms |= kBits[i];
    } else if (text[i] != '-') {
      return std::nullopt;
    }
  }
  if (text[3] == 's') {
    perms |= kShared;
  } else if (text[3] != 'p') {
    return std::nullopt;
  }
  return perms;
}

bool same_as_proc(const Vma& a, const Vma& b) {
  return a.start == b.start && a.end == b.end && a.perms == b.perms && a.offset == b.offset &&
         a.dev_major == b.dev_major && a.dev_minor == b.dev_minor && a.inode == b.inode &&
         a.name == b.name;
}

std::string format_maps_line(const Vma& vma) {
  // show_vma_header_prefix() ends with a space after the inode; seq_pad() then pads to
  // column 72 and adds one more space, so a long prefix still gets a separating space.
  std::string line =
      fmt::format("{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {} ", vma.start, vma.end,
                  perms_string(vma.perms), vma.offset, vma.dev_major, vma.dev_minor, vma.inode);
  if (!vma.name.empty()) {
    if (line.size() < kMapsNameColumn - 1) line.resize(kMapsNameColumn - 1, ' ');
    line += ' ';
    line += vma.name;
  }
  return line;
}

std::string path_as_proc_shows_it(std::string_view raw) {
  std::string escaped;
  escaped.reserve(raw.size());
  for (char c : raw) {
    if (c == '\n') {
      escaped += "\\012";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

}  // namespace maptrail::model
