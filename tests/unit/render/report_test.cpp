// maptrail report's rows: grouping, order, totals, folded stacks and the JSON round trip.
#include "render/report.h"

#include <gtest/gtest.h>

namespace maptrail::render {
namespace {

model::ReportEntry entry(std::vector<std::string> functions, std::vector<std::string> modules,
                         int caller, uint64_t mapped, uint64_t unmapped, bool anonymous = true) {
  auto site = std::make_shared<model::CallSite>();
  site->functions = functions;
  site->frames = functions;
  site->modules = modules;
  site->caller = caller;
  model::ReportEntry e;
  e.site = site;
  e.anonymous = anonymous;
  e.count = 1;
  e.mapped = mapped;
  e.unmapped = unmapped;
  e.largest = mapped;
  e.first_ns = 1'000'000'000;
  e.last_ns = 2'000'000'000;
  return e;
}

std::vector<model::ReportEntry> book() {
  return {
      entry({"__mmap (libc.so.6)", "level2 (app)", "main (app)"}, {"libc.so.6", "app", "app"}, 1,
            4 << 20, 0),
      entry({"__mmap (libc.so.6)", "level2 (app)", "other (app)", "main (app)"},
            {"libc.so.6", "app", "app", "app"}, 1, 1 << 20, 1 << 20),
      entry({"mmap (ld-linux-x86-64.so.2)", "_dl_map_object (ld-linux-x86-64.so.2)"},
            {"ld-linux-x86-64.so.2", "ld-linux-x86-64.so.2"}, -1, 8 << 20, 0, false),
  };
}

TEST(Report, ByCallerMergesStacksAndSortsByLiveBytes) {
  auto rows = report_rows(book(), ReportBy::kCaller, false);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, "(runtime) _dl_map_object (ld-linux-x86-64.so.2)");
  EXPECT_EQ(rows[0].live(), 8u << 20);
  EXPECT_EQ(rows[1].label, "level2 (app)");
  EXPECT_EQ(rows[1].count, 2u);
  EXPECT_EQ(rows[1].mapped, 5u << 20);
  EXPECT_EQ(rows[1].unmapped, 1u << 20);
  EXPECT_EQ(rows[1].live(), 4u << 20);
}

TEST(Report, AnonOnlyAndByModule) {
  auto rows = report_rows(book(), ReportBy::kModule, true);
  ASSERT_EQ(rows.size(), 1u) << "the loader's file mappings are not anonymous";
  EXPECT_EQ(rows[0].label, "app");
  EXPECT_EQ(rows[0].count, 2u);
}

TEST(Report, TextHasAHeaderARowPerGroupAndTotals) {
  auto text = report_text(report_rows(book(), ReportBy::kCaller, true), ReportBy::kCaller);
  EXPECT_NE(text.find("LIVE"), std::string::npos);
  EXPECT_NE(text.find("       4M        5M        1M      2        4M          1.000000          "
                      "2.000000  level2 (app)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("total of 1 callers"), std::string::npos) << text;
}

TEST(Report, FoldedIsOutermostFirstWeightedByLiveBytesWithoutEmptyStacks) {
  auto folded = report_folded(report_rows(book(), ReportBy::kStack, true));
  EXPECT_EQ(folded, "main (app);level2 (app);__mmap (libc.so.6) 4194304\n")
      << "the second stack has nothing live";
}

TEST(Report, JsonRoundTrip) {
  auto rows = report_rows(book(), ReportBy::kStack, false);
  auto back = report_rows_from_json(report_json(rows));
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); i++) {
    EXPECT_EQ(back[i].label, rows[i].label);
    EXPECT_EQ(back[i].stack, rows[i].stack);
    EXPECT_EQ(back[i].live(), rows[i].live());
    EXPECT_EQ(back[i].first_ns, rows[i].first_ns);
  }
}

}  // namespace
}  // namespace maptrail::render
