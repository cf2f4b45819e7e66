#include "cli/trace_command.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/child_process.h"
#include "engine/engine.h"
#include "engine/verifier.h"
#include "procfs/process.h"
#include "render/log_json.h"
#include "util/allocator.h"
#include "render/log_text.h"
#include "render/report.h"
#include "render/summary.h"
#include "render/verify_json.h"
#include "symbolize/stack.h"
#include "trace/tracer.h"

namespace maptrail::cli {

namespace {

volatile sig_atomic_t stop_requested = 0;

void request_stop(int) {
  stop_requested = 1;
}

void install_stop_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = request_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: let poll() return at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct FileCloser {
  void operator()(FILE* f) const {
    if (f && f != stdout) fclose(f);
  }
};

// Output errors (a full disk, a closed pipe) end the trace with a message, not silently.
class Output {
 public:
  // `what`: "the log", "the folded stacks", for the errors.
  static Result<Output> open(const std::string& path, std::string what = "the log") {
    Output out;
    out.what_ = std::move(what);
    if (path.empty() || path == "-") {
      out.file_.reset(stdout);
      out.name_ = "standard output";
    } else {
      FILE* f = fopen(path.c_str(), "w");
      if (!f) return Error::from_errno(fmt::format("cannot write {} to {}", out.what_, path));
      out.file_.reset(f);
      out.name_ = path;
    }
    setvbuf(out.file_.get(), nullptr, _IOFBF, 1 << 16);
    return out;
  }
  bool is_terminal() const { return isatty(fileno(file_.get())); }
  bool write(const std::string& text) {
    if (failed_) return false;
    if (fwrite(text.data(), 1, text.size(), file_.get()) != text.size()) fail();
    return !failed_;
  }
  bool flush() {
    if (!failed_ && fflush(file_.get()) != 0) fail();
    return !failed_;
  }
  const std::string& error() const { return error_; }

 private:
  void fail() {
    failed_ = true;
    error_ = fmt::format("writing {} to {} failed: {}", what_, name_, strerror(errno));
  }
  std::unique_ptr<FILE, FileCloser> file_;
  std::string name_, what_;
  bool failed_ = false;
  std::string error_;
};

bool is_anonymous_change(const event::Event& e, const model::AddressSpace* before) {
  if (event::is_anonymous(e)) return true;
  if (e.syscall == event::Syscall::kMmap) return false;
  // Other calls act on existing memory: anonymous if every VMA they touched was.
  uint64_t lo = e.args[0], hi = lo + event::length_arg(e);
  if (!before || hi <= lo) return false;
  auto touched = before->in_range(lo, hi);
  if (touched.empty()) return false;
  for (const auto& v : touched)
    if (v.inode != 0 || (!v.name.empty() && v.name[0] == '/')) return false;
  return true;
}

bool shown(const TraceOptions& o, const event::Event& e, const model::AddressSpace* before) {
  if (e.kind != event::Kind::kSyscall) return true;
  if (o.min_size && event::length_arg(e) < o.min_size && event::bytes_mapped(e) < o.min_size)
    return false;
  if (o.anon_only && !is_anonymous_change(e, before)) return false;
  return true;
}

std::string mmap_fd_path(const event::Event& e) {
  if (e.syscall != event::Syscall::kMmap || static_cast<int>(e.args[4]) < 0) return "";
  if (auto name = event::mapped_file_name(e); !name.empty()) return name;
  auto path = procfs::fd_path(e.pid, static_cast<int>(e.args[4]));
  return path ? *path : "";
}

int exit_status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

}  // namespace

int run_trace(const TraceOptions& o) {
  util::tune_allocator_for_record_stream();
  int modes = (!o.pids.empty()) + o.all + (!o.command.empty());
  if (modes != 1) {
    fmt::print(stderr,
               "maptrail trace: say what to trace: -p PID (repeatable), --all, or -- CMD ARGS "
               "(one of them)\n");
    return 2;
  }
  for (pid_t pid : o.pids) {
    if (pid <= 0 || !procfs::process_exists(pid)) {
      fmt::print(stderr, "maptrail trace: no process with pid {} (check the pid with ps)\n", pid);
      return 2;
    }
  }
  auto output = Output::open(o.output);
  if (!output) {
    fmt::print(stderr, "maptrail trace: {}\n", output.error().message);
    return 2;
  }
  std::optional<Output> folded;  // opened now: a path that cannot be written fails at once
  if (!o.folded.empty()) {
    auto opened = Output::open(o.folded, "the folded stacks");
    if (!opened) {
      fmt::print(stderr, "maptrail trace: {}\n", opened.error().message);
      return 2;
    }
    folded.emplace(std::move(*opened));
  }

  std::optional<GatedChild> child;
  trace::TracerOptions tracer_options;
  tracer_options.trace_all = o.all;
  tracer_options.pids = o.pids;
  tracer_options.ringbuf_bytes = o.ringbuf_bytes;
  tracer_options.stack = o.stack;
  // The log can wait; the traced program's threads should not (a JVM start, on every core).
  tracer_options.consumer_yields = true;
  if (!o.command.empty()) {
    auto spawned = GatedChild::spawn(o.command);
    if (!spawned) {
      fmt::print(stderr, "maptrail trace: {}\n", spawned.error().message);
      return 127;
    }
    child.emplace(std::move(*spawned));
    tracer_options.pids.push_back(child->pid());
  }

  auto tracer = trace::Tracer::start(tracer_options);
  if (!tracer) {
    if (child) child->abandon();
    fmt::print(stderr, "maptrail trace: {}\n", tracer.error().message);
    return 2;
  }
  install_stop_handlers();
  auto clock = render::TraceClock::now();
  uint64_t started = monotonic_ns();

  if (!o.command.empty())
    fmt::print(stderr, "maptrail: tracing {} (pid {}) and its descendants\n", o.command[0],
               child->pid());
  else if (o.all)
    fmt::print(stderr, "maptrail: tracing all processes; Ctrl-C to stop\n");
  else
    fmt::print(stderr, "maptrail: tracing {} process(es); Ctrl-C to stop\n", o.pids.size());

  if (child) {
    if (auto released = child->release(); !released) {
      fmt::print(stderr, "maptrail trace: {}: {}\n", o.command[0], released.error().message);
      return 127;
    }
  }
  render::TextStyle style;
  bool colored = o.color == "always" || (o.color == "auto" && !o.json && output->is_terminal());
  style.color = colored ? render::Color::kAnsi : render::Color::kNone;

  engine::Engine engine;
  // -p targets are modelled from the start, not from their first traced call.
  for (pid_t pid : o.pids)
    if (auto mm = (*tracer)->mm_of(pid)) engine.adopt(pid, *mm);
  symbolize::Symbolizer symbols;
  symbolize::CallSiteCache sites;
  engine.on_space_ended([&sites](uint64_t mm) { sites.forget(mm); });
  for (const auto& name : o.stack.runtime_modules) symbols.add_runtime_module(name);
  render::TraceSummary summary;
  bool output_ok = true;
  const bool reporting = o.report || !o.folded.empty();

  // Between fork and exec the launched command is still a copy of maptrail: what that copy
  // does (its address space released at exec) is ours, not the command's.
  uint32_t gated_pid = child ? uint32_t(child->pid()) : 0;
  symbolize::Stack resolved_stack;  // reused: its frames' strings keep their capacity
  const symbolize::Stack no_stack;
  auto handle = [&](const event::Event& e) {
    if (gated_pid && e.pid == gated_pid) {
      if (e.kind != event::Kind::kExec) return;
      gated_pid = 0;
    }
    if (e.kind == event::Kind::kLayout) {
      engine.apply(e);
      return;
    }
    summary.add(e);
    const model::AddressSpace* before =
        e.kind == event::Kind::kSyscall ? engine.find_or_seed(e.mm, e.pid) : nullptr;
    bool show = output_ok && shown(o, e, before);
    bool syscall = e.kind == event::Kind::kSyscall;
    bool resolve = syscall && (show || (reporting && !(e.flags & MT_F_NO_WINDOW)));
    if (resolve) {
      symbolize::resolve_stack(e, before, symbols, resolved_stack,
                               o.json || reporting ? symbolize::kAllFrames : style.caller_frames);
      if (auto top = symbolize::stack_top_hint(e, resolved_stack))
        (*tracer)->hint_stack_top(e, *top);
    }
    const symbolize::Stack& stack = resolve ? resolved_stack : no_stack;
    if (show) {
      render::EventView view{e, stack, mmap_fd_path(e)};
      output_ok = output->write(o.json ? render::log_json(view, clock)
                                       : render::log_text(view, clock, style));
    }
    engine.apply(e, reporting && syscall ? sites.get(e.mm, stack) : nullptr);
  };

  int child_status = 0;
  bool child_done = false;
  int exit_code = 0;
  uint64_t drain_started = 0;

  // --verify-every: check each known process's model against /proc, in stream order.
  engine::ProcKernelView verify_view;
  engine::Verifier verifier(
      engine, verify_view,
      [&] {
        for (int i = 0; i < 64; i++) {
          auto n = (*tracer)->poll(0, handle);
          if (!n || (*n < trace::Tracer::kMaxRecordsPerPoll && !(*tracer)->backlog())) break;
        }
      },
      [&](pid_t pid) { return (*tracer)->in_flight(pid); });
  uint64_t last_verify = monotonic_ns();
  auto verify_all = [&] {
    for (pid_t pid : engine.pids()) {
      if (!procfs::process_exists(pid)) continue;
      auto report = verifier.verify(pid);
      // It exited while being checked (its exit was handled by the verifier's drain).
      if (!report.ok && (!engine.mm_of(pid) || !procfs::process_exists(pid))) continue;
      summary.add_verify(report.ok, report.exact);
      if (!output_ok) continue;
      if (o.json)
        output_ok = output->write(render::verify_json(report, clock, monotonic_ns()));
      else if (!report.ok || !report.exact || !report.drift.empty())
        output_ok = output->write(engine::format_report(report));
    }
  };
  while (true) {
    auto n = (*tracer)->poll(drain_started ? 0 : 50, handle);
    if (!n && n.error().err != EINTR) {
      fmt::print(stderr, "maptrail trace: {}\n", n.error().message);
      exit_code = 1;
      break;
    }
    if (!output->flush()) output_ok = false;
    if (!output_ok) {
      fmt::print(stderr, "maptrail trace: {}\n", output->error());
      exit_code = 1;
      break;
    }
    if (o.verify_every > 0 && !drain_started &&
        monotonic_ns() - last_verify >= uint64_t(o.verify_every * 1e9)) {
      verify_all();
      last_verify = monotonic_ns();
    }
    bool ended = stop_requested;
    if (child && !child_done) child_done = child->poll_exit(&child_status);
    if (child_done) ended = true;
    if (!o.pids.empty()) {
      bool any_alive = false;
      for (pid_t pid : o.pids) any_alive |= procfs::process_exists(pid);
      if (!any_alive) ended = true;
    }
    if (o.duration > 0 && (monotonic_ns() - started) / 1e9 >= o.duration) ended = true;
    if (ended) {
      // Everything the targets did before we noticed the end is in the ring buffer by now
      // (a process's last records are written before its parent can reap it). Drain it,
      // but not "until quiet": with --all the system is never quiet.
      if (!drain_started) {
        // The next poll(0) takes everything the kernel recorded until now (it waits for the
        // reader to empty the ring); only then can "nothing more" be decided.
        drain_started = monotonic_ns();
        continue;
      }
      bool more = (n && *n >= trace::Tracer::kMaxRecordsPerPoll) || (*tracer)->backlog();
      if (!more) break;
      if (monotonic_ns() - drain_started > 2'000'000'000ull) {
        fmt::print(stderr, "maptrail: stopped draining after 2 s: records were still arriving\n");
        break;
      }
    }
  }

  (*tracer)->finish(handle);  // what was read from the kernel is never left unhandled
  summary.set_duration((monotonic_ns() - started) / 1e9);
  summary.set_windows_out_of_order(engine.counters().windows_out_of_order);
  summary.set_windows_already_read(engine.counters().windows_already_read);
  summary.set_decode_errors((*tracer)->decode_errors(), (*tracer)->last_decode_error());
  if (o.json && output_ok) {
    output->write(summary.json().dump() + "\n");
    output->flush();
  }
  fmt::print(stderr, "{}", summary.text());
  if (o.report) {
    auto by = render::parse_report_by(o.report_by);
    fmt::print(
        stderr, "\n{}",
        render::report_text(render::report_rows(engine.report().entries(), by, o.anon_only), by));
  }
  if (folded) {
    auto rows =
        render::report_rows(engine.report().entries(), render::ReportBy::kStack, o.anon_only);
    if (!folded->write(render::report_folded(rows)) || !folded->flush()) {
      fmt::print(stderr, "maptrail trace: {}\n", folded->error());
      if (exit_code == 0) exit_code = 2;
    }
  }
  if (child) {
    if (!child_done) {
      // Stopped by a signal or --duration while the command runs: it goes on untraced.
      fmt::print(stderr, "maptrail: stopped tracing; {} (pid {}) is still running\n", o.command[0],
                 child->pid());
    } else if (exit_code == 0) {
      exit_code = exit_status_of(child_status);
    }
  }
  return exit_code;
}

}  // namespace maptrail::cli
