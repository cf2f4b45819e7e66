#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/trace_command.h"
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

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"maptrail: who maps memory in a process, when, and from where"};
  app.set_version_flag("--version", "maptrail 0.1.0");
  app.require_subcommand(1);

  TraceOptions trace;
  std::string min_size = "0", ringbuf = "16M", stack = "fp";
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
  cmd->add_option("--stack", stack, "Caller stacks: fp (frame pointers) or none")
      ->check(CLI::IsMember({"fp", "none", "dwarf"}));
  cmd->add_option("--color", trace.color, "auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_option("command", trace.command, "Command to launch and trace (after --)");
  cmd->positionals_at_end();

  try {
    app.parse(argc, argv);
    trace.min_size = parse_size_or_throw(min_size);
    trace.ringbuf_bytes = parse_size_or_throw(ringbuf);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*cmd) {
    if (stack == "none")
      trace.stack = StackMode::kNone;
    else if (stack == "dwarf") {
      fmt::print(stderr, "maptrail trace: --stack dwarf is not available yet; using fp\n");
      trace.stack = StackMode::kFramePointer;
    }
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
