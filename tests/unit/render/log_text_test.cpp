#include "render/log_text.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "render_test_util.h"

namespace maptrail::render {
namespace {

using namespace testing;
using event::Kind;
using event::Syscall;

class LogText : public ::testing::Test {
 protected:
  void SetUp() override { use_utc(); }

  std::string text(const event::Event& e, const symbolize::Stack& stack = {},
                   std::string fd_path = "", TextStyle style = {}) {
    return log_text(EventView{e, stack, std::move(fd_path)}, fixed_clock(), style);
  }
};

// The text with the wrap undone: continuation lines joined back with one space.
std::string unwrapped(const std::string& text) {
  std::string out;
  for (const auto& line : lines_of(text)) {
    if (line.rfind("      ", 0) == 0 && !out.empty() && line.rfind("    by", 0) != 0) {
      out += " " + line.substr(6);
    } else {
      if (!out.empty()) out += "\n";
      out += line;
    }
  }
  return out;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

TEST_F(LogText, CallSyntaxOfAnAnonymousMmap) {
  event::Event e = anon_mmap_4m();
  EXPECT_EQ(call_text(e, ""), "mmap(NULL, 4M, rw-, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)");
  EXPECT_EQ(result_text(e), "= 0x7f0000000000");
}

TEST_F(LogText, TypicalMmapLine) {
  event::Event e = anon_mmap_4m();
  std::string out = text(e);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  std::string line = unwrapped(out);
  EXPECT_EQ(line,
            "03:04:06.500000   1.500000 workload[4242/4243] "
            "mmap(NULL, 4M, rw-, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000 <2.5us>");
  for (const auto& l : lines_of(out)) EXPECT_LE(columns(l), 100u) << l;
}

TEST_F(LogText, NoStackLineWithoutFrames) {
  std::string out = text(anon_mmap_4m());
  EXPECT_EQ(out.find("    by"), std::string::npos) << out;
}

TEST_F(LogText, AddressHintFixedFlagsAndOffset) {
  event::Event e = syscall_event(
      Syscall::kMmap, {kBase, 8 * P, 5, 0x12 /* PRIVATE|FIXED */, 3, 0x3000}, int64_t(kBase));
  EXPECT_EQ(call_text(e, "/usr/lib/libfoo.so"),
            "mmap(0x7f0000000000, 32K, r-x, MAP_PRIVATE|MAP_FIXED, 3</usr/lib/libfoo.so>, "
            "0x3000)");
}

TEST_F(LogText, FileMmapShowsThePathBehindTheFd) {
  event::Event e =
      syscall_event(Syscall::kMmap, {0, 3 * P, 1, 0x02 /* MAP_PRIVATE */, 3, 0}, int64_t(kBase));
  std::string out = unwrapped(text(e, {}, "/etc/passwd"));
  EXPECT_NE(out.find("mmap(NULL, 12K, r--, MAP_PRIVATE, 3</etc/passwd>, 0) = 0x7f0000000000"),
            std::string::npos)
      << out;
  // Without a known path the fd prints alone.
  EXPECT_EQ(call_text(e, ""), "mmap(NULL, 12K, r--, MAP_PRIVATE, 3, 0)");
}

TEST_F(LogText, FailedCall) {
  event::Event e =
      syscall_event(Syscall::kMmap, {0, uint64_t(1) << 40, 3, 0x22, uint64_t(-1), 0}, -12);
  e.flags = MT_F_NO_WINDOW;
  EXPECT_EQ(result_text(e), "= -1 ENOMEM");
  std::string out = unwrapped(text(e));
  EXPECT_NE(out.find("mmap(NULL, 1T, rw-, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM <2.5us>"),
            std::string::npos)
      << out;
  // A call that changed nothing has no window to be incomplete.
  EXPECT_EQ(out.find("incomplete"), std::string::npos) << out;
}

TEST_F(LogText, ResultsOfOtherCalls) {
  event::Event munmap = syscall_event(Syscall::kMunmap, {kBase, 8 * P}, 0);
  EXPECT_EQ(call_text(munmap, ""), "munmap(0x7f0000000000, 32K)");
  EXPECT_EQ(result_text(munmap), "= 0");
  event::Event brk = syscall_event(Syscall::kBrk, {0}, 0x55555557a000);
  EXPECT_EQ(call_text(brk, ""), "brk(NULL)");
  EXPECT_EQ(result_text(brk), "= 0x55555557a000");
  event::Event mremap = syscall_event(Syscall::kMremap, {kBase, 2 * P, 4 * P, 1}, int64_t(kBase));
  EXPECT_EQ(call_text(mremap, ""), "mremap(0x7f0000000000, 8K, 16K, MREMAP_MAYMOVE)");
  event::Event mremap_fixed = syscall_event(
      Syscall::kMremap, {kBase, 2 * P, 4 * P, 3, kBase + 16 * P}, int64_t(kBase + 16 * P));
  EXPECT_EQ(call_text(mremap_fixed, ""),
            "mremap(0x7f0000000000, 8K, 16K, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f0000010000)");
  EXPECT_EQ(result_text(mremap_fixed), "= 0x7f0000010000");
  event::Event mprotect = syscall_event(Syscall::kMprotect, {kBase, P, 0}, -13);
  EXPECT_EQ(call_text(mprotect, ""), "mprotect(0x7f0000000000, 4K, ---)");
  EXPECT_EQ(result_text(mprotect), "= -1 EACCES");
}

TEST_F(LogText, AWrappedCallPutsTheResultOnItsOwnLine) {
  std::string out = text(anon_mmap_4m());
  auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_EQ(lines[0],
            "03:04:06.500000   1.500000 workload[4242/4243] "
            "mmap(NULL, 4M, rw-, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)");
  EXPECT_EQ(lines[1], "      = 0x7f0000000000 <2.5us>");
}

TEST_F(LogText, ShortLineIsNotWrapped) {
  event::Event e = syscall_event(Syscall::kMunmap, {kBase, 8 * P}, 0);
  e.comm = "a";
  EXPECT_EQ(text(e),
            "03:04:06.500000   1.500000 a[4242/4243] munmap(0x7f0000000000, 32K) = 0 <2.5us>\n");
}

TEST_F(LogText, LayoutRecordsAreNotLogged) {
  event::Event e = anon_mmap_4m();
  e.kind = Kind::kLayout;
  e.syscall = Syscall::kNone;
  EXPECT_EQ(text(e, app_stack()), "");
}

TEST_F(LogText, LatencyUnits) {
  event::Event e = syscall_event(Syscall::kMunmap, {kBase, P}, 0);
  e.exit_ns = e.enter_ns + 999;
  EXPECT_NE(text(e).find("<999ns>"), std::string::npos);
  e.exit_ns = e.enter_ns + 1'500'000;
  EXPECT_NE(text(e).find("<1.50ms>"), std::string::npos);
}

TEST_F(LogText, Fork) {
  event::Event e = task_event(Kind::kFork);
  e.child_pid = 5000;
  e.child_tid = 5000;
  std::string out = text(e, app_stack());
  EXPECT_EQ(out, "03:04:07.000000   2.000000 workload[4242/4242] fork child 5000\n");
  e.flags = MT_F_THREAD_SHARED_VM;
  EXPECT_NE(text(e).find("fork child 5000 (shares memory: CLONE_VM)"), std::string::npos);
}

TEST_F(LogText, Thread) {
  event::Event e = task_event(Kind::kThread);
  e.child_pid = 4242;
  e.child_tid = 4250;
  EXPECT_EQ(text(e), "03:04:07.000000   2.000000 workload[4242/4242] thread tid 4250\n");
}

TEST_F(LogText, Exec) {
  event::Event e = task_event(Kind::kExec);
  e.filename = "/usr/bin/true";
  EXPECT_EQ(text(e), "03:04:07.000000   2.000000 workload[4242/4242] exec /usr/bin/true\n");
}

TEST_F(LogText, ExitStatusAndSignals) {
  event::Event e = task_event(Kind::kExit);
  e.exit_code = 3 << 8;
  EXPECT_EQ(text(e), "03:04:07.000000   2.000000 workload[4242/4242] exit status 3\n");
  e.exit_code = 9;
  EXPECT_NE(text(e).find("exit killed by SIGKILL\n"), std::string::npos) << text(e);
  e.exit_code = 0x80 | 11;
  EXPECT_NE(text(e).find("exit killed by SIGSEGV (core dumped)\n"), std::string::npos) << text(e);
}

TEST_F(LogText, ExitMmap) {
  event::Event e = task_event(Kind::kExitMmap);
  e.child_mm = 0xffff888000def000;
  EXPECT_EQ(text(e),
            "03:04:07.000000   2.000000 workload[4242/4242] exit_mmap address space "
            "0xffff888000def000 released\n");
}

TEST_F(LogText, LostEvents) {
  event::Event e = lost_event({{MT_SYS_MMAP, 3}, {MT_SYS_MUNMAP, 1}, {MT_SYS_COUNT + 2u, 1}});
  std::string out = text(e);
  std::string joined = unwrapped(out);
  EXPECT_NE(joined.find("LOST 5 events"), std::string::npos) << out;
  EXPECT_NE(joined.find("3 mmap, 1 munmap, 1 fork"), std::string::npos) << out;
  EXPECT_NE(joined.find("--ringbuf-size"), std::string::npos) << out;
  for (const auto& l : lines_of(out)) EXPECT_LE(columns(l), 100u) << l;
}

TEST_F(LogText, StackLineStartsAtTheCaller) {
  std::string out = text(anon_mmap_4m(), app_stack());
  auto lines = lines_of(out);
  ASSERT_GE(lines.size(), 2u);
  const std::string& stack = lines.back();
  // Three frames from the caller on, cut at the width.
  EXPECT_EQ(stack.rfind("    by make_buffer(unsigned long)+0x34 (app) < main+0x80 (app) < "
                        "__libc_start_call_main+0x7a (libc.",
                        0),
            0u)
      << stack;
  EXPECT_LE(columns(stack), 100u) << stack;
  TextStyle two;
  two.caller_frames = 2;
  EXPECT_EQ(lines_of(text(anon_mmap_4m(), app_stack(), "", two)).back(),
            "    by make_buffer(unsigned long)+0x34 (app) < main+0x80 (app)");
  EXPECT_EQ(out.find("__mmap"), std::string::npos) << "frames before the caller are not shown";
}

TEST_F(LogText, StackLineFramesWithoutSymbols) {
  symbolize::Stack s;
  s.frames = {frame(0x7f00aa0e5a1c, "libc.so.6", "", 0xe5a1c),
              frame(0x7f00bb001000, "[anon]", "", 0x1000), frame(0x1234, "", "", 0)};
  s.caller = -1;  // no frame outside the runtime: start at the innermost one
  std::string out = text(anon_mmap_4m(), s);
  EXPECT_EQ(lines_of(out).back(), "    by libc.so.6+0xe5a1c < [anon]+0x1000 < 0x1234");
}

TEST_F(LogText, StackLineShowsCallerFramesCount) {
  TextStyle style;
  style.caller_frames = 1;
  std::string out = text(anon_mmap_4m(), app_stack(), "", style);
  EXPECT_EQ(lines_of(out).back(), "    by make_buffer(unsigned long)+0x34 (app)");
}

TEST_F(LogText, StackLineIsCutToTheWidth) {
  symbolize::Stack s = app_stack();
  s.frames[1].symbol =
      "std::vector<std::pair<std::string, std::map<int, long>>>::" + std::string(120, 'x') + "()";
  std::string out = text(anon_mmap_4m(), s);
  std::string stack = lines_of(out).back();
  EXPECT_EQ(stack.rfind("    by std::vector<", 0), 0u) << stack;
  EXPECT_LE(columns(stack), 100u) << stack;
  EXPECT_NE(stack.find("…"), std::string::npos) << stack;
}

TEST_F(LogText, NoStackLineForLifecycleEvents) {
  event::Event e = task_event(Kind::kExec);
  e.filename = "/bin/sh";
  EXPECT_EQ(lines_of(text(e, app_stack())).size(), 1u);
}

TEST_F(LogText, WrapKeepsEveryWordOfALongLine) {
  // A path with spaces: the line is broken at spaces and nothing is lost.
  std::string path = "/srv/data/some directory with spaces/and a long file name that goes on/" +
                     std::string("segment.") + "bin";
  event::Event e = syscall_event(
      Syscall::kMmap, {0, 64 * kMiB, 1, 0x01 /* MAP_SHARED */, 7, 0x100000}, int64_t(kBase));
  e.comm = "data-loader";
  std::string out = text(e, {}, path);
  auto lines = lines_of(out);
  EXPECT_GE(lines.size(), 2u) << out;
  for (const auto& l : lines) EXPECT_LE(columns(l), 100u) << l;
  for (size_t i = 1; i < lines.size(); i++) EXPECT_EQ(lines[i].rfind("      ", 0), 0u) << lines[i];
  std::string full = "mmap(NULL, 64M, r--, MAP_SHARED, 7<" + path + ">, 0x100000) = 0x7f0000000000";
  EXPECT_EQ(words_of(out),
            words_of("03:04:06.500000 1.500000 data-loader[4242/4243] " + full + " <2.5us>"));
}

// A piece with no space that is longer than the line (a deep path) is broken hard, so every
// line fits 100 columns (DESIGN.md), and nothing of it is lost; wrap() once broke only at
// spaces and let such a line run on.
TEST_F(LogText, VeryLongFilePathFitsTheWidthAndLosesNothing) {
  // A realistic deep path without spaces, longer than a whole line.
  std::string path =
      "/home/builder/.cache/bazel/_bazel_builder/3f2a1c9e8d7b6a5f4e3d2c1b0a998877/"
      "execroot/__main__/bazel-out/k8-opt/bin/external/com_github_project/"
      "libproject_internal_shared_library_with_a_long_name.so";
  ASSERT_GT(path.size(), 150u);
  event::Event e = syscall_event(Syscall::kMmap, {0, 2 * kMiB, 5, 0x02, 3, 0}, int64_t(kBase));
  std::string out = text(e, {}, path);
  for (const auto& l : lines_of(out)) EXPECT_LE(columns(l), 100u) << "line too wide: " << l;
  // Whatever the cut, every character of the path is still there, in order.
  std::string squeezed;
  for (char c : out)
    if (c != '\n' && c != ' ') squeezed += c;
  EXPECT_NE(squeezed.find(path), std::string::npos) << out;
  EXPECT_NE(squeezed.find("=0x7f0000000000<2.5us>"), std::string::npos) << out;
}

TEST_F(LogText, NarrowerWidth) {
  TextStyle style;
  style.width = 60;
  std::string out = text(anon_mmap_4m(), app_stack(), "", style);
  auto lines = lines_of(out);
  EXPECT_GE(lines.size(), 3u) << out;
  for (const auto& l : lines) EXPECT_LE(columns(l), 60u) << l;
  // Only the stack line may be cut; the event line is only wrapped.
  std::string narrow = text(anon_mmap_4m(), {}, "", style);
  EXPECT_EQ(unwrapped(narrow), unwrapped(text(anon_mmap_4m())));
}

TEST_F(LogText, ColorAddsEscapesOnly) {
  TextStyle style;
  style.color = Color::kAnsi;
  std::string colored = text(anon_mmap_4m(), {}, "", style);
  EXPECT_NE(colored.find('\x1b'), std::string::npos);
  // Removing the escapes gives the plain text back.
  std::string stripped;
  bool in_escape = false;
  for (char c : colored) {
    if (c == '\x1b') in_escape = true;
    if (!in_escape) stripped += c;
    if (in_escape && c == 'm') in_escape = false;
  }
  EXPECT_EQ(unwrapped(stripped), unwrapped(text(anon_mmap_4m())));
}

}  // namespace
}  // namespace maptrail::render
