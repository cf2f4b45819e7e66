#include "model/provenance.h"

#include <gtest/gtest.h>

namespace maptrail::model {
namespace {

constexpr uint64_t P = 4096;

std::shared_ptr<const Origin> by(std::string call, uint64_t t) {
  auto o = std::make_shared<Origin>();
  o->call = std::move(call);
  o->time_ns = t;
  return o;
}

TEST(Provenance, SurvivesMergesBecauseItIsKeptByPage) {
  Provenance p;
  auto brk1 = by("brk", 1), brk2 = by("brk", 2);
  p.created(0x1000 * P, 0x1004 * P, brk1);  // the kernel merges these two into one [heap]
  p.created(0x1004 * P, 0x1008 * P, brk2);
  auto spans = p.in_range(0x1000 * P, 0x1008 * P);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].created, brk1);
  EXPECT_EQ(spans[1].created, brk2);
  EXPECT_EQ(spans[1].lo, 0x1004 * P);
}

TEST(Provenance, AChangeKeepsTheCreatorAndRecordsTheLastChange) {
  Provenance p;
  auto mmap = by("mmap", 1), mprotect = by("mprotect", 2);
  p.created(0, 8 * P, mmap);
  p.changed(2 * P, 4 * P, mprotect);
  auto spans = p.in_range(0, 8 * P);
  ASSERT_EQ(spans.size(), 3u);
  for (const auto& s : spans) EXPECT_EQ(s.created, mmap);
  EXPECT_EQ(spans[0].last, mmap);
  EXPECT_EQ(spans[1].last, mprotect);
  EXPECT_EQ(spans[1].lo, 2 * P);
  EXPECT_EQ(spans[1].hi, 4 * P);
  EXPECT_EQ(spans[2].last, mmap);
}

TEST(Provenance, NeighboursWithTheSameHistoryCoalesce) {
  Provenance p;
  auto mmap = by("mmap", 1);
  p.created(0, 8 * P, mmap);
  auto protect = by("mprotect", 2);
  p.changed(2 * P, 4 * P, protect);
  p.changed(0, 8 * P, protect);  // now all pages share creator and last change
  EXPECT_EQ(p.size(), 1u);
}

TEST(Provenance, UnmappingCutsAHole) {
  Provenance p;
  p.created(0, 8 * P, by("mmap", 1));
  p.removed(3 * P, 5 * P);
  auto spans = p.in_range(0, 8 * P);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].hi, 3 * P);
  EXPECT_EQ(spans[1].lo, 5 * P);
  EXPECT_TRUE(p.in_range(3 * P, 5 * P).empty());
}

TEST(Provenance, MovedMemoryKeepsItsCreator) {
  Provenance p;
  auto mmap = by("mmap", 1), mremap = by("mremap", 2);
  p.created(0x10 * P, 0x14 * P, mmap);
  p.moved(0x10 * P, 0x80 * P, 4 * P, mremap);
  EXPECT_TRUE(p.in_range(0x10 * P, 0x14 * P).empty());
  auto spans = p.in_range(0x80 * P, 0x84 * P);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].created, mmap);
  EXPECT_EQ(spans[0].last, mremap);
}

TEST(Provenance, MapFixedOverPartReplacesTheCreatorThere) {
  Provenance p;
  auto first = by("mmap", 1), overlay = by("mmap", 2);
  p.created(0, 6 * P, first);
  p.created(2 * P, 3 * P, overlay);
  auto spans = p.in_range(0, 6 * P);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[1].created, overlay);
  EXPECT_EQ(spans[2].created, first);
}

TEST(Provenance, SeededPagesHaveNoOrigin) {
  Provenance p;
  p.seeded(0, 4 * P);
  auto spans = p.in_range(P, 2 * P);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].created, nullptr);
  EXPECT_EQ(spans[0].lo, P) << "clipped to the range asked";
}

}  // namespace
}  // namespace maptrail::model
