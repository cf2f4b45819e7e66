// The live model of every traced address space (DESIGN.md principles 1-3): keyed by mm,
// seeded from /proc the first time a space is seen, then changed only by the windows the
// kernel reported. Windows the kernel could not read whole (another thread held the lock,
// too many VMAs, a hole of unknown extent) are repaired from /proc at once and counted; a
// loss of records resyncs every space. Fork copies, exec starts afresh from the kernel's
// layout record, exit_mmap ends a space.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/fresh_reads.h"
#include "engine/kernel_view.h"
#include "event/event.h"
#include "model/address_space.h"
#include "model/history.h"
#include "model/provenance.h"
#include "model/report_book.h"

namespace maptrail::engine {

struct EngineCounters {
  uint64_t windows_applied = 0;
  uint64_t windows_incomplete = 0;  // busy, overflowed, holes, mlockall: repaired from /proc
  // Windows read before a change that a record ahead of them in the stream made: repaired
  uint64_t windows_out_of_order = 0;
  uint64_t repairs = 0;  // incomplete windows repaired
  // Windows neither applied nor read again: a read begun after the call returned had read
  // their ranges already, and nothing has been written there since
  uint64_t windows_already_read = 0;
  uint64_t repair_failures = 0;  // could not be repaired (the process was gone)
  uint64_t seeds = 0;            // spaces first read from /proc
  uint64_t resyncs = 0;          // whole spaces re-read (after a loss, mlockall)
};

class Engine {
 public:
  // Reads the system through `kernel`; nullptr: through /proc (ProcKernelView).
  // Each space keeps the last `history_limit` changes.
  explicit Engine(KernelView* kernel = nullptr, size_t history_limit = 10000);

  // Applies an event; `site` (its stack, when captured) goes into the space's history, the
  // provenance of the pages it creates and the report.
  void apply(const event::Event& e, std::shared_ptr<const model::CallSite> site = {});

  // Mappings by call site, for `maptrail report`.
  const model::ReportBook& report() const { return report_; }

  // The changes recorded for a space, or nullptr.
  const model::History* history(uint64_t mm) const;
  // Who created and last changed each page of a space, or nullptr.
  const model::Provenance* provenance(uint64_t mm) const;

  // The model of an address space, or nullptr.
  const model::AddressSpace* find(uint64_t mm) const;
  // Seeds mm from /proc/PID/maps if it has not been seen yet.
  const model::AddressSpace* find_or_seed(uint64_t mm, pid_t pid);
  // The address space a process has, as the events told (exec and fork change it).
  std::optional<uint64_t> mm_of(pid_t pid) const;
  // The processes whose address space is known.
  std::vector<pid_t> pids() const;
  // Events applied to a space so far: a change between two reads means it moved.
  uint64_t changes(uint64_t mm) const;
  // Re-reads a whole space from /proc/PID/maps.
  Result<void> resync(uint64_t mm, pid_t pid);
  // Associates a process with a space before any event did (a -p target at start).
  void adopt(pid_t pid, uint64_t mm);

  // Called with an mm address when the space known under it ends (exit_mmap) or another
  // takes the address (exec, fork, an address reused before its end was seen): what a
  // caller keeps by mm address (call sites) is stale from then on.
  void on_space_ended(std::function<void(uint64_t mm)> callback) {
    space_ended_ = std::move(callback);
  }

  const EngineCounters& counters() const { return counters_; }
  size_t size() const { return spaces_.size(); }
  uint64_t windows_applied() const { return counters_.windows_applied; }
  uint64_t windows_incomplete() const { return counters_.windows_incomplete; }

 private:
  class Space {
   public:
    explicit Space(size_t history_limit = 0) : history(history_limit) {}
    const model::AddressSpace& vmas() const { return vmas_; }
    // The VMAs change only through these four, so that a write forgets what it overwrote
    // of a read (FreshReads).
    bool replace(uint64_t lo, uint64_t hi, std::span<const model::Vma> vmas);
    // [lo, hi) as a read of the kernel that began at `began_ns` returned it.
    bool replace_read(uint64_t lo, uint64_t hi, std::span<const model::Vma> vmas,
                      uint64_t began_ns);
    bool assign(std::vector<model::Vma> vmas);
    // The whole space as a read of /proc/PID/maps that began at `began_ns` returned it (a
    // seed, a resync, a forked child read again): records of calls that returned before it
    // are then shown already. Every whole-space read goes through it.
    bool assign_read(std::vector<model::Vma> vmas, uint64_t began_ns);
    void clear();
    // True when a read since the call returned shows each of the call's ranges, untouched.
    bool already_read(const event::Event& e) const;
    // Remembers the ranges of a syscall record applied (or skipped).
    void returned(const event::Event& e);
    // True when the record's window took a range its call emptied as empty (not read at
    // exit) and a record applied before it, of a call that returned after this one began,
    // changed one of its ranges: that call may have mapped into the emptied range after
    // this one emptied it, and the window would unmap it again.
    bool emptied_under(const event::Event& e) const;

    model::History history;
    model::Provenance provenance;
    pid_t owner = 0;  // a process that has this mm, to read /proc through
    uint64_t changes = 0;
    uint64_t latest_exit_ns = 0;  // of the syscall records applied so far

   private:
    struct RecentCall {
      uint64_t lo, hi, exit_ns;
    };
    // Enough to reach back past every call that overlaps one in time on a busy process;
    // when the oldest is not old enough, emptied_under assumes the worst.
    static constexpr size_t kRecentCalls = 256;

    model::AddressSpace vmas_;
    FreshReads fresh_;
    std::deque<RecentCall> recent_calls_;  // the ranges of the latest records, newest last
  };

  Space& space_for(uint64_t mm, pid_t pid);
  void apply_window(Space& space, const event::Event& e);
  void repair_window(Space& space, const event::Event& e);
  void forget_pid(pid_t pid);
  // VMAs in the kernel's tree (the gate area is in /proc/PID/maps but not in the tree).
  size_t tree_size(const model::AddressSpace& vmas) const;
  void learn_what_fork_skips(Space& parent, Space& child, pid_t child_pid);
  void track_provenance(Space& space, const event::Event& e,
                        const std::shared_ptr<const model::CallSite>& site);
  // Charges pages that left an address space to the calls that created them.
  void charge_unmapped(const std::vector<model::Provenance::Span>& spans);
  void charge_exited(const Space& space);
  // After the VMAs were read anew: pages no longer mapped lose their origin, pages nobody
  // saw being mapped are marked as present before tracing.
  // `charge`: pages that vanished were unmapped (a resync), not left out by a fork.
  void reconcile_provenance(Space& space, bool charge);

  Space& new_space(uint64_t mm);
  void space_ended(uint64_t mm) {
    if (space_ended_) space_ended_(mm);
  }
  void record(Space& space, const event::Event& e,
              std::vector<std::pair<uint64_t, uint64_t>> ranges,
              std::shared_ptr<const model::CallSite> site);

  size_t history_limit_;
  std::unique_ptr<KernelView> own_kernel_;
  KernelView* kernel_;
  std::unordered_map<uint64_t, Space> spaces_;
  std::unordered_map<pid_t, uint64_t> mm_of_pid_;
  EngineCounters counters_;
  model::ReportBook report_;
  std::function<void(uint64_t)> space_ended_;
};

}  // namespace maptrail::engine
