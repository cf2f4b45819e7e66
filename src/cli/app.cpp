#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/query_commands.h"
#include "cli/trace_command.h"
#include "daemon/daemon.h"
#include "daemon/protocol.h"
#include "trace/tracer.h"

namespace maptrail::cli {

namespace {

uint64_t parse_size_or_throw(const std::string& text) {
  // "4096", "64K", "16M", "1G" (powers of 1024)
  size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used, 0);
  } catch (const std::exception&) {
    throw CLI::ValidationError("size", "not a size: " + text);
  }
  std::string suffix = text.substr(used);
  if (suffix == "K" || suffix == "k" || suffix == "KiB")
    value <<= 10;
  else if (suffix == "M" || suffix == "MiB")
    value <<= 20;
  else if (suffix == "G" || suffix == "GiB")
    value <<= 30;
  else if (!suffix.empty() && suffix != "B")
    throw CLI::ValidationError("size", "unknown unit in " + text + " (use K, M or G)");
  return value;
}

// --stack, --stack-size and --runtime-module, the same for trace and daemon.
struct StackFlags {
  std::string mode = "dwarf", size = "8K";
  std::vector<std::string> runtime_modules;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--stack", mode,
                    "Caller stacks: dwarf (default: unwound from a copy of the user stack), fp "
                    "(frame pointers) or none")
        ->check(CLI::IsMember({"dwarf", "fp", "none"}));
    cmd->add_option("--stack-size", size,
                    "With --stack dwarf: bytes of user stack copied per event (64 to 8K, "
                    "default 8K)");
    cmd->add_option("--runtime-module", runtime_modules,
                    "Also treat this module (a file name prefix) as runtime plumbing when "
                    "choosing the caller; repeatable");
  }

  trace::StackOptions parse() const {
    trace::StackOptions o;
    o.mode = mode == "none" ? MT_STACK_NONE : mode == "fp" ? MT_STACK_FP : MT_STACK_COPY;
    uint64_t bytes = parse_size_or_throw(size);
    if (bytes < 64 || bytes > MT_STACK_COPY_MAX)
      throw CLI::ValidationError("--stack-size", "between 64 bytes and 8K");
    o.copy_bytes = uint32_t(bytes);
    o.runtime_modules = runtime_modules;
    return o;
  }
};

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"maptrail: who maps memory in a process, when, and from where"};
  app.set_version_flag("--version", "maptrail 0.1.0");
  app.require_subcommand(1);

  TraceOptions trace;
  std::string min_size = "0", ringbuf = "16M";
  StackFlags trace_stack, daemon_stack;
  auto* cmd = app.add_subcommand("trace", "Log every change to the memory mappings of processes");
  cmd->add_option("-p,--pid", trace.pids, "Trace this process (all threads, future children)");
  cmd->add_flag("--all", trace.all, "Trace every process on the system");
  cmd->add_flag("--json", trace.json, "JSON lines (schema: docs/json-schema.md)");
  cmd->add_option("-o,--output", trace.output, "Write the log to FILE instead of stdout");
  cmd->add_flag("--anon-only", trace.anon_only, "Only calls on anonymous memory");
  cmd->add_option("--min-size", min_size, "Only calls whose length is at least BYTES (K/M/G)");
  cmd->add_option("--duration", trace.duration, "Stop after SEC seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--verify-every", trace.verify_every,
                  "Check the model of every traced process against /proc every SEC seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--ringbuf-size", ringbuf, "Kernel ring buffer size (default 16M)");
  trace_stack.add_to(cmd);
  cmd->add_flag("--report", trace.report,
                "At the end, print mappings by caller (see maptrail report) to stderr");
  cmd->add_option("--report-by", trace.report_by, "With --report: caller, stack or module")
      ->check(CLI::IsMember({"caller", "stack", "module"}));
  cmd->add_option("--folded", trace.folded,
                  "At the end, write folded stacks weighted by live bytes to FILE");
  cmd->add_option("--color", trace.color, "auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_option("command", trace.command, "Command to launch and trace (after --)");
  cmd->positionals_at_end();

  daemon::DaemonOptions daemon_options;
  daemon_options.socket_path = daemon::kDefaultSocket;
  std::string daemon_ringbuf = "16M";
  auto* daemon_cmd = app.add_subcommand(
      "daemon", "Trace until stopped and answer pmap, verify and history over a Unix socket");
  daemon_cmd->add_option("--socket", daemon_options.socket_path, "Socket path")
      ->capture_default_str();
  daemon_cmd->add_option("-p,--pid", daemon_options.pids,
                         "Trace only these processes (and their children); default: all");
  daemon_cmd->add_option("--history", daemon_options.history_limit,
                         "Changes kept per address space (default 10000)");
  daemon_cmd->add_option("--ringbuf-size", daemon_ringbuf, "Kernel ring buffer size (default 16M)");
  daemon_stack.add_to(daemon_cmd);

  PmapCommand pmap;
  pmap.socket = daemon::kDefaultSocket;
  bool pmap_x = false, pmap_d = false;
  int pmap_X = 0;
  std::string pmap_range;
  auto* pmap_cmd = app.add_subcommand("pmap", "The model's view of processes, as pmap prints it");
  pmap_cmd->add_option("--socket", pmap.socket, "Daemon socket");
  pmap_cmd->add_flag("-x", pmap_x, "Extended format (RSS, Dirty from smaps)");
  pmap_cmd->add_flag("-X", pmap_X, "More extended format (-XX: everything smaps has)");
  pmap_cmd->add_flag("-d", pmap_d, "Device format");
  pmap_cmd->add_flag("-q", pmap.options.quiet, "No header or footer");
  pmap_cmd->add_flag("-p", pmap.options.show_path, "Full paths");
  pmap_cmd->add_option("-A", pmap_range, "Only mappings in LO[,HI]");
  pmap_cmd->add_flag("--origin", pmap.origin,
                     "Add who created each mapping: call, time, thread, caller");
  pmap_cmd->add_option("pid", pmap.pids, "Processes")->required();

  std::string verify_socket = daemon::kDefaultSocket;
  std::vector<pid_t> verify_pids;
  auto* verify_cmd = app.add_subcommand(
      "verify", "Compare the model with /proc/PID/maps: exit 0 exact, 1 differs, 2 error");
  verify_cmd->add_option("--socket", verify_socket, "Daemon socket");
  verify_cmd->add_option("pid", verify_pids, "Processes")->required();

  HistoryCommand history;
  history.socket = daemon::kDefaultSocket;
  auto* history_cmd =
      app.add_subcommand("history", "Every recorded change that touched an address or range");
  history_cmd->add_option("--socket", history.socket, "Daemon socket");
  history_cmd->add_option("pid", history.pid, "Process")->required();
  history_cmd->add_option("range", history.range, "ADDR or LO,HI (hex)")->required();

  ReportCommand report;
  report.socket = daemon::kDefaultSocket;
  auto* report_cmd = app.add_subcommand(
      "report", "Mappings by caller, stack or module: calls, bytes mapped, unmapped and live");
  report_cmd->add_option("--socket", report.socket, "Daemon socket");
  report_cmd->add_option("--by", report.by, "caller (default), stack or module")
      ->check(CLI::IsMember({"caller", "stack", "module"}));
  report_cmd->add_flag("--anon-only", report.anon_only, "Only anonymous memory");
  report_cmd->add_flag("--folded", report.folded,
                       "Folded stacks weighted by live bytes (flamegraph.pl, inferno, speedscope)");
  report_cmd->add_flag("--json", report.json, "The rows as JSON");

  try {
    app.parse(argc, argv);
    trace.min_size = parse_size_or_throw(min_size);
    trace.ringbuf_bytes = parse_size_or_throw(ringbuf);
    trace.stack = trace_stack.parse();
    daemon_options.stack = daemon_stack.parse();
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*daemon_cmd) {
    try {
      daemon_options.ringbuf_bytes = trace::valid_ringbuf_size(parse_size_or_throw(daemon_ringbuf));
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    return daemon::run_daemon(daemon_options);
  }
  if (*pmap_cmd) {
    int modes = pmap_x + (pmap_X > 0) + pmap_d;
    if (modes > 1) {
      fmt::print(stderr, "maptrail pmap: options -d, -x, -X are mutually exclusive\n");
      return 1;
    }
    using Mode = render::PmapOptions::Mode;
    pmap.options.mode = pmap_x        ? Mode::kExtended
                        : pmap_X == 1 ? Mode::kMoreExtended
                        : pmap_X >= 2 ? Mode::kAll
                        : pmap_d      ? Mode::kDevice
                                      : Mode::kDefault;
    if (!pmap_range.empty()) {
      auto range = render::parse_pmap_range(pmap_range);
      if (!range) {
        fmt::print(stderr, "maptrail pmap: {}\n", range.error().message);
        return 1;
      }
      pmap.options.range = *range;
    }
    return run_pmap(pmap);
  }
  if (*verify_cmd) return run_verify(verify_socket, verify_pids);
  if (*history_cmd) return run_history(history);
  if (*report_cmd) return run_report(report);

  if (*cmd) {
    uint64_t valid = trace::valid_ringbuf_size(trace.ringbuf_bytes);
    if (valid != trace.ringbuf_bytes)
      fmt::print(stderr,
                 "maptrail trace: ring buffer size rounded up to {} bytes (a power of two)\n",
                 valid);
    trace.ringbuf_bytes = valid;
    return run_trace(trace);
  }
  return 2;
}

}  // namespace maptrail::cli
