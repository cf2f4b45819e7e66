// Which frame is shown as the caller.
#include <gtest/gtest.h>

#include "symbolize/stack.h"

namespace maptrail::symbolize {
namespace {

Frame frame(std::string module, std::string symbol) {
  Frame f;
  f.module = std::move(module);
  f.symbol = std::move(symbol);
  return f;
}

TEST(Caller, FirstFrameOutsideTheRuntime) {
  Symbolizer symbols;
  std::vector<Frame> frames = {frame("libc.so.6", "__mmap"), frame("libc.so.6", "malloc"),
                               frame("app", "level2"), frame("app", "main")};
  EXPECT_EQ(choose_caller(frames, symbols), 2);
}

TEST(Caller, AnUnnamedFrameGivesWayToTheNextNamedOneOfItsModule) {
  Symbolizer symbols;
  std::vector<Frame> frames = {frame("libc.so.6", "malloc"), frame("python3.11", ""),
                               frame("python3.11", "PyByteArray_Resize"),
                               frame("python3.11", "Py_BytesMain")};
  EXPECT_EQ(choose_caller(frames, symbols), 2);
}

TEST(Caller, NotAcrossModulesAndNotWhenNothingIsNamed) {
  Symbolizer symbols;
  std::vector<Frame> frames = {frame("libc.so.6", "malloc"), frame("libplugin.so", ""),
                               frame("app", "main")};
  EXPECT_EQ(choose_caller(frames, symbols), 1) << "the stripped library is the caller";
  std::vector<Frame> stripped = {frame("libc.so.6", "malloc"), frame("app", ""), frame("app", "")};
  EXPECT_EQ(choose_caller(stripped, symbols), 1);
}

TEST(Caller, RuntimeModulesCanBeAdded) {
  Symbolizer symbols;
  symbols.add_runtime_module("libmyalloc");
  std::vector<Frame> frames = {frame("libc.so.6", "__mmap"), frame("libmyalloc.so.2", "my_alloc"),
                               frame("app", "main")};
  EXPECT_EQ(choose_caller(frames, symbols), 2);
}

TEST(Caller, NoneWhenEveryFrameIsRuntimeOrUnknown) {
  Symbolizer symbols;
  std::vector<Frame> frames = {frame("ld-linux-x86-64.so.2", "_dl_map_object"), frame("", "")};
  EXPECT_EQ(choose_caller(frames, symbols), -1);
}

}  // namespace
}  // namespace maptrail::symbolize

namespace maptrail::symbolize {
namespace {

Stack stack_of(std::vector<uint64_t> addrs, int caller) {
  Stack s;
  for (uint64_t a : addrs) {
    Frame f;
    f.addr = a;
    f.module = "app";
    f.symbol = "fn" + std::to_string(a);
    s.frames.push_back(f);
  }
  s.caller = caller;
  return s;
}

TEST(CallSiteCache, EqualStacksOfOneSpaceShareOneObject) {
  CallSiteCache cache;
  auto a = cache.get(1, stack_of({10, 20, 30}, 1));
  auto b = cache.get(1, stack_of({10, 20, 30}, 1));
  EXPECT_EQ(a.get(), b.get());
  std::vector<std::string> expected = {"fn10 (app)", "fn20 (app)", "fn30 (app)"};
  EXPECT_EQ(a->frames, expected) << "offset 0 prints without +0x0";
  EXPECT_EQ(a->functions, expected);
  EXPECT_NE(cache.get(2, stack_of({10, 20, 30}, 1)).get(), a.get()) << "another address space";
  EXPECT_NE(cache.get(1, stack_of({10, 20}, 1)).get(), a.get()) << "another stack";
  EXPECT_EQ(cache.size(), 3u);
}

TEST(CallSiteCache, AForgottenSpaceKeepsNothingAndItsAddressStartsAfresh) {
  CallSiteCache cache;
  auto a = cache.get(1, stack_of({10, 20, 30}, 1));
  cache.get(1, stack_of({10, 20}, 1));
  auto other = cache.get(2, stack_of({10, 20, 30}, 1));
  cache.forget(1);
  EXPECT_EQ(cache.size(), 1u);
  // A process given the same mm address later: the same raw addresses may be other code.
  auto again = cache.get(1, stack_of({10, 20, 30}, 1));
  EXPECT_NE(again.get(), a.get());
  EXPECT_EQ(cache.get(2, stack_of({10, 20, 30}, 1)).get(), other.get()) << "others stay";
  cache.forget(7);  // never seen: nothing happens
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace maptrail::symbolize

namespace maptrail::symbolize {
namespace {

TEST(StackTopHint, LearnedFromCompleteUnwindsForgottenWhenACutCopyFellShort) {
  event::Event e;
  e.flags = MT_F_STACK_COPY;
  Stack stack;
  stack.end = Unwound::End::kOutermost;
  stack.used_top = 0x7ffd0000;
  EXPECT_EQ(stack_top_hint(e, stack), 0x7ffd0000u);

  stack.end = Unwound::End::kOutOfStack;
  EXPECT_EQ(stack_top_hint(e, stack), std::nullopt) << "an uncut copy: --stack-size is short";
  e.flags |= MT_F_STACK_TRIMMED;
  EXPECT_EQ(stack_top_hint(e, stack), 0u) << "cut at the hint and short: forget it";
  e.flags |= MT_F_STACK_SHORTENED;
  EXPECT_EQ(stack_top_hint(e, stack), std::nullopt) << "cut for lack of room: proves nothing";

  stack.end = Unwound::End::kNoRule;
  EXPECT_EQ(stack_top_hint(e, stack), std::nullopt);
  e.flags = 0;  // frame-pointer or no stacks
  stack.end = Unwound::End::kOutermost;
  EXPECT_EQ(stack_top_hint(e, stack), std::nullopt);
}

}  // namespace
}  // namespace maptrail::symbolize
