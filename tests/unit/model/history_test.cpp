#include "model/history.h"

#include <gtest/gtest.h>

namespace maptrail::model {
namespace {

Change change(uint64_t t, uint64_t lo, uint64_t hi, std::string call = "mmap") {
  Change c;
  c.time_ns = t;
  c.call = std::move(call);
  c.ranges = {{lo, hi}};
  return c;
}

TEST(History, FindsTheChangesThatTouchARangeOldestFirst) {
  History h;
  h.add(change(1, 0x1000, 0x3000));
  h.add(change(2, 0x5000, 0x6000));
  h.add(change(3, 0x2000, 0x2800, "mprotect"));
  auto found = h.touching(0x2000, 0x2001);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0]->time_ns, 1u);
  EXPECT_EQ(found[1]->call, "mprotect");
  EXPECT_TRUE(h.touching(0x3000, 0x5000).empty()) << "ranges are half-open";
  EXPECT_EQ(h.touching(0, ~0ull).size(), 3u);
}

TEST(History, AnyRangeOfAChangeCounts) {
  History h;
  Change moved = change(1, 0x1000, 0x2000, "mremap");
  moved.ranges.push_back({0x9000, 0xa000});
  h.add(moved);
  EXPECT_EQ(h.touching(0x9800, 0x9801).size(), 1u);
}

TEST(History, KeepsTheNewestAndCountsWhatItDropped) {
  History h(3);
  for (uint64_t t = 1; t <= 5; t++) h.add(change(t, 0x1000, 0x2000));
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.dropped(), 2u);
  auto found = h.touching(0x1000, 0x2000);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found.front()->time_ns, 3u);
  EXPECT_EQ(found.back()->time_ns, 5u);
}

TEST(History, ALimitOfZeroKeepsNothing) {
  History h(0);
  h.add(change(1, 0, 1));
  EXPECT_EQ(h.size(), 0u);
  EXPECT_EQ(h.dropped(), 1u);
}

}  // namespace
}  // namespace maptrail::model
