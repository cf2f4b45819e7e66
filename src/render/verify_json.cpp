#include "render/verify_json.h"

#include <nlohmann/json.hpp>

#include "model/vma.h"

namespace maptrail::render {

nlohmann::json verify_report_json(const engine::VerifyReport& r) {
  nlohmann::json differences = nlohmann::json::array();
  for (const auto& d : r.differences) {
    nlohmann::json item = nlohmann::json::object();
    if (d.model) item["model"] = model::format_maps_line(*d.model);
    if (d.kernel) item["kernel"] = model::format_maps_line(*d.kernel);
    differences.push_back(std::move(item));
  }
  nlohmann::json drift = nlohmann::json::array();
  for (const auto& d : r.drift)
    drift.push_back({{"kind", "stack_growth"}, {"bytes", d.before.start - d.after.start}});
  return {{"pid", r.pid},
          {"done", r.ok},
          {"exact", r.exact},
          {"vmas", r.vmas},
          {"attempts", r.attempts},
          {"error", r.error},
          {"differences", std::move(differences)},
          {"drift", std::move(drift)}};
}

std::string verify_json(const engine::VerifyReport& r, const TraceClock& clock,
                        uint64_t monotonic_now_ns) {
  nlohmann::json j = verify_report_json(r);
  j["v"] = 1;
  j["time"] = rfc3339_ns(clock.wall_ns(monotonic_now_ns));
  j["t"] = clock.seconds_since_start(monotonic_now_ns);
  j["event"] = "verify";
  j["ok"] = r.ok;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace maptrail::render
