#include "engine/engine.h"
#include "procfs/procmap_query.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace maptrail::engine {
namespace {

using event::Kind;
using event::Syscall;

constexpr uint64_t P = 4096;
constexpr uint64_t kBase = 0x7f0000000000;
// No such process: seeding from /proc/PID/maps finds nothing, so every layout here is built
// from events alone.
constexpr uint32_t kPid = 999999999;
constexpr uint64_t kMm = 0xffff888011110000;
constexpr uint64_t kChildMm = 0xffff888022220000;

constexpr uint64_t kRw = 0x73, kRo = 0x71, kRx = 0x75;

event::WindowVma anon(uint64_t start, uint64_t end, uint64_t flags = kRw) {
  event::WindowVma w;
  w.start = start;
  w.end = end;
  w.vm_flags = flags;
  w.pgoff = start >> 12;
  return w;
}

event::WindowVma file(uint64_t start, uint64_t end, uint64_t pgoff, std::string path,
                      uint64_t flags = kRo) {
  event::WindowVma w;
  w.start = start;
  w.end = end;
  w.vm_flags = flags;
  w.pgoff = pgoff;
  w.inode = 4242;
  w.dev = (254u << 20) | 1;
  w.name_kind = MT_NAME_PATH;
  w.name = std::move(path);
  return w;
}

event::Event call(Syscall s, std::vector<event::Range> ranges, std::vector<event::WindowVma> vmas,
                  uint64_t mm = kMm) {
  event::Event e;
  e.kind = Kind::kSyscall;
  e.syscall = s;
  e.pid = kPid;
  e.tid = kPid;
  e.mm = mm;
  e.ranges = std::move(ranges);
  e.vmas = std::move(vmas);
  return e;
}

event::Event task(Kind kind, uint64_t mm, uint64_t child_mm, uint16_t flags = 0) {
  event::Event e;
  e.kind = kind;
  e.pid = kPid;
  e.tid = kPid;
  e.mm = mm;
  e.child_pid = kPid - 1;
  e.child_tid = kPid - 1;
  e.child_mm = child_mm;
  e.flags = flags;
  return e;
}

using Spans = std::vector<std::pair<uint64_t, uint64_t>>;

// A one-frame stack whose frame is the caller: "fn+0x10 (module)".
std::shared_ptr<const model::CallSite> site(const std::string& frame) {
  auto s = std::make_shared<model::CallSite>();
  s->frames = {frame};
  s->functions = {frame.substr(0, frame.find('+')) + frame.substr(frame.find(' '))};
  s->modules = {frame.substr(frame.find('(') + 1, frame.size() - frame.find('(') - 2)};
  s->caller = 0;
  return s;
}

Spans spans(const model::AddressSpace* space) {
  Spans out;
  if (!space) return out;
  for (const auto& v : *space) out.emplace_back(v.start, v.end);
  return out;
}

// Three VMAs: a library's text and data, then an anonymous mapping with a gap before it.
void seed_three(Engine& layouts, uint64_t mm = kMm) {
  layouts.apply(call(Syscall::kMmap, {{kBase, kBase + 4 * P}},
                     {file(kBase, kBase + 2 * P, 0, "/usr/lib/libx.so", kRx),
                      file(kBase + 2 * P, kBase + 4 * P, 2, "/usr/lib/libx.so")},
                     mm));
  layouts.apply(call(Syscall::kMmap, {{kBase + 8 * P, kBase + 16 * P}},
                     {anon(kBase + 8 * P, kBase + 16 * P)}, mm));
}

TEST(Engine, NothingForAnUnknownMm) {
  Engine layouts;
  EXPECT_EQ(layouts.find(kMm), nullptr);
  EXPECT_EQ(layouts.size(), 0u);
  EXPECT_EQ(layouts.find_or_seed(0, kPid), nullptr);
  const model::AddressSpace* seeded = layouts.find_or_seed(kMm, kPid);
  ASSERT_NE(seeded, nullptr);
  EXPECT_TRUE(seeded->empty()) << "no such process: nothing to seed from";
  EXPECT_EQ(layouts.size(), 1u);
}

TEST(Engine, WindowsBuildTheLayout) {
  Engine layouts;
  seed_three(layouts);
  const model::AddressSpace* space = layouts.find(kMm);
  ASSERT_NE(space, nullptr);
  EXPECT_EQ(spans(space), (Spans{{kBase, kBase + 2 * P},
                                 {kBase + 2 * P, kBase + 4 * P},
                                 {kBase + 8 * P, kBase + 16 * P}}));
  EXPECT_EQ(layouts.windows_applied(), 2u);
  EXPECT_EQ(layouts.windows_incomplete(), 0u);
  // The VMAs are as /proc shows them.
  const model::Vma* data = space->find(kBase + 3 * P);
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->offset, 2 * P);
  EXPECT_EQ(data->name, "/usr/lib/libx.so");
  EXPECT_EQ(data->dev_major, 254u);
  EXPECT_EQ(data->dev_minor, 1u);
  EXPECT_EQ(model::perms_string(data->perms), "r--p");
  const model::Vma* heap = space->find(kBase + 8 * P);
  ASSERT_NE(heap, nullptr);
  EXPECT_EQ(heap->offset, 0u);
  EXPECT_EQ(model::perms_string(heap->perms), "rw-p");
}

TEST(Engine, AWindowReplacesWhatItCovers) {
  Engine layouts;
  seed_three(layouts);
  // mprotect(kBase + 10P, 2P, PROT_READ): the kernel splits the anonymous VMA in three.
  layouts.apply(
      call(Syscall::kMprotect, {{kBase + 10 * P, kBase + 12 * P}},
           {anon(kBase + 8 * P, kBase + 10 * P), anon(kBase + 10 * P, kBase + 12 * P, kRo),
            anon(kBase + 12 * P, kBase + 16 * P)}));
  const model::AddressSpace* space = layouts.find(kMm);
  EXPECT_EQ(spans(space), (Spans{{kBase, kBase + 2 * P},
                                 {kBase + 2 * P, kBase + 4 * P},
                                 {kBase + 8 * P, kBase + 10 * P},
                                 {kBase + 10 * P, kBase + 12 * P},
                                 {kBase + 12 * P, kBase + 16 * P}}));
  EXPECT_EQ(model::perms_string(space->find(kBase + 11 * P)->perms), "r--p");

  // munmap(kBase + 10P, 2P): the window holds the two neighbours only, the middle is gone.
  layouts.apply(call(Syscall::kMunmap, {{kBase + 10 * P, kBase + 12 * P}},
                     {anon(kBase + 8 * P, kBase + 10 * P), anon(kBase + 12 * P, kBase + 16 * P)}));
  EXPECT_EQ(spans(layouts.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                             {kBase + 2 * P, kBase + 4 * P},
                                             {kBase + 8 * P, kBase + 10 * P},
                                             {kBase + 12 * P, kBase + 16 * P}}));
  EXPECT_EQ(layouts.find(kMm)->find(kBase + 11 * P), nullptr);

  // munmap of the whole anonymous area: an empty window leaves only the library.
  layouts.apply(call(Syscall::kMunmap, {{kBase + 8 * P, kBase + 16 * P}}, {}));
  EXPECT_EQ(spans(layouts.find(kMm)),
            (Spans{{kBase, kBase + 2 * P}, {kBase + 2 * P, kBase + 4 * P}}));
  EXPECT_EQ(layouts.windows_applied(), 5u);
}

TEST(Engine, AWindowCanMergeWithANeighbour) {
  Engine layouts;
  seed_three(layouts);
  // mmap right after the anonymous VMA with the same flags: the kernel extends it.
  layouts.apply(call(Syscall::kMmap, {{kBase + 16 * P, kBase + 20 * P}},
                     {anon(kBase + 8 * P, kBase + 20 * P)}));
  EXPECT_EQ(spans(layouts.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                             {kBase + 2 * P, kBase + 4 * P},
                                             {kBase + 8 * P, kBase + 20 * P}}));
}

TEST(Engine, ApplyingTheSameWindowTwiceChangesNothing) {
  Engine layouts;
  seed_three(layouts);
  event::Event e =
      call(Syscall::kMprotect, {{kBase + 10 * P, kBase + 12 * P}},
           {anon(kBase + 8 * P, kBase + 10 * P), anon(kBase + 10 * P, kBase + 12 * P, kRo),
            anon(kBase + 12 * P, kBase + 16 * P)});
  layouts.apply(e);
  model::AddressSpace once = *layouts.find(kMm);
  layouts.apply(e);
  EXPECT_EQ(*layouts.find(kMm), once);
}

TEST(Engine, CallsWithoutAWindowChangeNothing) {
  Engine layouts;
  event::Event e = call(Syscall::kMadvise, {}, {});
  e.flags = MT_F_NO_WINDOW;
  layouts.apply(e);
  // The space is known from now on (seeded from /proc, empty for a pid that does not exist),
  // but no window was applied.
  EXPECT_EQ(layouts.size(), 1u);
  EXPECT_TRUE(layouts.find(kMm)->empty());
  EXPECT_EQ(layouts.windows_applied(), 0u);
  EXPECT_EQ(layouts.windows_incomplete(), 0u);
  // mm 0: a kernel thread or an exiting task has no address space.
  layouts.apply(call(Syscall::kMmap, {{kBase, kBase + P}}, {anon(kBase, kBase + P)}, 0));
  EXPECT_EQ(layouts.size(), 1u);
  EXPECT_EQ(layouts.find(0), nullptr);
}

TEST(Engine, IncompleteWindowIsCountedAndNotApplied) {
  for (uint16_t flag : {uint16_t(MT_F_WINDOW_BUSY), uint16_t(MT_F_WINDOW_OVERFLOW),
                        uint16_t(MT_F_WINDOW_HOLE), uint16_t(MT_F_NAMES_TRUNCATED)}) {
    Engine layouts;
    seed_three(layouts);
    model::AddressSpace before = *layouts.find(kMm);
    // A busy read reports no VMAs at all; applying it would erase the anonymous mapping.
    event::Event e = call(Syscall::kMprotect, {{kBase + 8 * P, kBase + 16 * P}}, {});
    e.flags = flag;
    layouts.apply(e);
    EXPECT_EQ(layouts.windows_incomplete(), 1u) << flag;
    EXPECT_EQ(layouts.windows_applied(), 2u) << flag;
    EXPECT_EQ(*layouts.find(kMm), before) << flag;
  }
}

TEST(Engine, ForkCopiesTheParentsLayout) {
  Engine layouts;
  seed_three(layouts);
  layouts.apply(task(Kind::kFork, kMm, kChildMm));
  ASSERT_NE(layouts.find(kChildMm), nullptr);
  EXPECT_EQ(*layouts.find(kChildMm), *layouts.find(kMm));
  EXPECT_EQ(layouts.size(), 2u);
  // A copy: a change in the child leaves the parent alone.
  layouts.apply(call(Syscall::kMunmap, {{kBase + 8 * P, kBase + 16 * P}}, {}, kChildMm));
  EXPECT_EQ(layouts.find(kChildMm)->size(), 2u);
  EXPECT_EQ(layouts.find(kMm)->size(), 3u);
}

TEST(Engine, ForkSharingTheMmCopiesNothing) {
  Engine layouts;
  seed_three(layouts);
  // vfork / CLONE_VM: the child runs in the parent's mm.
  layouts.apply(task(Kind::kFork, kMm, kMm, MT_F_THREAD_SHARED_VM));
  EXPECT_EQ(layouts.size(), 1u);
  EXPECT_EQ(layouts.find(kMm)->size(), 3u);
  // Even with a different child_mm, the flag says there is nothing to copy.
  layouts.apply(task(Kind::kFork, kMm, kChildMm, MT_F_THREAD_SHARED_VM));
  EXPECT_EQ(layouts.find(kChildMm), nullptr);
  // A thread shares the mm too.
  layouts.apply(task(Kind::kThread, kMm, kMm));
  EXPECT_EQ(layouts.size(), 1u);
  EXPECT_EQ(layouts.find(kMm)->size(), 3u);
}

TEST(Engine, ForkOfAnUnknownParentCreatesNothing) {
  Engine layouts;
  layouts.apply(task(Kind::kFork, kMm, kChildMm));
  EXPECT_EQ(layouts.find(kChildMm), nullptr);
}

TEST(Engine, ForkReplacesAStaleChildLayout) {
  Engine layouts;
  seed_three(layouts);
  // An mm address reused after an earlier process's mm was freed without exit_mmap seen.
  layouts.apply(call(Syscall::kMmap, {{0x10000, 0x11000}}, {anon(0x10000, 0x11000)}, kChildMm));
  layouts.apply(task(Kind::kFork, kMm, kChildMm));
  EXPECT_EQ(*layouts.find(kChildMm), *layouts.find(kMm));
}

TEST(Engine, ExecResetsTheLayout) {
  Engine layouts;
  seed_three(layouts);
  // At sched_process_exec the task already runs in its new mm (h.mm == child_mm).
  layouts.apply(task(Kind::kExec, kMm, kMm));
  const model::AddressSpace* after = layouts.find(kMm);
  EXPECT_TRUE(after == nullptr || after->empty()) << "the old image's VMAs are gone";
  // The next window starts from nothing (the process does not exist: no /proc seed).
  layouts.apply(call(Syscall::kBrk, {{0x555555559000, 0x55555557a000}},
                     {anon(0x555555559000, 0x55555557a000)}));
  EXPECT_EQ(spans(layouts.find(kMm)), (Spans{{0x555555559000, 0x55555557a000}}));
}

TEST(Engine, ExecLayoutRecordFillsTheNewImage) {
  Engine layouts;
  seed_three(layouts);
  layouts.apply(task(Kind::kExec, kMm, kMm));
  event::Event layout =
      call(Syscall::kNone, {},
           {file(0x555555554000, 0x555555556000, 0, "/usr/bin/true", kRx),
            anon(0x555555559000, 0x55555557a000), anon(0x7ffffffde000, 0x7ffffffff000)});
  layout.kind = Kind::kLayout;
  layout.start_brk = 0x555555559000;
  layout.brk = 0x55555557a000;
  layout.start_stack = 0x7fffffffe000;
  layouts.apply(layout);
  const model::AddressSpace* space = layouts.find(kMm);
  ASSERT_NE(space, nullptr);
  Spans expected{{0x555555554000, 0x555555556000},
                 {0x555555559000, 0x55555557a000},
                 {0x7ffffffde000, 0x7ffffffff000}};
  // The kernel's VMA iterator never yields x86-64's [vsyscall]; /proc shows it: added.
  if (auto gate = procfs::system_gate_vma()) expected.emplace_back(gate->start, gate->end);
  EXPECT_EQ(spans(space), expected);
  EXPECT_EQ(space->find(0x555555560000)->name, "[heap]");
  EXPECT_EQ(space->find(0x7fffffffe000)->name, "[stack]");
  EXPECT_EQ(space->find(kBase), nullptr) << "nothing of the old image";
}

TEST(Engine, IncompleteLayoutRecordIsCounted) {
  Engine layouts;
  seed_three(layouts);
  event::Event layout = call(Syscall::kNone, {}, {anon(0x555555559000, 0x55555557a000)});
  layout.kind = Kind::kLayout;
  layout.flags = MT_F_WINDOW_OVERFLOW;
  layouts.apply(layout);
  EXPECT_EQ(layouts.windows_incomplete(), 1u);
  const model::AddressSpace* space = layouts.find(kMm);
  EXPECT_TRUE(space == nullptr || space->find(kBase) == nullptr)
      << "an incomplete layout must not leave the old layout in place";
}

TEST(Engine, ExitMmapDropsTheLayout) {
  Engine layouts;
  seed_three(layouts);
  seed_three(layouts, kChildMm);
  EXPECT_EQ(layouts.size(), 2u);
  // exit_mmap names the released mm in child_mm (the current task may run in another).
  layouts.apply(task(Kind::kExitMmap, kMm, kChildMm));
  EXPECT_EQ(layouts.find(kChildMm), nullptr);
  ASSERT_NE(layouts.find(kMm), nullptr);
  EXPECT_EQ(layouts.size(), 1u);
  layouts.apply(task(Kind::kExitMmap, kMm, kMm));
  EXPECT_EQ(layouts.find(kMm), nullptr);
  EXPECT_EQ(layouts.size(), 0u);
  // Exit itself changes nothing (exit_mmap comes after it).
  seed_three(layouts);
  layouts.apply(task(Kind::kExit, kMm, 0));
  EXPECT_NE(layouts.find(kMm), nullptr);
}

TEST(Engine, EverySpaceThatEndsOrTakesAnAddressIsTold) {
  Engine layouts;
  std::vector<uint64_t> ended;
  layouts.on_space_ended([&](uint64_t mm) { ended.push_back(mm); });
  seed_three(layouts);
  ASSERT_FALSE(ended.empty()) << "a space first seen takes its address";
  ended.clear();
  seed_three(layouts);  // the same space again
  EXPECT_TRUE(ended.empty());
  layouts.apply(task(Kind::kFork, kMm, kChildMm));
  EXPECT_EQ(ended, std::vector<uint64_t>{kChildMm});
  ended.clear();
  layouts.apply(task(Kind::kFork, kMm, kChildMm, MT_F_THREAD_SHARED_VM));
  EXPECT_TRUE(ended.empty()) << "a thread shares its space";
  layouts.apply(task(Kind::kExitMmap, kMm, kChildMm));
  EXPECT_EQ(ended, std::vector<uint64_t>{kChildMm});
  ended.clear();
  layouts.apply(task(Kind::kExec, kMm, kMm));
  EXPECT_EQ(ended, std::vector<uint64_t>{kMm});
  ended.clear();
  layouts.apply(task(Kind::kExit, kMm, 0));
  EXPECT_TRUE(ended.empty()) << "exit_mmap, not exit, ends a space";
}

TEST(Engine, MremapMoveUpdatesBothPlaces) {
  Engine layouts;
  seed_three(layouts);
  // mremap(kBase + 8P, 8P, 8P, MREMAP_MAYMOVE) -> kBase + 64P. The decoder delivers the
  // window VMAs of both ranges in address order: the old place now has none.
  event::Event e =
      call(Syscall::kMremap, {{kBase + 8 * P, kBase + 16 * P}, {kBase + 64 * P, kBase + 72 * P}},
           {anon(kBase + 64 * P, kBase + 72 * P)});
  e.args = {kBase + 8 * P, 8 * P, 8 * P, 1, 0, 0};
  e.ret = int64_t(kBase + 64 * P);
  layouts.apply(e);
  EXPECT_EQ(spans(layouts.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                             {kBase + 2 * P, kBase + 4 * P},
                                             {kBase + 64 * P, kBase + 72 * P}}));
  EXPECT_EQ(layouts.windows_applied(), 3u);
}

TEST(Engine, MremapMoveNextToNeighbours) {
  Engine layouts;
  seed_three(layouts);
  layouts.apply(call(Syscall::kMmap, {{kBase + 30 * P, kBase + 31 * P}},
                     {anon(kBase + 30 * P, kBase + 31 * P, kRo)}));
  // Move the first 4 pages of the anonymous VMA to right after the read-only page at 30P:
  // the old place keeps the rest of the VMA, the new place gets its own VMA next to the
  // read-only one (different flags, no merge).
  event::Event e =
      call(Syscall::kMremap, {{kBase + 8 * P, kBase + 12 * P}, {kBase + 31 * P, kBase + 35 * P}},
           {anon(kBase + 12 * P, kBase + 16 * P), anon(kBase + 30 * P, kBase + 31 * P, kRo),
            anon(kBase + 31 * P, kBase + 35 * P)});
  e.ret = int64_t(kBase + 31 * P);
  layouts.apply(e);
  EXPECT_EQ(spans(layouts.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                             {kBase + 2 * P, kBase + 4 * P},
                                             {kBase + 12 * P, kBase + 16 * P},
                                             {kBase + 30 * P, kBase + 31 * P},
                                             {kBase + 31 * P, kBase + 35 * P}}));
  EXPECT_EQ(model::perms_string(layouts.find(kMm)->find(kBase + 30 * P)->perms), "r--p");
}

TEST(Engine, MremapInPlaceShrink) {
  Engine layouts;
  seed_three(layouts);
  // mremap(kBase + 8P, 8P, 2P, 0): one range covering the old size.
  event::Event e = call(Syscall::kMremap, {{kBase + 8 * P, kBase + 16 * P}},
                        {anon(kBase + 8 * P, kBase + 10 * P)});
  layouts.apply(e);
  EXPECT_EQ(spans(layouts.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                             {kBase + 2 * P, kBase + 4 * P},
                                             {kBase + 8 * P, kBase + 10 * P}}));
}

TEST(Engine, SpacesAreKeptApart) {
  Engine layouts;
  seed_three(layouts, kMm);
  layouts.apply(call(Syscall::kMmap, {{kBase + 100 * P, kBase + 101 * P}},
                     {anon(kBase + 100 * P, kBase + 101 * P)}, kChildMm));
  EXPECT_EQ(layouts.find(kMm)->size(), 3u);
  EXPECT_EQ(spans(layouts.find(kChildMm)), (Spans{{kBase + 100 * P, kBase + 101 * P}}));
}

}  // namespace
}  // namespace maptrail::engine

namespace maptrail::engine {
namespace {

// A system to read from that the test controls: what /proc would say now.
class FakeKernel : public KernelView {
 public:
  std::vector<model::Vma> now;
  int full_reads = 0, range_reads = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_read;
  bool gone = false;
  uint64_t clock_ns = 0;  // when a read begins; 0: before every call, so no read is skipped

  uint64_t monotonic_ns() override { return clock_ns; }
  Result<std::vector<model::Vma>> read_maps(pid_t) override {
    full_reads++;
    if (gone) return Error{ENOENT, "gone"};
    return now;
  }
  Result<std::vector<model::Vma>> read_range(pid_t, uint64_t lo, uint64_t hi) override {
    range_reads++;
    ranges_read.emplace_back(lo, hi);
    if (gone) return Error{ESRCH, "gone"};
    std::vector<model::Vma> out;
    for (const auto& v : now)
      if (v.intersects(lo, hi)) out.push_back(v);
    return out;
  }
};

model::Vma proc_anon(uint64_t start, uint64_t end, uint8_t perms = model::kRead | model::kWrite) {
  model::Vma v;
  v.start = start;
  v.end = end;
  v.perms = perms;
  return v;
}

TEST(EngineRepair, SeedsFromTheKernelViewOnFirstSight) {
  FakeKernel kernel;
  kernel.now = {proc_anon(kBase, kBase + 4 * P)};
  Engine engine(&kernel);
  engine.apply(call(Syscall::kMadvise, {}, {}));  // no window: only makes the space known
  ASSERT_NE(engine.find(kMm), nullptr);
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase, kBase + 4 * P}}));
  EXPECT_EQ(engine.counters().seeds, 1u);
  EXPECT_EQ(engine.mm_of(kPid), kMm);
}

TEST(EngineRepair, BusyWindowIsReadFromTheKernelOverItsRange) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  // The kernel now has the anonymous region split in two; the event could not say so.
  kernel.now = {proc_anon(kBase + 8 * P, kBase + 10 * P),
                proc_anon(kBase + 10 * P, kBase + 16 * P, model::kRead)};
  event::Event busy = call(Syscall::kMprotect, {{kBase + 10 * P, kBase + 16 * P}}, {});
  busy.flags = MT_F_WINDOW_BUSY;
  engine.apply(busy);
  ASSERT_EQ(kernel.ranges_read.size(), 1u);
  EXPECT_EQ(kernel.ranges_read[0], std::make_pair(kBase + 10 * P, kBase + 16 * P));
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                            {kBase + 2 * P, kBase + 4 * P},
                                            {kBase + 8 * P, kBase + 10 * P},
                                            {kBase + 10 * P, kBase + 16 * P}}));
  EXPECT_EQ(engine.find(kMm)->find(kBase + 12 * P)->perms, model::kRead);
  EXPECT_EQ(engine.counters().windows_incomplete, 1u);
  EXPECT_EQ(engine.counters().repairs, 1u);
}

// Thread A unmaps [8, 16) and reads its window (empty); thread B maps [8, 12) in the hole
// and its record is reserved first. Applied in ring order, A's stale window would erase
// B's mapping: A's call exited before B's, so its ranges are read again.
TEST(EngineRepair, AWindowReadBeforeALaterCallAheadOfItIsReadAgain) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.now = {proc_anon(kBase + 8 * P, kBase + 12 * P)};
  event::Event b = call(Syscall::kMmap, {{kBase + 8 * P, kBase + 12 * P}},
                        {anon(kBase + 8 * P, kBase + 12 * P)});
  b.tid = kPid + 1;
  b.exit_ns = 2000;
  event::Event a = call(Syscall::kMunmap, {{kBase + 8 * P, kBase + 16 * P}}, {});
  a.exit_ns = 1000;
  engine.apply(b);
  EXPECT_TRUE(kernel.ranges_read.empty()) << "in order so far";
  engine.apply(a);
  ASSERT_EQ(kernel.ranges_read.size(), 1u);
  EXPECT_EQ(kernel.ranges_read[0], std::make_pair(kBase + 8 * P, kBase + 16 * P));
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                            {kBase + 2 * P, kBase + 4 * P},
                                            {kBase + 8 * P, kBase + 12 * P}}));
  EXPECT_EQ(engine.counters().windows_out_of_order, 1u);
  EXPECT_EQ(engine.counters().windows_incomplete, 0u);
  EXPECT_EQ(engine.counters().repairs, 1u);
  // In order again: applied as recorded.
  event::Event c = call(Syscall::kMunmap, {{kBase + 8 * P, kBase + 12 * P}}, {});
  c.exit_ns = 3000;
  engine.apply(c);
  EXPECT_EQ(kernel.ranges_read.size(), 1u);
  EXPECT_EQ(engine.find(kMm)->find(kBase + 8 * P), nullptr);
}

// Thread B makes [12, 16) read-only; thread A's call on [8, 10) read its window before, when
// one VMA spanned [8, 16), and its record comes after B's. That window reaches past A's range
// over B's change: it must not be applied, or B's read-only piece would be overwritten where
// a re-read of A's range does not reach.
TEST(EngineRepair, AStaleWindowDoesNotOverwriteANewerChangeBeyondItsRange) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.now = {proc_anon(kBase + 8 * P, kBase + 12 * P),
                proc_anon(kBase + 12 * P, kBase + 16 * P, model::kRead)};
  event::Event b = call(Syscall::kMprotect, {{kBase + 12 * P, kBase + 16 * P}},
                        {anon(kBase + 12 * P, kBase + 16 * P, kRo)});
  b.tid = kPid + 1;
  b.exit_ns = 2000;
  event::Event a = call(Syscall::kMadvise, {{kBase + 8 * P, kBase + 10 * P}},
                        {anon(kBase + 8 * P, kBase + 16 * P)});
  a.exit_ns = 1000;
  engine.apply(b);
  engine.apply(a);
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                            {kBase + 2 * P, kBase + 4 * P},
                                            {kBase + 8 * P, kBase + 12 * P},
                                            {kBase + 12 * P, kBase + 16 * P}}));
  const model::Vma* read_only = engine.find(kMm)->find(kBase + 12 * P);
  ASSERT_NE(read_only, nullptr);
  EXPECT_EQ(read_only->perms, model::kRead) << "B's change, applied first, survives";
  EXPECT_EQ(engine.counters().windows_out_of_order, 1u);
}

// Thread A unmaps [8, 16) and releases the lock; thread B maps [8, 12) in the hole and
// returns; A's exit program then finds no VMA at 8 and takes the range its call emptied as
// empty without reading on. B's record comes first: applying A's window would unmap B's
// mapping, so A's ranges are read as they are now.
TEST(EngineRepair, ARangeEmptiedByACallThatAnotherThreadMappedIntoSinceIsReadAgain) {
  for (uint64_t a_enter : {1000, 2500}) {
    for (uint64_t b_lo : {kBase + 8 * P, kBase + 20 * P}) {
      SCOPED_TRACE(testing::Message()
                   << "A began at " << a_enter << ", B mapped at 0x" << std::hex << b_lo);
      FakeKernel kernel;
      Engine engine(&kernel);
      seed_three(engine);
      kernel.now = {proc_anon(b_lo, b_lo + 4 * P)};
      event::Event b = call(Syscall::kMmap, {{b_lo, b_lo + 4 * P}}, {anon(b_lo, b_lo + 4 * P)});
      b.tid = kPid + 1;
      b.enter_ns = 1500;
      b.exit_ns = 2000;
      event::Event a = call(Syscall::kMunmap, {{kBase + 8 * P, kBase + 16 * P}}, {});
      a.flags = MT_F_WINDOW_EMPTY_ASSUMED;
      a.enter_ns = a_enter;
      a.exit_ns = 3000;
      engine.apply(b);
      engine.apply(a);
      bool overlapped = a_enter < b.exit_ns && b_lo == kBase + 8 * P;
      EXPECT_EQ(kernel.range_reads, overlapped ? 1 : 0);
      EXPECT_EQ(engine.counters().windows_out_of_order, overlapped ? 1u : 0u);
      const model::Vma* at_b = engine.find(kMm)->find(b_lo);
      if (overlapped || b_lo != kBase + 8 * P) {
        ASSERT_NE(at_b, nullptr);
        EXPECT_EQ(at_b->end, b_lo + 4 * P);
      } else {
        EXPECT_EQ(at_b, nullptr) << "B returned before A began: A unmapped B's mapping";
      }
    }
  }
}

// The same order, but the window was read whole at exit: it shows B's mapping if B's call
// came before the read, so it is applied.
TEST(EngineRepair, AWindowReadWholeIsAppliedAfterAnOverlappingCallAheadOfIt) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  event::Event b = call(Syscall::kMmap, {{kBase + 8 * P, kBase + 12 * P}},
                        {anon(kBase + 8 * P, kBase + 12 * P)});
  b.tid = kPid + 1;
  b.exit_ns = 2000;
  event::Event a = call(Syscall::kMprotect, {{kBase + 8 * P, kBase + 12 * P}},
                        {anon(kBase + 8 * P, kBase + 12 * P, kRo)});
  a.enter_ns = 1000;
  a.exit_ns = 3000;
  engine.apply(b);
  engine.apply(a);
  EXPECT_EQ(kernel.range_reads, 0);
  EXPECT_EQ(engine.find(kMm)->find(kBase + 8 * P)->perms, model::kRead);
}

TEST(EngineRepair, ARepairThatCannotReadIsCountedAsAFailure) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.gone = true;
  event::Event busy = call(Syscall::kMunmap, {{kBase + 8 * P, kBase + 16 * P}}, {});
  busy.flags = MT_F_WINDOW_HOLE;
  engine.apply(busy);
  EXPECT_EQ(engine.counters().repair_failures, 1u);
  EXPECT_EQ(engine.counters().repairs, 0u);
}

// A call whose window the kernel could not read (another thread held the lock).
event::Event busy_call(Syscall s, uint64_t lo, uint64_t hi, uint64_t exit_ns) {
  event::Event e = call(s, {{lo, hi}}, {});
  e.flags = MT_F_WINDOW_BUSY;
  e.exit_ns = exit_ns;
  return e;
}

// A reader behind the calls: the read that repairs the first busy window shows the effect of
// a later call too, whose window is busy as well. Reading that range again would only read
// the same thing.
TEST(EngineRepair, ABusyWindowThatANewerReadShowsAlreadyIsNotReadAgain) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.now = {proc_anon(kBase + 8 * P, kBase + 10 * P, model::kRead)};  // both calls done
  kernel.clock_ns = 5000;
  event::Event first = busy_call(Syscall::kMprotect, kBase + 8 * P, kBase + 16 * P, 1000);
  event::Event second = busy_call(Syscall::kMunmap, kBase + 10 * P, kBase + 16 * P, 2000);
  engine.apply(first);
  engine.apply(second);
  EXPECT_EQ(kernel.range_reads, 1);
  EXPECT_EQ(engine.counters().windows_incomplete, 2u);
  EXPECT_EQ(engine.counters().repairs, 1u);
  EXPECT_EQ(engine.counters().windows_already_read, 1u);
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase, kBase + 2 * P},
                                            {kBase + 2 * P, kBase + 4 * P},
                                            {kBase + 8 * P, kBase + 10 * P}}));
  EXPECT_EQ(engine.history(kMm)->size(), 4u) << "a skipped read still records the call";

  // A call that returned after that read began may have changed what it read.
  event::Event later = busy_call(Syscall::kMunmap, kBase + 8 * P, kBase + 10 * P, 6000);
  kernel.now.clear();
  kernel.clock_ns = 7000;
  engine.apply(later);
  EXPECT_EQ(kernel.range_reads, 2);
  EXPECT_EQ(engine.find(kMm)->find(kBase + 8 * P), nullptr);
}

// Records were lost, so the whole space is read again; records still waiting for the
// reader that returned before that read began show an older state. A call in that gap can
// have been undone by one whose record was lost: its window, applied, would put back a VMA
// the kernel no longer has, and no later record would remove it (the daemon's verify found
// such VMAs after a loss, with a 64 KiB ring buffer and the reader starved of CPU).
TEST(EngineRepair, AWindowOlderThanAResyncAfterALossIsNotApplied) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.now = {proc_anon(kBase + 20 * P, kBase + 22 * P)};  // after calls whose records were lost
  kernel.clock_ns = 5000;
  event::Event lost;
  lost.kind = Kind::kLost;
  lost.lost_total = 1;
  engine.apply(lost);
  ASSERT_EQ(kernel.full_reads, 2) << "the seed's read and the resync's";
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase + 20 * P, kBase + 22 * P}}));

  event::Event older = call(Syscall::kMprotect, {{kBase + 8 * P, kBase + 10 * P}},
                            {anon(kBase + 8 * P, kBase + 10 * P, kRo)});
  older.exit_ns = 4000;  // returned before the resync's read began; unmapped since
  engine.apply(older);
  EXPECT_EQ(engine.counters().windows_already_read, 1u);
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase + 20 * P, kBase + 22 * P}}));

  event::Event newer = call(Syscall::kMmap, {{kBase + 30 * P, kBase + 32 * P}},
                            {anon(kBase + 30 * P, kBase + 32 * P)});
  newer.exit_ns = 6000;
  engine.apply(newer);
  EXPECT_EQ(spans(engine.find(kMm)),
            (Spans{{kBase + 20 * P, kBase + 22 * P}, {kBase + 30 * P, kBase + 32 * P}}));
}

TEST(EngineRepair, AReadBegunBeforeTheCallReturnedDoesNotShowIt) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.clock_ns = 1500;
  event::Event first = busy_call(Syscall::kMprotect, kBase + 8 * P, kBase + 16 * P, 1000);
  event::Event second = busy_call(Syscall::kMunmap, kBase + 10 * P, kBase + 16 * P, 2000);
  engine.apply(first);
  engine.apply(second);
  EXPECT_EQ(kernel.range_reads, 2);
  EXPECT_EQ(engine.counters().windows_already_read, 0u);
}

// The same holds for a window read whole: one of a call that returned before the read began
// would put back an older state over what the read showed.
TEST(EngineRepair, AWholeWindowThatANewerReadShowsAlreadyIsNotApplied) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.now = {proc_anon(kBase + 8 * P, kBase + 10 * P)};  // mapped again after the munmap
  kernel.clock_ns = 5000;
  engine.apply(busy_call(Syscall::kMprotect, kBase + 8 * P, kBase + 16 * P, 1000));
  event::Event unmap = call(Syscall::kMunmap, {{kBase + 8 * P, kBase + 16 * P}}, {});
  unmap.exit_ns = 1500;
  engine.apply(unmap);
  EXPECT_EQ(kernel.range_reads, 1);
  EXPECT_EQ(engine.counters().windows_already_read, 1u);
  EXPECT_EQ(engine.counters().windows_applied, 2u) << "only seed_three's";
  ASSERT_NE(engine.find(kMm)->find(kBase + 8 * P), nullptr);
  EXPECT_EQ(engine.find(kMm)->find(kBase + 8 * P)->end, kBase + 10 * P);
}

// A window applied over part of what a read showed leaves the rest of it as the read had it,
// but a VMA of the read reaching into the window is clipped there now, which the kernel never
// had: the whole read is forgotten, and a later busy call anywhere in it is read again.
TEST(EngineRepair, AWindowOverPartOfAReadForgetsAllOfIt) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.now = {proc_anon(kBase + 8 * P, kBase + 16 * P, model::kRead)};
  kernel.clock_ns = 5000;
  event::Event first = busy_call(Syscall::kMprotect, kBase + 8 * P, kBase + 16 * P, 1000);
  engine.apply(first);
  event::Event window = call(Syscall::kMprotect, {{kBase + 14 * P, kBase + 16 * P}},
                             {anon(kBase + 14 * P, kBase + 16 * P, kRo)});
  window.exit_ns = 6000;  // returned after the read began: the read does not show it
  engine.apply(window);
  event::Event busy = busy_call(Syscall::kMprotect, kBase + 8 * P, kBase + 10 * P, 2000);
  engine.apply(busy);
  EXPECT_EQ(kernel.range_reads, 2);
  EXPECT_EQ(engine.counters().windows_already_read, 0u);
  EXPECT_EQ(engine.counters().repairs, 2u);
}

TEST(EngineRepair, MlockallResyncsTheWholeSpace) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  kernel.now = {proc_anon(kBase, kBase + 16 * P)};
  event::Event all = call(Syscall::kMlockall, {}, {});
  all.flags = MT_F_WHOLE_MM;
  int before = kernel.full_reads;
  engine.apply(all);
  EXPECT_EQ(kernel.full_reads, before + 1);
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase, kBase + 16 * P}}));
  EXPECT_EQ(engine.counters().resyncs, 1u);
}

TEST(EngineRepair, LossResyncsEverySpace) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  seed_three(engine, kChildMm);
  kernel.now = {proc_anon(kBase + 32 * P, kBase + 33 * P)};
  event::Event lost;
  lost.kind = Kind::kLost;
  lost.lost_total = 3;
  engine.apply(lost);
  EXPECT_EQ(engine.counters().resyncs, 2u);
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase + 32 * P, kBase + 33 * P}}));
  EXPECT_EQ(spans(engine.find(kChildMm)), (Spans{{kBase + 32 * P, kBase + 33 * P}}));
}

// A whole-space read the model cannot take (overlapping VMAs; procfs::read_maps never gives
// one) is a failure, counted: the space must not be marked as read, or records of calls
// before the read would be skipped over a model that never saw their changes.
TEST(EngineRepair, AResyncWhoseReadOverlapsFailsAndIsCounted) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  auto before = spans(engine.find(kMm));
  kernel.now = {proc_anon(kBase, kBase + 4 * P), proc_anon(kBase + 2 * P, kBase + 6 * P)};
  kernel.clock_ns = 5000;
  auto resynced = engine.resync(kMm, kPid);
  ASSERT_FALSE(resynced.ok());
  EXPECT_NE(resynced.error().message.find("overlap"), std::string::npos)
      << resynced.error().message;
  EXPECT_EQ(spans(engine.find(kMm)), before);

  event::Event lost;
  lost.kind = Kind::kLost;
  lost.lost_total = 1;
  engine.apply(lost);
  EXPECT_EQ(engine.counters().repair_failures, 1u);
  EXPECT_EQ(engine.counters().resyncs, 0u);

  event::Event older = call(Syscall::kMprotect, {{kBase + 8 * P, kBase + 10 * P}},
                            {anon(kBase + 8 * P, kBase + 10 * P, kRo)});
  older.exit_ns = 4000;  // before the failed reads began: applied, not taken as read
  engine.apply(older);
  EXPECT_EQ(engine.counters().windows_already_read, 0u);
}

TEST(EngineRepair, ForkLeavesOutDontforkAreas) {
  FakeKernel kernel;
  Engine engine(&kernel);
  engine.apply(call(Syscall::kMmap, {{kBase, kBase + 2 * P}}, {anon(kBase, kBase + 2 * P)}));
  engine.apply(call(Syscall::kMadvise, {{kBase + 4 * P, kBase + 6 * P}},
                    {anon(kBase + 4 * P, kBase + 6 * P, kRw | 0x00020000 /* VM_DONTCOPY */)}));
  engine.apply(task(Kind::kFork, kMm, kChildMm));
  EXPECT_EQ(spans(engine.find(kChildMm)), (Spans{{kBase, kBase + 2 * P}}));
  EXPECT_EQ(engine.mm_of(kPid - 1), kChildMm);
  EXPECT_EQ(spans(engine.find(kMm)),
            (Spans{{kBase, kBase + 2 * P}, {kBase + 4 * P, kBase + 6 * P}}));
}

// /proc does not show VM_DONTCOPY: a seeded MADV_DONTFORK area is found by the fork whose
// VMA count disagrees with the copy, read from the child once, and remembered.
TEST(EngineRepair, ForkLearnsWhichSeededAreasItDoesNotCopy) {
  FakeKernel kernel;
  kernel.now = {proc_anon(kBase, kBase + 2 * P), proc_anon(kBase + 4 * P, kBase + 6 * P)};
  Engine engine(&kernel);
  engine.apply(call(Syscall::kMadvise, {}, {}));   // seeds the parent with flags unknown
  kernel.now = {proc_anon(kBase, kBase + 2 * P)};  // what the child has
  event::Event fork = task(Kind::kFork, kMm, kChildMm);
  fork.child_map_count = 1;
  int reads = kernel.full_reads;
  engine.apply(fork);
  EXPECT_EQ(kernel.full_reads, reads + 1);
  EXPECT_EQ(spans(engine.find(kChildMm)), (Spans{{kBase, kBase + 2 * P}}));
  EXPECT_EQ(engine.counters().repairs, 1u);
  EXPECT_EQ(spans(engine.find(kMm)),
            (Spans{{kBase, kBase + 2 * P}, {kBase + 4 * P, kBase + 6 * P}}));
  // The next fork copies right without reading.
  fork.child_mm = kChildMm + 1;
  engine.apply(fork);
  EXPECT_EQ(kernel.full_reads, reads + 1);
  EXPECT_EQ(spans(engine.find(kChildMm + 1)), (Spans{{kBase, kBase + 2 * P}}));
  // A count that agrees needs no read either.
  fork.child_mm = kChildMm + 2;
  fork.child_map_count = 1;
  engine.apply(fork);
  EXPECT_EQ(kernel.full_reads, reads + 1);
}

TEST(EngineRepair, ChangesCountEveryEventOfASpace) {
  FakeKernel kernel;
  Engine engine(&kernel);
  EXPECT_EQ(engine.changes(kMm), 0u);
  seed_three(engine);
  EXPECT_EQ(engine.changes(kMm), 2u);
  engine.apply(call(Syscall::kMunmap, {{kBase, kBase + P}}, {}));
  EXPECT_EQ(engine.changes(kMm), 3u);
}

}  // namespace
}  // namespace maptrail::engine

namespace maptrail::engine {
namespace {

// Provenance in the engine: who made each page, through the kernel's merges.
TEST(EngineProvenance, BrkGrowthKeepsEachCallsPartOfAMergedHeap) {
  FakeKernel kernel;
  Engine engine(&kernel);
  constexpr uint64_t kHeap = 0x555555559000;
  auto brk = [&](uint64_t from, uint64_t to, uint64_t t) {
    event::Event e = call(Syscall::kBrk, {{from, to}}, {anon(kHeap, to)});
    e.args[0] = to;
    e.ret = int64_t(to);
    e.enter_ns = t;
    return e;
  };
  engine.apply(brk(kHeap, kHeap + 4 * P, 100), site("grow_heap+0x10 (demo)"));
  engine.apply(brk(kHeap + 4 * P, kHeap + 8 * P, 200), site("other+0x20 (demo)"));
  ASSERT_EQ(engine.find(kMm)->size(), 1u) << "the kernel reported one merged VMA";
  auto spans = engine.provenance(kMm)->in_range(kHeap, kHeap + 8 * P);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].created->time_ns, 100u);
  EXPECT_EQ(spans[0].created->caller(), "grow_heap+0x10 (demo)");
  EXPECT_EQ(spans[1].created->time_ns, 200u);
  EXPECT_EQ(spans[1].created->call, "brk");
}

TEST(EngineProvenance, MremapMovesTheCreatorAlongAndMunmapForgetsIt) {
  FakeKernel kernel;
  Engine engine(&kernel);
  event::Event map = call(Syscall::kMmap, {{kBase, kBase + 4 * P}}, {anon(kBase, kBase + 4 * P)});
  map.args[1] = 4 * P;
  map.ret = int64_t(kBase);
  map.enter_ns = 1;
  engine.apply(map, site("make+0x1 (prog)"));
  constexpr uint64_t kTo = kBase + 0x100 * P;
  event::Event move = call(Syscall::kMremap, {{kBase, kBase + 4 * P}, {kTo, kTo + 8 * P}},
                           {anon(kTo, kTo + 8 * P)});
  move.args = {kBase, 4 * P, 8 * P, 1 /* MAYMOVE */, 0, 0};
  move.ret = int64_t(kTo);
  move.enter_ns = 2;
  engine.apply(move, site("grow+0x2 (prog)"));
  const auto* prov = engine.provenance(kMm);
  EXPECT_TRUE(prov->in_range(kBase, kBase + 4 * P).empty());
  auto spans = prov->in_range(kTo, kTo + 8 * P);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].created->caller(), "make+0x1 (prog)") << "the moved pages were made by mmap";
  EXPECT_EQ(spans[0].last->call, "mremap");
  EXPECT_EQ(spans[1].created->call, "mremap") << "the grown part was made by mremap";
  event::Event unmap = call(Syscall::kMunmap, {{kTo, kTo + 8 * P}}, {});
  unmap.args = {kTo, 8 * P, 0, 0, 0, 0};
  engine.apply(unmap);
  EXPECT_TRUE(prov->in_range(kTo, kTo + 8 * P).empty());
}

TEST(EngineProvenance, SeededPagesAreMarkedAsPresentBeforeTracing) {
  FakeKernel kernel;
  kernel.now = {proc_anon(kBase, kBase + 4 * P)};
  Engine engine(&kernel);
  engine.apply(call(Syscall::kMadvise, {}, {}));
  auto spans = engine.provenance(kMm)->in_range(kBase, kBase + 4 * P);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].created, nullptr);
}

}  // namespace
}  // namespace maptrail::engine

namespace maptrail::engine {
namespace {

event::Event lifecycle(Kind kind, uint32_t pid, uint64_t mm, uint32_t child_pid = 0,
                       uint64_t child_mm = 0, uint16_t flags = 0) {
  event::Event e;
  e.kind = kind;
  e.pid = e.tid = pid;
  e.mm = mm;
  e.child_pid = e.child_tid = child_pid;
  e.child_mm = child_mm;
  e.flags = flags;
  return e;
}

// vfork/posix_spawn: the child borrows the parent's address space (CLONE_VM) until exec.
TEST(EngineLifecycle, VforkChildSharesTheParentsSpaceUntilExec) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  constexpr uint32_t kChild = kPid - 5;
  engine.apply(lifecycle(Kind::kFork, kPid, kMm, kChild, kMm, MT_F_THREAD_SHARED_VM));
  EXPECT_EQ(engine.mm_of(kChild), kMm);
  EXPECT_EQ(engine.size(), 1u) << "no copy: one space, two processes";
  constexpr uint64_t kNewMm = 0xffff888033330000;
  engine.apply(lifecycle(Kind::kExec, kChild, kNewMm, kChild, kNewMm));
  event::Event layout = call(Syscall::kNone, {}, {anon(0x400000, 0x401000)}, kNewMm);
  layout.kind = Kind::kLayout;
  layout.pid = layout.tid = kChild;
  engine.apply(layout);
  EXPECT_EQ(engine.mm_of(kChild), kNewMm);
  EXPECT_EQ(engine.mm_of(kPid), kMm);
  EXPECT_EQ(spans(engine.find(kMm)).size(), 3u) << "the parent's model is untouched";
  EXPECT_EQ(spans(engine.find(kNewMm)).front().first, 0x400000u);
}

// A pid is reused by an unrelated process: keyed by mm, the new one starts clean.
TEST(EngineLifecycle, PidReuseStartsFromTheNewProcesssSpace) {
  FakeKernel kernel;
  Engine engine(&kernel);
  seed_three(engine);
  engine.apply(lifecycle(Kind::kExit, kPid, kMm));
  event::Event gone;
  gone.kind = Kind::kExitMmap;
  gone.pid = gone.tid = kPid;
  gone.child_mm = kMm;
  engine.apply(gone);
  EXPECT_EQ(engine.mm_of(kPid), std::nullopt);
  EXPECT_EQ(engine.find(kMm), nullptr);
  // Same pid, another process (and by chance the same mm address, recycled by the kernel).
  kernel.now = {proc_anon(kBase + 0x40 * P, kBase + 0x41 * P)};
  engine.apply(call(Syscall::kMadvise, {}, {}));
  EXPECT_EQ(engine.mm_of(kPid), kMm);
  EXPECT_EQ(spans(engine.find(kMm)), (Spans{{kBase + 0x40 * P, kBase + 0x41 * P}}))
      << "seeded afresh, nothing of the old process";
  EXPECT_EQ(engine.history(kMm)->size(), 1u) << "the new process's call only";
  EXPECT_TRUE(engine.history(kMm)->touching(kBase, kBase + 16 * P).empty())
      << "none of the old process's changes";
}

}  // namespace
}  // namespace maptrail::engine

namespace maptrail::engine {
namespace {

event::Event anon_mmap(uint64_t at, uint64_t length, uint64_t t, uint64_t mm = kMm) {
  event::Event e = call(Syscall::kMmap, {{at, at + length}}, {anon(at, at + length)}, mm);
  e.args = {0, length, 3, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, uint64_t(-1), 0};
  e.ret = int64_t(at);
  e.enter_ns = t;
  return e;
}

const model::ReportEntry* entry_of(const Engine& engine, const std::string& function) {
  for (const auto& e : engine.report().entries())
    if (e.site && !e.site->functions.empty() && e.site->functions[0] == function) return &e;
  return nullptr;
}

// Bytes are charged to the call that created them, whoever unmaps them later and however
// (munmap of part, a MAP_FIXED mapping over them, the end of the process); fork copies
// count as inherited.
TEST(EngineReport, ChargesEveryByteToTheCallThatMappedIt) {
  FakeKernel kernel;
  Engine engine(&kernel);
  engine.apply(anon_mmap(kBase, 8 * P, 10), site("make_cache+0x1 (app)"));
  engine.apply(anon_mmap(kBase + 16 * P, 2 * P, 20), site("make_cache+0x1 (app)"));
  event::Event unmap = call(Syscall::kMunmap, {{kBase, kBase + 2 * P}}, {});
  unmap.args = {kBase, 2 * P, 0, 0, 0, 0};
  engine.apply(unmap, site("cleanup+0x2 (app)"));
  // MAP_FIXED over 1 page of the first mapping: that page is the new call's now
  event::Event over = anon_mmap(kBase + 4 * P, P, 30);
  over.args[3] |= 0x10;  // MAP_FIXED
  over.vmas = {anon(kBase + 2 * P, kBase + 8 * P)};
  engine.apply(over, site("overlay+0x3 (app)"));

  const auto* cache = entry_of(engine, "make_cache (app)");
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->count, 2u);
  EXPECT_EQ(cache->mapped, 10 * P);
  EXPECT_EQ(cache->unmapped, 3 * P) << "2 pages by munmap, 1 by the MAP_FIXED overlay";
  EXPECT_EQ(cache->live(), 7 * P);
  EXPECT_EQ(cache->largest, 8 * P);
  EXPECT_EQ(cache->first_ns, 10u);
  EXPECT_EQ(cache->last_ns, 20u);
  EXPECT_TRUE(cache->anonymous);
  EXPECT_EQ(entry_of(engine, "cleanup (app)"), nullptr) << "munmap maps nothing";
  const auto* overlay = entry_of(engine, "overlay (app)");
  ASSERT_NE(overlay, nullptr);
  EXPECT_EQ(overlay->live(), P);

  engine.apply(task(Kind::kFork, kMm, kChildMm));
  EXPECT_EQ(entry_of(engine, "make_cache (app)")->inherited, 7 * P);
  event::Event child_unmap =
      call(Syscall::kMunmap, {{kBase + 16 * P, kBase + 18 * P}}, {}, kChildMm);
  child_unmap.args = {kBase + 16 * P, 2 * P, 0, 0, 0, 0};
  engine.apply(child_unmap);
  engine.apply(task(Kind::kExitMmap, kChildMm, kChildMm));
  EXPECT_EQ(entry_of(engine, "make_cache (app)")->unmapped, 3 * P) << "copies are not charged";
  EXPECT_EQ(entry_of(engine, "make_cache (app)")->exited, 0u);
  EXPECT_EQ(entry_of(engine, "make_cache (app)")->live(), 7 * P);
  engine.apply(task(Kind::kExitMmap, kMm, kMm));
  EXPECT_EQ(entry_of(engine, "make_cache (app)")->exited, 7 * P);
  EXPECT_EQ(entry_of(engine, "make_cache (app)")->live(), 7 * P)
      << "never unmapped by a call: live until the process ended";
}

}  // namespace
}  // namespace maptrail::engine
