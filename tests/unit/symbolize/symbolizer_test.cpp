// Symbolization against this test process's own mappings: real ELF files (the test binary,
// libc, libstdc++), anonymous memory, and addresses nothing maps.
#include "symbolize/symbolizer.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "procfs/maps.h"
#include "symbolize/stack.h"

// Functions with C++ (mangled) names, kept out of line and distinct so that neither inlining
// nor identical-code folding can give them another address.
namespace maptrail_test {

volatile int sink = 0;

__attribute__((noinline)) int noinline_target(int x) {
  sink = sink + x * 3;
  return sink;
}

__attribute__((noinline)) long other_target(long a, long b) {
  sink = sink + int(a - b) * 7;
  return sink + 1;
}

}  // namespace maptrail_test

namespace maptrail::symbolize {
namespace {

uint64_t address_of(void* p) {
  return reinterpret_cast<uint64_t>(p);
}

template <class F>
uint64_t function_address(F* f) {
  return reinterpret_cast<uint64_t>(reinterpret_cast<void*>(f));
}

// A symbol of a library already loaded, looked up in that library itself (so a sanitizer's
// interceptor in the executable cannot stand in for it).
uint64_t library_symbol(const char* library, const char* symbol) {
  void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return 0;
  void* p = dlsym(handle, symbol);
  dlclose(handle);
  return address_of(p);
}

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

class SymbolizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // An anonymous executable page, as a JIT would have.
    jit_ = mmap(nullptr, 2 * 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
    ASSERT_NE(jit_, MAP_FAILED);
    // Anonymous data, not executable.
    data_ = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(data_, MAP_FAILED);
    auto vmas = procfs::read_maps(getpid());
    ASSERT_TRUE(vmas.ok()) << vmas.error().message;
    ASSERT_TRUE(layout_.assign(std::move(*vmas)));
  }
  void TearDown() override {
    if (jit_ != MAP_FAILED) munmap(jit_, 2 * 4096);
    if (data_ != MAP_FAILED) munmap(data_, 4096);
  }

  void* jit_ = MAP_FAILED;
  void* data_ = MAP_FAILED;
  model::AddressSpace layout_;
  Symbolizer symbols_;
};

TEST_F(SymbolizerTest, FunctionOfTheTestBinary) {
  uint64_t addr = function_address(&maptrail_test::noinline_target);
  Frame f = symbols_.resolve(&layout_, addr);
  EXPECT_EQ(f.addr, addr);
  EXPECT_EQ(f.symbol, "maptrail_test::noinline_target(int)");
  EXPECT_EQ(f.offset, 0u);
  EXPECT_EQ(f.path, self_exe());
  EXPECT_EQ(f.module, basename_of(self_exe()));
  EXPECT_EQ(f.module, "unit_symbolize");
  EXPECT_EQ(f.to_string(), "maptrail_test::noinline_target(int)");
  EXPECT_FALSE(symbols_.is_runtime(f));
}

TEST_F(SymbolizerTest, AddressInsideAFunctionHasAnOffset) {
  uint64_t addr = function_address(&maptrail_test::other_target) + 5;
  Frame f = symbols_.resolve(&layout_, addr);
  EXPECT_EQ(f.symbol, "maptrail_test::other_target(long, long)");
  EXPECT_EQ(f.offset, 5u);
  EXPECT_EQ(f.to_string(), "maptrail_test::other_target(long, long)+0x5");
}

TEST_F(SymbolizerTest, TwoFunctionsOfTheSameModule) {
  // The second lookup in a module comes from the cache and must not mix up symbols.
  Frame a = symbols_.resolve(&layout_, function_address(&maptrail_test::noinline_target));
  Frame b = symbols_.resolve(&layout_, function_address(&maptrail_test::other_target));
  Frame a2 = symbols_.resolve(&layout_, function_address(&maptrail_test::noinline_target));
  EXPECT_EQ(a.symbol, "maptrail_test::noinline_target(int)");
  EXPECT_EQ(b.symbol, "maptrail_test::other_target(long, long)");
  EXPECT_EQ(a2.symbol, a.symbol);
}

// Of a symbol's aliases resolve() prefers the public name: dwfl_module_addrinfo() gives
// "__libc_malloc" for libc's malloc, and users look for "malloc".
TEST_F(SymbolizerTest, MallocInLibc) {
  uint64_t addr = library_symbol("libc.so.6", "malloc");
  ASSERT_NE(addr, 0u);
  Frame f = symbols_.resolve(&layout_, addr);
  EXPECT_EQ(f.module, "libc.so.6");
  EXPECT_EQ(f.path.rfind('/'), f.path.size() - std::string("libc.so.6").size() - 1) << f.path;
  // glibc exports malloc under two global names at one address, malloc and __libc_malloc:
  // the frame must read as the name callers use (perf, gdb and addr2line prefer the alias
  // with the fewest leading underscores).
  EXPECT_EQ(f.symbol, "malloc");
  EXPECT_EQ(f.offset, 0u);
  EXPECT_TRUE(symbols_.is_runtime(f));
}

TEST_F(SymbolizerTest, LibraryCppSymbolIsDemangled) {
  uint64_t addr = library_symbol("libstdc++.so.6", "_Znwm");
  ASSERT_NE(addr, 0u);
  Frame f = symbols_.resolve(&layout_, addr);
  // The file the mapping names, after symlinks: libstdc++.so.6.0.30.
  EXPECT_EQ(f.module.rfind("libstdc++.so.6", 0), 0u) << f.module;
  EXPECT_EQ(f.symbol, "operator new(unsigned long)");
  EXPECT_TRUE(symbols_.is_runtime(f));
}

TEST_F(SymbolizerTest, AnonymousMemory) {
  uint64_t addr = address_of(jit_) + 0x123;
  const model::Vma* vma = layout_.find(addr);
  ASSERT_NE(vma, nullptr);
  Frame f = symbols_.resolve(&layout_, addr);
  EXPECT_EQ(f.module, "[anon]");
  EXPECT_EQ(f.symbol, "");
  EXPECT_EQ(f.path, "");
  EXPECT_EQ(f.offset, addr - vma->start);
  EXPECT_EQ(f.to_string(), fmt::format("[anon]+{:#x}", addr - vma->start));
  EXPECT_FALSE(symbols_.is_runtime(f));
}

TEST_F(SymbolizerTest, SpecialMappingKeepsItsName) {
  const model::Vma* stack = nullptr;
  for (const auto& v : layout_)
    if (v.name == "[stack]") stack = &v;
  ASSERT_NE(stack, nullptr);
  Frame f = symbols_.resolve(&layout_, stack->start + 8);
  EXPECT_EQ(f.module, "[stack]");
  EXPECT_EQ(f.offset, 8u);
}

TEST_F(SymbolizerTest, UnknownAddress) {
  // Below mmap_min_addr: nothing can be mapped there.
  Frame f = symbols_.resolve(&layout_, 0x1230);
  EXPECT_EQ(f.module, "");
  EXPECT_EQ(f.symbol, "");
  EXPECT_EQ(f.to_string(), "0x1230");
  EXPECT_FALSE(symbols_.is_runtime(f));
  // Without a layout nothing is known either.
  Frame none = symbols_.resolve(nullptr, function_address(&maptrail_test::noinline_target));
  EXPECT_EQ(none.module, "");
  EXPECT_EQ(none.to_string(),
            fmt::format("{:#x}", function_address(&maptrail_test::noinline_target)));
}

// A frame reused from event to event holds what a fresh one would, whatever it held before.
TEST_F(SymbolizerTest, ResolvingIntoAReusedFrameLeavesNothingOfTheLastOne) {
  uint64_t named = function_address(&maptrail_test::noinline_target) + 0x10;
  uint64_t anon = address_of(jit_) + 0x123;
  std::vector<uint64_t> order = {named, anon, named, 0x1230, named};
  Frame reused;
  for (uint64_t addr : order) {
    SCOPED_TRACE(fmt::format("{:#x}", addr));
    symbols_.resolve(&layout_, addr, reused);
    Frame fresh = symbols_.resolve(&layout_, addr);
    EXPECT_EQ(reused.addr, fresh.addr);
    EXPECT_EQ(reused.module, fresh.module);
    EXPECT_EQ(reused.path, fresh.path);
    EXPECT_EQ(reused.symbol, fresh.symbol);
    EXPECT_EQ(reused.offset, fresh.offset);
  }
  symbols_.resolve(&layout_, anon, reused);
  EXPECT_EQ(reused.symbol, "");
  EXPECT_EQ(reused.path, "");
}

TEST_F(SymbolizerTest, RuntimeModulesArePrefixes) {
  Frame f;
  f.module = "ld-linux-x86-64.so.2";
  EXPECT_TRUE(symbols_.is_runtime(f));
  f.module = "libjemalloc.so.2";
  EXPECT_TRUE(symbols_.is_runtime(f));
  f.module = "libcrypto.so.3";
  EXPECT_FALSE(symbols_.is_runtime(f));
  f.module = "mylibc.so.6";
  EXPECT_FALSE(symbols_.is_runtime(f));
  f.module = "libfoo.so";
  EXPECT_FALSE(symbols_.is_runtime(f));
  symbols_.add_runtime_module("libfoo");
  EXPECT_TRUE(symbols_.is_runtime(f));
}

TEST(FrameToString, Forms) {
  Frame f;
  f.addr = 0x7f0012345678;
  EXPECT_EQ(f.to_string(), "0x7f0012345678");
  f.module = "libfoo.so";
  f.offset = 0x1234;
  EXPECT_EQ(f.to_string(), "libfoo.so+0x1234");
  f.symbol = "alloc_cache";
  f.offset = 0x1c;
  EXPECT_EQ(f.to_string(), "alloc_cache+0x1c");
  f.offset = 0;
  EXPECT_EQ(f.to_string(), "alloc_cache");
}

// --- resolve_stack --------------------------------------------------------------------

class ResolveStack : public SymbolizerTest {
 protected:
  void SetUp() override {
    SymbolizerTest::SetUp();
    malloc_ = library_symbol("libc.so.6", "malloc");
    ASSERT_NE(malloc_, 0u);
    a_ = function_address(&maptrail_test::noinline_target) + 0x10;
    b_ = function_address(&maptrail_test::other_target) + 0x8;
  }
  event::Event with_frames(std::vector<uint64_t> frames, uint64_t sp_word) {
    event::Event e;
    e.kind = event::Kind::kSyscall;
    e.syscall = event::Syscall::kMmap;
    e.frames = std::move(frames);
    e.sp_word = sp_word;
    return e;
  }
  std::vector<uint64_t> addrs(const Stack& s) {
    std::vector<uint64_t> out;
    for (const auto& f : s.frames) out.push_back(f.addr);
    return out;
  }
  uint64_t malloc_ = 0, a_ = 0, b_ = 0;
};

TEST_F(ResolveStack, FramesInOrderAndCallerOutsideTheRuntime) {
  Stack s = resolve_stack(with_frames({malloc_, a_, b_}, 0), &layout_, symbols_);
  EXPECT_EQ(addrs(s), (std::vector<uint64_t>{malloc_, a_, b_}));
  ASSERT_EQ(s.frames.size(), 3u);
  EXPECT_EQ(s.frames[0].module, "libc.so.6");
  EXPECT_EQ(s.frames[1].symbol, "maptrail_test::noinline_target(int)");
  EXPECT_EQ(s.frames[1].offset, 0x10u);
  EXPECT_EQ(s.frames[2].symbol, "maptrail_test::other_target(long, long)");
  EXPECT_EQ(s.caller, 1);
}

// Naming only the frames the text log shows gives the same caller and the same frames from
// it on as naming them all.
TEST_F(ResolveStack, NamingOnlyTheFramesShownKeepsTheCallerAndThoseFrames) {
  std::vector<uint64_t> deep = {malloc_};
  for (int i = 0; i < 12; i++) {
    deep.push_back(a_);
    deep.push_back(b_);
  }
  Stack full, shown;
  resolve_stack(with_frames(deep, 0), &layout_, symbols_, full);
  resolve_stack(with_frames(deep, 0), &layout_, symbols_, shown, 3);
  ASSERT_EQ(full.frames.size(), 25u);
  EXPECT_EQ(full.caller, 1);
  EXPECT_EQ(shown.caller, full.caller);
  ASSERT_GE(shown.frames.size(), size_t(full.caller) + 3);
  EXPECT_LT(shown.frames.size(), full.frames.size()) << "the deep frames are not named";
  for (size_t i = 0; i < shown.frames.size(); i++) {
    SCOPED_TRACE(i);
    EXPECT_EQ(shown.frames[i].addr, full.frames[i].addr);
    EXPECT_EQ(shown.frames[i].to_string(), full.frames[i].to_string());
    EXPECT_EQ(shown.frames[i].module, full.frames[i].module);
  }
}

// An unnamed frame outside the runtime gives way to the next named frame of its module, so
// the caller is not settled while the frames named so far all lie in that module: more are
// named until the module ends.
TEST_F(ResolveStack, ACallerInALongUnnamedRunIsSettledWhereTheRunEnds) {
  std::vector<uint64_t> frames = {malloc_};
  for (int i = 0; i < 14; i++) frames.push_back(address_of(jit_) + 16 * i);
  frames.push_back(a_);
  frames.push_back(b_);
  Stack full, shown;
  resolve_stack(with_frames(frames, 0), &layout_, symbols_, full);
  resolve_stack(with_frames(frames, 0), &layout_, symbols_, shown, 3);
  EXPECT_EQ(full.caller, 1) << "no named frame in the JIT's run: its first frame";
  EXPECT_EQ(shown.caller, full.caller);
  EXPECT_GE(shown.frames.size(), 15u) << "named up to the end of the run";
  // With no caller at all, every frame is looked at.
  std::vector<uint64_t> runtime_only(20, malloc_);
  resolve_stack(with_frames(runtime_only, 0), &layout_, symbols_, shown, 3);
  EXPECT_EQ(shown.caller, -1);
  EXPECT_EQ(shown.frames.size(), 20u);
}

TEST_F(ResolveStack, AReusedStackHoldsOnlyTheNewEventsFrames) {
  Stack reused;
  resolve_stack(with_frames({malloc_, a_, b_}, 0), &layout_, symbols_, reused);
  ASSERT_EQ(reused.frames.size(), 3u);
  resolve_stack(with_frames({b_}, 0), &layout_, symbols_, reused);
  EXPECT_EQ(addrs(reused), (std::vector<uint64_t>{b_}));
  EXPECT_EQ(reused.frames[0].symbol, "maptrail_test::other_target(long, long)");
  EXPECT_EQ(reused.caller, 0);
  resolve_stack(with_frames({}, 0), &layout_, symbols_, reused);
  EXPECT_TRUE(reused.frames.empty());
  EXPECT_EQ(reused.caller, -1);
}

TEST_F(ResolveStack, SpWordIsInsertedAfterTheFirstFrame) {
  // The wrapper's caller, which a frame-pointer walk skips.
  Stack s = resolve_stack(with_frames({malloc_, b_}, a_), &layout_, symbols_);
  EXPECT_EQ(addrs(s), (std::vector<uint64_t>{malloc_, a_, b_}));
  EXPECT_EQ(s.caller, 1);
  EXPECT_EQ(s.frames[1].symbol, "maptrail_test::noinline_target(int)");
  // With a single frame it goes after it.
  Stack one = resolve_stack(with_frames({malloc_}, a_), &layout_, symbols_);
  EXPECT_EQ(addrs(one), (std::vector<uint64_t>{malloc_, a_}));
  EXPECT_EQ(one.caller, 1);
  // Anonymous executable memory is executable memory.
  uint64_t jit = address_of(jit_) + 0x40;
  Stack j = resolve_stack(with_frames({malloc_, b_}, jit), &layout_, symbols_);
  EXPECT_EQ(addrs(j), (std::vector<uint64_t>{malloc_, jit, b_}));
}

TEST_F(ResolveStack, SpWordAlreadyTheSecondFrameIsNotRepeated) {
  Stack s = resolve_stack(with_frames({malloc_, a_, b_}, a_), &layout_, symbols_);
  EXPECT_EQ(addrs(s), (std::vector<uint64_t>{malloc_, a_, b_}));
}

TEST_F(ResolveStack, SpWordOutsideExecutableMemoryIsIgnored) {
  int on_stack = 0;
  for (uint64_t word :
       {address_of(data_) + 8, address_of(&on_stack),
        address_of(const_cast<int*>(&maptrail_test::sink)), uint64_t(0x1230), uint64_t(0)}) {
    Stack s = resolve_stack(with_frames({malloc_, b_}, word), &layout_, symbols_);
    EXPECT_EQ(addrs(s), (std::vector<uint64_t>{malloc_, b_})) << std::hex << word;
  }
  // Without a layout there is no way to tell: nothing is inserted.
  Stack s = resolve_stack(with_frames({malloc_, b_}, a_), nullptr, symbols_);
  EXPECT_EQ(addrs(s), (std::vector<uint64_t>{malloc_, b_}));
  EXPECT_EQ(s.caller, -1) << "no frame has a module without a layout";
}

TEST_F(ResolveStack, NoFramesNoStack) {
  Stack s = resolve_stack(with_frames({}, a_), &layout_, symbols_);
  EXPECT_TRUE(s.frames.empty());
  EXPECT_EQ(s.caller, -1);
}

TEST_F(ResolveStack, OnlyRuntimeFramesHaveNoCaller) {
  uint64_t calloc_addr = library_symbol("libc.so.6", "calloc");
  ASSERT_NE(calloc_addr, 0u);
  Stack s = resolve_stack(with_frames({malloc_, calloc_addr}, 0), &layout_, symbols_);
  EXPECT_EQ(s.frames.size(), 2u);
  EXPECT_EQ(s.caller, -1);
}

TEST_F(ResolveStack, NullFramesEndTheWalk) {
  Stack s = resolve_stack(with_frames({malloc_, 0, a_}, 0), &layout_, symbols_);
  for (const auto& f : s.frames) EXPECT_NE(f.addr, 0u);
  EXPECT_EQ(s.caller, int(s.frames.size()) - 1);
  EXPECT_EQ(s.frames[s.caller].addr, a_);
}

// Names are cached by address: once other code is mapped there, the address is named anew.
TEST_F(SymbolizerTest, AnAddressIsNamedAfterWhatIsMappedThereNow) {
  uint64_t addr = function_address(&maptrail_test::noinline_target);
  Frame before = symbols_.resolve(&layout_, addr);
  ASSERT_EQ(before.module, basename_of(self_exe()));
  const model::Vma* code = layout_.find(addr);
  ASSERT_NE(code, nullptr);
  model::Vma jit;
  jit.start = code->start;
  jit.end = code->end;
  jit.perms = model::kRead | model::kExec;
  jit.name = "[anon:jit]";
  ASSERT_TRUE(layout_.replace_window(jit.start, jit.end, {{jit}}));
  Frame after = symbols_.resolve(&layout_, addr);
  EXPECT_EQ(after.module, "[anon:jit]");
  EXPECT_EQ(after.path, "");
  EXPECT_EQ(after.symbol, "");
  EXPECT_EQ(after.offset, addr - jit.start);
}

TEST_F(SymbolizerTest, ACachedAddressResolvesAsTheFirstTime) {
  const uint64_t addrs[] = {function_address(&maptrail_test::noinline_target) + 1,
                            library_symbol("libc.so.6", "malloc"), address_of(jit_) + 16};
  for (uint64_t addr : addrs) {
    ASSERT_NE(addr, 0u);
    Frame first = symbols_.resolve(&layout_, addr);
    uint64_t hits = symbols_.resolved_hits();
    Frame again = symbols_.resolve(&layout_, addr);
    EXPECT_EQ(symbols_.resolved_hits(), hits + 1);
    EXPECT_EQ(again.addr, first.addr);
    EXPECT_EQ(again.module, first.module);
    EXPECT_EQ(again.path, first.path);
    EXPECT_EQ(again.symbol, first.symbol);
    EXPECT_EQ(again.offset, first.offset);
  }
}

}  // namespace
}  // namespace maptrail::symbolize
