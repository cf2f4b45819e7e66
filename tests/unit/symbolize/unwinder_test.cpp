// DWARF unwinding of this process's own stack, captured as the BPF program captures a
// traced thread's: registers plus a copy of the top of the stack. This test binary is built
// with -O2 (no frame pointers), so only the CFI can find the callers.
#include "symbolize/unwinder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "own_stack.h"
#include "procfs/maps.h"
#include "symbolize/stack.h"
#include "symbolize/symbolizer.h"

namespace maptrail_unwind_test {

volatile int sink = 0;

// Each level does work after its call, so the call is not a tail call and the frame stays.
__attribute__((noinline)) maptrail::testing::OwnStack level2(size_t bytes) {
  auto s = maptrail::testing::capture_own_stack(bytes);
  sink = sink + 1;
  return s;
}
__attribute__((noinline)) maptrail::testing::OwnStack level1(size_t bytes) {
  auto s = level2(bytes);
  sink = sink + 2;
  return s;
}
__attribute__((noinline)) maptrail::testing::OwnStack level0(size_t bytes) {
  auto s = level1(bytes);
  sink = sink + 3;
  return s;
}

}  // namespace maptrail_unwind_test

namespace maptrail::symbolize {
namespace {

model::AddressSpace own_layout() {
  model::AddressSpace space;
  auto maps = procfs::read_maps(getpid());
  EXPECT_TRUE(maps.ok());
  if (maps) {
    EXPECT_TRUE(space.assign(*maps));
  }
  return space;
}

std::vector<std::string> names(Symbolizer& symbols, const model::AddressSpace& layout,
                               const std::vector<uint64_t>& pcs) {
  std::vector<std::string> out;
  for (uint64_t pc : pcs) out.push_back(symbols.resolve(&layout, pc).symbol);
  return out;
}

// The index of the first frame whose symbol contains `part`, or -1.
int position(const std::vector<std::string>& frames, const std::string& part) {
  for (size_t i = 0; i < frames.size(); i++)
    if (frames[i].find(part) != std::string::npos) return int(i);
  return -1;
}

std::string joined(const std::vector<std::string>& frames) {
  std::string out;
  for (const auto& f : frames) out += (f.empty() ? "?" : f) + "\n";
  return out;
}

TEST(Unwinder, ReachesMainAndTheProcessStartThroughCfiAlone) {
  auto captured = maptrail_unwind_test::level0(8192);
  auto layout = own_layout();
  Symbolizer symbols;
  auto unwound = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  auto frames = names(symbols, layout, unwound.pcs);
  int capture = position(frames, "capture_own_stack");
  int l2 = position(frames, "level2"), l1 = position(frames, "level1"),
      l0 = position(frames, "level0");
  EXPECT_EQ(capture, 0) << joined(frames);
  EXPECT_EQ(l2, 1) << joined(frames);
  EXPECT_EQ(l1, 2) << joined(frames);
  EXPECT_EQ(l0, 3) << joined(frames);
  EXPECT_GT(position(frames, "TestBody"), l0) << joined(frames);
  // gtest's main is short: the whole stack fits in 8 KiB, down to _start.
  EXPECT_GT(position(frames, "main"), l0) << joined(frames);
  EXPECT_EQ(frames.back(), "_start") << joined(frames);
  EXPECT_EQ(unwound.end, Unwound::End::kOutermost) << joined(frames);
  EXPECT_EQ(unwound.frame_pointer_steps, 0);
}

TEST(Unwinder, ASecondUnwindUsesTheCachedRules) {
  auto layout = own_layout();
  Symbolizer symbols;
  std::vector<std::vector<uint64_t>> pcs;
  std::vector<size_t> rules;
  for (int i = 0; i < 2; i++) {  // one call site: the same return addresses both times
    auto captured = maptrail_unwind_test::level0(8192);
    pcs.push_back(symbols.unwinder().unwind(&layout, captured.regs, captured.stack).pcs);
    rules.push_back(symbols.unwinder().cached_rules());
  }
  EXPECT_EQ(pcs[0], pcs[1]);
  EXPECT_GE(rules[0], pcs[0].size() - 1);
  EXPECT_EQ(rules[1], rules[0]) << "the same places, no new lookups";
}

TEST(Unwinder, AShortCopyEndsOutOfStackWithTheFramesItHolds) {
  auto captured = maptrail_unwind_test::level0(256);
  auto layout = own_layout();
  Symbolizer symbols;
  auto unwound = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  EXPECT_EQ(unwound.end, Unwound::End::kOutOfStack);
  EXPECT_GE(unwound.pcs.size(), 1u);
  EXPECT_LT(unwound.pcs.size(), 8u);
}

// The bytes a complete unwind read end below the thread's top: a copy cut there unwinds the
// same.
TEST(Unwinder, ACopyCutAtTheUsedTopUnwindsTheSame) {
  auto captured = maptrail_unwind_test::level0(8192);
  auto layout = own_layout();
  Symbolizer symbols;
  auto whole = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  ASSERT_EQ(whole.end, Unwound::End::kOutermost);
  uint64_t sp = captured.regs[7];
  ASSERT_GT(whole.used_top, sp);
  size_t used = whole.used_top - sp;
  ASSERT_LT(used, captured.stack.size()) << "gtest's stack is shallower than 8 KiB";
  std::span<const uint8_t> copy(captured.stack.data(), used);
  auto cut = symbols.unwinder().unwind(&layout, captured.regs, copy);
  EXPECT_EQ(cut.pcs, whole.pcs);
  EXPECT_EQ(cut.end, Unwound::End::kOutermost);
  EXPECT_EQ(cut.used_top, whole.used_top);
}

TEST(Unwinder, NoLayoutStopsAtTheFirstFrame) {
  auto captured = maptrail_unwind_test::level0(8192);
  Symbolizer symbols;
  auto unwound = symbols.unwinder().unwind(nullptr, captured.regs, captured.stack);
  EXPECT_EQ(unwound.pcs.size(), 1u);
  EXPECT_EQ(unwound.end, Unwound::End::kNoModule);
}

TEST(Unwinder, AnEmptyCopyStopsWithoutReadingOutsideIt) {
  auto captured = maptrail_unwind_test::level0(8192);
  auto layout = own_layout();
  Symbolizer symbols;
  auto unwound = symbols.unwinder().unwind(&layout, captured.regs, {});
  EXPECT_EQ(unwound.pcs.size(), 1u);
  EXPECT_EQ(unwound.end, Unwound::End::kOutOfStack);
}

TEST(Unwinder, ASecondUnwindIsAnsweredByTheCacheOfReturnAddresses) {
  auto layout = own_layout();
  Symbolizer symbols;
  auto captured = maptrail_unwind_test::level0(8192);
  auto first = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  uint64_t hits = symbols.unwinder().place_hits(), misses = symbols.unwinder().place_misses();
  EXPECT_GE(misses, first.pcs.size() - 1);
  auto second = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  EXPECT_EQ(second.pcs, first.pcs);
  uint64_t new_hits = symbols.unwinder().place_hits() - hits;
  uint64_t new_misses = symbols.unwinder().place_misses() - misses;
  EXPECT_EQ(new_hits + new_misses, first.pcs.size());  // one lookup per frame
  // The cache is direct-mapped by (epoch, address), and the epoch differs from run to run:
  // in a few percent of runs two of the stack's addresses share a slot and both miss every
  // time. Every other frame must be answered from the cache.
  EXPECT_LE(new_misses, first.pcs.size() / 4);
}

// What the cache knew about an address holds only for the code mapped there then.
TEST(Unwinder, TheCacheOfReturnAddressesFollowsTheLayout) {
  auto layout = own_layout();
  Symbolizer symbols;
  auto captured = maptrail_unwind_test::level0(8192);
  auto warm = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  ASSERT_EQ(warm.end, Unwound::End::kOutermost);
  const model::Vma* code = layout.find(captured.regs[16]);
  ASSERT_NE(code, nullptr);
  model::Vma data = *code;
  data.perms = model::kRead;
  ASSERT_TRUE(layout.replace_window(data.start, data.end, {{data}}));
  auto after = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  EXPECT_EQ(after.pcs.size(), 1u);
  EXPECT_EQ(after.end, Unwound::End::kNoModule);
}

// A syscall event carrying `captured` as the BPF program's stack copy.
event::Event syscall_with_copy(const testing::OwnStack& captured, uint32_t flags) {
  event::Event e;
  e.kind = event::Kind::kSyscall;
  e.flags = MT_F_STACK_COPY | flags;
  e.user_regs = captured.regs;
  e.user_stack = captured.stack;
  return e;
}

TEST(UnwinderWalk, StepsOnlyAsFarAsAskedAndThenEndsAsTheWholeUnwind) {
  auto captured = maptrail_unwind_test::level0(8192);
  auto layout = own_layout();
  Symbolizer symbols;
  auto whole = symbols.unwinder().unwind(&layout, captured.regs, captured.stack);
  ASSERT_EQ(whole.end, Unwound::End::kOutermost);
  ASSERT_GT(whole.pcs.size(), 5u);
  Unwinder::Walk walk(symbols.unwinder(), &layout, captured.regs, captured.stack,
                      std::vector<uint64_t>(40, 7));
  walk.walk_to(3);
  EXPECT_EQ(walk.result().pcs, std::vector<uint64_t>(whole.pcs.begin(), whole.pcs.begin() + 3))
      << "the reused storage's old content is gone";
  EXPECT_FALSE(walk.ended());
  walk.walk_to(2);
  EXPECT_EQ(walk.result().pcs.size(), 3u) << "never back";
  walk.walk_to(Unwinder::kMaxFrames);
  EXPECT_TRUE(walk.ended());
  EXPECT_EQ(walk.result().pcs, whole.pcs);
  EXPECT_EQ(walk.result().end, whole.end);
  EXPECT_EQ(walk.result().used_top, whole.used_top);
}

TEST(UnwinderWalk, EndsAtTheDepthLimit) {
  auto captured = maptrail_unwind_test::level0(8192);
  auto layout = own_layout();
  Symbolizer symbols;
  auto capped = symbols.unwinder().unwind(&layout, captured.regs, captured.stack, 2);
  EXPECT_EQ(capped.pcs.size(), 2u);
  EXPECT_EQ(capped.end, Unwound::End::kDepth);
}

// The text log's frames of a copy cut at the thread's known top: unwound only that far, with
// the caller and frames of the whole unwind. A copy made while the top was unknown is
// unwound whole: its end is where the thread's stack top is learned.
TEST(UnwinderWalk, ACopyCutAtTheKnownTopIsUnwoundOnlyToTheFramesShown) {
  auto captured = maptrail_unwind_test::level0(8192);
  auto layout = own_layout();
  Symbolizer symbols;
  auto e = syscall_with_copy(captured, MT_F_STACK_TRIMMED | MT_F_STACK_TOP_KNOWN);
  Stack full, shown;
  resolve_stack(e, &layout, symbols, full);
  ASSERT_EQ(full.end, Unwound::End::kOutermost);
  uint64_t lookups = symbols.unwinder().place_hits() + symbols.unwinder().place_misses();
  resolve_stack(e, &layout, symbols, shown, 3);
  uint64_t walked = symbols.unwinder().place_hits() + symbols.unwinder().place_misses() - lookups;
  EXPECT_EQ(shown.caller, full.caller);
  ASSERT_GE(shown.frames.size(), size_t(shown.caller) + 3);
  for (size_t i = 0; i < shown.frames.size(); i++) {
    SCOPED_TRACE(i);
    EXPECT_EQ(shown.frames[i].addr, full.frames[i].addr);
    EXPECT_EQ(shown.frames[i].to_string(), full.frames[i].to_string());
  }
  EXPECT_LT(shown.pcs.size(), full.pcs.size());
  EXPECT_LT(walked, full.pcs.size()) << "the frames past the shown ones are not unwound";
  EXPECT_EQ(shown.end, std::nullopt) << "the unwind did not reach the end";
  EXPECT_EQ(stack_top_hint(e, shown), std::nullopt);

  // A deep stack's copy ends at --stack-size below a known top: unwound as little.
  e.flags = MT_F_STACK_COPY | MT_F_STACK_TOP_KNOWN;
  Stack deep;
  resolve_stack(e, &layout, symbols, deep, 3);
  EXPECT_EQ(deep.pcs, shown.pcs);
  EXPECT_EQ(deep.end, std::nullopt);

  e.flags = MT_F_STACK_COPY;
  Stack uncut;
  resolve_stack(e, &layout, symbols, uncut, 3);
  EXPECT_EQ(uncut.end, Unwound::End::kOutermost);
  EXPECT_EQ(uncut.pcs, full.pcs);
  EXPECT_EQ(stack_top_hint(e, uncut), full.used_top);
  EXPECT_EQ(uncut.frames.size(), shown.frames.size());
}

// A cut that proved too short is still seen when it is among the frames shown.
TEST(UnwinderWalk, ACutTooShortForTheFramesShownIsForgotten) {
  auto captured = maptrail_unwind_test::level0(8192);
  auto layout = own_layout();
  Symbolizer symbols;
  captured.stack.resize(16);
  auto e = syscall_with_copy(captured, MT_F_STACK_TRIMMED | MT_F_STACK_TOP_KNOWN);
  Stack shown;
  resolve_stack(e, &layout, symbols, shown, 3);
  EXPECT_EQ(shown.end, Unwound::End::kOutOfStack);
  EXPECT_EQ(stack_top_hint(e, shown), 0u);
}

}  // namespace
}  // namespace maptrail::symbolize
