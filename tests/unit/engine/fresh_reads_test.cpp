#include "engine/fresh_reads.h"

#include <gtest/gtest.h>

namespace maptrail::engine {
namespace {

TEST(FreshReads, ShowsARangeInsideOneReadBegunAfterTheCall) {
  FreshReads fresh;
  fresh.read(0x1000, 0x9000, 500);
  EXPECT_TRUE(fresh.shows(0x1000, 0x9000, 499));
  EXPECT_TRUE(fresh.shows(0x3000, 0x4000, 100));
  EXPECT_FALSE(fresh.shows(0x3000, 0x4000, 500)) << "the call returned as the read began";
  EXPECT_FALSE(fresh.shows(0x3000, 0x4000, 600));
  EXPECT_FALSE(fresh.shows(0x0, 0x2000, 100)) << "starts before the read";
  EXPECT_FALSE(fresh.shows(0x8000, 0xa000, 100)) << "ends after it";
  EXPECT_FALSE(fresh.shows(0xa000, 0xb000, 100));
}

TEST(FreshReads, TwoAdjacentReadsDoNotShowARangeAcrossThem) {
  FreshReads fresh;
  fresh.read(0x1000, 0x3000, 500);
  fresh.read(0x3000, 0x5000, 500);
  EXPECT_EQ(fresh.size(), 2u);
  EXPECT_TRUE(fresh.shows(0x1000, 0x3000, 100));
  EXPECT_TRUE(fresh.shows(0x3000, 0x5000, 100));
  EXPECT_FALSE(fresh.shows(0x2000, 0x4000, 100));
}

TEST(FreshReads, AWriteForgetsEveryReadItTouchesWhole) {
  FreshReads fresh;
  fresh.read(0x1000, 0x3000, 500);
  fresh.read(0x3000, 0x5000, 500);
  fresh.read(0x8000, 0x9000, 500);
  fresh.written(0x2000, 0x4000);
  EXPECT_FALSE(fresh.shows(0x1000, 0x2000, 100));
  EXPECT_FALSE(fresh.shows(0x4000, 0x5000, 100));
  EXPECT_TRUE(fresh.shows(0x8000, 0x9000, 100));
  fresh.written(0x7000, 0x8000);  // ends where the read begins: does not touch it
  fresh.written(0x9000, 0xa000);
  EXPECT_TRUE(fresh.shows(0x8000, 0x9000, 100));
  fresh.written(0x8fff, 0x9000);
  EXPECT_FALSE(fresh.shows(0x8000, 0x9000, 100));
  EXPECT_EQ(fresh.size(), 0u);
}

TEST(FreshReads, ANewReadReplacesTheReadsItOverlaps) {
  FreshReads fresh;
  fresh.read(0x1000, 0x3000, 500);
  fresh.read(0x2000, 0x6000, 900);
  EXPECT_EQ(fresh.size(), 1u);
  EXPECT_FALSE(fresh.shows(0x1000, 0x2000, 100));
  EXPECT_TRUE(fresh.shows(0x2000, 0x6000, 800));
}

TEST(FreshReads, AnEmptyRangeNeedsNoRead) {
  FreshReads fresh;
  EXPECT_TRUE(fresh.shows(0x1000, 0x1000, 100));
  fresh.read(0x1000, 0x1000, 500);
  EXPECT_EQ(fresh.size(), 0u);
}

TEST(FreshReads, StaysBoundedByForgetting) {
  FreshReads fresh;
  for (uint64_t i = 0; i < FreshReads::kLimit; i++)
    fresh.read(i * 0x2000, i * 0x2000 + 0x1000, 500);
  EXPECT_EQ(fresh.size(), FreshReads::kLimit);
  fresh.read(0x10000000000, 0x10000001000, 500);
  EXPECT_EQ(fresh.size(), 1u);
  EXPECT_TRUE(fresh.shows(0x10000000000, 0x10000001000, 100));
  EXPECT_FALSE(fresh.shows(0, 0x1000, 100));
}

}  // namespace
}  // namespace maptrail::engine
