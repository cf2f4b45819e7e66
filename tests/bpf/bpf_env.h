// Shared by the root + BPF tests: the skip policy and a tracer of the test process itself.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "event/event.h"
#include "trace/tracer.h"

namespace maptrail::testing {

// Not root: skip with the reason, except under CI=true where a skipped BPF test is a failure.
#define MAPTRAIL_REQUIRE_ROOT_BPF()                                             \
  do {                                                                          \
    if (geteuid() != 0) {                                                       \
      const char* ci = std::getenv("CI");                                       \
      if (ci && std::string(ci) == "true")                                      \
        FAIL() << "BPF tests need root, and CI=true forbids skipping them";     \
      GTEST_SKIP() << "BPF tests need root (run as root to load BPF programs)"; \
    }                                                                           \
  } while (0)

inline pid_t current_tid() {
  return static_cast<pid_t>(syscall(SYS_gettid));
}

// Traces a set of processes (by default the test process itself) with the real programs.
class TraceSession {
 public:
  static trace::TracerOptions options_for(std::vector<pid_t> pids = {getpid()},
                                          uint64_t ringbuf = 16 << 20,
                                          uint32_t stack_mode = MT_STACK_COPY) {
    trace::TracerOptions options;
    options.pids = std::move(pids);
    options.ringbuf_bytes = ringbuf;
    options.stack.mode = stack_mode;
    return options;
  }
  explicit TraceSession(std::vector<pid_t> pids = {getpid()}, uint64_t ringbuf = 16 << 20,
                        uint32_t stack_mode = MT_STACK_COPY)
      : TraceSession(options_for(std::move(pids), ringbuf, stack_mode), Options{}) {}
  struct Options {};  // tag: a brace list of pids must not read as TracerOptions
  TraceSession(const trace::TracerOptions& options, Options) {
    auto started = trace::Tracer::start(options);
    if (!started) {
      error_ = started.error().message;
      return;
    }
    tracer_ = std::move(*started);
    // The reader thread's first records make it allocate, and a new thread's first malloc
    // maps its arena (mmap, munmap, mprotect: the mmap lock taken for writing). A test's
    // call made meanwhile gets a busy window (MT_F_WINDOW_BUSY). Let that happen first:
    // poll(0) returns once the reader has consumed what the ring holds.
    (void)tracer_->poll(0, [&](const event::Event& e) { events_.push_back(e); });
  }
  bool ok() const { return tracer_ != nullptr; }
  const std::string& error() const { return error_; }
  trace::Tracer& tracer() { return *tracer_; }

  // Polls until an event satisfies `match` or the timeout passes; every event seen is kept.
  const event::Event* wait_for(const std::function<bool(const event::Event&)>& match,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    for (const auto& e : events_)
      if (match(e)) return &e;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      size_t before = events_.size();
      auto n = tracer_->poll(20, [&](const event::Event& e) { events_.push_back(e); });
      if (!n) return nullptr;
      for (size_t i = before; i < events_.size(); i++)
        if (match(events_[i])) return &events_[i];
    }
    return nullptr;
  }
  // Drains for a while and returns everything seen so far.
  const std::vector<event::Event>& drain(
      std::chrono::milliseconds quiet = std::chrono::milliseconds(300)) {
    auto deadline = std::chrono::steady_clock::now() + quiet;
    while (std::chrono::steady_clock::now() < deadline)
      (void)tracer_->poll(20, [&](const event::Event& e) { events_.push_back(e); });
    return events_;
  }
  const std::vector<event::Event>& events() const { return events_; }

 private:
  std::unique_ptr<trace::Tracer> tracer_;
  std::string error_;
  std::vector<event::Event> events_;
};

}  // namespace maptrail::testing
