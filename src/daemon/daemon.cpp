#include "daemon/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/access.h"
#include "daemon/protocol.h"
#include "daemon/wire.h"
#include "engine/engine.h"
#include "engine/verifier.h"
#include "model/vma.h"
#include "render/report.h"
#include "render/verify_json.h"
#include "procfs/process.h"
#include "symbolize/stack.h"
#include "trace/tracer.h"
#include "util/unique_fd.h"

namespace maptrail::daemon {

namespace {

using nlohmann::json;

Result<UniqueFd> listen_on(const std::string& path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) {
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec)
      return Error{ec.value(),
                   fmt::format("cannot create {}: {}", p.parent_path().string(), ec.message())};
  }
  // A socket file left by a daemon that died is removed; one that answers is in use.
  if (std::filesystem::exists(p)) {
    if (ask(path, {{"op", "status"}}).ok())
      return Error{EADDRINUSE, fmt::format("a maptrail daemon is already listening on {}", path)};
    std::filesystem::remove(p, ec);
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Error::from_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Error{ENAMETOOLONG, "socket path too long: " + path};
  std::strcpy(addr.sun_path, path.c_str());
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return Error::from_errno("cannot listen on " + path);
  // Anyone may connect: each question is checked against the asker's credentials.
  chmod(path.c_str(), 0666);
  if (listen(fd.get(), 64) != 0) return Error::from_errno("listen on " + path);
  return fd;
}

// Who created a VMA: the origin of its first page, and how many different origins its pages
// have (a merged [heap] grown by many brk calls has many).
void add_origin(json& vma, const std::vector<model::Provenance::Span>& spans) {
  std::vector<const model::Origin*> distinct;
  for (const auto& s : spans)
    if (std::find(distinct.begin(), distinct.end(), s.created.get()) == distinct.end())
      distinct.push_back(s.created.get());
  vma["origins"] = distinct.size();
  const model::Origin* first = spans.empty() ? nullptr : spans.front().created.get();
  if (!first) {
    vma["origin"] = nullptr;
    return;
  }
  vma["origin"] = {{"call", first->call},
                   {"time_ns", first->time_ns},
                   {"pid", first->pid},
                   {"tid", first->tid},
                   {"caller", first->caller()}};
}

class Daemon {
 public:
  Daemon(const DaemonOptions& o, trace::Tracer& tracer)
      : options_(o),
        tracer_(tracer),
        engine_(nullptr, o.history_limit),
        verifier_(
            engine_, verify_view_, [this] { drain(); },
            [this](pid_t pid) { return tracer_.in_flight(pid); }) {
    for (const auto& name : o.stack.runtime_modules) symbols_.add_runtime_module(name);
    engine_.on_space_ended([this](uint64_t mm) {
      sites_.forget(mm);
      ended_since_trim_++;
    });
  }

  void handle(const event::Event& e) {
    if (e.kind == event::Kind::kLost) {
      lost_ += e.lost_total;
      engine_.apply(e);
      return;
    }
    if (e.flags & MT_F_STACK_SHORTENED) stacks_shortened_++;
    if (e.kind == event::Kind::kSyscall && !(e.flags & MT_F_NO_WINDOW)) {
      symbolize::resolve_stack(e, engine_.find_or_seed(e.mm, e.pid), symbols_, stack_);
      if (auto top = symbolize::stack_top_hint(e, stack_)) tracer_.hint_stack_top(e, *top);
      engine_.apply(e, sites_.get(e.mm, stack_));
    } else {
      engine_.apply(e);
    }
    events_++;
  }

  // Everything already in the ring buffer, within reason (a storm can refill it as fast).
  void drain(int max_batches = 64) {
    for (int i = 0; i < max_batches; i++) {
      auto n = tracer_.poll(0, [this](const event::Event& e) { handle(e); });
      if (!n || (*n < trace::Tracer::kMaxRecordsPerPoll && !tracer_.backlog())) break;
    }
  }

  // A burst leaves the backlog's batches and the call sites of processes that have ended in
  // malloc's free lists, and glibc gives back only the top of its heap by itself. Called
  // before the daemon waits with nothing to do: once many spaces have ended or many events
  // came since the last time, hands what is free back to the system, at most once per
  // kTrimInterval (an idle daemon never does). Returns how long the wait may last (ms; -1:
  // until something comes).
  int release_free_memory() {
    if (ended_since_trim_ < kTrimAfterEnded && events_ - events_at_trim_ < kTrimAfterEvents)
      return -1;
    auto now = std::chrono::steady_clock::now();
    if (now < next_trim_)
      return int(std::chrono::ceil<std::chrono::milliseconds>(next_trim_ - now).count());
    next_trim_ = now + kTrimInterval;
    ended_since_trim_ = 0;
    events_at_trim_ = events_;
    malloc_trim(0);
    return -1;
  }

  void adopt_targets() {
    for (pid_t pid : options_.pids)
      if (auto mm = tracer_.mm_of(pid)) engine_.adopt(pid, *mm);
  }

  json answer(const json& request, const ucred& peer) {
    std::string op = request.value("op", "");
    if (op == "status") {
      drain();  // counts that include what the kernel has already reported, as answers do
      const auto& c = engine_.counters();
      return {{"ok", true},
              {"processes", engine_.pids().size()},
              {"spaces", engine_.size()},
              {"events", events_},
              {"lost", lost_},
              {"stacks_shortened", stacks_shortened_},
              {"call_sites", sites_.size()},
              {"windows_applied", c.windows_applied},
              {"windows_incomplete", c.windows_incomplete},
              {"windows_out_of_order", c.windows_out_of_order},
              {"repairs", c.repairs},
              {"windows_already_read", c.windows_already_read},
              {"seeds", c.seeds},
              {"resyncs", c.resyncs},
              {"repair_failures", c.repair_failures},
              {"decode_errors", tracer_.decode_errors()}};
    }
    if (op == "report") {
      // Stacks of every traced process, whoever owns them: the daemon's owner only.
      if (peer.uid != 0)
        return {{"ok", false},
                {"error", fmt::format("permission denied: the report covers every traced "
                                      "process; only root may ask (uid {} asked)",
                                      peer.uid)}};
      drain();
      auto by = render::parse_report_by(request.value("by", "caller"));
      auto rows =
          render::report_rows(engine_.report().entries(), by, request.value("anon_only", false));
      return {{"ok", true}, {"rows", render::report_json(rows)}};
    }
    if (op != "vmas" && op != "verify" && op != "history")
      return {{"ok", false}, {"error", fmt::format("unknown request '{}'", op)}};
    if (!request.contains("pid") || !request["pid"].is_number_integer())
      return {{"ok", false}, {"error", "the request needs a pid"}};
    pid_t pid = request["pid"].get<pid_t>();
    if (auto allowed = may_read_maps(peer.uid, pid); !allowed)
      return {{"ok", false}, {"error", allowed.error().message}};
    // A thread id answers for its process, as /proc/TID/maps and procps pmap do.
    if (auto info = procfs::read_process(pid); info && info->tgid > 0) pid = info->tgid;
    drain();  // answer with everything the kernel has already reported
    auto mm = engine_.mm_of(pid);
    if (!mm) {
      // Not seen yet (an idle process): key it by the mm the kernel names now.
      auto kernel_mm = tracer_.mm_of(pid);
      if (!kernel_mm) return {{"ok", false}, {"error", kernel_mm.error().message}};
      // With -p, a process outside the set gets no events: a model of it would go stale.
      if (!options_.pids.empty())
        return {{"ok", false},
                {"error", fmt::format("pid {} is not traced by this daemon (it was started with "
                                      "-p; start one without -p to trace every process)",
                                      pid)}};
      engine_.adopt(pid, *kernel_mm);
      mm = kernel_mm.value();
    }
    if (op == "vmas") {
      const auto* space = engine_.find(*mm);
      // "format": "maps" asks for the layout as /proc/PID/maps text: one string instead of
      // an object per VMA, which at 65,530 VMAs took the daemon and the client most of a
      // second to build and parse. Names are held as /proc prints them (a newline as \012),
      // so each VMA is one line; the text goes through encode_bytes, as names need not be
      // UTF-8.
      if (request.value("format", "") == "maps" && space) {
        std::string maps;
        for (const auto& v : *space) {
          maps += model::format_maps_line(v);
          maps += '\n';
        }
        return {{"ok", true},
                {"pid", pid},
                {"mm", fmt::format("{:#x}", *mm)},
                {"maps", encode_bytes(maps)}};
      }
      json vmas = json::array();
      const auto* provenance = engine_.provenance(*mm);
      if (space) {
        for (const auto& v : *space) {
          json j = to_json(v);
          if (provenance) add_origin(j, provenance->in_range(v.start, v.end));
          vmas.push_back(std::move(j));
        }
      }
      return {{"ok", true}, {"pid", pid}, {"mm", fmt::format("{:#x}", *mm)}, {"vmas", vmas}};
    }
    if (op == "verify") {
      auto report = verifier_.verify(pid);
      json j = render::verify_report_json(report);
      j["ok"] = true;
      return j;
    }
    // history
    uint64_t lo = request.value("lo", uint64_t(0)), hi = request.value("hi", ~uint64_t(0));
    json changes = json::array();
    uint64_t dropped = 0;
    if (const auto* history = engine_.history(*mm)) {
      for (const auto* c : history->touching(lo, hi)) changes.push_back(to_json(*c));
      dropped = history->dropped();
    }
    return {{"ok", true}, {"pid", pid}, {"changes", changes}, {"dropped", dropped}};
  }

  void serve(int client_fd) {
    UniqueFd client(client_fd);
    ucred peer{};
    socklen_t len = sizeof(peer);
    if (getsockopt(client.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) return;
    timeval timeout{1, 0};
    setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    std::string line;
    char buf[4096];
    while (line.find('\n') == std::string::npos && line.size() < 65536) {
      ssize_t n = read(client.get(), buf, sizeof(buf));
      if (n <= 0) return;  // a client that says nothing in time is dropped
      line.append(buf, n);
    }
    json request = json::parse(line.substr(0, line.find('\n')), nullptr, false);
    json reply = request.is_discarded() ? json{{"ok", false}, {"error", "the request is not JSON"}}
                                        : answer(request, peer);
    reply["v"] = kProtocolVersion;
    std::string out = reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    for (size_t sent = 0; sent < out.size();) {
      ssize_t n = write(client.get(), out.data() + sent, out.size() - sent);
      if (n <= 0) return;
      sent += n;
    }
  }

 private:
  const DaemonOptions& options_;
  trace::Tracer& tracer_;
  engine::Engine engine_;
  engine::ProcKernelView verify_view_;
  engine::Verifier verifier_;
  symbolize::Symbolizer symbols_;
  symbolize::CallSiteCache sites_;
  symbolize::Stack stack_;  // reused from event to event: its strings keep their capacity
  uint64_t events_ = 0, lost_ = 0;
  uint64_t stacks_shortened_ = 0;  // kept with less stack (or none): the daemon fell behind
  static constexpr auto kTrimInterval = std::chrono::seconds(10);
  static constexpr uint64_t kTrimAfterEnded = 256, kTrimAfterEvents = 1'000'000;
  uint64_t ended_since_trim_ = 0, events_at_trim_ = 0;
  std::chrono::steady_clock::time_point next_trim_{};
};

}  // namespace

int run_daemon(const DaemonOptions& o) {
  for (pid_t pid : o.pids) {
    if (pid <= 0 || !procfs::process_exists(pid)) {
      fmt::print(stderr, "maptrail daemon: no process with pid {}\n", pid);
      return 2;
    }
  }
  // Signals arrive through a descriptor, so the loop sees them between two requests.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  UniqueFd signals(signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));

  trace::TracerOptions tracer_options;
  tracer_options.trace_all = o.pids.empty();
  tracer_options.pids = o.pids;
  tracer_options.ringbuf_bytes = o.ringbuf_bytes;
  tracer_options.stack = o.stack;
  tracer_options.idle_poll_ms = 1000;  // a daemon should not wake more than once a second
  auto tracer = trace::Tracer::start(tracer_options);
  if (!tracer) {
    fmt::print(stderr, "maptrail daemon: {}\n", tracer.error().message);
    return 2;
  }
  auto listener = listen_on(o.socket_path);
  if (!listener) {
    fmt::print(stderr, "maptrail daemon: {}\n", listener.error().message);
    return 2;
  }
  Daemon daemon(o, **tracer);
  daemon.adopt_targets();

  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  auto watch = [&](int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  watch(listener->get());
  watch(signals.get());
  watch((*tracer)->epoll_fd());
  fmt::print(
      stderr, "maptrail daemon: tracing {}; listening on {}\n",
      o.pids.empty() ? std::string("all processes") : fmt::format("{} process(es)", o.pids.size()),
      o.socket_path);

  bool running = true;
  while (running) {
    epoll_event ready[8];
    // Records come without a wake-up until an eighth of the ring is full: look once a second
    // anyway (a daemon should not wake more often when nothing happens), and drain before
    // every answer, so nothing is answered from a stale model.
    // The tracer's reader thread looks at the ring buffer (at least once a second) and makes
    // its descriptor readable when events wait: nothing to do here until then, or until
    // free memory is due to be handed back after a burst.
    int n =
        epoll_wait(epoll.get(), ready, 8, (*tracer)->backlog() ? 0 : daemon.release_free_memory());
    bool events_wait = false;
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == (*tracer)->epoll_fd()) {
        events_wait = true;
      } else if (fd == signals.get()) {
        running = false;
      } else if (fd == listener->get()) {
        int client;
        while ((client = accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC)) >= 0)
          daemon.serve(client);
      }
    }
    // One batch at a time, so a storm of records never keeps a signal or a client waiting.
    if (running && (events_wait || (*tracer)->backlog())) daemon.drain(1);
  }
  std::error_code ec;
  std::filesystem::remove(o.socket_path, ec);
  fmt::print(stderr, "maptrail daemon: stopped\n");
  return 0;
}

}  // namespace maptrail::daemon
