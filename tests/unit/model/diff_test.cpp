#include "model/diff.h"

#include <vector>

#include <gtest/gtest.h>

namespace maptrail::model {
namespace {

constexpr uint64_t P = kMinPageSize;
constexpr uint64_t kBase = 0x5600000000;

Vma anon(uint64_t start, uint64_t end, uint8_t perms = kRead | kWrite) {
  Vma vma;
  vma.start = start;
  vma.end = end;
  vma.perms = perms;
  return vma;
}

AddressSpace space_of(std::vector<Vma> vmas) {
  AddressSpace space;
  EXPECT_TRUE(space.assign(std::move(vmas)));
  return space;
}

TEST(DiffTest, ExactModelHasNoDifferences) {
  std::vector<Vma> kernel = {anon(kBase, kBase + P), anon(kBase + 2 * P, kBase + 3 * P)};
  EXPECT_TRUE(diff(space_of(kernel), kernel).empty());
  EXPECT_TRUE(diff(AddressSpace(), {}).empty());
}

TEST(DiffTest, VmFlagsAreNotCompared) {
  Vma with_flags = anon(kBase, kBase + P);
  with_flags.vm_flags = 0x73;
  std::vector<Vma> kernel = {anon(kBase, kBase + P)};
  EXPECT_TRUE(diff(space_of({with_flags}), kernel).empty());
}

TEST(DiffTest, MissingAndExtra) {
  AddressSpace model = space_of({anon(kBase, kBase + P), anon(kBase + 4 * P, kBase + 5 * P)});
  std::vector<Vma> kernel = {anon(kBase, kBase + P), anon(kBase + 2 * P, kBase + 3 * P)};
  auto differences = diff(model, kernel);
  ASSERT_EQ(differences.size(), 2u);
  EXPECT_EQ(differences[0].kind, Difference::kMissing);
  EXPECT_FALSE(differences[0].model.has_value());
  EXPECT_EQ(differences[0].kernel->start, kBase + 2 * P);
  EXPECT_EQ(differences[1].kind, Difference::kExtra);
  EXPECT_EQ(differences[1].model->start, kBase + 4 * P);
  EXPECT_FALSE(differences[1].kernel.has_value());
}

TEST(DiffTest, ChangedFieldsAtTheSameStart) {
  Vma renamed = anon(kBase + 2 * P, kBase + 3 * P);
  renamed.name = "/memfd:x (deleted)";
  AddressSpace model = space_of({anon(kBase, kBase + P), anon(kBase + 2 * P, kBase + 3 * P)});
  std::vector<Vma> kernel = {anon(kBase, kBase + P, kRead), renamed};
  auto differences = diff(model, kernel);
  ASSERT_EQ(differences.size(), 2u);
  for (const auto& difference : differences) {
    EXPECT_EQ(difference.kind, Difference::kChanged);
    ASSERT_TRUE(difference.model && difference.kernel);
    EXPECT_EQ(difference.model->start, difference.kernel->start);
  }
  EXPECT_EQ(differences[0].kernel->perms, kRead);
  EXPECT_EQ(differences[1].kernel->name, "/memfd:x (deleted)");
}

TEST(DiffTest, SplitShowsAsChangedPlusMissingPieces) {
  AddressSpace model = space_of({anon(kBase, kBase + 3 * P)});
  std::vector<Vma> kernel = {anon(kBase, kBase + P), anon(kBase + P, kBase + 2 * P, kRead),
                             anon(kBase + 2 * P, kBase + 3 * P)};
  auto differences = diff(model, kernel);
  ASSERT_EQ(differences.size(), 3u);
  EXPECT_EQ(differences[0].kind, Difference::kChanged);
  EXPECT_EQ(differences[0].kernel->end, kBase + P);
  EXPECT_EQ(differences[1].kind, Difference::kMissing);
  EXPECT_EQ(differences[2].kind, Difference::kMissing);
  EXPECT_EQ(differences[2].kernel->start, kBase + 2 * P);
}

TEST(DiffTest, UnsortedKernelListIsSortedFirst) {
  std::vector<Vma> sorted = {anon(kBase, kBase + P), anon(kBase + 2 * P, kBase + 3 * P),
                             anon(kBase + 4 * P, kBase + 5 * P)};
  std::vector<Vma> shuffled = {sorted[2], sorted[0], sorted[1]};
  EXPECT_TRUE(diff(space_of(sorted), shuffled).empty());
  auto differences = diff(AddressSpace(), shuffled);
  ASSERT_EQ(differences.size(), 3u);
  EXPECT_EQ(differences[0].kernel->start, kBase);
  EXPECT_EQ(differences[2].kernel->start, kBase + 4 * P);
}

}  // namespace
}  // namespace maptrail::model
