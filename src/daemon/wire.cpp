#include "daemon/wire.h"

namespace maptrail::daemon {

nlohmann::json to_json(const model::Vma& v) {
  return {{"start", v.start},
          {"end", v.end},
          {"perms", model::perms_string(v.perms)},
          {"offset", v.offset},
          {"dev_major", v.dev_major},
          {"dev_minor", v.dev_minor},
          {"inode", v.inode},
          {"name", v.name},
          {"vm_flags", v.vm_flags}};
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
    v.name = j.at("name").get<std::string>();
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
