// The human log: one line per event in strace's call syntax, then one indented line with
// the caller and the frames after it. Lines are cut to fit the width.
#pragma once

#include <string>

#include "render/decode.h"
#include "render/event_view.h"

namespace maptrail::render {

struct TextStyle {
  Color color = Color::kNone;
  size_t width = 100;
  size_t caller_frames = 3;  // the caller and the next frames shown on the second line
};

// Returns the text for one event, newline-terminated (one or two lines).
std::string log_text(const EventView& view, const TraceClock& clock, const TextStyle& style);

// "mmap(NULL, 4M, rw-, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)" without the result.
std::string call_text(const event::Event& e, const std::string& fd_path);
// "= 0x7f0000000000", "= 0", "= -1 ENOMEM"
std::string result_text(const event::Event& e);

}  // namespace maptrail::render
