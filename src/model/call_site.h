// Who made a change: the user stack of the call, as text. Shared (one object per event) by
// the history, the provenance of the pages the call created, and the reports.
#pragma once

#include <string>
#include <vector>

namespace maptrail::model {

struct CallSite {
  std::vector<std::string> frames;     // as shown: "alloc_cache+0x40 (demo)", innermost first
  std::vector<std::string> functions;  // the frames without offsets: "alloc_cache (demo)"
  std::vector<std::string> modules;    // "demo", "libc.so.6"; "" when unknown
  int caller = -1;                     // the frame shown as the caller, -1 when none

  std::string caller_frame() const { return caller >= 0 ? frames[size_t(caller)] : ""; }
};

}  // namespace maptrail::model
