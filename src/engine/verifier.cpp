#include "engine/verifier.h"

#include <chrono>
#include <thread>

#include <fmt/format.h>

namespace maptrail::engine {

namespace {

// The stack grows by page faults: the kernel's [stack] VMA starts lower than the model's,
// ends at the same place, and is otherwise the same.
bool is_stack_growth(const model::Vma& before, const model::Vma& after) {
  return before.name == "[stack]" && after.name == "[stack]" && after.end == before.end &&
         after.start < before.start && after.perms == before.perms;
}

}  // namespace

Verifier::Verifier(Engine& engine, KernelView& kernel, std::function<void()> drain,
                   std::function<bool(pid_t)> in_flight)
    : engine_(engine),
      kernel_(kernel),
      drain_(std::move(drain)),
      in_flight_(std::move(in_flight)) {}

VerifyReport Verifier::verify(pid_t pid, int max_attempts) {
  VerifyReport report;
  report.pid = pid;
  for (int attempt = 1; attempt <= max_attempts; attempt++) {
    report.attempts = attempt;
    if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(attempt));
    drain_();
    auto mm = engine_.mm_of(pid);
    if (!mm) {
      report.error = fmt::format("pid {} is not traced (no events seen from it)", pid);
      return report;
    }
    uint64_t changes_before = engine_.changes(*mm);
    auto kernel = kernel_.read_maps(pid);
    if (!kernel) {
      report.error = kernel.error().message;
      return report;
    }
    if (in_flight_(pid)) continue;  // a change may be visible in the read but not yet sent
    drain_();
    if (engine_.mm_of(pid) != mm || engine_.changes(*mm) != changes_before) continue;
    const model::AddressSpace* model = engine_.find(*mm);
    if (!model) {
      report.error = fmt::format("no model for pid {}", pid);
      return report;
    }
    report.ok = true;
    report.vmas = kernel->size();
    auto differences = model::diff(*model, *kernel);
    // Pair up the two halves of a grown stack (kChanged at the old start is not how it
    // shows: the start moved, so it is one kExtra and one kMissing).
    const model::Difference* extra_stack = nullptr;
    const model::Difference* missing_stack = nullptr;
    for (const auto& d : differences) {
      if (d.kind == model::Difference::kExtra && d.model->name == "[stack]") extra_stack = &d;
      if (d.kind == model::Difference::kMissing && d.kernel->name == "[stack]") missing_stack = &d;
    }
    bool stack_grew = extra_stack && missing_stack &&
                      is_stack_growth(*extra_stack->model, *missing_stack->kernel);
    for (const auto& d : differences) {
      if (stack_grew && (&d == extra_stack || &d == missing_stack)) continue;
      report.differences.push_back(d);
    }
    if (stack_grew) {
      report.drift.push_back({Drift::kStackGrowth, *extra_stack->model, *missing_stack->kernel});
      // reconcile: the kernel's stack is the truth from now on
      (void)engine_.resync(*mm, pid);
    }
    report.exact = report.differences.empty();
    return report;
  }
  report.error =
      fmt::format("pid {} kept changing its mappings during {} reads of /proc/{}/maps; try again",
                  pid, max_attempts, pid);
  return report;
}

std::string format_report(const VerifyReport& r) {
  if (!r.ok) return fmt::format("pid {}: cannot verify: {}\n", r.pid, r.error);
  std::string out;
  if (r.exact)
    out = fmt::format("pid {}: exact ({} VMAs)\n", r.pid, r.vmas);
  else
    out = fmt::format("pid {}: {} difference(s) between the model and /proc/{}/maps\n", r.pid,
                      r.differences.size(), r.pid);
  for (const auto& d : r.differences) {
    if (d.model) out += "  - model:  " + model::format_maps_line(*d.model) + "\n";
    if (d.kernel) out += "  + kernel: " + model::format_maps_line(*d.kernel) + "\n";
  }
  for (const auto& d : r.drift)
    out += fmt::format("  drift: stack grew by {} KiB through page faults (no syscall)\n",
                       (d.before.start - d.after.start) / 1024);
  return out;
}

}  // namespace maptrail::engine
