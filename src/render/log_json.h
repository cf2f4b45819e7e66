// JSON lines: one object per event, schema version "v" (docs/json-schema.md describes it).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "render/event_view.h"

namespace maptrail::render {

inline constexpr int kJsonSchemaVersion = 1;

nlohmann::json event_json(const EventView& view, const TraceClock& clock);
// The object as one line, newline-terminated.
std::string log_json(const EventView& view, const TraceClock& clock);

}  // namespace maptrail::render
