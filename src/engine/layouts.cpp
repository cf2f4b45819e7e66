#include "engine/layouts.h"

#include "procfs/maps.h"

namespace maptrail::engine {

model::AddressSpace& Layouts::space_for(uint64_t mm, pid_t pid) {
  auto [it, inserted] = spaces_.try_emplace(mm);
  if (inserted) {
    if (auto seed = procfs::read_maps(pid)) it->second.assign(std::move(*seed));
  }
  return it->second;
}

const model::AddressSpace* Layouts::find(uint64_t mm) const {
  auto it = spaces_.find(mm);
  return it == spaces_.end() ? nullptr : &it->second;
}

const model::AddressSpace* Layouts::find_or_seed(uint64_t mm, pid_t pid) {
  if (mm == 0) return nullptr;
  return &space_for(mm, pid);
}

void Layouts::apply(const event::Event& e) {
  using event::Kind;
  switch (e.kind) {
    case Kind::kSyscall: {
      if (e.mm == 0 || e.ranges.empty()) return;
      auto& space = space_for(e.mm, e.pid);
      std::vector<model::Vma> vmas;
      vmas.reserve(e.vmas.size());
      for (const auto& w : e.vmas) vmas.push_back(event::to_proc_vma(w, e));
      if (!e.window_complete()) {
        windows_incomplete_++;
        return;  // repaired by a resync of the range (see engine resync)
      }
      // Each range's VMAs are those intersecting [lo-1, hi]; two ranges never share one.
      for (const auto& r : e.ranges) {
        std::vector<model::Vma> in_range;
        for (const auto& v : vmas)
          if (v.intersects(r.lo ? r.lo - 1 : 0, r.hi + 1)) in_range.push_back(v);
        space.replace_window(r.lo, r.hi, in_range);
      }
      windows_applied_++;
      return;
    }
    case Kind::kFork: {
      if (e.flags & MT_F_THREAD_SHARED_VM) return;
      if (auto parent = spaces_.find(e.mm); parent != spaces_.end())
        spaces_[e.child_mm] = parent->second;  // a copy; VM_DONTFORK areas differ (model issue)
      return;
    }
    case Kind::kExec:
      spaces_.erase(e.child_mm);  // the layout record that follows fills it
      return;
    case Kind::kLayout: {
      if (e.mm == 0) return;
      if (!e.window_complete()) {
        spaces_.erase(e.mm);  // seeded from /proc on first use instead
        windows_incomplete_++;
        return;
      }
      std::vector<model::Vma> vmas;
      for (const auto& w : e.vmas) vmas.push_back(event::to_proc_vma(w, e));
      spaces_[e.mm].assign(std::move(vmas));
      return;
    }
    case Kind::kExitMmap:
      spaces_.erase(e.child_mm);
      return;
    default:
      return;
  }
}

}  // namespace maptrail::engine
