// A verify report as one JSON line ({"event":"verify",...}), for `trace --json --verify-every`.
#pragma once

#include <string>

#include "engine/verifier.h"
#include "render/event_view.h"

namespace maptrail::render {

std::string verify_json(const engine::VerifyReport& report, const TraceClock& clock,
                        uint64_t monotonic_now_ns);

}  // namespace maptrail::render
