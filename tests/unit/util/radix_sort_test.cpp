#include "util/radix_sort.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace maptrail::util {
namespace {

using Item = std::pair<uint64_t, size_t>;  // key, position before the sort

std::vector<Item> sorted_by_radix(std::vector<Item> items) {
  radix_sort(items, [](const Item& i) { return i.first; });
  return items;
}

std::vector<Item> sorted_stably(std::vector<Item> items) {
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.first < b.first; });
  return items;
}

std::vector<Item> numbered(const std::vector<uint64_t>& keys) {
  std::vector<Item> items;
  for (size_t i = 0; i < keys.size(); i++) items.emplace_back(keys[i], i);
  return items;
}

TEST(RadixSort, SortsLikeStableSortWhateverBytesTheKeysUse) {
  std::mt19937_64 random(7);
  for (uint64_t mask :
       {0xffull, 0xffff00ull, 0x00007fffffffffffull, ~0ull, 0xff000000000000ffull}) {
    std::vector<uint64_t> keys(20000);
    for (auto& k : keys) k = random() & mask;
    auto items = numbered(keys);
    EXPECT_EQ(sorted_by_radix(items), sorted_stably(items)) << std::hex << mask;
  }
}

// Equal keys keep their order (aliases of one address stay in table order).
TEST(RadixSort, KeepsTheOrderOfEqualKeys) {
  std::vector<uint64_t> keys;
  for (int i = 0; i < 3000; i++) keys.push_back(0x7f0000001000ull + (i * 7919) % 50);
  auto items = numbered(keys);
  EXPECT_EQ(sorted_by_radix(items), sorted_stably(items));
}

TEST(RadixSort, HandlesEmptyOneAndAllEqual) {
  EXPECT_TRUE(sorted_by_radix({}).empty());
  EXPECT_EQ(sorted_by_radix({{5, 0}}), (std::vector<Item>{{5, 0}}));
  auto same = numbered(std::vector<uint64_t>(100, 0x1234));
  EXPECT_EQ(sorted_by_radix(same), same);
}

}  // namespace
}  // namespace maptrail::util
