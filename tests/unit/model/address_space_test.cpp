#include "model/address_space.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace maptrail::model {
namespace {

constexpr uint64_t P = kMinPageSize;
constexpr uint64_t kBase = 0x7f0000000000;

Vma anon(uint64_t start, uint64_t end, uint8_t perms = kRead | kWrite, std::string name = "") {
  Vma vma;
  vma.start = start;
  vma.end = end;
  vma.perms = perms;
  vma.name = std::move(name);
  return vma;
}

Vma file(uint64_t start, uint64_t end, uint64_t offset, uint8_t perms = kRead,
         uint64_t inode = 4242, std::string name = "/usr/lib/libx.so") {
  Vma vma = anon(start, end, perms, std::move(name));
  vma.offset = offset;
  vma.dev_major = 0xfe;
  vma.inode = inode;
  return vma;
}

std::vector<std::pair<uint64_t, uint64_t>> ranges(const AddressSpace& space) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const Vma& vma : space) out.emplace_back(vma.start, vma.end);
  return out;
}

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

TEST(AddressSpaceTest, EmptySpace) {
  AddressSpace space;
  EXPECT_EQ(space.size(), 0u);
  EXPECT_TRUE(space.empty());
  EXPECT_EQ(space.begin(), space.end());
  EXPECT_EQ(space.find(kBase), nullptr);
  EXPECT_TRUE(space.in_range(0, UINT64_MAX).empty());
  EXPECT_EQ(space.total_size(), 0u);
}

TEST(AddressSpaceTest, AssignFindAndRangeQueries) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + 2 * P), file(kBase + 4 * P, kBase + 5 * P, 0),
                            anon(kBase + 5 * P, kBase + 8 * P, kRead, "[stack]")}));
  EXPECT_EQ(space.size(), 3u);
  EXPECT_EQ(space.total_size(), 6 * P);

  EXPECT_EQ(space.find(kBase - 1), nullptr);
  ASSERT_NE(space.find(kBase), nullptr);
  EXPECT_EQ(space.find(kBase)->start, kBase);
  EXPECT_EQ(space.find(kBase + 2 * P - 1)->start, kBase);
  EXPECT_EQ(space.find(kBase + 2 * P), nullptr);  // end is exclusive
  EXPECT_EQ(space.find(kBase + 3 * P + 17), nullptr);
  EXPECT_EQ(space.find(kBase + 4 * P)->inode, 4242u);
  EXPECT_EQ(space.find(kBase + 5 * P)->name, "[stack]");
  EXPECT_EQ(space.find(kBase + 8 * P), nullptr);

  EXPECT_TRUE(space.in_range(kBase + 2 * P, kBase + 4 * P).empty());
  EXPECT_EQ(space.in_range(kBase + 2 * P - 1, kBase + 4 * P + 1).size(), 2u);
  auto all = space.in_range(0, UINT64_MAX);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all, space.vmas());
  auto middle = space.in_range(kBase + P, kBase + 5 * P + 1);
  ASSERT_EQ(middle.size(), 3u);
  EXPECT_EQ(middle.front().start, kBase);  // starts before lo but intersects
  EXPECT_TRUE(space.in_range(kBase + P, kBase + P).empty());
}

TEST(AddressSpaceTest, IteratesInAddressOrder) {
  AddressSpace space;
  ASSERT_TRUE(space.replace_window(kBase + 9 * P, kBase + 10 * P,
                                   std::vector{anon(kBase + 9 * P, kBase + 10 * P)}));
  ASSERT_TRUE(space.replace_window(kBase, kBase + P, std::vector{anon(kBase, kBase + P)}));
  ASSERT_TRUE(space.replace_window(kBase + 4 * P, kBase + 5 * P,
                                   std::vector{anon(kBase + 4 * P, kBase + 5 * P)}));
  EXPECT_EQ(ranges(space), (Ranges{{kBase, kBase + P},
                                   {kBase + 4 * P, kBase + 5 * P},
                                   {kBase + 9 * P, kBase + 10 * P}}));
  auto it = space.end();
  --it;
  EXPECT_EQ(it->start, kBase + 9 * P);
}

TEST(AddressSpaceTest, AssignRejectsMalformedSeedAndKeepsState) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + P)}));
  EXPECT_FALSE(space.assign({anon(kBase + 2 * P, kBase + 3 * P), anon(kBase, kBase + P)}));
  EXPECT_FALSE(space.assign({anon(kBase, kBase + 2 * P), anon(kBase + P, kBase + 3 * P)}));
  EXPECT_FALSE(space.assign({anon(kBase, kBase)}));
  EXPECT_EQ(ranges(space), (Ranges{{kBase, kBase + P}}));
  space.clear();
  EXPECT_TRUE(space.empty());
}

// mprotect(PROT_READ) of the middle page of a 3-page rw mapping: the BPF window
// [lo-1, hi+1) reports the three pieces.
TEST(ReplaceWindowTest, MprotectSplitsInThree) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + 3 * P)}));
  std::vector<Vma> report = {anon(kBase, kBase + P), anon(kBase + P, kBase + 2 * P, kRead),
                             anon(kBase + 2 * P, kBase + 3 * P)};
  ASSERT_TRUE(space.replace_window(kBase + P - 1, kBase + 2 * P + 1, report));
  EXPECT_EQ(space.vmas(), report);
}

// A window reporting only the middle piece: the model has to clip the old VMA itself,
// keeping both outer parts, and a file offset must follow the cut.
TEST(ReplaceWindowTest, ClipsStraddlingVmaOnBothSidesAndMovesFileOffset) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({file(kBase, kBase + 4 * P, 0x10000, kRead | kExec)}));
  std::vector<Vma> middle = {file(kBase + P, kBase + 2 * P, 0x11000, kRead)};
  ASSERT_TRUE(space.replace_window(kBase + P, kBase + 2 * P, middle));
  auto vmas = space.vmas();
  ASSERT_EQ(vmas.size(), 3u);
  EXPECT_EQ(vmas[0], file(kBase, kBase + P, 0x10000, kRead | kExec));
  EXPECT_EQ(vmas[1], middle[0]);
  EXPECT_EQ(vmas[2], file(kBase + 2 * P, kBase + 4 * P, 0x12000, kRead | kExec));
}

TEST(ReplaceWindowTest, ClippedAnonymousPiecesKeepOffsetZero) {
  AddressSpace space;
  Vma heap = anon(kBase, kBase + 4 * P, kRead | kWrite, "[heap]");
  heap.vm_flags = 0x100073;
  ASSERT_TRUE(space.assign({heap}));
  ASSERT_TRUE(space.replace_window(kBase + P, kBase + 3 * P, {}));
  auto vmas = space.vmas();
  ASSERT_EQ(vmas.size(), 2u);
  EXPECT_EQ(vmas[1].start, kBase + 3 * P);
  EXPECT_EQ(vmas[1].offset, 0u);
  EXPECT_EQ(vmas[1].name, "[heap]");
  EXPECT_EQ(vmas[1].vm_flags, 0x100073u);
  EXPECT_EQ(vmas[0].end, kBase + P);
}

TEST(ReplaceWindowTest, MergesNeighbours) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + P), anon(kBase + P, kBase + 2 * P, kRead),
                            anon(kBase + 2 * P, kBase + 3 * P)}));
  // mprotect(middle, rw): the kernel merges all three.
  std::vector<Vma> merged = {anon(kBase, kBase + 3 * P)};
  ASSERT_TRUE(space.replace_window(kBase + P - 1, kBase + 2 * P + 1, merged));
  EXPECT_EQ(space.vmas(), merged);
}

TEST(ReplaceWindowTest, MunmapMakesAHole) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + 3 * P)}));
  // munmap(kBase + P, P): window [lo-1, hi+1) reports the two surviving pieces.
  std::vector<Vma> report = {anon(kBase, kBase + P), anon(kBase + 2 * P, kBase + 3 * P)};
  ASSERT_TRUE(space.replace_window(kBase + P - 1, kBase + 2 * P + 1, report));
  EXPECT_EQ(space.vmas(), report);
  EXPECT_EQ(space.find(kBase + P), nullptr);
}

TEST(ReplaceWindowTest, WindowWithNoVmasErasesEverythingInside) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + P), anon(kBase + 2 * P, kBase + 3 * P),
                            anon(kBase + 3 * P, kBase + 4 * P, kRead),
                            anon(kBase + 6 * P, kBase + 7 * P)}));
  ASSERT_TRUE(space.replace_window(kBase + P, kBase + 5 * P, {}));
  EXPECT_EQ(ranges(space), (Ranges{{kBase, kBase + P}, {kBase + 6 * P, kBase + 7 * P}}));
}

TEST(ReplaceWindowTest, EmptyWindowOverEmptySpaceChangesNothing) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + P), anon(kBase + 4 * P, kBase + 5 * P)}));
  AddressSpace before = space;
  ASSERT_TRUE(space.replace_window(kBase + P, kBase + 4 * P, {}));
  EXPECT_EQ(space, before);
  ASSERT_TRUE(space.replace_window(kBase + 2 * P, kBase + 2 * P, {}));  // lo == hi
  EXPECT_EQ(space, before);
}

TEST(ReplaceWindowTest, UnalignedHoleIsRoundedOutToWholePages) {
  // The kernel says no VMA covers byte kBase+P+1: the model's stale VMA must lose that
  // whole page, not be cut at a byte address.
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + 3 * P)}));
  ASSERT_TRUE(space.replace_window(kBase + P + 1, kBase + P + 2, {}));
  EXPECT_EQ(ranges(space), (Ranges{{kBase, kBase + P}, {kBase + 2 * P, kBase + 3 * P}}));
}

TEST(ReplaceWindowTest, VmasBeyondTheWindowReplaceWhatTheyCover) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + P), anon(kBase + P, kBase + 2 * P, kRead),
                            anon(kBase + 2 * P, kBase + 3 * P, kRead | kExec),
                            anon(kBase + 3 * P, kBase + 4 * P, kRead),
                            anon(kBase + 5 * P, kBase + 6 * P)}));
  // A window of one byte in the middle, answered by one VMA reaching far on both sides.
  std::vector<Vma> report = {anon(kBase + P, kBase + 4 * P, kRead | kWrite | kExec)};
  ASSERT_TRUE(space.replace_window(kBase + 2 * P, kBase + 2 * P + 1, report));
  EXPECT_EQ(space.vmas(), (std::vector<Vma>{anon(kBase, kBase + P), report[0],
                                            anon(kBase + 5 * P, kBase + 6 * P)}));
}

TEST(ReplaceWindowTest, ReportedVmaStraddledByOldOnes) {
  // Old VMAs straddle the covered range's ends: both are clipped, not dropped.
  AddressSpace space;
  ASSERT_TRUE(space.assign(
      {file(kBase, kBase + 3 * P, 0), file(kBase + 3 * P, kBase + 6 * P, 0, kRead, 7, "/b")}));
  std::vector<Vma> report = {anon(kBase + 2 * P, kBase + 4 * P)};
  ASSERT_TRUE(space.replace_window(kBase + 2 * P, kBase + 4 * P, report));
  auto vmas = space.vmas();
  ASSERT_EQ(vmas.size(), 3u);
  EXPECT_EQ(vmas[0], file(kBase, kBase + 2 * P, 0));
  EXPECT_EQ(vmas[1], report[0]);
  EXPECT_EQ(vmas[2], file(kBase + 4 * P, kBase + 6 * P, P, kRead, 7, "/b"));
}

TEST(ReplaceWindowTest, ReplacingInsideOneVmaAtItsStartAndEnd) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + 3 * P)}));
  ASSERT_TRUE(space.replace_window(kBase, kBase + P, std::vector{anon(kBase, kBase + P, kRead)}));
  EXPECT_EQ(ranges(space), (Ranges{{kBase, kBase + P}, {kBase + P, kBase + 3 * P}}));
  ASSERT_TRUE(space.replace_window(kBase + 2 * P, kBase + 3 * P,
                                   std::vector{anon(kBase + 2 * P, kBase + 3 * P, kRead)}));
  EXPECT_EQ(
      ranges(space),
      (Ranges{{kBase, kBase + P}, {kBase + P, kBase + 2 * P}, {kBase + 2 * P, kBase + 3 * P}}));
  EXPECT_EQ(space.find(kBase + P)->perms, kRead | kWrite);
}

TEST(ReplaceWindowTest, IsIdempotent) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + 2 * P), file(kBase + 2 * P, kBase + 8 * P, 0),
                            anon(kBase + 9 * P, kBase + 10 * P)}));
  std::vector<Vma> report = {file(kBase + 3 * P, kBase + 4 * P, P, kRead | kWrite),
                             anon(kBase + 5 * P, kBase + 6 * P)};
  ASSERT_TRUE(space.replace_window(kBase + 3 * P - 1, kBase + 6 * P + 1, report));
  AddressSpace once = space;
  ASSERT_TRUE(space.replace_window(kBase + 3 * P - 1, kBase + 6 * P + 1, report));
  EXPECT_EQ(space, once);
  // The window's end byte 6P lies in page 6, so the file VMA keeps only its last page.
  EXPECT_EQ(ranges(space), (Ranges{{kBase, kBase + 2 * P},
                                   {kBase + 3 * P, kBase + 4 * P},
                                   {kBase + 5 * P, kBase + 6 * P},
                                   {kBase + 7 * P, kBase + 8 * P},
                                   {kBase + 9 * P, kBase + 10 * P}}));
  EXPECT_EQ(space.find(kBase + 7 * P)->offset, 5 * P);
}

TEST(ReplaceWindowTest, MalformedReportIsRejectedWithoutChange) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({anon(kBase, kBase + 4 * P)}));
  AddressSpace before = space;
  EXPECT_FALSE(space.replace_window(
      kBase, kBase + 4 * P,
      std::vector{anon(kBase + 2 * P, kBase + 3 * P), anon(kBase, kBase + P)}));
  EXPECT_FALSE(space.replace_window(
      kBase, kBase + 4 * P,
      std::vector{anon(kBase, kBase + 2 * P), anon(kBase + P, kBase + 3 * P)}));
  EXPECT_FALSE(space.replace_window(kBase, kBase + 4 * P, std::vector{anon(kBase + P, kBase + P)}));
  EXPECT_FALSE(
      space.replace_window(kBase, kBase + 4 * P, std::vector{anon(kBase + 2 * P, kBase + P)}));
  EXPECT_EQ(space, before);
}

TEST(ReplaceWindowTest, TopOfTheAddressSpace) {
  AddressSpace space;
  Vma gate = anon(0xffffffffff600000, 0xffffffffff601000, kExec, "[vsyscall]");
  ASSERT_TRUE(space.assign({anon(kBase, kBase + P), gate}));
  ASSERT_TRUE(space.replace_window(kBase + P, UINT64_MAX, {}));
  EXPECT_EQ(ranges(space), (Ranges{{kBase, kBase + P}}));
  ASSERT_TRUE(space.replace_window(0xffffffffff600000, UINT64_MAX, std::vector{gate}));
  EXPECT_EQ(space.find(0xffffffffff600800)->name, "[vsyscall]");
}

// Brute-force reference: one cell per page, holding which VMA (by a unique id) covers it
// and the attributes that VMA shows at that page.
class PageReference {
 public:
  explicit PageReference(size_t pages) : pages_(pages) {}

  void apply(uint64_t lo, uint64_t hi, const std::vector<Vma>& vmas) {
    uint64_t covered_lo = lo, covered_hi = hi;
    if (!vmas.empty()) {
      covered_lo = std::min(lo, vmas.front().start);
      covered_hi = std::max(hi, vmas.back().end);
    }
    for (size_t page = 0; page < pages_.size(); ++page) {
      uint64_t page_start = kBase + page * P;
      if (page_start < covered_hi && covered_lo < page_start + P) pages_[page].reset();
    }
    for (const Vma& vma : vmas) {
      uint64_t id = next_id_++;
      for (uint64_t addr = vma.start; addr < vma.end; addr += P) {
        Cell cell{id, vma};
        if (vma.has_backing_object()) cell.vma.offset += addr - vma.start;
        pages_[(addr - kBase) / P] = cell;
      }
    }
  }

  std::vector<Vma> expected() const {
    std::vector<Vma> out;
    std::optional<uint64_t> previous_id;
    for (size_t page = 0; page < pages_.size(); ++page) {
      const auto& cell = pages_[page];
      if (!cell) {
        previous_id.reset();
        continue;
      }
      uint64_t page_start = kBase + page * P;
      if (previous_id == cell->id) {
        out.back().end = page_start + P;
      } else {
        Vma vma = cell->vma;
        vma.start = page_start;
        vma.end = page_start + P;
        out.push_back(vma);
      }
      previous_id = cell->id;
    }
    return out;
  }

 private:
  struct Cell {
    uint64_t id;
    Vma vma;  // attributes as seen at this page (offset already advanced)
  };
  std::vector<std::optional<Cell>> pages_;
  uint64_t next_id_ = 0;
};

TEST(ReplaceWindowTest, RandomWindowsMatchPageArrayReference) {
  constexpr size_t kPages = 48;
  std::mt19937_64 rng(20240611);
  auto uniform = [&](uint64_t lo, uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  const std::vector<std::string> names = {"", "[heap]", "/lib/a.so", "/tmp/b c (deleted)"};

  AddressSpace space;
  PageReference reference(kPages);
  int idempotence_checks = 0, clipped_windows = 0;
  for (int round = 0; round < 20000; ++round) {
    // A window in bytes, often unaligned like the BPF [lo-1, hi+1) windows.
    uint64_t lo = kBase + uniform(0, kPages * P - 1);
    uint64_t hi = std::min(kBase + kPages * P, lo + uniform(0, 12 * P));
    if (uniform(0, 3) == 0) lo = lo & ~(P - 1);

    // The kernel's truth around the window: a random layout of holes and VMAs, of which
    // the report keeps those intersecting [lo, hi).
    std::vector<Vma> report;
    uint64_t first_page = (lo - kBase) / P;
    uint64_t page = first_page > 3 ? first_page - uniform(0, 3) : 0;
    while (page < kPages && kBase + page * P < hi + 4 * P) {
      uint64_t length = std::min<uint64_t>(uniform(1, 5), kPages - page);
      if (uniform(0, 2) != 0) {
        Vma vma;
        vma.start = kBase + page * P;
        vma.end = vma.start + length * P;
        vma.perms = static_cast<uint8_t>(uniform(0, 15));
        vma.name = names[uniform(0, names.size() - 1)];
        if (vma.name.starts_with('/')) {
          vma.inode = uniform(1, 3);
          vma.dev_major = 0xfe;
          vma.offset = uniform(0, 64) * P;
        }
        if (vma.intersects(lo, hi)) report.push_back(vma);
      }
      page += length;
    }
    if (!report.empty() && (report.front().start < lo || report.back().end > hi)) {
      ++clipped_windows;
    }

    ASSERT_TRUE(space.replace_window(lo, hi, report));
    reference.apply(lo, hi, report);
    std::vector<Vma> expected = reference.expected();
    ASSERT_EQ(space.vmas(), expected) << "round " << round;
    ASSERT_EQ(space.size(), expected.size());

    if (round % 7 == 0) {
      AddressSpace copy = space;
      ASSERT_TRUE(space.replace_window(lo, hi, report));
      ASSERT_EQ(space, copy) << "not idempotent at round " << round;
      ++idempotence_checks;
    }
    uint64_t probe = kBase + uniform(0, kPages * P - 1);
    const Vma* found = space.find(probe);
    const Vma* expected_found = nullptr;
    for (const Vma& vma : expected) {
      if (vma.contains(probe)) expected_found = &vma;
    }
    ASSERT_EQ(found == nullptr, expected_found == nullptr);
    if (found) {
      ASSERT_EQ(*found, *expected_found);
    }
  }
  EXPECT_GT(idempotence_checks, 1000);
  EXPECT_GT(clipped_windows, 1000);
}

TEST(AddressSpaceScaleTest, MillionVmasStayFast) {
  constexpr uint64_t kCount = 1'000'000;
  std::vector<Vma> seed;
  seed.reserve(kCount);
  for (uint64_t i = 0; i < kCount; ++i) {
    // One page mapped, one page hole, so neighbours never touch.
    seed.push_back(anon(kBase + 2 * i * P, kBase + (2 * i + 1) * P,
                        static_cast<uint8_t>(i % 2 ? kRead : kRead | kWrite)));
  }
  AddressSpace space;
  ASSERT_TRUE(space.assign(std::move(seed)));
  ASSERT_EQ(space.size(), kCount);

  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint64_t index = rng() % kCount;
    const Vma* vma = space.find(kBase + 2 * index * P + P / 2);
    ASSERT_NE(vma, nullptr);
    ASSERT_EQ(vma->start, kBase + 2 * index * P);
    ASSERT_EQ(space.find(kBase + (2 * index + 1) * P), nullptr);
  }
  // Merge two neighbours and their hole, many times over: each window is local.
  for (int i = 0; i < 100000; ++i) {
    uint64_t index = rng() % (kCount - 1);
    uint64_t lo = kBase + 2 * index * P;
    std::vector<Vma> merged = {anon(lo, lo + 3 * P)};
    ASSERT_TRUE(space.replace_window(lo, lo + 3 * P, merged));
  }
  EXPECT_LT(space.size(), kCount);
  EXPECT_GT(space.size(), kCount / 2);
  EXPECT_EQ(space.in_range(kBase, kBase + 2 * kCount * P).size(), space.size());
}

// The epoch is what caches of return addresses are keyed by: a change it misses would have
// the symbolizer name a library that is gone.
TEST(AddressSpaceExecEpoch, ChangesWithEveryChangeToCodeAndOnlyThen) {
  AddressSpace space;
  ASSERT_TRUE(space.assign(
      {file(kBase, kBase + 4 * P, 0, kRead | kExec), anon(kBase + 8 * P, kBase + 9 * P)}));
  uint64_t epoch = space.exec_epoch();
  EXPECT_NE(epoch, 0u);

  // Data: mapped, protected, unmapped next to the code, the code untouched.
  ASSERT_TRUE(space.replace_window(kBase + 16 * P, kBase + 17 * P,
                                   {{anon(kBase + 16 * P, kBase + 17 * P)}}));
  ASSERT_TRUE(space.replace_window(kBase + 8 * P, kBase + 9 * P,
                                   {{anon(kBase + 8 * P, kBase + 9 * P, kRead)}}));
  ASSERT_TRUE(space.replace_window(kBase + 16 * P, kBase + 17 * P, {}));
  EXPECT_EQ(space.exec_epoch(), epoch);

  // Code split by mprotect: the piece that lost kExec changes what a pc there leads to.
  ASSERT_TRUE(space.replace_window(kBase + 2 * P, kBase + 3 * P,
                                   {{file(kBase + 2 * P, kBase + 3 * P, 2 * P, kRead)}}));
  uint64_t split = space.exec_epoch();
  EXPECT_NE(split, epoch);

  // New code mapped where nothing was.
  ASSERT_TRUE(space.replace_window(kBase + 20 * P, kBase + 21 * P,
                                   {{anon(kBase + 20 * P, kBase + 21 * P, kRead | kExec)}}));
  uint64_t mapped = space.exec_epoch();
  EXPECT_NE(mapped, split);
  EXPECT_NE(mapped, epoch);

  // Code unmapped.
  ASSERT_TRUE(space.replace_window(kBase + 20 * P, kBase + 21 * P, {}));
  EXPECT_NE(space.exec_epoch(), mapped);

  // A window that is not well formed changes nothing, the epoch included.
  uint64_t before_bad = space.exec_epoch();
  EXPECT_FALSE(space.replace_window(
      kBase, kBase + P,
      {{anon(kBase + P, kBase + 2 * P, kRead | kExec), anon(kBase, kBase + P, kRead | kExec)}}));
  EXPECT_EQ(space.exec_epoch(), before_bad);
}

TEST(AddressSpaceExecEpoch, ACopySharesItUntilEitherChanges) {
  AddressSpace parent;
  ASSERT_TRUE(parent.assign({file(kBase, kBase + 4 * P, 0, kRead | kExec)}));
  AddressSpace child = parent;  // fork: the same code at the same places
  EXPECT_EQ(child.exec_epoch(), parent.exec_epoch());

  ASSERT_TRUE(child.replace_window(kBase, kBase + 4 * P, {}));
  EXPECT_NE(child.exec_epoch(), parent.exec_epoch());

  // Never reused, even by a space built the same way.
  AddressSpace twin;
  ASSERT_TRUE(twin.assign({file(kBase, kBase + 4 * P, 0, kRead | kExec)}));
  EXPECT_NE(twin.exec_epoch(), parent.exec_epoch());
}

TEST(AddressSpaceExecEpoch, AnEmptiedSpaceNoLongerHasTheEpochOfItsCode) {
  AddressSpace space;
  ASSERT_TRUE(space.assign({file(kBase, kBase + 4 * P, 0, kRead | kExec)}));
  uint64_t epoch = space.exec_epoch();

  AddressSpace moved = std::move(space);
  EXPECT_EQ(moved.exec_epoch(), epoch);
  EXPECT_NE(space.exec_epoch(), epoch);  // NOLINT(bugprone-use-after-move): left empty
  EXPECT_TRUE(space.empty());

  moved.clear();
  EXPECT_NE(moved.exec_epoch(), epoch);
}

}  // namespace
}  // namespace maptrail::model
