// Owns maptrail's BPF programs and ring buffer: open -> configure -> load -> attach, then
// delivers decoded records. Loss is never silent: whenever the kernel's per-CPU counters of
// dropped records grow, a Kind::kLost event carrying the counts is delivered in stream order.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "event/event.h"
#include "trace/consumer_priority.h"
#include "trace/reader_priority.h"
#include "util/result.h"

namespace maptrail::trace {

// How syscall records find their caller; shared by `trace` and `daemon`.
struct StackOptions {
  uint32_t mode = MT_STACK_COPY;             // enum mt_stack_mode
  uint32_t copy_bytes = 8192;                // MT_STACK_COPY: user stack per event, at most 8 KiB
  std::vector<std::string> runtime_modules;  // more modules the caller is looked for beyond
};

struct TracerOptions {
  bool trace_all = false;                // every process but maptrail itself
  std::vector<pid_t> pids;               // thread groups to trace (children follow automatically)
  uint64_t ringbuf_bytes = 16ull << 20;  // a power of two, at least one page
  StackOptions stack;
  // Longest wait of the ring reader when no record comes (a record written without a
  // wake-up waits at most this long to be seen).
  int idle_poll_ms = 100;
  // Slots for calls in flight, indexed by thread id modulo their number (a power of two);
  // threads whose slot another call holds use a small hash. Tests shrink it to force that.
  uint32_t pending_slots = MT_PENDING_SLOTS;
  // Decoded events waiting for the handler (see Tracer::poll). Tests shrink it.
  size_t max_backlog_bytes = size_t(256) << 20;
  // The thread that calls poll() runs as SCHED_IDLE while its backlog stays under
  // consumer_raise_bytes; past that the reader gives it back its own policy (see
  // ConsumerPriority). false: its scheduling is left alone. `trace` yields; the daemon,
  // whose thread also answers requests, keeps its priority.
  bool consumer_yields = false;
  size_t consumer_raise_bytes = size_t(8) << 20;
};

class Tracer {
 public:
  using Handler = std::function<void(const event::Event&)>;
  // poll() hands back control after this many records, so a producer as fast as the
  // consumer cannot keep it busy forever.
  static constexpr int kMaxRecordsPerPoll = 4096;

  static Result<std::unique_ptr<Tracer>> start(const TracerOptions& options);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Adds a thread group to the traced set (its future children are followed in the kernel).
  Result<void> add_pid(pid_t pid);

  // Waits up to timeout_ms for records and hands each one, decoded, to handler; then checks
  // the loss counters. Returns how many events were delivered.
  //
  // A reader thread empties the kernel's ring buffer into a backlog in user space as fast
  // as records come, whatever the handler is doing: a burst the handler cannot keep up with
  // (the first events of a JVM, whose libraries are opened and read) waits in memory
  // instead of filling the ring and being dropped. The backlog is bounded
  // (TracerOptions::max_backlog_bytes). Once it is half full, records are kept without
  // their stack copy (flagged MT_F_STACK_SHORTENED, as the kernel does when the ring
  // fills): a copy is most of a record's bytes and of the handler's work, so the backlog
  // then holds several times more events and drains faster. Past the bound records stay in
  // the ring, and what the kernel then drops is counted as lost. A loss is delivered once
  // everything recorded before it was noticed has been handled. Handlers run on the
  // caller's thread only.
  Result<int> poll(int timeout_ms, const Handler& handler);

  // Events decoded but not yet handed to a handler.
  size_t backlog() const;
  // Hands the whole backlog to handler without reading more of the ring buffer (the end
  // of a trace). Returns how many events were delivered.
  int finish(const Handler& handler);

  // Whether the thread that polls runs as SCHED_IDLE now (TracerOptions::consumer_yields),
  // and how often a growing backlog gave it back its own policy.
  bool consumer_lowered() const { return consumer_priority_.lowered(); }
  uint64_t consumer_raises() const { return consumer_priority_.raises(); }
  // The ring reader's thread, whether it runs at a better nice value now (records came
  // faster than it looked: see ReaderPriority) and how often it was raised.
  pid_t reader_tid() const { return reader_priority_.tid(); }
  bool reader_raised() const { return reader_priority_.raised(); }
  uint64_t reader_raises() const { return reader_priority_.raises(); }

  // Readable when decoded events wait in the backlog.
  int epoll_fd() const;

  // The address space (mm id) a process has now, asked of the kernel.
  Result<uint64_t> mm_of(pid_t pid) const;

  // True while a mapping call of the process is between entry and exit (its change may be
  // visible in /proc before its record is in the ring buffer).
  bool in_flight(pid_t pid) const;

  // Where the kernel may cut the stack copies of the thread that made `e`: the top of its
  // stack as unwound to its first frame (kept if higher than the one known), or 0 to forget
  // it (a cut copy did not reach the first frame). Most calls of a thread need a few hundred
  // bytes of stack, not the 8 KiB a copy takes without it. See symbolize::stack_top_hint.
  void hint_stack_top(const event::Event& e, uint64_t top);

  // Records dropped by the kernel since start, by loss slot (see MT_LOSS_SLOTS).
  std::array<uint64_t, MT_LOSS_SLOTS> lost_counts() const;
  uint64_t lost_total() const;
  // Records user space could not decode (a bug, counted and reported, never hidden).
  uint64_t decode_errors() const;
  std::string last_decode_error() const;

  struct Impl;

 private:
  explicit Tracer(std::unique_ptr<Impl> impl);
  Result<std::array<uint64_t, MT_LOSS_SLOTS>> read_loss_counters() const;

  std::unique_ptr<Impl> impl_;
  std::array<uint64_t, MT_LOSS_SLOTS> lost_seen_{};
  uint64_t decode_errors_ = 0;
  std::string last_decode_error_;
  void read_ring();              // the reader thread
  bool take(event::Event& out);  // the oldest backlog event, if any
  // Returns once the reader has consumed every record the ring held when it was called
  // (poll(0) calls it: a drain before an answer must see everything already recorded).
  void sync();

  static constexpr size_t kBatch = 256;  // events handed between the threads at once
  // Hands the reader's new events to the backlog (and sets handed_over_). Without `wait` the
  // reader does not wait for the lock: the consumer may hold it while preempted (as
  // SCHED_IDLE behind a busy workload, for tens of milliseconds), and a reader waiting that
  // long lets the ring buffer fill (84 ms once, and 5,204 records lost, at 450,000 calls/s).
  // What it could not hand over waits in parked_ for the next try.
  void publish(bool wait);
  bool handed_over_ = false;  // since the consumer was last woken (the reader's)

  // Events go from the reader to the consumer a batch at a time, and the batches come back
  // with their events' vectors and strings still allocated: the reader decodes into them,
  // so a steady stream of 8 KiB stack copies allocates nothing.
  struct Batch {
    std::vector<event::Event> events;  // the first `size` are records, the rest recycled
    size_t size = 0;
    size_t bytes = 0;  // backlog_cost of the records
  };
  static constexpr size_t kSpareBatches = 2;  // kept for reuse; the rest are freed

  mutable std::mutex mutex_;  // guards the backlog, the spare batches and the decode errors
  std::deque<Batch> backlog_;
  size_t backlog_events_ = 0;
  std::atomic<size_t> backlog_bytes_{0};  // written under mutex_
  std::vector<Batch> spare_;
  Batch incoming_;            // the reader's, not yet in the backlog
  std::deque<Batch> parked_;  // the reader's, full, waiting for the lock
  size_t parked_bytes_ = 0;   // their backlog_cost (the reader's alone)
  Batch ready_;  // the consumer's, taken from the backlog; events before ready_at_ handled
  size_t ready_at_ = 0;
  std::string ring_error_;  // the reader's error, reported by the next poll()
  int wake_fd_ = -1;        // eventfd: readable while the backlog is not empty
  int sync_fd_ = -1;        // eventfd in the ring's epoll set: wakes the reader for sync()
  std::atomic<uint64_t> sync_requested_{0};
  uint64_t sync_done_ = 0;  // guarded by mutex_
  std::condition_variable synced_;
  std::atomic<bool> stop_{false};
  int idle_poll_ms_ = 100;
  size_t max_backlog_bytes_ = TracerOptions{}.max_backlog_bytes;
  bool consumer_yields_ = false;
  size_t consumer_raise_bytes_ = 0;
  bool consumer_adopted_ = false;
  ConsumerPriority consumer_priority_;
  ReaderPriority reader_priority_;
  size_t pass_bytes_ = 0;     // the reader's: bytes of records read in its current pass
  size_t pressed_bytes_ = 0;  // a pass that reads this much raises the reader
  std::thread reader_;
  event::Event pending_loss_;  // kLost not delivered yet: older records still in the backlog
  struct StackTop {
    uint64_t top = 0;      // what the kernel was told, 0: nothing
    uint64_t told_ns = 0;  // when (CLOCK_MONOTONIC)
  };
  std::unordered_map<uint32_t, StackTop> stack_tops_;  // by tid

  friend int on_ring_record(void* ctx, void* data, size_t size);
};

// Rounds a requested ring-buffer size to what the kernel accepts (a power of two >= 4096).
uint64_t valid_ringbuf_size(uint64_t requested);

}  // namespace maptrail::trace
