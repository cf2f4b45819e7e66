#include "symbolize/stack.h"

#include <algorithm>

namespace maptrail::symbolize {

namespace {

// The caller as the first n frames give it, or nothing when frames after them (`more`)
// could still change it.
std::optional<int> caller_among(const std::vector<Frame>& frames, size_t n, bool more,
                                const Symbolizer& symbols) {
  for (size_t i = 0; i < n; i++) {
    if (symbols.is_runtime(frames[i]) || frames[i].module.empty()) continue;
    // A stripped binary names only its exported functions: rather than an offset, show the
    // nearest named function below in the same module (the interpreter's PyByteArray_Resize
    // instead of python3.11+0xfb51c).
    size_t j = i;
    for (; j < n && frames[j].module == frames[i].module; j++)
      if (!frames[j].symbol.empty()) return int(j);
    if (j == n && more) return std::nullopt;
    return int(i);
  }
  if (more) return std::nullopt;
  return -1;
}

}  // namespace

int choose_caller(const std::vector<Frame>& frames, const Symbolizer& symbols) {
  return *caller_among(frames, frames.size(), false, symbols);
}

std::shared_ptr<const model::CallSite> call_site(const Stack& stack) {
  auto site = std::make_shared<model::CallSite>();
  site->caller = stack.caller;
  for (const auto& f : stack.frames) {
    bool named = !f.module.empty() && !f.symbol.empty();
    site->frames.push_back(named ? f.to_string() + " (" + f.module + ")" : f.to_string());
    site->functions.push_back(named ? f.symbol + " (" + f.module + ")" : f.to_string());
    site->modules.push_back(f.module);
  }
  return site;
}

std::shared_ptr<const model::CallSite> CallSiteCache::get(uint64_t mm, const Stack& stack) {
  Key key{stack.caller, {}};
  key.addrs.reserve(stack.frames.size());
  for (const auto& f : stack.frames) key.addrs.push_back(f.addr);
  if (auto space = by_mm_.find(mm); space != by_mm_.end())
    if (auto it = space->second.find(key); it != space->second.end()) return it->second;
  if (entries_ >= kMaxEntries) {
    by_mm_.clear();
    entries_ = 0;
  }
  auto site = call_site(stack);
  by_mm_[mm].emplace(std::move(key), site);
  entries_++;
  return site;
}

void CallSiteCache::forget(uint64_t mm) {
  if (auto it = by_mm_.find(mm); it != by_mm_.end()) {
    entries_ -= it->second.size();
    by_mm_.erase(it);
  }
}

Stack resolve_stack(const event::Event& e, const model::AddressSpace* layout, Symbolizer& symbols) {
  Stack stack;
  resolve_stack(e, layout, symbols, stack);
  return stack;
}

void resolve_stack(const event::Event& e, const model::AddressSpace* layout, Symbolizer& symbols,
                   Stack& stack, size_t frames_from_caller) {
  stack.caller = -1;
  stack.end.reset();
  stack.used_top = 0;
  const bool copied = e.flags & MT_F_STACK_COPY;
  std::optional<Unwinder::Walk> walk;
  if (copied)
    walk.emplace(symbols.unwinder(), layout, e.user_regs, e.user_stack, std::move(stack.pcs));
  std::vector<uint64_t>& addrs = walk ? walk->result().pcs : stack.pcs;
  if (!walk) {
    addrs.clear();
    for (uint64_t addr : e.frames)
      if (addr) addrs.push_back(addr);  // the frame-pointer walk ends on a null return address
    if (e.sp_word && !addrs.empty() && (addrs.size() < 2 || addrs[1] != e.sp_word)) {
      const model::Vma* vma = layout ? layout->find(e.sp_word) : nullptr;
      if (vma && (vma->perms & model::kExec)) addrs.insert(addrs.begin() + 1, e.sp_word);
    }
  }
  const bool all = frames_from_caller == kAllFrames;
  const bool unwind_whole =
      walk && (all || !(e.flags & (MT_F_STACK_TOP_KNOWN | MT_F_STACK_TRIMMED)));
  if (unwind_whole) walk->walk_to(Unwinder::kMaxFrames);
  // The pcs up to `n`, unwinding as far as that when the walk is lazy.
  auto known_up_to = [&](size_t n) {
    if (walk && !walk->ended()) walk->walk_to(n);
    return std::min(n, addrs.size());
  };
  auto more_after = [&](size_t n) { return n < addrs.size() || (walk && !walk->ended()); };
  // Frames are named in growing prefixes until the caller is settled and enough frames
  // after it are named; the runtime's frames before the caller are usually one or two.
  size_t named = 0;
  size_t wanted = all ? SIZE_MAX : frames_from_caller + 2;
  while (true) {
    size_t upto = known_up_to(wanted);
    if (stack.frames.size() < upto) stack.frames.resize(upto);
    for (; named < upto; named++) symbols.resolve(layout, addrs[named], stack.frames[named]);
    const bool more = more_after(named);
    auto caller = caller_among(stack.frames, named, more, symbols);
    if (!caller) {  // not settled: more frames (there are more when it is not)
      wanted = std::max<size_t>(named * 2, 1);
      continue;
    }
    size_t needed = SIZE_MAX;
    if (*caller >= 0 && !all) needed = size_t(*caller) + frames_from_caller;
    if (needed <= named || !more) {
      stack.caller = *caller;
      break;
    }
    wanted = needed;
  }
  stack.frames.resize(named);
  if (walk) {
    if (walk->ended()) stack.end = walk->result().end;
    stack.used_top = walk->result().used_top;
    stack.pcs = std::move(walk->result().pcs);
  }
}

std::optional<uint64_t> stack_top_hint(const event::Event& e, const Stack& stack) {
  if (!(e.flags & MT_F_STACK_COPY) || !stack.end) return std::nullopt;
  if (*stack.end == Unwound::End::kOutermost && stack.used_top) return stack.used_top;
  // A copy shortened because the ring buffer was filling proves nothing about the top.
  if (*stack.end == Unwound::End::kOutOfStack && (e.flags & MT_F_STACK_TRIMMED) &&
      !(e.flags & MT_F_STACK_SHORTENED))
    return 0;
  return std::nullopt;
}

}  // namespace maptrail::symbolize
