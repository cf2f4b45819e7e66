// The user stack of one event, as frames ready to print, and the caller chosen from it.
#pragma once

#include <vector>

#include "event/event.h"
#include "model/address_space.h"
#include "symbolize/symbolizer.h"

namespace maptrail::symbolize {

struct Stack {
  std::vector<Frame> frames;  // innermost first
  int caller = -1;            // index of the first frame outside the runtime, -1 if none
};

// Resolves an event's frames. The word at the user sp is the return address into the
// caller of libc's syscall wrapper, which the frame-pointer walk skips: it is inserted
// after the first frame when it points into executable memory and is not already there.
Stack resolve_stack(const event::Event& e, const model::AddressSpace* layout, Symbolizer& symbols);

}  // namespace maptrail::symbolize
