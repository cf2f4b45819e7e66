// Who created each mapping, on binaries built like Debian's (no frame pointers): with the
// default --stack dwarf, the stacks of the workloads' mapping events reach main (or the
// thread's start routine) and the caller shown is the workload's own function, not libc,
// the loader or libstdc++.
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_env.h"
#include "subprocess.h"

namespace maptrail::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr uint64_t kMarkBegin = 0x7f000, kMarkEnd = 0x7e000;

class Callers : public ::testing::Test {
 protected:
  void SetUp() override {
    MAPTRAIL_REQUIRE_ROOT_BPF();
    dir_ = fs::temp_directory_path() / fmt::format("maptrail-callers-{}-{}", getpid(), counter_++);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // The syscall events between the two markers, traced with the default stack mode.
  std::vector<json> trace_between_markers(const std::string& program, int rounds) {
    std::string log = path(program + ".json");
    Subprocess trace({MAPTRAIL_BIN, "trace", "--json", "-o", log, "--",
                      std::string(MAPTRAIL_WORKLOAD_DIR) + "/" + program, std::to_string(rounds)},
                     path("out"), path("err"));
    EXPECT_EQ(trace.wait(), 0) << trace.err();
    std::vector<json> between;
    bool inside = false, ended = false;
    std::istringstream in(slurp(log));
    for (std::string line; std::getline(in, line);) {
      json e = json::parse(line);
      if (e.value("event", "") == "lost") ADD_FAILURE() << "lost events: " << line;
      if (!e.contains("stack")) continue;  // lifecycle records
      uint64_t length = e["args"].value("length", uint64_t(0));
      if (e["event"] == "mmap" && length == kMarkBegin) inside = true;
      if (!inside) continue;
      between.push_back(e);
      if (e["event"] == "munmap" && length == kMarkEnd) {
        ended = true;
        break;
      }
    }
    EXPECT_TRUE(ended) << "the end marker is in the log: nothing at the end was dropped";
    return between;
  }

  fs::path dir_;
  static inline int counter_ = 0;
};

std::string symbol_of(const json& frame) {
  return frame["symbol"].is_string() ? frame["symbol"].get<std::string>() : "";
}

std::string caller_of(const json& e) {
  return e["caller"].is_number() ? symbol_of(e["stack"][e["caller"].get<int>()]) : "";
}

std::string stack_text(const json& e) {
  std::string out;
  for (const auto& f : e["stack"]) out += (out.empty() ? "" : " < ") + symbol_of(f);
  return out;
}

bool has_frame(const json& e, const std::string& symbol) {
  for (const auto& f : e["stack"])
    if (symbol_of(f) == symbol) return true;
  return false;
}

// glibc releases a thread's stack after its start routine returned: start_thread itself
// calls madvise, with nothing of the program left on the stack.
bool is_thread_exit(const json& e) {
  return e["caller"].is_null() && has_frame(e, "start_thread");
}

struct Tally {
  int events = 0, complete = 0, reach = 0, thread_exits = 0, own_caller = 0;
  std::multiset<std::string> callers;
  std::vector<std::string> misses;
};

Tally tally(const std::vector<json>& events, const std::set<std::string>& own,
            const std::vector<std::string>& roots) {
  Tally t;
  for (const auto& e : events) {
    t.events++;
    if (e.value("stack_end", "") == "outermost") t.complete++;
    if (is_thread_exit(e)) {
      t.thread_exits++;
      continue;
    }
    bool reached = false;
    for (const auto& root : roots) reached = reached || has_frame(e, root);
    std::string caller = caller_of(e);
    t.callers.insert(caller);
    if (reached) t.reach++;
    if (own.count(caller)) t.own_caller++;
    if ((!reached || !own.count(caller)) && t.misses.size() < 5)
      t.misses.push_back(e["event"].get<std::string>() + ": " + stack_text(e));
  }
  return t;
}

std::string misses(const Tally& t) {
  std::string out;
  for (const auto& m : t.misses) out += m + "\n";
  return out;
}

TEST_F(Callers, CWithoutFramePointersMallocMmapPthreadDlopen) {
  const int rounds = 20;
  auto events = trace_between_markers("callers-nofp", rounds);
  ASSERT_GE(events.size(), size_t(rounds * 10)) << "each round makes a dozen mapping calls";
  std::set<std::string> own = {"level2",      "map_direct",  "start_worker",
                               "worker_main", "load_plugin", "marker"};
  Tally t = tally(events, own, {"main", "worker_main"});
  int counted = t.events - t.thread_exits;
  fmt::print(
      "callers-nofp: {} events ({} thread-stack releases), {} reach main or the start "
      "routine, {} with the workload's caller, {} complete\n",
      t.events, t.thread_exits, t.reach, t.own_caller, t.complete);
  EXPECT_LE(t.thread_exits, rounds) << "one stack release per thread at most";
  EXPECT_GE(t.reach * 100, counted * 99) << t.reach << " of " << counted << "\n" << misses(t);
  EXPECT_GE(t.own_caller * 100, counted * 99) << t.own_caller << " of " << counted << "\n"
                                              << misses(t);
  EXPECT_GE(t.complete * 100, t.events * 99) << t.complete << " of " << t.events;
  // Every path of the workload, each round.
  EXPECT_GE(t.callers.count("level2"), size_t(rounds)) << "malloc(256K) -> mmap, free -> munmap";
  EXPECT_GE(t.callers.count("map_direct"), size_t(2 * rounds));
  EXPECT_GE(t.callers.count("start_worker"), size_t(2 * rounds)) << "the thread's stack";
  EXPECT_GE(t.callers.count("worker_main"), size_t(rounds)) << "malloc in the thread";
  EXPECT_GE(t.callers.count("load_plugin"), size_t(5 * rounds)) << "dlopen's mappings";
}

TEST_F(Callers, CxxWithoutFramePointersOperatorNewAndVector) {
  const int rounds = 20;
  auto events = trace_between_markers("callers_cpp-nofp", rounds);
  ASSERT_GE(events.size(), size_t(rounds * 4));
  std::set<std::string> own = {"workload::make_table()", "workload::fill_buffer()",
                               "workload::marker(unsigned long)"};
  Tally t = tally(events, own, {"main"});
  fmt::print(
      "callers_cpp-nofp: {} events, {} reach main, {} with the workload's caller, {} "
      "complete\n",
      t.events, t.reach, t.own_caller, t.complete);
  EXPECT_EQ(t.thread_exits, 0);
  EXPECT_GE(t.reach * 100, t.events * 99) << t.reach << " of " << t.events << "\n" << misses(t);
  EXPECT_GE(t.own_caller * 100, t.events * 99) << t.own_caller << " of " << t.events << "\n"
                                               << misses(t);
  EXPECT_GE(t.complete * 100, t.events * 99);
  EXPECT_GE(t.callers.count("workload::make_table()"), size_t(2 * rounds))
      << "new double[] -> mmap, delete[] -> munmap";
  EXPECT_GE(t.callers.count("workload::fill_buffer()"), size_t(2 * rounds)) << "std::vector";
}

// An interpreter no one here wrote: the caller of a large bytearray's mmap is a named
// function of the interpreter (Debian's python3.11 is stripped to its exported symbols:
// the nearest exported one is shown rather than an offset), and the stack goes down to the
// process's start.
TEST_F(Callers, PythonBytearrayCallerIsANamedInterpreterFunction) {
  std::string log = path("python.json");
  Subprocess trace({MAPTRAIL_BIN, "trace", "--json", "-o", log, "--", "/usr/bin/python3", "-c",
                    "b = bytearray(64 << 20); b[1] = 2"},
                   path("out"), path("err"));
  ASSERT_EQ(trace.wait(), 0) << trace.err();
  int found = 0;
  std::istringstream in(slurp(log));
  for (std::string line; std::getline(in, line);) {
    json e = json::parse(line);
    if (e.value("event", "") != "mmap" || e["args"].value("length", uint64_t(0)) < (64u << 20))
      continue;
    found++;
    ASSERT_TRUE(e["caller"].is_number()) << stack_text(e);
    const json& caller = e["stack"][e["caller"].get<int>()];
    std::string module = caller["module"].get<std::string>();
    EXPECT_TRUE(module.starts_with("python3") || module.starts_with("libpython3"))
        << caller.dump() << "\n"
        << stack_text(e);
    EXPECT_TRUE(caller["symbol"].is_string()) << caller.dump();
    EXPECT_TRUE(symbol_of(caller).starts_with("Py") || symbol_of(caller).starts_with("_Py"))
        << caller.dump();
    EXPECT_TRUE(has_frame(e, "Py_BytesMain")) << stack_text(e);
    EXPECT_EQ(e.value("stack_end", ""), "outermost") << stack_text(e);
  }
  EXPECT_EQ(found, 1);
}

// A process that exits right after mapping: its stack is unwound and named after it is
// gone, from the layout its exec reported and the files on disk.
TEST_F(Callers, AProcessThatExitedAtOnceStillGetsNamedFrames) {
  std::string log = path("short.json");
  Subprocess trace({MAPTRAIL_BIN, "trace", "--json", "-o", log, "--",
                    std::string(MAPTRAIL_WORKLOAD_DIR) + "/family-nofp", "--outsider"},
                   path("out"), path("err"));
  ASSERT_EQ(trace.wait(), 0) << trace.err();
  int found = 0;
  std::istringstream in(slurp(log));
  for (std::string line; std::getline(in, line);) {
    json e = json::parse(line);
    if (e.value("event", "") != "mmap" || e["args"].value("length", uint64_t(0)) != 0x15000)
      continue;
    found++;
    EXPECT_EQ(caller_of(e), "map_as") << stack_text(e);
    EXPECT_TRUE(has_frame(e, "main")) << stack_text(e);
    EXPECT_EQ(e.value("stack_end", ""), "outermost") << stack_text(e);
  }
  EXPECT_EQ(found, 1);
}

// The kernel learns a thread's stack top when the thread is created (or execs) while traced,
// and copies only the bytes below it (stack_top_known, stack_trimmed); those shorter copies
// still unwind completely.
TEST_F(Callers, CopiesStopAtTheThreadsKnownStackTop) {
  std::string log = path("storm.json");
  Subprocess trace({MAPTRAIL_BIN, "trace", "--json", "-o", log, "--",
                    std::string(MAPTRAIL_WORKLOAD_DIR) + "/storm-nofp", "--threads", "2",
                    "--iterations", "40000"},
                   path("out"), path("err"));
  ASSERT_EQ(trace.wait(), 0) << trace.err();
  std::set<uint64_t> tids;
  int copies = 0, trimmed = 0, trimmed_complete = 0, others = 0, others_complete = 0;
  int without_loop_frame = 0, top_known = 0;
  uint64_t trimmed_bytes = 0;
  std::istringstream in(slurp(log));
  for (std::string line; std::getline(in, line);) {
    json e = json::parse(line);
    if (e.value("event", "") == "lost") ADD_FAILURE() << "lost events: " << line;
    // The loop's calls: storm maps and unmaps 64 KiB; nothing else it does has that length.
    if (!e.contains("stack_bytes") || !e.contains("args") ||
        e["args"].value("length", uint64_t(0)) != 65536)
      continue;
    copies++;
    tids.insert(e["tid"].get<uint64_t>());
    bool complete = e.value("stack_end", "") == "outermost";
    // Copies shortened while the ring buffer or the backlog was filling may end early (or
    // be left out); that is said, and they are left out here.
    if (e.value("stack_shortened", false)) continue;
    if (!has_frame(e, "storm_loop") && !without_loop_frame++)
      ADD_FAILURE() << "no storm_loop: " << line;
    if (e.value("stack_top_known", false)) top_known++;
    if (e.value("stack_trimmed", false)) {
      trimmed++;
      trimmed_bytes += e["stack_bytes"].get<uint64_t>();
      if (complete) trimmed_complete++;
    } else {
      others++;
      if (complete) others_complete++;
    }
  }
  fmt::print(
      "storm-nofp: {} stack copies from {} threads, {} with the stack top known, {} cut there "
      "({} bytes on average), {} of those complete\n",
      copies, tids.size(), top_known, trimmed, trimmed ? trimmed_bytes / trimmed : 0,
      trimmed_complete);
  ASSERT_EQ(tids.size(), 2u);
  ASSERT_GE(copies, 4 * 40000);
  EXPECT_EQ(without_loop_frame, 0) << "every uncut copy unwinds to storm_loop";
  // Both threads were created while traced: the kernel knew each one's top from its first
  // call, and storm's frames are far shallower than --stack-size.
  EXPECT_EQ(top_known, trimmed + others) << "every copy of a thread created while traced";
  EXPECT_EQ(trimmed, top_known) << "every copy is cut at the known stack top";
  EXPECT_EQ(trimmed_complete, trimmed) << "a cut copy still reaches the thread's first frame";
  EXPECT_EQ(others_complete, others);
  EXPECT_LT(trimmed_bytes / std::max(trimmed, 1), uint64_t(2048))
      << "storm_loop < storm_thread < start_thread < clone3 need a few hundred bytes, not 8 KiB";
}

// trace --report and --folded: each of the demo's mappings charged to the function that
// made it, with what became of it; the folded stacks in the format flame-graph tools read
// (flamegraph.pl, inferno, speedscope: "frame;frame;...;frame COUNT", outermost first).
TEST_F(Callers, TraceReportAndFoldedStacks) {
  std::string folded = path("folded.txt");
  Subprocess trace({MAPTRAIL_BIN, "trace", "--report", "--folded", folded, "-o", path("log"), "--",
                    std::string(MAPTRAIL_WORKLOAD_DIR) + "/demo-nofp"},
                   path("out"), path("err"));
  ASSERT_EQ(trace.wait(), 0) << trace.err();
  std::string report = trace.err();
  auto row = [&](const std::string& caller) {
    std::smatch m;
    std::regex re(R"((\S+) +(\S+) +(\S+) +(\d+) +\S+ +[0-9.]+ +[0-9.]+  )" + caller + "\n");
    return std::regex_search(report, m, re) ? std::vector<std::string>{m[1], m[2], m[3], m[4]}
                                            : std::vector<std::string>{};
  };
  EXPECT_EQ(row("alloc_cache \\(demo-nofp\\)"), (std::vector<std::string>{"4M", "4M", "0B", "1"}))
      << report;
  EXPECT_EQ(row("big_buffer \\(demo-nofp\\)"),
            (std::vector<std::string>{"0B", "~1.0M", "~1.0M", "1"}))
      << "malloc(1M) then free: all of it unmapped\n"
      << report;
  EXPECT_EQ(row("grow_cache \\(demo-nofp\\)"), (std::vector<std::string>{"4M", "4M", "0B", "1"}))
      << "mremap 4M -> 8M: the 4 new MiB are grow_cache's, the moved 4 stay alloc_cache's\n"
      << report;

  std::regex line_format(R"(^[^;\n]+(;[^;\n]+)* [1-9][0-9]*$)");
  std::istringstream in(slurp(folded));
  int lines = 0;
  bool cache_stack = false;
  for (std::string line; std::getline(in, line); lines++) {
    EXPECT_TRUE(std::regex_match(line, line_format)) << line;
    cache_stack |= line.ends_with(
        ";main (demo-nofp);alloc_cache (demo-nofp);__mmap (libc.so.6) "
        "4194304");
    EXPECT_TRUE(line.starts_with("_start (demo-nofp);") || line.starts_with("_dl_start_user") ||
                line.starts_with("clone3 (libc.so.6);"))
        << "outermost frame first: " << line;
  }
  EXPECT_GE(lines, 4);
  EXPECT_TRUE(cache_stack) << slurp(folded);
}

}  // namespace
}  // namespace maptrail::testing
