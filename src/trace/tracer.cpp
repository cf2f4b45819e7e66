#include "trace/tracer.h"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdarg>
#include <ctime>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "maptrail.skel.h"
#include "trace/kallsyms.h"
#include "trace/preflight.h"
#include "util/mapped_region.h"

namespace maptrail::trace {

namespace {

// libbpf's messages are kept, not printed: they are attached to the error that needs them.
thread_local std::string libbpf_log;

int collect_libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (libbpf_log.size() < 64 * 1024) libbpf_log += line;
  return n;
}

struct SkeletonDeleter {
  void operator()(maptrail_bpf* skel) const { maptrail_bpf__destroy(skel); }
};
struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

Error libbpf_error(std::string what, int err) {
  std::string message = fmt::format("{}: {}", what, strerror(err));
  if (!libbpf_log.empty()) {
    // the verifier log can be long: keep its end, where the reason is
    std::string tail =
        libbpf_log.size() > 2000 ? libbpf_log.substr(libbpf_log.size() - 2000) : libbpf_log;
    message += "\nlibbpf said:\n" + tail;
  }
  return Error{err, message};
}

}  // namespace

struct Tracer::Impl {
  // declaration order is teardown order, reversed: ring, then links, then the object
  std::unique_ptr<maptrail_bpf, SkeletonDeleter> skel;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring;
  MappedRegion pending_slots;  // the pending_slots array: calls read, stack tops written
  uint32_t pending_slot_count = 0;

  // Detaching one tracepoint waits for an RCU grace period (~70 ms here); thirty of them in
  // a row would make every exit take seconds. Grace periods overlap when the detaches run
  // side by side.
  ~Impl() {
    ring.reset();
    std::vector<std::thread> detachers;
    for (auto& link : links) detachers.emplace_back([l = std::move(link)]() mutable { l.reset(); });
    for (auto& t : detachers) t.join();
  }
  int ncpus = 0;
};

uint64_t valid_ringbuf_size(uint64_t requested) {
  uint64_t size = 4096;
  while (size < requested && size < (1ull << 31)) size <<= 1;
  return size;
}

namespace {

size_t backlog_cost(const event::Event& e) {
  return sizeof(e) + e.user_stack.size() + e.vmas.size() * sizeof(event::WindowVma) +
         e.frames.size() * sizeof(uint64_t);
}

}  // namespace

int on_ring_record(void* ctx, void* data, size_t size) {
  auto* tracer = static_cast<Tracer*>(ctx);
  tracer->pass_bytes_ += size;
  Tracer::Batch& in = tracer->incoming_;
  // Past half the backlog, records are kept without their stack copies (see poll()).
  size_t held =
      tracer->backlog_bytes_.load(std::memory_order_relaxed) + tracer->parked_bytes_ + in.bytes;
  if (in.size == in.events.size()) in.events.emplace_back();
  event::Event& e = in.events[in.size];
  auto decoded = event::decode(
      {static_cast<const uint8_t*>(data), size},
      held >= tracer->max_backlog_bytes_ / 2 ? event::StackCopy::kDrop : event::StackCopy::kKeep,
      e);
  if (!decoded) {
    std::lock_guard lock(tracer->mutex_);
    tracer->decode_errors_++;
    tracer->last_decode_error_ = decoded.error().message;
    return 0;
  }
  // Collected without the lock and handed over in batches (Tracer::publish): a lock per
  // record, taken by both threads, cost more than decoding the record.
  size_t cost = backlog_cost(e);
  in.size++;
  in.bytes += cost;
  if (in.size >= Tracer::kBatch) tracer->publish(false);
  // Full: the rest stays in the ring buffer (and what does not fit there is counted lost).
  if (held + cost >= tracer->max_backlog_bytes_) return -EAGAIN;
  return 0;
}

void Tracer::publish(bool wait) {
  if (incoming_.size == 0 && parked_.empty()) return;
  std::unique_lock lock(mutex_, std::defer_lock);
  if (wait) {
    lock.lock();
  } else if (!lock.try_lock()) {
    if (incoming_.size) {
      parked_bytes_ += incoming_.bytes;
      parked_.push_back(std::move(incoming_));
      incoming_ = Batch{};
    }
    return;
  }
  handed_over_ = true;
  auto hand_over = [&](Batch&& batch) {
    backlog_bytes_ += batch.bytes;
    backlog_events_ += batch.size;
    backlog_.push_back(std::move(batch));
  };
  for (Batch& batch : parked_) hand_over(std::move(batch));
  parked_.clear();
  parked_bytes_ = 0;
  if (incoming_.size) {
    hand_over(std::move(incoming_));
    if (spare_.empty()) {
      incoming_ = Batch{};
    } else {
      incoming_ = std::move(spare_.back());
      spare_.pop_back();
    }
    incoming_.size = incoming_.bytes = 0;
  }
  // The consumer is falling behind: it competes at its own priority until it catches up.
  if (backlog_bytes_ > consumer_raise_bytes_ && consumer_priority_.lowered())
    consumer_priority_.raise();
}

Tracer::Tracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tracer::~Tracer() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (sync_fd_ >= 0) close(sync_fd_);
}

void Tracer::sync() {
  uint64_t target = ++sync_requested_;
  uint64_t one = 1;
  if (write(sync_fd_, &one, sizeof(one)) < 0) {
  }  // EAGAIN: already signalled
  std::unique_lock lock(mutex_);
  // The reader may be stopped (an error): do not wait for ever.
  synced_.wait_for(lock, std::chrono::seconds(1), [&] { return sync_done_ >= target; });
}

void Tracer::read_ring() {
  pthread_setname_np(pthread_self(), "maptrail-ring");  // top -H, perf, /proc/PID/task
  reader_priority_.adopt_current_thread();
  int wait_ms = 20;
  while (!stop_) {
    // The handler is behind: let the kernel hold (or count) what comes.
    bool full =
        backlog_bytes_.load(std::memory_order_relaxed) + parked_bytes_ >= max_backlog_bytes_;
    if (full) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    // Records come with a wake-up only once an eighth of the ring is full: also look on a
    // short timeout, so a trickle is not held back.
    // Without a wake-up the ring's descriptor does not become readable: consume after every
    // wait, not only when epoll says so. The wait is short while records flow and grows to
    // idle_poll_ms when none came (an idle daemon must not wake 50 times a second; a burst
    // still wakes the reader at once, at an eighth of the ring).
    int rc = ring_buffer__poll(impl_->ring.get(), wait_ms);
    publish(false);
    uint64_t requested = sync_requested_.load();
    if (requested) {
      uint64_t count;
      if (read(sync_fd_, &count, sizeof(count)) < 0) {
      }  // EAGAIN: no new request since the last read
    }
    if (rc >= 0) {
      int more = ring_buffer__consume(impl_->ring.get());
      rc = more < 0 ? more : rc + more;
    }
    // The kernel had to wake it (or would have): records come faster than it looks.
    reader_priority_.after_pass(pass_bytes_ >= pressed_bytes_, std::chrono::steady_clock::now());
    pass_bytes_ = 0;
    // A sync waits for everything read so far: then the reader waits for the lock too.
    publish(requested != 0);
    if (requested) {
      std::lock_guard lock(mutex_);
      if (requested > sync_done_) {
        sync_done_ = requested;
        synced_.notify_all();
      }
    }
    wait_ms = rc > 0 || rc == -EAGAIN ? 20 : std::min(idle_poll_ms_, wait_ms * 2);
    if (!parked_.empty()) wait_ms = 1;  // hand them over soon, records or not
    if (handed_over_ || rc == -EAGAIN) {
      handed_over_ = false;
      uint64_t one = 1;
      if (write(wake_fd_, &one, sizeof(one)) < 0) {
      }  // EAGAIN: the counter is already non-zero, the consumer is awake
    } else if (rc < 0 && rc != -EINTR) {
      std::lock_guard lock(mutex_);
      ring_error_ = fmt::format("reading the ring buffer: {}", strerror(-rc));
      return;
    }
  }
}

bool Tracer::take(event::Event& out) {
  if (ready_at_ == ready_.size) {
    Batch retired;  // freed after the lock is released: the reader must not wait for that
    std::lock_guard lock(mutex_);
    if (backlog_.empty()) return false;
    if (!ready_.events.empty()) {
      if (spare_.size() < kSpareBatches)
        spare_.push_back(std::move(ready_));
      else
        retired = std::move(ready_);
    }
    ready_ = std::move(backlog_.front());
    backlog_.pop_front();
    ready_at_ = 0;
    backlog_events_ -= ready_.size;
    backlog_bytes_ -= std::min<size_t>(backlog_bytes_, ready_.bytes);
  }
  // A swap, not a move: the buffers of the event handled before go back with the batch.
  std::swap(out, ready_.events[ready_at_++]);
  return true;
}

size_t Tracer::backlog() const {
  std::lock_guard lock(mutex_);
  return backlog_events_ + (ready_.size - ready_at_);
}

uint64_t Tracer::decode_errors() const {
  std::lock_guard lock(mutex_);
  return decode_errors_;
}

std::string Tracer::last_decode_error() const {
  std::lock_guard lock(mutex_);
  return last_decode_error_;
}

Result<std::unique_ptr<Tracer>> Tracer::start(const TracerOptions& options) {
  if (auto ok = check_privileges_and_kernel(); !ok) return ok.error();
  if (auto ok = ensure_tracefs(); !ok) return ok.error();
  libbpf_set_print(collect_libbpf_log);
  libbpf_log.clear();

  auto impl = std::make_unique<Impl>();
  impl->skel.reset(maptrail_bpf__open());
  if (!impl->skel) return libbpf_error("opening the BPF object", errno);
  auto* skel = impl->skel.get();

  skel->rodata->trace_all = options.trace_all;
  skel->rodata->self_tgid = getpid();
  skel->rodata->stack_mode = options.stack.mode;
  skel->rodata->stack_copy_bytes = std::min<uint32_t>(options.stack.copy_bytes, MT_STACK_COPY_MAX);
  auto symbols = find_kernel_symbols({"simple_dname", "anon_inodefs_dname"});
  skel->rodata->simple_dname_addr = symbols["simple_dname"];
  skel->rodata->anon_inodefs_dname_addr = symbols["anon_inodefs_dname"];
  uint64_t ring_size = valid_ringbuf_size(options.ringbuf_bytes);
  // Wake the reader only when an eighth of the ring is filled; it also polls on a short
  // timeout, so quiet traces stay live without one wake-up per event.
  uint64_t wakeup_bytes = std::max<uint64_t>(ring_size / 8, 256);
  skel->rodata->wakeup_bytes = wakeup_bytes;
  skel->rodata->ring_bytes = ring_size;
  if (int err = bpf_map__set_max_entries(skel->maps.events, ring_size))
    return libbpf_error("sizing the ring buffer", -err);
  uint32_t slots = options.pending_slots;
  if (slots == 0 || (slots & (slots - 1)))
    return Error{EINVAL, fmt::format("pending_slots must be a power of two, not {}", slots)};
  impl->pending_slot_count = slots;
  skel->rodata->pending_slot_mask = slots - 1;
  if (int err = bpf_map__set_max_entries(skel->maps.pending_slots, slots))
    return libbpf_error("sizing the pending call slots", -err);

  if (int err = maptrail_bpf__load(skel))
    return libbpf_error("loading maptrail's BPF programs (the kernel verifier refused them)", -err);

  uint8_t one = 1;
  for (pid_t pid : options.pids) {
    uint32_t tgid = pid;
    if (bpf_map__update_elem(skel->maps.traced_tgids, &tgid, sizeof(tgid), &one, sizeof(one),
                             BPF_ANY))
      return libbpf_error(fmt::format("adding pid {} to the traced set", pid), errno);
  }

  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    if (prog == skel->progs.query_mm) continue;  // run on demand, never attached
    bpf_link* link = bpf_program__attach(prog);
    if (!link)
      return libbpf_error(fmt::format("attaching {}", bpf_program__section_name(prog)), errno);
    impl->links.emplace_back(link);
  }
  size_t slots_size = sizeof(mt_pending_call) * impl->pending_slot_count;
  impl->pending_slots = MappedRegion(mmap(nullptr, slots_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                                          bpf_map__fd(skel->maps.pending_slots), 0),
                                     slots_size);
  if (!impl->pending_slots.valid()) return Error::from_errno("mapping the pending_slots array");
  impl->ncpus = libbpf_num_possible_cpus();
  auto tracer = std::unique_ptr<Tracer>(new Tracer(std::move(impl)));
  tracer->impl_->ring.reset(
      ring_buffer__new(bpf_map__fd(skel->maps.events), on_ring_record, tracer.get(), nullptr));
  if (!tracer->impl_->ring) return libbpf_error("opening the ring buffer", errno);
  tracer->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  tracer->sync_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (tracer->wake_fd_ < 0 || tracer->sync_fd_ < 0) return Error::from_errno("creating an eventfd");
  // The sync eventfd joins the ring's own epoll set, tagged as ring 0 (libbpf then just
  // consumes our only ring), so a sync request ends the reader's wait at once.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = 0;
  if (epoll_ctl(ring_buffer__epoll_fd(tracer->impl_->ring.get()), EPOLL_CTL_ADD, tracer->sync_fd_,
                &ev) != 0)
    return Error::from_errno("adding the sync eventfd to the ring buffer's epoll set");
  tracer->idle_poll_ms_ = std::max(20, options.idle_poll_ms);
  tracer->max_backlog_bytes_ = options.max_backlog_bytes;
  tracer->consumer_yields_ = options.consumer_yields;
  tracer->consumer_raise_bytes_ = options.consumer_raise_bytes;
  tracer->pressed_bytes_ = wakeup_bytes;
  tracer->reader_ = std::thread([t = tracer.get()] { t->read_ring(); });
  return tracer;
}

Result<void> Tracer::add_pid(pid_t pid) {
  uint32_t tgid = pid;
  uint8_t one = 1;
  if (bpf_map__update_elem(impl_->skel->maps.traced_tgids, &tgid, sizeof(tgid), &one, sizeof(one),
                           BPF_ANY))
    return Error::from_errno(fmt::format("adding pid {} to the traced set", pid));
  return {};
}

Result<std::array<uint64_t, MT_LOSS_SLOTS>> Tracer::read_loss_counters() const {
  std::array<uint64_t, MT_LOSS_SLOTS> totals{};
  std::vector<uint64_t> per_cpu(impl_->ncpus);
  int fd = bpf_map__fd(impl_->skel->maps.lost_events);
  for (uint32_t slot = 0; slot < MT_LOSS_SLOTS; slot++) {
    if (bpf_map_lookup_elem(fd, &slot, per_cpu.data()))
      return Error::from_errno("reading the loss counters");
    for (uint64_t n : per_cpu) totals[slot] += n;
  }
  return totals;
}

int Tracer::epoll_fd() const {
  return wake_fd_;
}

Result<uint64_t> Tracer::mm_of(pid_t pid) const {
  struct Query {
    uint32_t pid, found;
    uint64_t mm;
  } query{uint32_t(pid), 0, 0};
  uint32_t zero = 0;
  auto* skel = impl_->skel.get();
  if (bpf_map__update_elem(skel->maps.mm_query, &zero, sizeof(zero), &query, sizeof(query), 0))
    return Error::from_errno("asking the kernel for a process's address space");
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  if (int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.query_mm), &opts))
    return Error{-err, fmt::format("running the mm query: {}", strerror(-err))};
  if (bpf_map__lookup_elem(skel->maps.mm_query, &zero, sizeof(zero), &query, sizeof(query), 0))
    return Error::from_errno("reading the mm query");
  if (!query.found) return Error{ESRCH, fmt::format("no process with pid {}", pid)};
  if (!query.mm)
    return Error{EINVAL, fmt::format("pid {} has no address space (a kernel thread?)", pid)};
  return query.mm;
}

bool Tracer::in_flight(pid_t pid) const {
  // A slot is claimed and its tgid written by the entry program, before the call can change
  // anything: a change the caller already saw in /proc belongs to a call whose slot reads
  // whole here. A slot claimed while it is read may show the previous owner's tgid: at
  // worst a verification is retried.
  const auto* slots = static_cast<const volatile mt_pending_call*>(impl_->pending_slots.get());
  for (size_t i = 0; i < impl_->pending_slot_count; i++)
    if (MT_OWNER_SYSCALL(slots[i].owner) != MT_SYS_NONE && slots[i].tgid == uint32_t(pid))
      return true;
  int fd = bpf_map__fd(impl_->skel->maps.pending_calls);
  uint32_t key, next;
  uint32_t* prev = nullptr;
  mt_pending_call call;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, &call) == 0 && call.tgid == uint32_t(pid) &&
        MT_OWNER_SYSCALL(call.owner) != MT_SYS_NONE)
      return true;
    key = next;
    prev = &key;
  }
  return false;
}

void Tracer::hint_stack_top(const event::Event& e, uint64_t top) {
  uint32_t tid = e.tid;
  StackTop& known = stack_tops_[tid];
  // An uncut copy made after the kernel was told: it dropped the hint (the thread exited or
  // exec'd and the id is reused, or a thread sharing its slot took the word), or the call
  // ran on another stack.
  // Tell it again. Copies made before it was told are uncut too, and say nothing.
  if (known.top && !(e.flags & MT_F_STACK_TRIMMED) && e.exit_ns > known.told_ns) known.top = 0;
  // A cut copy that missed the first frame: the kernel's top is wrong, whoever set it (it
  // sets a new thread's from clone's stack pointer; the thread may have moved to another).
  if (top ? top <= known.top : !(e.flags & MT_F_STACK_TRIMMED) && known.top == 0) return;
  // The word the kernel reads holds the thread id beside the top and is written whole, so
  // no thread takes another's top. A top that does not fit costs only bigger copies.
  auto* slots = static_cast<mt_pending_call*>(impl_->pending_slots.get());
  __u64* word = &slots[tid & (impl_->pending_slot_count - 1)].stack_top;
  if (top && MT_STACK_TOP_FITS(top)) {
    __atomic_store_n(word, MT_STACK_TOP(tid, top), __ATOMIC_RELAXED);
  } else {
    __u64 seen = __atomic_load_n(word, __ATOMIC_RELAXED);
    if (MT_STACK_TOP_TID(seen) == tid)  // another thread's top stays
      __atomic_compare_exchange_n(word, &seen, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  }
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // the clock of the records' timestamps
  known = {top, uint64_t(now.tv_sec) * 1000000000u + uint64_t(now.tv_nsec)};
  if (stack_tops_.size() > 65536) stack_tops_.clear();  // threads come and go: start over
}

std::array<uint64_t, MT_LOSS_SLOTS> Tracer::lost_counts() const {
  return lost_seen_;
}

uint64_t Tracer::lost_total() const {
  uint64_t total = 0;
  for (uint64_t n : lost_seen_) total += n;
  return total;
}

int Tracer::finish(const Handler& handler) {
  sync();  // what the ring still holds was recorded before the end
  int delivered = 0;
  event::Event e;
  while (take(e)) {
    handler(e);
    delivered++;
  }
  if (pending_loss_.lost_total) {
    pending_loss_.kind = event::Kind::kLost;
    handler(pending_loss_);
    pending_loss_ = event::Event{};
    delivered++;
  }
  return delivered;
}

Result<int> Tracer::poll(int timeout_ms, const Handler& handler) {
  if (!consumer_adopted_) {
    if (consumer_yields_) consumer_priority_.adopt_current_thread();
    consumer_adopted_ = true;
  }
  if (timeout_ms == 0) sync();
  if (!backlog() && timeout_ms != 0) {
    pollfd p{wake_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
      return Error::from_errno("waiting for records");
  }
  uint64_t count;
  if (read(wake_fd_, &count, sizeof(count)) < 0) {
  }  // EAGAIN: nothing signalled, which is fine
  {
    std::lock_guard lock(mutex_);
    if (!ring_error_.empty()) return Error{EIO, ring_error_};
  }

  auto counters = read_loss_counters();
  if (!counters) return counters.error();
  for (unsigned i = 0; i < MT_LOSS_SLOTS; i++) {
    uint64_t n = (*counters)[i] - lost_seen_[i];
    pending_loss_.lost[i] += n;
    pending_loss_.lost_total += n;
  }
  lost_seen_ = *counters;
  // Records that reached the ring before the loss was read are (nearly all) in the backlog.
  size_t before_loss = pending_loss_.lost_total ? backlog() : 0;

  int delivered = 0;
  event::Event e;
  while (delivered < kMaxRecordsPerPoll && take(e)) {
    handler(e);
    delivered++;
    if (before_loss && --before_loss == 0) break;
  }
  if (pending_loss_.lost_total && before_loss == 0) {
    pending_loss_.kind = event::Kind::kLost;
    handler(pending_loss_);
    pending_loss_ = event::Event{};
    delivered++;
  }
  // Caught up: idle again (the margin keeps a consumer near the mark from flapping).
  if (backlog_bytes_ < consumer_raise_bytes_ / 4 && !consumer_priority_.lowered())
    consumer_priority_.lower();
  // More to do: keep the descriptor readable for an epoll-driven caller.
  if (backlog()) {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof(one)) < 0) {
    }
  }
  return delivered;
}

}  // namespace maptrail::trace
