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
