// A verify report as one JSON line ({"event":"verify",...}), for `trace --json --verify-every`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/verifier.h"
#include "render/event_view.h"

namespace maptrail::render {

// The report's own fields: pid, done, exact, vmas, attempts, error, differences (each with
// the model's and/or the kernel's maps line) and drift. Shared by the trace log and the
// daemon's answers.
nlohmann::json verify_report_json(const engine::VerifyReport& report);

std::string verify_json(const engine::VerifyReport& report, const TraceClock& clock,
                        uint64_t monotonic_now_ns);

}  // namespace maptrail::render
