// The user stack of one event, as frames ready to print, and the caller chosen from it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "event/event.h"
#include "model/address_space.h"
#include "model/call_site.h"
#include "symbolize/symbolizer.h"

namespace maptrail::symbolize {

struct Stack {
  std::vector<Frame> frames;  // innermost first
  int caller = -1;            // index of the first frame outside the runtime, -1 if none
  // Copied stacks: why the unwind stopped (kOutermost: it reached the thread's first frame);
  // nothing when it stopped at the last frame its reader needed (see resolve_stack).
  std::optional<Unwound::End> end;
  uint64_t used_top = 0;      // copied stacks: the end of the bytes the unwind needed
  std::vector<uint64_t> pcs;  // the frames' addresses: storage reused between events
};

// What the kernel should cut this thread's next stack copies at: the top of the stack after
// an unwind that reached the thread's first frame (no call of the thread needs the bytes
// above it), 0 to forget a cut that proved too short, nothing when there is nothing to learn.
std::optional<uint64_t> stack_top_hint(const event::Event& e, const Stack& stack);

// Resolves an event's frames: a copied stack is unwound with its registers; frame-pointer
// frames are taken as they are, plus the word at the user sp, the return address into the
// caller of libc's syscall wrapper, which the frame-pointer walk skips: it is inserted
// after the first frame when it points into executable memory and is not already there.
// The frame shown as the caller: the first outside the runtime modules; when that one has
// no symbol, the nearest named frame after it in the same module, if any.
int choose_caller(const std::vector<Frame>& frames, const Symbolizer& symbols);

// The stack as the history, provenance and reports keep it.
std::shared_ptr<const model::CallSite> call_site(const Stack& stack);

// One CallSite object per distinct stack of an address space: a loop that maps from the
// same place thousands of times keeps one, not thousands, in the history and provenance.
// Kept by mm address, so forget() the address when its space ends (Engine::on_space_ended):
// a dead process's stacks would otherwise stay until the cache is full, and a new process
// given the same mm address could be handed them for its own raw addresses.
class CallSiteCache {
 public:
  std::shared_ptr<const model::CallSite> get(uint64_t mm, const Stack& stack);
  void forget(uint64_t mm);
  size_t size() const { return entries_; }

 private:
  static constexpr size_t kMaxEntries = 1 << 16;  // then start over: old objects stay valid
  struct Key {
    int caller;
    std::vector<uint64_t> addrs;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      size_t h = size_t(k.caller);
      for (uint64_t a : k.addrs) h = h * 0x100000001b3ull ^ a;
      return h;
    }
  };
  using Sites = std::unordered_map<Key, std::shared_ptr<const model::CallSite>, KeyHash>;
  std::unordered_map<uint64_t, Sites> by_mm_;
  size_t entries_ = 0;
};

Stack resolve_stack(const event::Event& e, const model::AddressSpace* layout, Symbolizer& symbols);

// How many frames from the caller on a reader of the stack needs (resolve_stack below).
constexpr size_t kAllFrames = SIZE_MAX;

// The same into a Stack reused from event to event (its frames' strings keep their capacity:
// a handler resolving every event allocates little once warm). With frames_from_caller, only
// the frames up to the caller and that many from it on are named and kept: the text log
// shows three, and naming a frame costs about twice as much as unwinding it. The caller is
// the one the whole stack gives. The copy of a thread whose stack top the kernel knew
// (MT_F_STACK_TOP_KNOWN) is unwound no further than those frames too, so `end` and
// `used_top` then say nothing of the rest; any other copy is unwound whole, as that is
// where the thread's stack top is learned (stack_top_hint).
void resolve_stack(const event::Event& e, const model::AddressSpace* layout, Symbolizer& symbols,
                   Stack& out, size_t frames_from_caller = kAllFrames);

}  // namespace maptrail::symbolize
