// Events and a fixed clock shared by the log renderer tests.
#pragma once

#include <stdlib.h>
#include <time.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "event/event.h"
#include "render/event_view.h"
#include "symbolize/stack.h"

namespace maptrail::render::testing {

constexpr uint64_t P = 4096;
constexpr uint64_t kBase = 0x7f0000000000;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kSec = 1'000'000'000;

// The trace starts at monotonic 1000 s, which is 2026-01-02T03:04:05Z on the wall clock.
constexpr uint64_t kStartMono = 1000 * kSec;
constexpr int64_t kWallAtStart = int64_t(1767323045) * int64_t(kSec);

inline TraceClock fixed_clock() {
  return TraceClock{kStartMono, kWallAtStart - int64_t(kStartMono)};
}

// Local-time columns of the text log are deterministic only in a known time zone.
inline void use_utc() {
  setenv("TZ", "UTC", 1);
  tzset();
}

inline event::Event syscall_event(event::Syscall s, std::initializer_list<uint64_t> args,
                                  int64_t ret) {
  event::Event e;
  e.kind = event::Kind::kSyscall;
  e.syscall = s;
  e.pid = 4242;
  e.tid = 4243;
  e.mm = 0xffff888012345000;
  e.comm = "workload";
  // 1.5 s + 123 ns after the start, 2.5 us of latency.
  e.enter_ns = kStartMono + 1'500'000'123;
  e.exit_ns = e.enter_ns + 2500;
  size_t i = 0;
  for (uint64_t a : args) e.args[i++] = a;
  e.ret = ret;
  return e;
}

inline event::Event anon_mmap_4m() {
  event::Event e = syscall_event(
      event::Syscall::kMmap,
      {0, 4 * kMiB, 3, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, uint64_t(-1), 0}, int64_t(kBase));
  e.ranges = {{kBase, kBase + 4 * kMiB}};
  event::WindowVma v;
  v.start = kBase;
  v.end = kBase + 4 * kMiB;
  v.vm_flags = 0x73;
  v.pgoff = kBase >> 12;
  e.vmas = {v};
  return e;
}

inline event::Event task_event(event::Kind kind) {
  event::Event e;
  e.kind = kind;
  e.pid = 4242;
  e.tid = 4242;
  e.mm = 0xffff888012345000;
  e.comm = "workload";
  e.enter_ns = e.exit_ns = kStartMono + 2 * kSec;
  return e;
}

inline event::Event lost_event(std::initializer_list<std::pair<unsigned, uint64_t>> slots) {
  event::Event e;
  e.kind = event::Kind::kLost;
  for (auto [slot, n] : slots) {
    e.lost[slot] += n;
    e.lost_total += n;
  }
  return e;
}

inline symbolize::Frame frame(uint64_t addr, std::string module, std::string symbol,
                              uint64_t offset) {
  symbolize::Frame f;
  f.addr = addr;
  f.module = std::move(module);
  if (!f.module.empty() && f.module[0] != '[') f.path = "/opt/app/" + f.module;
  f.symbol = std::move(symbol);
  f.offset = offset;
  return f;
}

// A stack from libc's mmap wrapper up to main; the caller is the application frame.
inline symbolize::Stack app_stack() {
  symbolize::Stack s;
  s.frames = {frame(0x7f00aa0e5a1c, "libc.so.6", "__mmap", 0x1c),
              frame(0x555555555234, "app", "make_buffer(unsigned long)", 0x34),
              frame(0x555555555480, "app", "main", 0x80),
              frame(0x7f00aa02724a, "libc.so.6", "__libc_start_call_main", 0x7a),
              frame(0x555555555100, "app", "_start", 0x20)};
  s.caller = 1;
  return s;
}

// Splits text into lines (without the newlines).
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t nl = text.find('\n', begin);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(begin, nl - begin));
    begin = nl + 1;
  }
  return out;
}

// Display columns: one per UTF-8 code point (the tests use no color).
inline size_t columns(const std::string& line) {
  size_t n = 0;
  for (unsigned char c : line)
    if ((c & 0xC0) != 0x80) n++;
  return n;
}

}  // namespace maptrail::render::testing
