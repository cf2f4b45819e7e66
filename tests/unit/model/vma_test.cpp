#include "model/vma.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace maptrail::model {
namespace {

TEST(PermsTest, FormatsEachFlag) {
  EXPECT_EQ(perms_string(0), "---p");
  EXPECT_EQ(perms_string(kRead | kWrite), "rw-p");
  EXPECT_EQ(perms_string(kRead | kExec | kShared), "r-xs");
  EXPECT_EQ(perms_string(kRead | kWrite | kExec | kShared), "rwxs");
  EXPECT_EQ(perms_string(kExec), "--xp");
}

TEST(PermsTest, ParseInvertsFormatForAllSixteenCombinations) {
  for (unsigned bits = 0; bits < 16; ++bits) {
    auto parsed = parse_perms(perms_string(static_cast<uint8_t>(bits)));
    ASSERT_TRUE(parsed.has_value()) << bits;
    EXPECT_EQ(*parsed, bits);
  }
}

TEST(PermsTest, ParseRejectsMalformedText) {
  for (const char* bad : {"", "rw-", "rw-pp", "RW-P", "rwxq", "w--p", "-r-p", "r-x ", " r-x",
                          "rwx-", "xwrp", "----"}) {
    EXPECT_FALSE(parse_perms(bad).has_value()) << '"' << bad << '"';
  }
}

Vma heap_vma() {
  Vma vma;
  vma.start = 0x5629e7e95000;
  vma.end = 0x5629e7eb6000;
  vma.perms = kRead | kWrite;
  vma.name = "[heap]";
  return vma;
}

TEST(VmaTest, SizeContainsIntersects) {
  Vma vma = heap_vma();
  EXPECT_EQ(vma.size(), 0x21000u);
  EXPECT_TRUE(vma.contains(vma.start));
  EXPECT_TRUE(vma.contains(vma.end - 1));
  EXPECT_FALSE(vma.contains(vma.end));
  EXPECT_FALSE(vma.contains(vma.start - 1));
  EXPECT_TRUE(vma.intersects(vma.end - 1, vma.end + 10));
  EXPECT_FALSE(vma.intersects(vma.end, vma.end + 10));
  EXPECT_FALSE(vma.intersects(0, vma.start));
  EXPECT_TRUE(vma.intersects(0, vma.start + 1));
}

TEST(VmaTest, SameAsProcIgnoresVmFlagsButNothingElse) {
  Vma a = heap_vma();
  Vma b = a;
  b.vm_flags = 0x100073;
  EXPECT_TRUE(same_as_proc(a, b));
  EXPECT_FALSE(a == b);

  auto differs = [&](auto change) {
    Vma changed = a;
    change(changed);
    return !same_as_proc(a, changed);
  };
  EXPECT_TRUE(differs([](Vma& v) { v.start += 0x1000; }));
  EXPECT_TRUE(differs([](Vma& v) { v.end += 0x1000; }));
  EXPECT_TRUE(differs([](Vma& v) { v.perms |= kExec; }));
  EXPECT_TRUE(differs([](Vma& v) { v.offset = 0x1000; }));
  EXPECT_TRUE(differs([](Vma& v) { v.dev_major = 1; }));
  EXPECT_TRUE(differs([](Vma& v) { v.dev_minor = 1; }));
  EXPECT_TRUE(differs([](Vma& v) { v.inode = 1; }));
  EXPECT_TRUE(differs([](Vma& v) { v.name = "[stack]"; }));
}

TEST(VmaTest, BackingObjectDecidesWhetherOffsetMoves) {
  Vma anon = heap_vma();
  EXPECT_FALSE(anon.has_backing_object());
  Vma file = anon;
  file.inode = 42;
  EXPECT_TRUE(file.has_backing_object());
  Vma shmem = anon;
  shmem.dev_minor = 1;
  EXPECT_TRUE(shmem.has_backing_object());
}

TEST(FormatMapsLineTest, NamedVmaStartsAtColumn73) {
  EXPECT_EQ(format_maps_line(heap_vma()),
            "5629e7e95000-5629e7eb6000 rw-p 00000000 00:00 0                          [heap]");
  EXPECT_EQ(format_maps_line(heap_vma()).find("[heap]"), kMapsNameColumn);

  Vma libc;
  libc.start = 0x7f2719029000;
  libc.end = 0x7f271917f000;
  libc.perms = kRead | kExec;
  libc.offset = 0x26000;
  libc.dev_major = 0xfe;
  libc.dev_minor = 0;
  libc.inode = 332835;
  libc.name = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  EXPECT_EQ(format_maps_line(libc),
            "7f2719029000-7f271917f000 r-xp 00026000 fe:00 332835                     "
            "/usr/lib/x86_64-linux-gnu/libc.so.6");
}

TEST(FormatMapsLineTest, UnnamedVmaKeepsTheSpaceAfterTheInode) {
  Vma anon;
  anon.start = 0x7f2718ede000;
  anon.end = 0x7f2718fa2000;
  anon.perms = kRead | kWrite;
  EXPECT_EQ(format_maps_line(anon), "7f2718ede000-7f2718fa2000 rw-p 00000000 00:00 0 ");
}

TEST(FormatMapsLineTest, PadsNumbersToTheirMinimumWidths) {
  Vma low;
  low.start = 0x400000;
  low.end = 0x401000;
  low.perms = kRead | kExec | kShared;
  low.offset = 0x3;
  low.dev_major = 8;
  low.dev_minor = 0x1;
  low.inode = 7;
  low.name = "/bin/x";
  std::string line = format_maps_line(low);
  EXPECT_EQ(line.substr(0, 41), "00400000-00401000 r-xs 00000003 08:01 7  ");
  EXPECT_EQ(line.find("/bin/x"), kMapsNameColumn);
  EXPECT_EQ(line.size(), kMapsNameColumn + 6);
}

TEST(FormatMapsLineTest, WideDevicesAndSixtyFourBitAddresses) {
  Vma vsyscall;
  vsyscall.start = 0xffffffffff600000;
  vsyscall.end = 0xffffffffff601000;
  vsyscall.perms = kExec;
  vsyscall.name = "[vsyscall]";
  EXPECT_EQ(format_maps_line(vsyscall),
            "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]");

  Vma nvme = vsyscall;
  nvme.dev_major = 259;
  nvme.dev_minor = 0xfffff;
  EXPECT_NE(format_maps_line(nvme).find(" 103:fffff 0 "), std::string::npos);
}

TEST(FormatMapsLineTest, LongPrefixGetsTwoSpacesBeforeTheName) {
  // seq_pad() has nothing left to pad but still writes its separator, after the space
  // that ends the inode column.
  Vma vma;
  vma.start = 0xffffffffff600000;
  vma.end = 0xffffffffff601000;
  vma.perms = kRead;
  vma.offset = 0x123456789abcdef0;
  vma.dev_major = 0x103;
  vma.dev_minor = 0xfffff;
  vma.inode = UINT64_MAX;
  vma.name = "/x";
  EXPECT_EQ(format_maps_line(vma),
            "ffffffffff600000-ffffffffff601000 r--p 123456789abcdef0 103:fffff "
            "18446744073709551615  /x");
}

// Reads this process's real maps lines and splits each with sscanf (independently of the
// procfs parser), so the formatter is checked against the kernel byte for byte.
TEST(FormatMapsLineTest, ReproducesRealProcSelfMapsLines) {
  std::ifstream maps("/proc/self/maps");
  ASSERT_TRUE(maps.good());
  std::string line;
  int checked = 0, named = 0, unnamed = 0;
  while (std::getline(maps, line)) {
    Vma vma;
    char perms[5] = {};
    unsigned major = 0, minor = 0;
    int name_at = -1;
    ASSERT_EQ(
        std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n",
                    &vma.start, &vma.end, perms, &vma.offset, &major, &minor, &vma.inode, &name_at),
        7)
        << line;
    vma.dev_major = major;
    vma.dev_minor = minor;
    auto parsed_perms = parse_perms(perms);
    ASSERT_TRUE(parsed_perms.has_value()) << line;
    vma.perms = *parsed_perms;
    if (name_at >= 0 && static_cast<size_t>(name_at) < line.size()) {
      vma.name = line.substr(static_cast<size_t>(name_at));
    }
    (vma.name.empty() ? unnamed : named)++;
    EXPECT_EQ(format_maps_line(vma), line);
    ++checked;
  }
  EXPECT_GT(checked, 5);
  EXPECT_GT(named, 0);
  EXPECT_GT(unnamed, 0) << "expected at least one anonymous mapping (e.g. .bss/malloc arena)";
}

}  // namespace
}  // namespace maptrail::model
