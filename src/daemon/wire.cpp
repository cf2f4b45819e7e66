#include "daemon/wire.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace maptrail::daemon {

namespace {

bool plain_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace

std::string encode_bytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (c == '%' || c >= 0x80) {
      out += fmt::format("%{:02X}", c);
    } else {
      out += char(c);
    }
  }
  return out;
}

Result<std::string> decode_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned char byte = 0;
    const char* digits = text.data() + i + 1;
    const char* end = text.data() + std::min(text.size(), i + 3);
    auto [stop, ec] = std::from_chars(digits, end, byte, 16);
    if (ec != std::errc() || stop != digits + 2)
      return Error{EPROTO, "a bad %-escape in the daemon's answer"};
    out += char(byte);
    i += 2;
  }
  return out;
}

nlohmann::json to_json(const model::Vma& v) {
  nlohmann::json j = {{"start", v.start},
                      {"end", v.end},
                      {"perms", model::perms_string(v.perms)},
                      {"offset", v.offset},
                      {"dev_major", v.dev_major},
                      {"dev_minor", v.dev_minor},
                      {"inode", v.inode},
                      {"name", v.name},
                      {"vm_flags", v.vm_flags}};
  // "name" stays readable; the exact bytes go beside it when JSON would change them
  if (!plain_ascii(v.name)) j["name_bytes"] = encode_bytes(v.name);
  return j;
}

Result<model::Vma> vma_from_json(const nlohmann::json& j) {
  try {
    model::Vma v;
    v.start = j.at("start").get<uint64_t>();
    v.end = j.at("end").get<uint64_t>();
    auto perms = model::parse_perms(j.at("perms").get<std::string>());
    if (!perms) return Error{EPROTO, "bad perms in the daemon's answer"};
    v.perms = *perms;
    v.offset = j.at("offset").get<uint64_t>();
    v.dev_major = j.at("dev_major").get<uint32_t>();
    v.dev_minor = j.at("dev_minor").get<uint32_t>();
    v.inode = j.at("inode").get<uint64_t>();
    if (j.contains("name_bytes")) {
      auto name = decode_bytes(j.at("name_bytes").get<std::string>());
      if (!name) return name.error();
      v.name = std::move(*name);
    } else {
      v.name = j.at("name").get<std::string>();
    }
    v.vm_flags = j.value("vm_flags", uint64_t(0));
    return v;
  } catch (const nlohmann::json::exception& e) {
    return Error{EPROTO, std::string("malformed VMA in the daemon's answer: ") + e.what()};
  }
}

nlohmann::json to_json(const model::Change& c) {
  nlohmann::json ranges = nlohmann::json::array();
  for (const auto& [lo, hi] : c.ranges) ranges.push_back({lo, hi});
  return {{"time_ns", c.time_ns},
          {"latency_ns", c.latency_ns},
          {"pid", c.pid},
          {"tid", c.tid},
          {"comm", c.comm},
          {"call", c.call},
          {"args", c.args},
          {"ret", c.ret},
          {"file", c.file},
          {"ranges", ranges},
          {"stack", c.site ? c.site->frames : std::vector<std::string>{}},
          {"caller", c.site ? c.site->caller : -1}};
}

}  // namespace maptrail::daemon
