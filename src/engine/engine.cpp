#include "engine/engine.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace maptrail::engine {

namespace {

constexpr uint64_t kVmDontCopy = 0x00020000;  // MADV_DONTFORK: not inherited by a fork child

std::vector<model::Vma> proc_vmas(const event::Event& e) {
  std::vector<model::Vma> vmas;
  vmas.reserve(e.vmas.size());
  for (const auto& w : e.vmas) vmas.push_back(event::to_proc_vma(w, e));
  return vmas;
}

// The VMAs of a window that belong to one of its ranges: those intersecting [lo, hi).
std::vector<model::Vma> in_window(const std::vector<model::Vma>& vmas, const event::Range& r) {
  std::vector<model::Vma> out;
  for (const auto& v : vmas)
    if (v.intersects(r.lo, r.hi)) out.push_back(v);
  return out;
}

}  // namespace

bool Engine::Space::replace(uint64_t lo, uint64_t hi, std::span<const model::Vma> vmas) {
  if (!vmas_.replace_window(lo, hi, vmas)) return false;
  auto [written_lo, written_hi] = model::AddressSpace::window_extent(lo, hi, vmas);
  fresh_.written(written_lo, written_hi);
  return true;
}

bool Engine::Space::replace_read(uint64_t lo, uint64_t hi, std::span<const model::Vma> vmas,
                                 uint64_t began_ns) {
  if (!vmas_.replace_window(lo, hi, vmas)) return false;
  auto [read_lo, read_hi] = model::AddressSpace::window_extent(lo, hi, vmas);
  fresh_.read(read_lo, read_hi, began_ns);
  return true;
}

bool Engine::Space::assign(std::vector<model::Vma> vmas) {
  fresh_.clear();
  return vmas_.assign(std::move(vmas));
}

bool Engine::Space::assign_read(std::vector<model::Vma> vmas, uint64_t began_ns) {
  if (!assign(std::move(vmas))) return false;
  fresh_.read(0, ~0ull, began_ns);
  return true;
}

void Engine::Space::clear() {
  fresh_.clear();
  vmas_.clear();
}

bool Engine::Space::already_read(const event::Event& e) const {
  if (e.ranges.empty() || (e.flags & MT_F_WHOLE_MM)) return false;
  for (const auto& r : e.ranges)
    if (!fresh_.shows(r.lo, r.hi, e.exit_ns)) return false;
  return true;
}

void Engine::Space::returned(const event::Event& e) {
  for (const auto& r : e.ranges) {
    if (recent_calls_.size() == kRecentCalls) recent_calls_.pop_front();
    recent_calls_.push_back({r.lo, r.hi, e.exit_ns});
  }
}

bool Engine::Space::emptied_under(const event::Event& e) const {
  if (!(e.flags & MT_F_WINDOW_EMPTY_ASSUMED) || e.enter_ns >= latest_exit_ns) return false;
  // The oldest call remembered returned after this one began: an older one may have too.
  if (recent_calls_.size() == kRecentCalls && recent_calls_.front().exit_ns > e.enter_ns)
    return true;
  for (const auto& call : recent_calls_) {
    if (call.exit_ns <= e.enter_ns) continue;
    for (const auto& r : e.ranges)
      if (call.lo < r.hi && r.lo < call.hi) return true;
  }
  return false;
}

Engine::Engine(KernelView* kernel, size_t history_limit) : history_limit_(history_limit) {
  if (!kernel) {
    own_kernel_ = std::make_unique<ProcKernelView>();
    kernel = own_kernel_.get();
  }
  kernel_ = kernel;
}

Engine::Space& Engine::new_space(uint64_t mm) {
  space_ended(mm);
  if (auto it = spaces_.find(mm); it != spaces_.end()) {
    charge_exited(it->second);  // an mm address reused before its end was seen
    spaces_.erase(it);
  }
  return spaces_.try_emplace(mm, history_limit_).first->second;
}

const model::History* Engine::history(uint64_t mm) const {
  auto it = spaces_.find(mm);
  return it == spaces_.end() ? nullptr : &it->second.history;
}

void Engine::record(Space& space, const event::Event& e,
                    std::vector<std::pair<uint64_t, uint64_t>> ranges,
                    std::shared_ptr<const model::CallSite> site) {
  model::Change c;
  c.time_ns = e.kind == event::Kind::kSyscall ? e.enter_ns : e.exit_ns;
  c.latency_ns = e.latency_ns();
  c.pid = e.pid;
  c.tid = e.tid;
  c.comm = e.comm;
  if (e.kind == event::Kind::kSyscall)
    c.call = event::syscall_name(e.syscall);
  else if (e.kind == event::Kind::kLayout)
    c.call = "exec";  // the image a successful exec installed
  else
    c.call = event::kind_name(e.kind);
  c.args = e.args;
  c.ret = e.ret;
  c.file = event::mapped_file_name(e);
  c.ranges = std::move(ranges);
  c.site = std::move(site);
  space.history.add(std::move(c));
}

const model::Provenance* Engine::provenance(uint64_t mm) const {
  auto it = spaces_.find(mm);
  return it == spaces_.end() ? nullptr : &it->second.provenance;
}

void Engine::reconcile_provenance(Space& space, bool charge) {
  auto removed = [&](uint64_t lo, uint64_t hi) {
    auto gone = space.provenance.removed(lo, hi);
    if (charge) charge_unmapped(gone);
  };
  uint64_t at = 0;
  for (const auto& v : space.vmas()) {
    if (v.start > at) removed(at, v.start);
    uint64_t cursor = v.start;
    for (const auto& span : space.provenance.in_range(v.start, v.end)) {
      if (span.lo > cursor) space.provenance.seeded(cursor, span.lo);
      cursor = span.hi;
    }
    if (cursor < v.end) space.provenance.seeded(cursor, v.end);
    at = v.end;
  }
  removed(at, ~0ull);
}

void Engine::charge_unmapped(const std::vector<model::Provenance::Span>& spans) {
  for (const auto& span : spans)
    if (span.created && !span.created->inherited)
      report_.unmapped(span.created->report_key, span.hi - span.lo);
}

void Engine::charge_exited(const Space& space) {
  for (const auto& span : space.provenance.all())
    if (span.created && !span.created->inherited)
      report_.exited(span.created->report_key, span.hi - span.lo);
}

// What a call did to which pages, from its arguments and result (the window says what the
// VMAs became, not which pages are new).
void Engine::track_provenance(Space& space, const event::Event& e,
                              const std::shared_ptr<const model::CallSite>& site) {
  using event::Syscall;
  auto origin = std::make_shared<model::Origin>();
  origin->time_ns = e.enter_ns;
  origin->pid = e.pid;
  origin->tid = e.tid;
  origin->call = event::syscall_name(e.syscall);
  origin->site = site;
  auto page_up = [](uint64_t x) { return (x + 4095) & ~uint64_t(4095); };
  const auto& a = e.args;
  uint64_t ret = uint64_t(e.ret);
  auto& prov = space.provenance;
  // New pages: charged to this call; pages they replace: unmapped, charged to their maker.
  uint64_t created_bytes = 0;
  auto create = [&](uint64_t lo, uint64_t hi) {
    charge_unmapped(prov.created(lo, hi, origin));
    created_bytes += hi > lo ? hi - lo : 0;
  };
  auto remove = [&](uint64_t lo, uint64_t hi) { charge_unmapped(prov.removed(lo, hi)); };
  if (e.failed()) {
    // a partial failure may still have changed some pages' attributes
    if (!e.ranges.empty() && e.syscall != Syscall::kMmap && e.syscall != Syscall::kMremap)
      for (const auto& r : e.ranges) prov.changed(r.lo, r.hi, origin);
    return;
  }
  switch (e.syscall) {
    case Syscall::kMmap:
      create(ret, ret + page_up(a[1]));
      break;
    case Syscall::kMunmap:
      remove(a[0], a[0] + page_up(a[1]));
      break;
    case Syscall::kBrk:
      if (!e.ranges.empty()) {
        if (e.ranges[0].hi == page_up(ret))
          create(e.ranges[0].lo, e.ranges[0].hi);
        else
          remove(e.ranges[0].lo, e.ranges[0].hi);
      }
      break;
    case Syscall::kMremap: {
      uint64_t old_len = page_up(a[1]), new_len = page_up(a[2]);
      uint64_t kept = std::min(old_len, new_len);
      if (ret == a[0]) {
        prov.changed(a[0], a[0] + kept, origin);
        if (new_len > old_len)
          create(a[0] + old_len, a[0] + new_len);
        else
          remove(a[0] + new_len, a[0] + old_len);
      } else {
        charge_unmapped(prov.moved(a[0], ret, kept, origin));
        if (new_len > old_len) create(ret + old_len, ret + new_len);
        if (a[3] & 4 /* MREMAP_DONTUNMAP: the old range stays, emptied */)
          create(a[0], a[0] + old_len);
        else if (old_len > kept)
          remove(a[0] + kept, a[0] + old_len);
      }
      break;
    }
    case Syscall::kShmat:
      for (const auto& w : e.vmas)
        if (w.start == ret) create(w.start, w.end);
      break;
    case Syscall::kShmdt:
      for (const auto& r : e.ranges) remove(r.lo, r.hi);
      break;
    case Syscall::kMlockall:
    case Syscall::kMunlockall:
      prov.changed(0, ~0ull, origin);
      break;
    default:
      for (const auto& r : e.ranges) prov.changed(r.lo, r.hi, origin);
      break;
  }
  if (created_bytes) {  // the origin is shared by the pages already: key it now
    origin->report_key = report_.key_for(site, event::is_anonymous(e));
    report_.mapped(origin->report_key, created_bytes, e.enter_ns);
  }
}

Engine::Space& Engine::space_for(uint64_t mm, pid_t pid) {
  auto [it, inserted] = spaces_.try_emplace(mm, history_limit_);
  if (inserted) {
    space_ended(mm);  // whatever the address stood for before, if anything, is gone
    it->second.owner = pid;
    uint64_t began_ns = kernel_->monotonic_ns();
    if (auto seed = kernel_->read_maps(pid); seed && !seed->empty()) {
      it->second.assign_read(std::move(*seed), began_ns);
      reconcile_provenance(it->second, true);
      counters_.seeds++;
    }
  }
  if (pid) {
    it->second.owner = pid;
    mm_of_pid_[pid] = mm;
  }
  return it->second;
}

const model::AddressSpace* Engine::find(uint64_t mm) const {
  auto it = spaces_.find(mm);
  return it == spaces_.end() ? nullptr : &it->second.vmas();
}

const model::AddressSpace* Engine::find_or_seed(uint64_t mm, pid_t pid) {
  if (mm == 0) return nullptr;
  return &space_for(mm, pid).vmas();
}

std::optional<uint64_t> Engine::mm_of(pid_t pid) const {
  auto it = mm_of_pid_.find(pid);
  if (it == mm_of_pid_.end()) return std::nullopt;
  return it->second;
}

std::vector<pid_t> Engine::pids() const {
  std::vector<pid_t> out;
  out.reserve(mm_of_pid_.size());
  for (const auto& [pid, mm] : mm_of_pid_) out.push_back(pid);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t Engine::changes(uint64_t mm) const {
  auto it = spaces_.find(mm);
  return it == spaces_.end() ? 0 : it->second.changes;
}

void Engine::adopt(pid_t pid, uint64_t mm) {
  space_for(mm, pid);
}

Result<void> Engine::resync(uint64_t mm, pid_t pid) {
  uint64_t began_ns = kernel_->monotonic_ns();
  auto maps = kernel_->read_maps(pid);
  if (!maps) return maps.error();
  auto it = spaces_.find(mm);
  Space& space = it != spaces_.end() ? it->second : new_space(mm);
  space.owner = pid;
  // Never the case for a read of the kernel (procfs::append_newer), but a space left as it
  // was must not pass for one read again.
  if (!space.assign_read(std::move(*maps), began_ns))
    return Error{EINVAL,
                 fmt::format("the maps of process {} overlap; its model was not replaced", pid)};
  reconcile_provenance(space, true);
  space.changes++;
  counters_.resyncs++;
  return {};
}

size_t Engine::tree_size(const model::AddressSpace& vmas) const {
  size_t n = vmas.size();
  if (auto gate = kernel_->gate_vma(); gate && vmas.find(gate->start)) n--;
  return n;
}

// The kernel copied a different number of VMAs than the model would: the parent has VMAs
// seeded from /proc, which does not show VM_DONTCOPY. Read the child as it is, and mark
// the parent's VMAs of unknown flags that the child lacks, so the next fork needs no read.
// A mark that is wrong (the child unmapped it already) only costs another read: the count
// is checked at every fork.
void Engine::learn_what_fork_skips(Space& parent, Space& child, pid_t child_pid) {
  counters_.windows_incomplete++;
  uint64_t began_ns = kernel_->monotonic_ns();
  auto now = kernel_->read_maps(child_pid);
  if (!now || !child.assign_read(std::move(*now), began_ns)) {
    counters_.repair_failures++;
    return;
  }
  counters_.repairs++;
  std::vector<model::Vma> skipped;
  for (const auto& v : parent.vmas()) {
    const model::Vma* in_child = child.vmas().find(v.start);
    if (v.vm_flags == 0 && !(in_child && in_child->start == v.start && in_child->end == v.end))
      skipped.push_back(v);
  }
  for (auto& v : skipped) {
    v.vm_flags = kVmDontCopy;
    parent.replace(v.start, v.end, std::span(&v, 1));
  }
}

void Engine::forget_pid(pid_t pid) {
  mm_of_pid_.erase(pid);
  kernel_->forget(pid);
}

void Engine::apply_window(Space& space, const event::Event& e) {
  auto vmas = proc_vmas(e);
  for (const auto& r : e.ranges) space.replace(r.lo, r.hi, in_window(vmas, r));
  counters_.windows_applied++;
}

// The kernel could not give the whole window: read those ranges as they are now. Later
// events replay on top, so the space ends up right even though this read is newer than the
// event (windows are idempotent and replace whole ranges).
void Engine::repair_window(Space& space, const event::Event& e) {
  if (e.flags & MT_F_WHOLE_MM) {
    if (resync(e.mm, e.pid))
      counters_.repairs++;
    else
      counters_.repair_failures++;
    return;
  }
  for (const auto& r : e.ranges) {
    uint64_t began_ns = kernel_->monotonic_ns();
    auto now = kernel_->read_range(e.pid, r.lo, r.hi);
    if (!now) {
      counters_.repair_failures++;
      return;
    }
    if (!space.replace_read(r.lo, r.hi, *now, began_ns)) {  // overlapping VMAs
      counters_.repair_failures++;
      return;
    }
  }
  counters_.repairs++;
}

void Engine::apply(const event::Event& e, std::shared_ptr<const model::CallSite> site) {
  using event::Kind;
  switch (e.kind) {
    case Kind::kSyscall: {
      if (e.mm == 0) return;
      Space& space = space_for(e.mm, e.pid);
      if (e.flags & MT_F_NO_WINDOW) return;
      if (!e.window_complete()) counters_.windows_incomplete++;
      if (space.already_read(e)) {
        // A read begun after this call returned shows its ranges, untouched since: neither
        // the window nor a read for it would say anything newer, and writing the window
        // would put back an older state (the same as repairing it at the time of that read).
        counters_.windows_already_read++;
      } else if (e.window_complete() &&
                 (e.exit_ns < space.latest_exit_ns || space.emptied_under(e))) {
        // The ring buffer orders records as they were reserved, after their windows were
        // read: two threads' calls can come in the reverse order of their reads. A record
        // ahead of this one whose call returned after this one's window was begun may have
        // changed something this window still shows as it was: read the ranges as they are
        // now instead. Not applied first: its VMAs may reach past its ranges (a merged
        // neighbour), and what they would overwrite there no re-read of the ranges restores.
        // A range the call emptied is shown as the call left it, not as it was at exit: any
        // call ahead that returned after this one began may have mapped into it.
        counters_.windows_out_of_order++;
        repair_window(space, e);
      } else if (e.window_complete()) {
        apply_window(space, e);
      } else {
        repair_window(space, e);
      }
      space.latest_exit_ns = std::max(space.latest_exit_ns, e.exit_ns);
      space.returned(e);
      space.changes++;
      std::vector<std::pair<uint64_t, uint64_t>> ranges;
      for (const auto& r : e.ranges) ranges.emplace_back(r.lo, r.hi);
      if (e.flags & MT_F_WHOLE_MM) ranges.emplace_back(0, ~0ull);
      track_provenance(space, e, site);
      record(space, e, std::move(ranges), std::move(site));
      return;
    }
    case Kind::kFork: {
      mm_of_pid_[e.child_pid] = e.child_mm;
      if (e.flags & MT_F_THREAD_SHARED_VM) return;  // CLONE_VM: the same space
      auto found = spaces_.find(e.mm);
      if (found == spaces_.end() || e.child_mm == e.mm) return;
      Space& parent = found->second;  // a reference survives the rehash below
      std::vector<model::Vma> inherited;
      for (const auto& v : parent.vmas())
        if (!(v.vm_flags & kVmDontCopy)) inherited.push_back(v);
      Space& child = new_space(e.child_mm);
      child.assign(std::move(inherited));
      child.provenance = parent.provenance;  // a fork child's pages came from these calls
      child.owner = e.child_pid;
      if (e.child_map_count >= 0 && size_t(e.child_map_count) != tree_size(child.vmas()))
        learn_what_fork_skips(parent, child, e.child_pid);
      reconcile_provenance(child, false);  // what the kernel did not copy was never the child's
      std::map<const model::Origin*, std::shared_ptr<const model::Origin>> copies;
      child.provenance.replace_creators([&](const std::shared_ptr<const model::Origin>& o) {
        auto& copy = copies[o.get()];
        if (!copy) {
          auto marked = std::make_shared<model::Origin>(*o);
          marked->inherited = true;
          copy = std::move(marked);
        }
        return copy;
      });
      for (const auto& span : child.provenance.all())
        if (span.created) report_.inherited(span.created->report_key, span.hi - span.lo);
      child.changes++;
      record(child, e, {{0, ~0ull}}, {});
      return;
    }
    case Kind::kExec:
      kernel_->forget(e.pid);
      mm_of_pid_[e.pid] = e.child_mm;
      spaces_.erase(e.child_mm);  // the layout record that follows fills it
      space_ended(e.child_mm);
      return;
    case Kind::kLayout: {
      if (e.mm == 0) return;
      Space& space = new_space(e.mm);
      record(space, e, {{0, ~0ull}}, {});  // exec: the whole image is new
      space.owner = e.pid;
      space.changes++;
      mm_of_pid_[e.pid] = e.mm;
      if (e.window_complete()) {
        auto exec = std::make_shared<model::Origin>();
        exec->time_ns = e.exit_ns;
        exec->pid = e.pid;
        exec->tid = e.tid;
        exec->call = "exec";
        for (const auto& w : e.vmas) space.provenance.created(w.start, w.end, exec);
        auto vmas = proc_vmas(e);
        // x86-64's [vsyscall] page is in every 64-bit process's maps but in no mm's VMA tree
        // (the kernel iterator cannot see it): add it as /proc does.
        if (auto gate = kernel_->gate_vma();
            gate && !vmas.empty() && vmas.back().end > (1ull << 32))
          vmas.push_back(*gate);
        space.assign(std::move(vmas));
      } else {
        counters_.windows_incomplete++;
        space.clear();  // nothing of an older image may survive a failed read
        if (resync(e.mm, e.pid))
          counters_.repairs++;
        else
          counters_.repair_failures++;
      }
      return;
    }
    case Kind::kExit:
      forget_pid(e.pid);
      return;
    case Kind::kExitMmap:
      if (auto it = spaces_.find(e.child_mm); it != spaces_.end()) {
        charge_exited(it->second);
        spaces_.erase(it);
      }
      space_ended(e.child_mm);
      return;
    case Kind::kLost:
      // Some change of some space is missing: read every space again.
      for (auto& [mm, space] : spaces_)
        if (space.owner && !resync(mm, space.owner)) counters_.repair_failures++;
      return;
    case Kind::kThread:
      return;
  }
}

}  // namespace maptrail::engine
