#include "render/summary.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "render_test_util.h"

namespace maptrail::render {
namespace {

using namespace testing;
using event::Kind;
using event::Syscall;
using nlohmann::json;

constexpr uint64_t kMapPrivate = 0x02, kMapAnonymous = 0x20;

event::Event anon_mmap(uint64_t length) {
  return syscall_event(Syscall::kMmap, {0, length, 3, kMapPrivate | kMapAnonymous, uint64_t(-1), 0},
                       int64_t(kBase));
}

event::Event file_mmap(uint64_t length) {
  return syscall_event(Syscall::kMmap, {0, length, 1, kMapPrivate, 3, 0}, int64_t(kBase));
}

event::Event brk_up(uint64_t old_brk, uint64_t grow) {
  event::Event e = syscall_event(Syscall::kBrk, {old_brk + grow}, int64_t(old_brk + grow));
  e.ranges = {{old_brk, old_brk + grow}};
  return e;
}

// A session: anonymous and file mmaps, a failure, a munmap, brk up and down, a fork.
TraceSummary typical() {
  TraceSummary s;
  s.add(anon_mmap(4 * kMiB));
  s.add(anon_mmap(8 * P));
  s.add(file_mmap(3 * P));
  event::Event failed = anon_mmap(uint64_t(1) << 40);
  failed.ret = -12;
  s.add(failed);
  s.add(syscall_event(Syscall::kMunmap, {kBase, 2 * P}, 0));
  s.add(brk_up(0x55555557a000, 0x21000));
  event::Event down =
      syscall_event(Syscall::kBrk, {0x55555559b000 - 0x10000}, int64_t(0x55555559b000 - 0x10000));
  down.ranges = {{0x55555559b000 - 0x10000, 0x55555559b000}};
  s.add(down);
  event::Event fork = task_event(Kind::kFork);
  fork.child_pid = 5000;
  s.add(fork);
  return s;
}

TEST(Summary, CountsByKindAndFailures) {
  TraceSummary s = typical();
  EXPECT_EQ(s.events(), 8u);
  json j = s.json();
  EXPECT_EQ(j["by_event"], (json{{"mmap", 4}, {"munmap", 1}, {"brk", 2}, {"fork", 1}}));
  EXPECT_EQ(j["failed_by_event"], (json{{"mmap", 1}}));
  EXPECT_EQ(j["events"], 8);
  std::string text = s.text();
  EXPECT_NE(text.find("mmap 4 (1 failed)"), std::string::npos) << text;
  EXPECT_NE(text.find("munmap 1"), std::string::npos) << text;
  EXPECT_NE(text.find("brk 2"), std::string::npos) << text;
  EXPECT_NE(text.find("fork 1"), std::string::npos) << text;
  EXPECT_NE(text.find("8 events"), std::string::npos) << text;
}

TEST(Summary, MappedBytesAnonymousVersusFile) {
  TraceSummary s = typical();
  json j = s.json();
  EXPECT_EQ(j["bytes_mapped_anonymous"], 4 * kMiB + 8 * P + 0x21000);
  EXPECT_EQ(j["bytes_mapped_file"], 3 * P);
  EXPECT_EQ(j["bytes_unmapped"], 2 * P + 0x10000);
}

TEST(Summary, MappedBytesInTheText) {
  TraceSummary s;
  s.add(anon_mmap(4 * kMiB));
  s.add(file_mmap(2 * kMiB));
  s.add(syscall_event(Syscall::kMunmap, {kBase, kMiB}, 0));
  std::string text = s.text();
  EXPECT_NE(text.find("mapped: 4M anonymous, 2M file-backed; unmapped: 1M"), std::string::npos)
      << text;
}

// Growth by mremap is filed by what the window shows (is_anonymous() used to be false for
// every mremap, so anonymous growth was counted as "file-backed").
TEST(Summary, MremapGrowOfAnonymousMemoryIsAnonymous) {
  // glibc's realloc of a large block grows its anonymous mapping with mremap: the window
  // shows the result is anonymous memory, not a file.
  TraceSummary s;
  event::Event e = syscall_event(Syscall::kMremap, {kBase, 4 * P, 16 * P, 1}, int64_t(kBase));
  e.ranges = {{kBase, kBase + 16 * P}};
  event::WindowVma v;
  v.start = kBase;
  v.end = kBase + 16 * P;
  v.vm_flags = 0x73;
  v.pgoff = kBase >> 12;
  e.vmas = {v};
  s.add(e);
  json j = s.json();
  EXPECT_EQ(j["bytes_mapped_anonymous"], 12 * P) << j.dump();
  EXPECT_EQ(j["bytes_mapped_file"], 0) << j.dump();
}

TEST(Summary, LostTotalsPerSlot) {
  TraceSummary s = typical();
  s.add(lost_event({{MT_SYS_MMAP, 3}, {MT_SYS_COUNT + 2u, 1}}));
  s.add(lost_event({{MT_SYS_MMAP, 2}, {MT_SYS_MUNMAP, 4}}));
  EXPECT_EQ(s.lost_total(), 10u);
  EXPECT_EQ(s.events(), 8u) << "lost records are not events";
  json j = s.json();
  EXPECT_EQ(j["lost"], 10);
  EXPECT_EQ(j["lost_by_event"], (json{{"mmap", 5}, {"munmap", 4}, {"fork", 1}}));
  EXPECT_FALSE(j["by_event"].contains("lost"));
  std::string text = s.text();
  EXPECT_NE(text.find("LOST: 10 events (5 mmap, 4 munmap, 1 fork)"), std::string::npos) << text;
}

TEST(Summary, LostIsShoutedOnlyWhenSomethingWasLost) {
  TraceSummary s = typical();
  std::string text = s.text();
  EXPECT_EQ(text.find("LOST"), std::string::npos) << text;
  EXPECT_NE(text.find("lost: 0 events"), std::string::npos) << text;
  EXPECT_EQ(s.json()["lost"], 0);
  EXPECT_EQ(s.json()["lost_by_event"], json::object());
  // A loss record with nothing in it changes nothing.
  s.add(lost_event({}));
  EXPECT_EQ(s.text().find("LOST"), std::string::npos);
  s.add(lost_event({{MT_SYS_BRK, 1}}));
  EXPECT_NE(s.text().find("LOST"), std::string::npos);
}

TEST(Summary, IncompleteWindows) {
  TraceSummary s;
  event::Event busy = anon_mmap(P);
  busy.flags = MT_F_WINDOW_BUSY;
  s.add(busy);
  event::Event whole = syscall_event(Syscall::kMlockall, {3}, 0);
  whole.flags = MT_F_WHOLE_MM;  // expected for mlockall, not a failure to read
  s.add(whole);
  EXPECT_EQ(s.json()["windows_incomplete"], 1);
  EXPECT_NE(s.text().find("windows incomplete (VMA read busy or overflowed): 1"), std::string::npos)
      << s.text();
  TraceSummary clean = typical();
  EXPECT_EQ(clean.json()["windows_incomplete"], 0);
  EXPECT_EQ(clean.text().find("incomplete"), std::string::npos);
}

TEST(Summary, WindowsReadAgainBecauseOfOrder) {
  TraceSummary s = typical();
  s.set_windows_out_of_order(3);
  EXPECT_EQ(s.json()["windows_out_of_order"], 3);
  EXPECT_NE(s.text().find("windows read again (another thread's later call was recorded first): 3"),
            std::string::npos)
      << s.text();
  TraceSummary clean = typical();
  EXPECT_EQ(clean.json()["windows_out_of_order"], 0);
  EXPECT_EQ(clean.text().find("read again"), std::string::npos);
}

TEST(Summary, DecodeErrorsAndDuration) {
  TraceSummary s = typical();
  s.set_duration(2.5);
  EXPECT_EQ(s.text().find("undecodable"), std::string::npos);
  s.set_decode_errors(3, "malformed event record: window VMAs overlap");
  json j = s.json();
  EXPECT_EQ(j["decode_errors"], 3);
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 2.5);
  std::string text = s.text();
  EXPECT_NE(text.find("undecodable records: 3"), std::string::npos) << text;
  EXPECT_NE(text.find("window VMAs overlap"), std::string::npos) << text;
  EXPECT_NE(text.find("8 events in 2.500 s"), std::string::npos) << text;
}

TEST(Summary, Processes) {
  TraceSummary s = typical();
  json j = s.json();
  // The fork's child is known by its parent's comm until it shows up itself.
  EXPECT_EQ(j["processes"],
            (json{{{"pid", 4242}, {"comm", "workload"}}, {{"pid", 5000}, {"comm", "workload"}}}));
  event::Event child = anon_mmap(P);
  child.pid = child.tid = 5000;
  child.comm = "child";
  s.add(child);
  EXPECT_EQ(s.json()["processes"][1]["comm"], "child");
  // Its other threads have names of their own, which do not rename the process.
  event::Event worker = child;
  worker.tid = 5001;
  worker.comm = "G1 Conc#0";
  s.add(worker);
  EXPECT_EQ(s.json()["processes"][1]["comm"], "child");
  EXPECT_NE(s.text().find("processes: workload[4242], child[5000]"), std::string::npos) << s.text();
}

TEST(Summary, JsonKeys) {
  json j = typical().json();
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["event"], "summary");
  for (const char* key :
       {"seconds", "events", "by_event", "failed_by_event", "bytes_mapped_anonymous",
        "bytes_mapped_file", "bytes_unmapped", "lost", "lost_by_event", "windows_incomplete",
        "windows_out_of_order", "decode_errors", "processes"})
    EXPECT_TRUE(j.contains(key)) << key;
}

// Every line of the text summary fits in 100 columns: "processes:" wraps like "events:" (it
// was once one line of up to 8 comm[pid] entries, ~210 columns).
TEST(Summary, TextLinesFitTheWidth) {
  TraceSummary s;
  for (uint8_t sys = MT_SYS_MMAP; sys < MT_SYS_COUNT; sys++) {
    event::Event e = syscall_event(Syscall(sys), {kBase, P, 0, 0, 0, 0}, -1);
    s.add(e);
  }
  for (uint32_t pid = 100; pid < 120; pid++) {
    event::Event e = anon_mmap(P);
    e.pid = pid;
    e.comm = "a-rather-long-c";
    s.add(e);
  }
  std::string text = s.text();
  for (const auto& line : lines_of(text)) EXPECT_LE(columns(line), 100u) << line;
  EXPECT_NE(text.find("mseal 1 (1 failed)"), std::string::npos) << text;
  EXPECT_NE(text.find("... 13 more"), std::string::npos) << text;
}

TEST(Summary, EmptySummary) {
  TraceSummary s;
  EXPECT_EQ(s.events(), 0u);
  json j = s.json();
  EXPECT_EQ(j["by_event"], json::object());
  EXPECT_EQ(j["processes"], json::array());
  std::string text = s.text();
  EXPECT_NE(text.find("0 events"), std::string::npos) << text;
  EXPECT_EQ(text.find("events:"), std::string::npos) << text;
}

}  // namespace
}  // namespace maptrail::render
