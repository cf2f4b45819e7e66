// The daemon's socket protocol: one JSON object per line each way. A request names an op
// ("status", "vmas", "verify", "history") and, for the per-process ones, a pid; the answer
// has "ok" and either the data or "error". Version "v" 1. "vmas" answers with "vmas", an
// object per VMA with its origin, or, when the request says "format": "maps", with "maps",
// the layout as /proc/PID/maps text.
#pragma once

#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace maptrail::daemon {

inline constexpr int kProtocolVersion = 1;
inline constexpr const char* kDefaultSocket = "/run/maptrail/maptrail.sock";

// Asks the daemon at `socket_path` and returns its answer (an Error when it cannot be
// reached or answers ok:false, with the daemon's reason).
Result<nlohmann::json> ask(const std::string& socket_path, const nlohmann::json& request);

}  // namespace maptrail::daemon
