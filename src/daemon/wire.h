// How model objects travel over the daemon socket.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/history.h"
#include "model/vma.h"
#include "util/result.h"

namespace maptrail::daemon {

// A name or maps text is bytes, as /proc prints it, not always UTF-8, which JSON must
// carry: '%' and every byte of 0x80 or more are written as %HH, so that what the client
// gets is byte for byte what the daemon holds (pmap prints each such byte as '?', and a
// JSON replacement character would be three).
std::string encode_bytes(std::string_view bytes);
Result<std::string> decode_bytes(std::string_view text);

nlohmann::json to_json(const model::Vma& v);
Result<model::Vma> vma_from_json(const nlohmann::json& j);
nlohmann::json to_json(const model::Change& c);

}  // namespace maptrail::daemon
