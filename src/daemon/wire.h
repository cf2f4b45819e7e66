// How model objects travel over the daemon socket.
#pragma once

#include <nlohmann/json.hpp>

#include "model/history.h"
#include "model/vma.h"
#include "util/result.h"

namespace maptrail::daemon {

nlohmann::json to_json(const model::Vma& v);
Result<model::Vma> vma_from_json(const nlohmann::json& j);
nlohmann::json to_json(const model::Change& c);

}  // namespace maptrail::daemon
