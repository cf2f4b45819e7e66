#include "render/verify_json.h"

#include <nlohmann/json.hpp>

#include "model/vma.h"

namespace maptrail::render {

std::string verify_json(const engine::VerifyReport& r, const TraceClock& clock,
                        uint64_t monotonic_now_ns) {
  nlohmann::json j;
  j["v"] = 1;
  j["time"] = rfc3339_ns(clock.wall_ns(monotonic_now_ns));
  j["t"] = clock.seconds_since_start(monotonic_now_ns);
  j["event"] = "verify";
  j["pid"] = r.pid;
  j["ok"] = r.ok;
  if (!r.ok) j["error"] = r.error;
  j["exact"] = r.exact;
  j["vmas"] = r.vmas;
  j["attempts"] = r.attempts;
  nlohmann::json differences = nlohmann::json::array();
  for (const auto& d : r.differences) {
    nlohmann::json item;
    item["model"] = d.model ? nlohmann::json(model::format_maps_line(*d.model)) : nlohmann::json();
    item["kernel"] =
        d.kernel ? nlohmann::json(model::format_maps_line(*d.kernel)) : nlohmann::json();
    differences.push_back(item);
  }
  j["differences"] = differences;
  nlohmann::json drift = nlohmann::json::array();
  for (const auto& d : r.drift)
    drift.push_back({{"kind", "stack_growth"}, {"bytes", d.before.start - d.after.start}});
  j["drift"] = drift;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace maptrail::render
