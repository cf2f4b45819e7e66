#include "render/log_json.h"

#include <regex>
#include <string>

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "render_test_util.h"

namespace maptrail::render {
namespace {

using namespace testing;
using event::Kind;
using event::Syscall;
using nlohmann::json;

json parsed(const event::Event& e, const symbolize::Stack& stack = {}, std::string fd_path = "") {
  std::string line = log_json(EventView{e, stack, std::move(fd_path)}, fixed_clock());
  EXPECT_FALSE(line.empty());
  if (line.empty()) return json();
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one object per line: " << line;
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << line;
  EXPECT_TRUE(j.is_object()) << line;
  return j;
}

TEST(LogJson, CommonFields) {
  json j = parsed(anon_mmap_4m());
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["time"], "2026-01-02T03:04:06.500000123Z");
  ASSERT_TRUE(j["t"].is_number());
  EXPECT_NEAR(j["t"].get<double>(), 1.500000123, 1e-9);
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["tid"], 4243);
  EXPECT_EQ(j["comm"], "workload");
  EXPECT_EQ(j["mm"], "0xffff888012345000");
  EXPECT_EQ(j["event"], "mmap");
}

TEST(LogJson, TimeIsRfc3339WithNineFractionalDigits) {
  std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z)");
  for (uint64_t ns : {uint64_t(0), uint64_t(1), uint64_t(999'999'999), uint64_t(7'000'000)}) {
    event::Event e = anon_mmap_4m();
    e.enter_ns = kStartMono + 10 * kSec + ns;
    json j = parsed(e);
    ASSERT_TRUE(j["time"].is_string());
    std::string time = j["time"];
    EXPECT_TRUE(std::regex_match(time, rfc3339)) << time;
    EXPECT_EQ(time.substr(0, 20), "2026-01-02T03:04:15.") << time;
    EXPECT_EQ(time.substr(20, 9), fmt::format("{:09}", ns)) << time;
  }
  EXPECT_EQ(rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(rfc3339_ns(uint64_t(951782400) * kSec + 5), "2000-02-29T00:00:00.000000005Z");
}

TEST(LogJson, TimeOfLifecycleEventsIsTheirMoment) {
  event::Event e = task_event(Kind::kExec);
  e.enter_ns = 0;  // only exit_ns is meaningful for lifecycle events
  e.filename = "/bin/true";
  json j = parsed(e);
  EXPECT_EQ(j["time"], "2026-01-02T03:04:07.000000000Z");
  EXPECT_DOUBLE_EQ(j["t"].get<double>(), 2.0);
}

TEST(LogJson, EventBeforeTheStartHasNegativeT) {
  event::Event e = anon_mmap_4m();
  e.enter_ns = kStartMono - kSec / 4;
  json j = parsed(e);
  EXPECT_DOUBLE_EQ(j["t"].get<double>(), -0.25);
  EXPECT_EQ(j["time"], "2026-01-02T03:04:04.750000000Z");
}

TEST(LogJson, MmapArgumentsByManPageName) {
  event::Event e =
      syscall_event(Syscall::kMmap, {kBase, 8 * P, 5, 0x12, 3, 0x3000}, int64_t(kBase));
  json j = parsed(e, {}, "/usr/lib/libfoo.so");
  json want_args = {{"addr", kBase}, {"length", 8 * P}, {"prot", 5},
                    {"flags", 0x12}, {"fd", 3},         {"offset", 0x3000}};
  EXPECT_EQ(j["args"], want_args) << j.dump();
  EXPECT_EQ(j["decoded"]["prot"], "PROT_READ|PROT_EXEC");
  EXPECT_EQ(j["decoded"]["flags"], "MAP_PRIVATE|MAP_FIXED");
  EXPECT_EQ(j["decoded"]["fd"], "/usr/lib/libfoo.so");
  EXPECT_EQ(j["ret"], int64_t(kBase));
  EXPECT_FALSE(j.contains("errno"));
  EXPECT_EQ(j["latency_ns"], 2500);
}

TEST(LogJson, AnonymousMmapHasSignedFdAndNoFdPath) {
  json j = parsed(anon_mmap_4m());
  EXPECT_EQ(j["args"]["fd"], -1) << j.dump();
  EXPECT_EQ(j["args"]["length"], 4 * kMiB);
  EXPECT_FALSE(j["decoded"].contains("fd"));
  EXPECT_EQ(j["decoded"]["flags"], "MAP_PRIVATE|MAP_ANONYMOUS");
}

TEST(LogJson, MremapArguments) {
  event::Event e = syscall_event(Syscall::kMremap, {kBase, 2 * P, 4 * P, 3, kBase + 64 * P},
                                 int64_t(kBase + 64 * P));
  json j = parsed(e);
  EXPECT_EQ(j["event"], "mremap");
  json want = {{"old_address", kBase},
               {"old_size", 2 * P},
               {"new_size", 4 * P},
               {"flags", 3},
               {"new_address", kBase + 64 * P}};
  EXPECT_EQ(j["args"], want) << j.dump();
  EXPECT_EQ(j["decoded"]["flags"], "MREMAP_MAYMOVE|MREMAP_FIXED");
}

TEST(LogJson, OtherArgumentNames) {
  json brk = parsed(syscall_event(Syscall::kBrk, {0x55555557b000}, 0x55555557b000));
  EXPECT_EQ(brk["args"], (json{{"addr", 0x55555557b000}}));
  json munlockall = parsed(syscall_event(Syscall::kMunlockall, {}, 0));
  EXPECT_EQ(munlockall["args"], json::object());
  json shmat = parsed(syscall_event(Syscall::kShmat, {uint64_t(-1), 0, 0x1000}, -22));
  EXPECT_EQ(shmat["args"]["shmid"], -1);
  EXPECT_EQ(shmat["args"]["shmflg"], 0x1000);
  json pkey = parsed(syscall_event(Syscall::kPkeyMprotect, {kBase, P, 1, 2}, 0));
  EXPECT_EQ(pkey["args"]["pkey"], 2);
}

TEST(LogJson, FailedCallHasErrnoName) {
  event::Event e =
      syscall_event(Syscall::kMmap, {0, uint64_t(1) << 40, 3, 0x22, uint64_t(-1), 0}, -12);
  e.flags = MT_F_NO_WINDOW;
  json j = parsed(e);
  EXPECT_EQ(j["ret"], -12);
  EXPECT_EQ(j["errno"], "ENOMEM");
  EXPECT_TRUE(j["window"].is_null());
}

TEST(LogJson, StackFrames) {
  symbolize::Stack s = app_stack();
  s.frames.push_back(frame(0x7f00cc000010, "[anon]", "", 0x10));
  s.frames.push_back(frame(0x10, "", "", 0));
  json j = parsed(anon_mmap_4m(), s);
  ASSERT_TRUE(j["stack"].is_array());
  ASSERT_EQ(j["stack"].size(), 7u);
  EXPECT_EQ(j["stack"][0], (json{{"addr", 0x7f00aa0e5a1c},
                                 {"module", "libc.so.6"},
                                 {"symbol", "__mmap"},
                                 {"offset", 0x1c}}));
  EXPECT_EQ(j["stack"][1]["symbol"], "make_buffer(unsigned long)");
  EXPECT_EQ(j["stack"][1]["module"], "app");
  EXPECT_EQ(j["stack"][1]["offset"], 0x34);
  EXPECT_EQ(j["stack"][5]["module"], "[anon]");
  EXPECT_TRUE(j["stack"][5]["symbol"].is_null());
  EXPECT_TRUE(j["stack"][6]["module"].is_null());
  EXPECT_TRUE(j["stack"][6]["symbol"].is_null());
  EXPECT_EQ(j["stack"][6]["addr"], 0x10);
  EXPECT_EQ(j["caller"], 1);
  json none = parsed(anon_mmap_4m());
  EXPECT_EQ(none["stack"], json::array());
  EXPECT_TRUE(none["caller"].is_null());
}

TEST(LogJson, WindowAsProcShowsIt) {
  event::Event e = syscall_event(Syscall::kBrk, {0x55555559c000}, 0x55555559c000);
  e.start_brk = 0x555555559000;
  e.brk = 0x55555559c000;
  e.start_stack = 0x7ffffffde000;
  e.ranges = {{0x55555557a000, 0x55555559c000}};
  event::WindowVma file;
  file.start = 0x555555558000;
  file.end = 0x555555559000;
  file.vm_flags = 0x73;
  file.pgoff = 4;
  file.inode = 1311;
  file.dev = (254u << 20) | 1;
  file.name_kind = MT_NAME_PATH;
  file.name = "/usr/bin/app";
  event::WindowVma heap;
  heap.start = 0x555555559000;
  heap.end = 0x55555559c000;
  heap.vm_flags = 0x100073;
  heap.pgoff = 0x555555559;
  e.vmas = {file, heap};
  json j = parsed(e);
  ASSERT_TRUE(j["window"].is_array()) << j.dump();
  ASSERT_EQ(j["window"].size(), 2u);
  json f = j["window"][0];
  EXPECT_EQ(f["start"], 0x555555558000);
  EXPECT_EQ(f["end"], 0x555555559000);
  EXPECT_EQ(f["perms"], "rw-p");
  EXPECT_EQ(f["offset"], 0x4000);
  EXPECT_EQ(f["dev"], "fe:01");
  EXPECT_EQ(f["inode"], 1311);
  EXPECT_EQ(f["name"], "/usr/bin/app");
  EXPECT_EQ(f["vm_flags"], 0x73);
  json h = j["window"][1];
  EXPECT_EQ(h["perms"], "rw-p");
  EXPECT_EQ(h["offset"], 0);
  EXPECT_EQ(h["dev"], "00:00");
  EXPECT_EQ(h["inode"], 0);
  EXPECT_EQ(h["name"], "[heap]");
  EXPECT_EQ(j["window_ranges"], (json{{0x55555557a000, 0x55555559c000}}));
  EXPECT_EQ(j["window_complete"], true);
  EXPECT_EQ(j["window_flags"], json::array());
}

TEST(LogJson, WindowFlags) {
  event::Event e = anon_mmap_4m();
  e.flags = MT_F_WINDOW_BUSY | MT_F_WINDOW_OVERFLOW | MT_F_STACK_FP;
  json j = parsed(e);
  EXPECT_EQ(j["window_complete"], false);
  EXPECT_EQ(j["window_flags"], (json{"overflow", "busy"}));
}

TEST(LogJson, Fork) {
  event::Event e = task_event(Kind::kFork);
  e.child_pid = 5000;
  e.child_tid = 5000;
  e.child_mm = 0xffff888000abc000;
  json j = parsed(e);
  EXPECT_EQ(j["event"], "fork");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["child_pid"], 5000);
  EXPECT_EQ(j["child_tid"], 5000);
  EXPECT_EQ(j["child_mm"], "0xffff888000abc000");
  EXPECT_EQ(j["shares_mm"], false);
  EXPECT_FALSE(j.contains("args"));
  EXPECT_FALSE(j.contains("stack"));
  e.flags = MT_F_THREAD_SHARED_VM;
  EXPECT_EQ(parsed(e)["shares_mm"], true);
}

TEST(LogJson, ThreadExecExitExitMmap) {
  event::Event t = task_event(Kind::kThread);
  t.child_pid = 4242;
  t.child_tid = 4250;
  json thread = parsed(t);
  EXPECT_EQ(thread["event"], "thread");
  EXPECT_EQ(thread["child_tid"], 4250);
  EXPECT_FALSE(thread.contains("shares_mm"));

  event::Event x = task_event(Kind::kExec);
  x.filename = "/usr/bin/env";
  x.child_tid = 4251;
  x.child_mm = 0xffff888000fff000;
  json exec = parsed(x);
  EXPECT_EQ(exec["event"], "exec");
  EXPECT_EQ(exec["filename"], "/usr/bin/env");
  EXPECT_EQ(exec["old_tid"], 4251);
  EXPECT_EQ(exec["new_mm"], "0xffff888000fff000");

  event::Event q = task_event(Kind::kExit);
  q.exit_code = 3 << 8;
  json exit = parsed(q);
  EXPECT_EQ(exit["event"], "exit");
  EXPECT_EQ(exit["status"], 3 << 8);
  EXPECT_EQ(exit["exit_code"], 3);
  EXPECT_FALSE(exit.contains("signal"));
  q.exit_code = 9;
  json killed = parsed(q);
  EXPECT_EQ(killed["signal"], 9);
  EXPECT_FALSE(killed.contains("exit_code"));

  event::Event m = task_event(Kind::kExitMmap);
  m.child_mm = 0xffff888000def000;
  json exit_mmap = parsed(m);
  EXPECT_EQ(exit_mmap["event"], "exit_mmap");
  EXPECT_EQ(exit_mmap["released_mm"], "0xffff888000def000");
}

TEST(LogJson, LostEvents) {
  event::Event e = lost_event({{MT_SYS_MMAP, 812}, {MT_SYS_MUNMAP, 809}, {MT_SYS_COUNT + 2u, 4}});
  json j = parsed(e);
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["event"], "lost");
  EXPECT_EQ(j["count"], 1625);
  EXPECT_EQ(j["lost"], (json{{"mmap", 812}, {"munmap", 809}, {"fork", 4}}));
  EXPECT_TRUE(j["time"].is_null());
  EXPECT_TRUE(j["t"].is_null());
  EXPECT_FALSE(j.contains("pid"));
  EXPECT_FALSE(j.contains("comm"));
}

TEST(LogJson, InvalidUtf8InNamesStillGivesValidJson) {
  event::Event e = anon_mmap_4m();
  e.comm = "bad\xff\xfe";
  e.vmas[0].name_kind = MT_NAME_PATH;
  e.vmas[0].inode = 7;
  e.vmas[0].name = "/tmp/\xc3\x28.so";
  std::string line = log_json(EventView{e, symbolize::Stack{}, "/tmp/\xe2\x82.dat"}, fixed_clock());
  json j = json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(j["comm"].get<std::string>().substr(0, 3), "bad");
}

}  // namespace
}  // namespace maptrail::render
