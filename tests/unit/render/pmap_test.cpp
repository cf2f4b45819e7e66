// pmap rendering, checked three ways: hand-written expectations for edge cases and for our
// documented deviations; the synthetic fixture in tests/data/pmap against outputs the real
// pmap printed for it; and live processes (this one, a child with every kind of mapping, a
// python3, a zombie, a kernel thread) against /usr/bin/pmap run on the same state. Real
// pmap sees exactly our snapshot when we are root: it runs in a private mount namespace
// with our copies of maps/smaps bind-mounted over /proc/PID/* (Pss otherwise moves while
// pmap itself maps libc). Without root only modes that cannot change are compared live.
#include "render/pmap.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "procfs/maps.h"
#include "procfs/process.h"
#include "procfs/smaps.h"

namespace maptrail::render {
namespace {

using model::Vma;
using procfs::SmapsData;
using namespace std::string_literals;

constexpr const char* kPmap = "/usr/bin/pmap";
const std::string kDataDir = MAPTRAIL_TEST_DATA_DIR "/pmap/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spill(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = std::min(text.find('\n', begin), text.size());
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

// Where two outputs part: the first differing line of each, so a failure stays readable.
std::string first_difference(const std::string& ours, const std::string& theirs) {
  auto a = lines_of(ours), b = lines_of(theirs);
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    std::string x = i < a.size() ? a[i] : "<none>", y = i < b.size() ? b[i] : "<none>";
    if (x != y) return fmt::format("line {}:\n ours: [{}]\n pmap: [{}]", i + 1, x, y);
  }
  return ours == theirs ? "identical" : "differ only in the final newline";
}

#define EXPECT_SAME_OUTPUT(ours, theirs, label) \
  EXPECT_TRUE((ours) == (theirs)) << (label) << ": " << first_difference((ours), (theirs))

Vma vma(uint64_t start, uint64_t end, const char* perms, uint64_t offset, uint32_t major,
        uint32_t minor, uint64_t inode, std::string name) {
  Vma v;
  v.start = start;
  v.end = end;
  v.perms = *model::parse_perms(perms);
  v.offset = offset;
  v.dev_major = major;
  v.dev_minor = minor;
  v.inode = inode;
  v.name = std::move(name);
  return v;
}

PmapProcess process_named(std::string cmdline, uint64_t start_stack = 0) {
  PmapProcess p;
  p.tgid = 4242;
  p.cmdline = std::move(cmdline);
  p.comm = "app";
  p.state = 'S';
  p.start_stack = start_stack;
  return p;
}

PmapOptions mode(PmapOptions::Mode m, bool quiet = false, bool show_path = false) {
  PmapOptions o;
  o.mode = m;
  o.quiet = quiet;
  o.show_path = show_path;
  o.shm_minor = 1;
  return o;
}

// Smaps blocks with the given Rss and Private_Dirty for each VMA (Shared_Dirty 0).
SmapsData smaps_for(const std::vector<Vma>& vmas,
                    std::vector<std::pair<uint64_t, uint64_t>> rss_dirty) {
  SmapsData data;
  for (size_t i = 0; i < vmas.size(); ++i) {
    procfs::SmapsEntry entry;
    entry.vma = vmas[i];
    auto add = [&](std::string key, uint64_t n) {
      entry.fields.push_back(procfs::SmapsField{std::move(key), std::to_string(n), n});
    };
    add("Size", vmas[i].size() >> 10);
    add("Rss", rss_dirty[i].first);
    add("Shared_Dirty", 0);
    add("Private_Dirty", rss_dirty[i].second);
    add("Swap", 0);
    entry.vm_flags = "rd mr mw me ";
    data.entries.push_back(std::move(entry));
  }
  return data;
}

// ---------------------------------------------------------------------------------------
// Title line (spec §2)

TEST(PmapTitleTest, CommandLineFoldingAndEscaping) {
  PmapProcess p = process_named(
      "a\tb\nc\x01"
      "d\0\xc3\xa9\0\xff\xfe tail\x7f\0"s);
  EXPECT_EQ(pmap_command_text(p, true), "a?b c?d é ?? tail.");  // spec §2, verified
  EXPECT_EQ(pmap_command_text(p, false), "a.b c.d ?? ?? tail.");
  EXPECT_EQ(render_pmap_title(p, mode(PmapOptions::kDefault)), "4242:   a?b c?d é ?? tail.\n");

  EXPECT_EQ(pmap_command_text(process_named("sleep\0"
                                            "1000\0"s),
                              true),
            "sleep 1000");
  EXPECT_EQ(pmap_command_text(process_named("\0\0"s), true), "?");
  // setproctitle() style: no trailing NUL, so a last space is cut, but only that one.
  EXPECT_EQ(pmap_command_text(process_named("nginx: worker  "), true), "nginx: worker ");
  EXPECT_EQ(pmap_command_text(process_named("x\n"), true), "x");
  EXPECT_EQ(pmap_command_text(process_named("a \0"s), true), "a ");
  // A lead byte announcing more bytes than are left switches to the C rule from there.
  EXPECT_EQ(pmap_command_text(process_named("ok\x01\xe2\x82"), true), "ok???");
  EXPECT_EQ(pmap_command_text(process_named("\xe2\x82\xac\x01"), true), "\xe2\x82\xac?");
  EXPECT_EQ(pmap_command_text(process_named(std::string(200000, 'a')), true).size(),
            procfs::kPmapCmdlineMax);
}

TEST(PmapTitleTest, KernelThreadsAndZombiesShowTheirComm) {
  PmapProcess kthread = process_named("");
  kthread.tgid = 2;
  kthread.comm = "kthreadd";
  EXPECT_EQ(render_pmap_title(kthread, mode(PmapOptions::kDefault)), "2:   [kthreadd]\n");
  PmapProcess zombie = process_named("");
  zombie.comm = "py\tthon3";
  zombie.state = 'Z';
  EXPECT_EQ(pmap_command_text(zombie, true), "[py?thon3] <defunct>");
  EXPECT_EQ(pmap_command_text(zombie, false), "[py.thon3] <defunct>");
}

// ---------------------------------------------------------------------------------------
// Columns shared by default, -x and -d (spec §3)

TEST(PmapColumnsTest, ModeColumn) {
  EXPECT_EQ(pmap_mode(*model::parse_perms("r-xp")), "r-x--");
  EXPECT_EQ(pmap_mode(*model::parse_perms("rw-s")), "rw-s-");
  EXPECT_EQ(pmap_mode(*model::parse_perms("---p")), "-----");
  EXPECT_EQ(pmap_mode(*model::parse_perms("rwxs")), "rwxs-");
  EXPECT_EQ(pmap_mode(*model::parse_perms("--xp")), "--x--");
}

TEST(PmapColumnsTest, MappingNames) {
  auto name = [](std::string n, bool path = false, uint32_t major = 0xfe, uint32_t minor = 0,
                 std::optional<uint32_t> shm = 1) {
    return pmap_mapping_name(vma(0x1000, 0x2000, "r--p", 0, major, minor, 33, std::move(n)), 0,
                             path, shm);
  };
  EXPECT_EQ(name("/usr/lib/x86_64-linux-gnu/libc.so.6"), "libc.so.6");
  EXPECT_EQ(name("/usr/lib/x86_64-linux-gnu/libc.so.6", true),
            "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(name("/tmp/x (deleted)"), "x (deleted)");
  EXPECT_EQ(name("/memfd:my memfd (deleted)", false, 0, 1), "memfd:my memfd (deleted)");
  EXPECT_EQ(name("/a b/file name.bin"), "file name.bin");
  EXPECT_EQ(name("/a b/file name.bin", true), "/a b/file name.bin");
  EXPECT_EQ(name("[anon:foo/bar]"), "bar]");
  EXPECT_EQ(name("[anon:foo/bar]", true), "/bar]");
  EXPECT_EQ(name("/weird/dir/"), "/");
  EXPECT_EQ(name("/weird/dir/", true), "/weird/dir/");
  EXPECT_EQ(name("/tmp/caf\xc3\xa9\tx\\012y"), "caf???x\\012y");
  EXPECT_EQ(name("[heap]"), "  [ anon ]");
  EXPECT_EQ(name("[vsyscall]", true), "  [ anon ]");
  EXPECT_EQ(name("[anon:jit cache]"), "  [ anon ]");
  EXPECT_EQ(name(""), "  [ anon ]");
  // SysV: the inode is the shmid, whatever the key; only on the shm device.
  EXPECT_EQ(name("/SYSV0001e240 (deleted)", false, 0, 1), "  [ shmid=0x21 ]");
  EXPECT_EQ(name("/memfd:a/SYSVx (deleted)", true, 0, 1), "  [ shmid=0x21 ]");
  EXPECT_EQ(name("/SYSV00000000 (deleted)", false, 0, 2), "SYSV00000000 (deleted)");
  EXPECT_EQ(name("/SYSV00000000 (deleted)", false, 0, 1, std::nullopt), "SYSV00000000 (deleted)");
  EXPECT_EQ(name("/home/SYSV/x", false, 0xfe, 1), "x");

  // start_stack labels every unnamed mapping holding it, both ends inclusive.
  Vma below = vma(0x7000, 0x8000, "rw-p", 0, 0, 0, 0, "");
  Vma stack = vma(0x8000, 0x9000, "rw-p", 0, 0, 0, 0, "[stack]");
  EXPECT_EQ(pmap_mapping_name(below, 0x8000, false, 1), "  [ stack ]");
  EXPECT_EQ(pmap_mapping_name(stack, 0x8000, false, 1), "  [ stack ]");
  EXPECT_EQ(pmap_mapping_name(stack, 0x9000, false, 1), "  [ stack ]");
  EXPECT_EQ(pmap_mapping_name(stack, 0x9001, false, 1), "  [ anon ]");
  EXPECT_EQ(pmap_mapping_name(below, 0x6fff, false, 1), "  [ anon ]");
}

TEST(PmapRangeTest, ParsesLikePmap) {
  using Range = std::pair<uint64_t, uint64_t>;
  auto range = [](std::string_view arg) {
    auto r = parse_pmap_range(arg);
    return r.ok() ? std::optional<Range>(*r) : std::nullopt;
  };
  EXPECT_EQ(range("7f00,7fff"), Range(0x7f00, 0x7fff));
  EXPECT_EQ(range("0x7f00,0X7FFF"), Range(0x7f00, 0x7fff));
  EXPECT_EQ(range("7f00,"), Range(0x7f00, UINT64_MAX));
  EXPECT_EQ(range(",7fff"), Range(0, 0x7fff));
  EXPECT_EQ(range("1000"), Range(0x1000, 0x1000));
  EXPECT_EQ(range(","), Range(0, UINT64_MAX));
  EXPECT_EQ(range("ffffffffffffffffff"), Range(UINT64_MAX, UINT64_MAX));  // saturates
  for (const char* bad : {"x", "12g", "0x", "1,2,3", "1 ,2"})
    EXPECT_EQ(range(bad), std::nullopt) << bad;
  auto error = parse_pmap_range("zz");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().message, "failed to parse argument: 'zz'");
}

// ---------------------------------------------------------------------------------------
// Whole outputs on small fixed inputs

TEST(PmapRenderTest, EmptyAddressSpaceInEveryMode) {
  PmapProcess p = process_named("");
  p.comm = "kworker/0:1";
  SmapsData empty;
  const std::string title = "4242:   [kworker/0:1]\n";
  EXPECT_EQ(render_pmap(p, {}, nullptr, mode(PmapOptions::kDefault)),
            title + " total                0K\n");
  EXPECT_EQ(render_pmap(p, {}, nullptr, mode(PmapOptions::kDefault, true)), title);
  EXPECT_EQ(render_pmap(p, {}, &empty, mode(PmapOptions::kExtended)),
            title +
                "Address           Kbytes     RSS   Dirty Mode  Mapping\n"
                "---------------- ------- ------- ------- \n"
                "total kB               0       0       0\n");
  EXPECT_EQ(render_pmap(p, {}, nullptr, mode(PmapOptions::kDevice)),
            title +
                "Address           Kbytes Mode  Offset           Device    Mapping\n"
                "mapped: 0K    writeable/private: 0K    shared: 0K\n");
  EXPECT_EQ(render_pmap(p, {}, &empty, mode(PmapOptions::kMoreExtended)), title);
  EXPECT_EQ(render_pmap(p, {}, &empty, mode(PmapOptions::kAll)), title);
}

TEST(PmapRenderTest, UnreadableSmapsGivesOnlyTheTitle) {
  std::vector<Vma> vmas = {vma(0x1000, 0x2000, "r--p", 0, 0xfe, 0, 5, "/bin/x")};
  PmapProcess p = process_named("x\0"s);
  for (auto m : {PmapOptions::kExtended, PmapOptions::kMoreExtended, PmapOptions::kAll}) {
    EXPECT_EQ(render_pmap(p, vmas, nullptr, mode(m)), "4242:   x\n");
  }
  EXPECT_EQ(render_pmap(p, vmas, nullptr, mode(PmapOptions::kDefault)),
            "4242:   x\n0000000000001000      4K r---- x\n total                4K\n");
}

TEST(PmapRenderTest, SizesTruncateAndWidthsAreMinimums) {
  std::vector<Vma> vmas = {
      vma(0x10000, 0x10000 + 7600, "rw-p", 0, 0, 0, 0, ""),  // synthetic, not page aligned
      vma(0x100000000, 0x100000000 + (2ull << 40), "rw-p", 0, 0, 0, 0, ""),
  };
  EXPECT_EQ(render_pmap(process_named("x\0"s), vmas, nullptr, mode(PmapOptions::kDefault)),
            "4242:   x\n"
            "0000000000010000      7K rw---   [ anon ]\n"
            "0000000100000000 2147483648K rw---   [ anon ]\n"
            " total       2147483655K\n");
}

TEST(PmapRenderTest, DeviceColumnsWithHugeOffsetsAndWideDevices) {
  std::vector<Vma> vmas = {
      vma(0x7f0000500000, 0x7f0000501000, "r--s", 0xfffffffffffff000, 0x103, 0x1a3f5,
          18446744073709551615ull, "/data/big file.img"),
      vma(0x7f0000600000, 0x7f0000602000, "rw-p", 0, 0, 0, 0, "[anon:x]"),
  };
  EXPECT_EQ(render_pmap(process_named("x\0"s), vmas, nullptr, mode(PmapOptions::kDevice)),
            "4242:   x\n"
            "Address           Kbytes Mode  Offset           Device    Mapping\n"
            "00007f0000500000       4 r--s- fffffffffffff000 103:1a3f5 big file.img\n"
            "00007f0000600000       8 rw--- 0000000000000000 000:00000   [ anon ]\n"
            "mapped: 12K    writeable/private: 8K    shared: 4K\n");
}

// Deviation 1: a name long enough to give a maps line of 1023 bytes or more prints once,
// whole, with no phantom row, and counts once.
TEST(PmapRenderTest, LongNamesPrintOnceAndWhole) {
  std::string dir = "/data/" + std::string(900, 'd');
  std::string exact = dir + "/" + std::string(950 - dir.size() - 1, 'f');  // line of 1023
  std::string longer = dir + "/" + std::string(200, 'T');
  std::vector<Vma> vmas = {vma(0x7f0000000000, 0x7f0000001000, "r--s", 0, 0xfe, 0, 7, exact),
                           vma(0x7f0000001000, 0x7f0000003000, "r--p", 0, 0xfe, 0, 8, longer)};
  ASSERT_EQ(model::format_maps_line(vmas[0]).size(), 1023u);
  std::string base_exact(exact.substr(dir.size() + 1)), base_longer(200, 'T');
  PmapProcess p = process_named("x\0"s);
  EXPECT_EQ(render_pmap(p, vmas, nullptr, mode(PmapOptions::kDefault)),
            "4242:   x\n"
            "00007f0000000000      4K r--s- " +
                base_exact +
                "\n"
                "00007f0000001000      8K r---- " +
                base_longer +
                "\n"
                " total               12K\n");
  EXPECT_EQ(render_pmap(p, vmas, nullptr, mode(PmapOptions::kDevice, true, true)),
            "4242:   x\n"
            "00007f0000000000       4 r--s- 0000000000000000 0fe:00000 " +
                exact +
                "\n"
                "00007f0000001000       8 r---- 0000000000000000 0fe:00000 " +
                longer + "\n");
  SmapsData smaps = smaps_for(vmas, {{4, 0}, {8, 4}});
  EXPECT_EQ(render_pmap(p, vmas, &smaps, mode(PmapOptions::kExtended)),
            "4242:   x\n"
            "Address           Kbytes     RSS   Dirty Mode  Mapping\n"
            "00007f0000000000       4       4       0 r--s- " +
                base_exact +
                "\n"
                "00007f0000001000       8       8       4 r---- " +
                base_longer +
                "\n"
                "---------------- ------- ------- ------- \n"
                "total kB              12      12       4\n");
  // Deviation 2: -X does not cut the name at 127 bytes before taking its basename.
  EXPECT_EQ(render_pmap(p, vmas, &smaps, mode(PmapOptions::kMoreExtended, true)),
            "4242:   x\n"
            "7f0000000000 r--s 00000000 fe:00 7 4 4 0 " +
                base_exact +
                "\n"
                "7f0000001000 r--p 00000000 fe:00 8 8 8 0 " +
                base_longer + "\n");
  EXPECT_EQ(render_pmap(p, vmas, &smaps, mode(PmapOptions::kMoreExtended, true, true)),
            "4242:   x\n"
            "7f0000000000 r--s 00000000 fe:00 7 4 4 0 " +
                exact +
                "\n"
                "7f0000001000 r--p 00000000 fe:00 8 8 8 0 " +
                longer + "\n");
}

// Deviation 3: -x -A totals cover the rows shown, RSS and Dirty as well as Kbytes.
TEST(PmapRenderTest, ExtendedRangeTotalsCoverTheShownRows) {
  std::vector<Vma> vmas = {vma(0x1000, 0x3000, "r--p", 0, 0xfe, 0, 5, "/bin/x"),
                           vma(0x3000, 0x4000, "rw-p", 0, 0, 0, 0, "[heap]"),
                           vma(0x8000, 0x9000, "rw-p", 0, 0, 0, 0, "")};
  SmapsData smaps = smaps_for(vmas, {{8, 0}, {4, 4}, {4, 4}});
  PmapOptions o = mode(PmapOptions::kExtended);
  o.range = std::pair<uint64_t, uint64_t>(0x3000, 0x7fff);
  EXPECT_EQ(render_pmap(process_named("x\0"s), vmas, &smaps, o),
            "4242:   x\n"
            "Address           Kbytes     RSS   Dirty Mode  Mapping\n"
            "0000000000003000       4       4       4 rw---   [ anon ]\n"
            "---------------- ------- ------- ------- \n"
            "total kB               4       4       4\n");
}

// Deviation 5: -A applies to -X/-XX; a range holding nothing prints just the title, and
// widths come from the shown rows only.
TEST(PmapRenderTest, MoreExtendedHonoursTheRange) {
  std::vector<Vma> vmas = {vma(0x1000, 0x3000, "r--p", 0, 0xfe, 0, 123456, "/bin/x"),
                           vma(0x7f0000003000, 0x7f0000004000, "rw-p", 0, 0, 0, 0, "[heap]")};
  SmapsData smaps = smaps_for(vmas, {{8, 0}, {4, 4}});
  PmapOptions o = mode(PmapOptions::kMoreExtended);
  o.range = std::pair<uint64_t, uint64_t>(0x5000, 0x6000);
  EXPECT_EQ(render_pmap(process_named("x\0"s), vmas, &smaps, o), "4242:   x\n");
  o.range = std::pair<uint64_t, uint64_t>(0x7f0000003000, 0x7f0000003000);
  EXPECT_EQ(render_pmap(process_named("x\0"s), vmas, &smaps, o),
            "4242:   x\n"
            "     Address Perm   Offset Device Inode Size Rss Swap Mapping\n"
            "7f0000003000 rw-p 00000000  00:00     0    4   4    0 [heap]\n"
            "                                        ==== === ==== \n"
            "                                           4   4    0 KB \n");
}

// Deviation 7: a VMA smaps knows nothing about gets blank counters and adds nothing.
TEST(PmapRenderTest, VmaMissingFromSmapsGetsBlankCounters) {
  std::vector<Vma> vmas = {vma(0x1000, 0x3000, "r--p", 0, 0xfe, 0, 5, "/bin/x"),
                           vma(0x3000, 0x4000, "rw-p", 0, 0, 0, 0, "")};
  SmapsData smaps = smaps_for({vmas[0]}, {{8, 0}});
  smaps.entries[0].vm_flags = "rd mr mw me 9x";  // pmap reads flags as [a-z ]
  PmapProcess p = process_named("x\0"s);
  EXPECT_EQ(render_pmap(p, vmas, &smaps, mode(PmapOptions::kExtended)),
            "4242:   x\n"
            "Address           Kbytes     RSS   Dirty Mode  Mapping\n"
            "0000000000001000       8       8       0 r---- x\n"
            "0000000000003000       4                 rw---   [ anon ]\n"
            "---------------- ------- ------- ------- \n"
            "total kB              12       8       0\n");
  // Fixed widths 8+4+8+6+5 plus a space each put the underline at column 36; the blank row
  // pads Size, Rss, Shared_Dirty, Private_Dirty, Swap and VmFlags (11 wide) and an empty name.
  EXPECT_EQ(render_pmap(p, vmas, &smaps, mode(PmapOptions::kAll)),
            "4242:   x\n"
            " Address Perm   Offset Device Inode Size Rss Shared_Dirty Private_Dirty Swap     "
            "VmFlags Mapping\n"
            "00001000 r--p 00000000  fe:00     5    8   8            0             0    0 "
            "rd mr mw me x\n"
            "00003000 rw-p 00000000  00:00     0" +
                std::string(5 + 4 + 13 + 14 + 5 + 12 + 1, ' ') + "\n" + std::string(36, ' ') +
                "==== === ============ ============= ==== \n" + std::string(36, ' ') +
                "   8   8            0             0    0 KB \n");
}

// ---------------------------------------------------------------------------------------
// The synthetic fixture: outputs the real pmap printed for it (tests/data/pmap/README.md)

struct Fixture {
  PmapProcess process;
  std::vector<Vma> vmas;
  SmapsData smaps;
};

Fixture load_fixture() {
  Fixture f;
  auto process = procfs::parse_pmap_process(slurp(kDataDir + "synthetic.status"),
                                            slurp(kDataDir + "synthetic.stat"),
                                            slurp(kDataDir + "synthetic.cmdline"));
  EXPECT_TRUE(process.ok()) << process.error().message;
  if (process) f.process = *process;
  auto vmas = procfs::parse_maps(slurp(kDataDir + "synthetic.maps"));
  EXPECT_TRUE(vmas.ok()) << vmas.error().message;
  if (vmas) f.vmas = *vmas;
  auto smaps = procfs::parse_smaps(slurp(kDataDir + "synthetic.smaps"));
  EXPECT_TRUE(smaps.ok()) << smaps.error().message;
  if (smaps) f.smaps = *smaps;
  return f;
}

struct FixtureCase {
  const char* file;  // synthetic.<file>.out
  PmapOptions::Mode mode;
  bool quiet, show_path;
  std::optional<std::pair<uint64_t, uint64_t>> range;
};

const std::pair<uint64_t, uint64_t> kFixtureRange{0x7f0000200800, 0x7f0000402000};

std::vector<FixtureCase> fixture_cases() {
  using M = PmapOptions;
  return {
      {"default", M::kDefault, false, false, {}},
      {"q", M::kDefault, true, false, {}},
      {"p", M::kDefault, false, true, {}},
      {"d", M::kDevice, false, false, {}},
      {"dq", M::kDevice, true, false, {}},
      {"dp", M::kDevice, false, true, {}},
      {"x", M::kExtended, false, false, {}},
      {"xq", M::kExtended, true, false, {}},
      {"xp", M::kExtended, false, true, {}},
      {"X", M::kMoreExtended, false, false, {}},
      {"Xq", M::kMoreExtended, true, false, {}},
      {"Xp", M::kMoreExtended, false, true, {}},
      {"XX", M::kAll, false, false, {}},
      {"XXq", M::kAll, true, false, {}},
      {"XXp", M::kAll, false, true, {}},
      {"A", M::kDefault, false, false, kFixtureRange},
      {"dA", M::kDevice, false, false, kFixtureRange},
      {"qA", M::kDefault, true, false, kFixtureRange},
      {"A-stack", M::kDefault, false, false,
       std::pair<uint64_t, uint64_t>(0x7ffd00020000, 0x7ffd00020000)},
      {"A-open", M::kDefault, false, false,
       std::pair<uint64_t, uint64_t>(0x7ffd00031000, UINT64_MAX)},
      // Deviations 3 and 5: what pmap prints for a process holding only the range.
      {"xA", M::kExtended, false, false, kFixtureRange},
      {"XA", M::kMoreExtended, false, false, kFixtureRange},
      {"XXqA", M::kAll, true, false, kFixtureRange},
  };
}

TEST(PmapFixtureTest, MatchesRealPmapOutputs) {
  Fixture f = load_fixture();
  ASSERT_EQ(f.vmas.size(), 24u);
  for (const FixtureCase& c : fixture_cases()) {
    PmapOptions o = mode(c.mode, c.quiet, c.show_path);
    o.range = c.range;
    std::string expected = slurp(kDataDir + "synthetic." + c.file + ".out");
    ASSERT_FALSE(expected.empty()) << c.file;
    std::string ours = render_pmap(f.process, f.vmas, &f.smaps, o);
    EXPECT_SAME_OUTPUT(ours, expected, c.file);
  }
}

// ---------------------------------------------------------------------------------------
// Running the real pmap

// True when we may give pmap a private mount namespace with our snapshot bind-mounted.
bool can_freeze() {
  static const bool can = [] {
    if (::geteuid() != 0 || ::access(kPmap, X_OK) != 0) return false;
    pid_t child = ::fork();
    if (child == 0) {
      bool ok = ::unshare(CLONE_NEWNS) == 0 &&
                ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
      ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    return child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
  }();
  return can;
}

class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/maptrail-pmap-XXXXXX";
    path_ = ::mkdtemp(templ) ? templ : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// /proc files (e.g. "1234/smaps") replaced by the given texts for the pmap run.
using Frozen = std::vector<std::pair<std::string, std::string>>;

struct PmapRun {
  std::string out, err;
  int status = -1;
};

PmapRun run_pmap(const std::vector<std::string>& args, const Frozen& frozen = {},
                 const char* locale = "C.UTF-8") {
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> mounts;  // source, target
  for (size_t i = 0; i < frozen.size(); ++i) {
    std::string source = fmt::format("{}/frozen{}", dir.path(), i);
    spill(source, frozen[i].second);
    mounts.emplace_back(source, "/proc/" + frozen[i].first);
  }
  std::string out_path = dir.path() + "/out", err_path = dir.path() + "/err";
  std::vector<std::string> argv_storage = {kPmap};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string lc_all = std::string("LC_ALL=") + locale;
  std::string path_env = "PATH=/usr/bin:/bin";
  char* envp[] = {lc_all.data(), path_env.data(), nullptr};

  // Only system calls between fork and exec.
  pid_t child = ::fork();
  if (child == 0) {
    if (!mounts.empty()) {
      if (::unshare(CLONE_NEWNS) != 0) ::_exit(120);
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(121);
      for (auto& [source, target] : mounts) {
        if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) ::_exit(122);
      }
    }
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(123);
    ::execve(kPmap, argv.data(), envp);
    ::_exit(127);
  }
  PmapRun run;
  if (child < 0) return run;
  ::waitpid(child, &run.status, 0);
  run.out = slurp(out_path);
  run.err = slurp(err_path);
  return run;
}

// One consistent picture of a process: maps (our stand-in for the model), smaps whose
// headers are the same VMAs, and the title facts.
struct Snapshot {
  pid_t pid = 0;
  std::string maps_text, smaps_text;
  std::vector<Vma> vmas;
  SmapsData smaps;
  PmapProcess process;
};

// Reads a /proc file into `buffer` without allocating: reading our own maps must not be
// what changes them (large std::string growth is an mmap). False when it does not fit.
bool read_into_reserved(const std::string& path, std::string& buffer) {
  buffer.resize(buffer.capacity());
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t used = 0;
  ssize_t got = 0;
  while (used < buffer.size() &&
         (got = ::read(fd, buffer.data() + used, buffer.size() - used)) > 0) {
    used += static_cast<size_t>(got);
  }
  ::close(fd);
  buffer.resize(used);
  return got == 0 && used < buffer.capacity();
}

// Reads maps, smaps and maps again until the three agree (a stopped process agrees at
// once); the VMAs, our stand-in for the model, are what procfs::read_maps parses.
std::optional<Snapshot> snapshot(pid_t pid) {
  const std::string maps_path = fmt::format("/proc/{}/maps", pid);
  const std::string smaps_path = fmt::format("/proc/{}/smaps", pid);
  std::string maps_text, smaps_text, maps_again;
  maps_text.reserve(4 << 20);
  maps_again.reserve(4 << 20);
  smaps_text.reserve(32 << 20);
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (!read_into_reserved(maps_path, maps_text) || !read_into_reserved(smaps_path, smaps_text) ||
        !read_into_reserved(maps_path, maps_again)) {
      return std::nullopt;
    }
    if (maps_text != maps_again) continue;
    auto vmas = procfs::parse_maps(maps_text);
    auto smaps = procfs::parse_smaps(smaps_text);
    if (!vmas || !smaps || smaps->entries.size() != vmas->size()) continue;
    bool same = true;
    for (size_t i = 0; i < vmas->size() && same; ++i) same = smaps->entries[i].vma == (*vmas)[i];
    if (!same) continue;
    auto process = procfs::read_pmap_process(pid);
    if (!process) return std::nullopt;
    Snapshot s;
    s.pid = pid;
    s.maps_text = maps_text;
    s.smaps_text = smaps_text;
    s.vmas = std::move(*vmas);
    s.smaps = std::move(*smaps);
    s.process = std::move(*process);
    return s;
  }
  return std::nullopt;
}

// The smaps text with only the blocks overlapping [lo, hi].
std::string trim_smaps(const std::string& text, uint64_t lo, uint64_t hi) {
  std::string out;
  bool keep = false;
  for (const std::string& line : lines_of(text)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        !std::isupper(static_cast<unsigned char>(line[0]))) {
      auto v = procfs::parse_maps_line(line);
      keep = v.ok() && v->end - 1 >= lo && v->start <= hi;
    }
    if (keep) out += line + "\n";
  }
  return out;
}

struct Variant {
  std::string label;
  std::vector<std::string> args;
  PmapOptions options;
  bool smaps_only_range = false;  // compare -A with pmap on smaps cut to the range
};

std::vector<Variant> variants(std::pair<uint64_t, uint64_t> range) {
  using M = PmapOptions;
  std::string a = fmt::format("{:x},{:x}", range.first, range.second);
  std::vector<Variant> v;
  auto add = [&](std::vector<std::string> args, M::Mode m, bool quiet, bool path, bool ranged,
                 bool smaps_only_range = false) {
    PmapOptions o = mode(m, quiet, path);
    o.shm_minor = procfs::shm_minor();
    if (ranged) o.range = range;
    std::string label = "pmap";
    for (auto& x : args) label += " " + x;
    if (ranged && !smaps_only_range) {
      args.push_back("-A");
      args.push_back(a);
      label += " -A " + a;
    } else if (ranged) {
      label += " -A " + a + " (as pmap on smaps holding only the range)";
    }
    v.push_back(Variant{label, args, o, smaps_only_range});
  };
  add({}, M::kDefault, false, false, false);
  add({"-q"}, M::kDefault, true, false, false);
  add({"-p"}, M::kDefault, false, true, false);
  add({"-d"}, M::kDevice, false, false, false);
  add({"-d", "-q"}, M::kDevice, true, false, false);
  add({"-d", "-p"}, M::kDevice, false, true, false);
  add({"-x"}, M::kExtended, false, false, false);
  add({"-x", "-q"}, M::kExtended, true, false, false);
  add({"-x", "-p"}, M::kExtended, false, true, false);
  add({"-X"}, M::kMoreExtended, false, false, false);
  add({"-X", "-q"}, M::kMoreExtended, true, false, false);
  add({"-X", "-p"}, M::kMoreExtended, false, true, false);
  add({"-XX"}, M::kAll, false, false, false);
  add({"-XX", "-q"}, M::kAll, true, false, false);
  add({"-XX", "-p"}, M::kAll, false, true, false);
  add({}, M::kDefault, false, false, true);
  add({"-q", "-p"}, M::kDefault, true, true, true);
  add({"-d"}, M::kDevice, false, false, true);
  add({"-x"}, M::kExtended, false, false, true, true);
  add({"-X"}, M::kMoreExtended, false, false, true, true);
  add({"-XX", "-q"}, M::kAll, true, false, true, true);
  return v;
}

bool uses_smaps(const Variant& v) {
  return pmap_needs_smaps(v.options);
}
bool is_more_extended(const Variant& v) {
  return v.options.mode == PmapOptions::kMoreExtended || v.options.mode == PmapOptions::kAll;
}

std::string basename_or_path(std::string_view name, bool show_path) {
  if (show_path) return std::string(name.substr(name.find('/')));
  size_t slash = name.rfind('/');
  return std::string(slash == std::string_view::npos ? name : name.substr(slash + 1));
}

std::string printable(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

// Turns real pmap output into what we print instead, where the two differ only by the
// long-line bugs we do not reproduce (pmap.cpp deviations 1 and 2). The child's long names
// are plain file paths, so the right name is their basename or path.
// Counts the rows it changed in *fixed.
std::string without_long_line_bugs(std::string text, const Variant& v, const Snapshot& s,
                                   int* fixed) {
  auto lines = lines_of(text);
  const bool show_path = v.options.show_path;
  for (const Vma& vma : s.vmas) {
    std::string line = model::format_maps_line(vma);
    if (is_more_extended(v)) {
      if (vma.name.size() <= 127) continue;
      std::string cut = vma.name.substr(0, 127);
      std::string wrong = " " + (show_path ? cut : basename_or_path(cut, false));
      std::string right = " " + (show_path ? vma.name : basename_or_path(vma.name, false));
      std::string prefix = fmt::format("{:08x} ", vma.start);
      for (std::string& l : lines) {
        size_t begin = l.find_first_not_of(' ');
        if (begin != std::string::npos && l.compare(begin, prefix.size(), prefix) == 0 &&
            l.ends_with(wrong)) {
          l = l.substr(0, l.size() - wrong.size()) + right;
          ++*fixed;
        }
      }
      continue;
    }
    if (line.size() < 1023) continue;
    std::string prefix = fmt::format("{:016x} ", vma.start);
    auto row = std::find_if(lines.begin(), lines.end(),
                            [&](const std::string& l) { return l.starts_with(prefix); });
    if (row == lines.end()) continue;  // outside the range
    std::string right = printable(basename_or_path(vma.name, show_path));
    if (line.size() == 1023) {
      // The second fgets piece is just "\n": default and -d print it as a phantom row,
      // -x names the real row after it.
      if (v.options.mode == PmapOptions::kExtended) {
        EXPECT_TRUE(row->ends_with("  [ anon ]")) << *row;
        if (row->ends_with("  [ anon ]")) {
          *row = row->substr(0, row->size() - 10) + right;
          ++*fixed;
        }
      } else {
        auto phantom = row + 1;
        EXPECT_TRUE(phantom != lines.end() && phantom->starts_with(prefix) &&
                    phantom->ends_with(" [ anon ]"));
        if (phantom != lines.end()) {
          lines.erase(phantom);
          ++*fixed;
        }
      }
    } else {
      // The child names these so the tail after 1023 bytes starts with a capital, which
      // pmap skips as an smaps key, and is too short to reach the name in pmap's buffer:
      // only the name is cut.
      size_t prefix_length = line.size() - vma.name.size();
      EXPECT_TRUE(std::isupper(static_cast<unsigned char>(line[1023]))) << line;
      std::string cut = vma.name.substr(0, 1023 - prefix_length);
      std::string wrong = printable(basename_or_path(cut, show_path));
      EXPECT_TRUE(row->ends_with(" " + wrong)) << *row;
      if (row->ends_with(" " + wrong)) {
        *row = row->substr(0, row->size() - wrong.size()) + right;
        ++*fixed;
      }
    }
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// Compares our render of the snapshot with the real pmap for every variant. With
// `frozen`, pmap reads our copies of maps and smaps; otherwise it reads the live process
// and only modes without Pss (which moves as pmap maps libc) are compared.
// Returns how many rows of pmap's output were long-line bugs we corrected for.
int compare_with_pmap(const Snapshot& s, const std::vector<Variant>& vs, bool frozen,
                      const std::string& what) {
  int compared = 0, fixed = 0;
  for (const Variant& v : vs) {
    if (!frozen && (is_more_extended(v) || v.smaps_only_range)) continue;
    std::string smaps_text = s.smaps_text;
    if (v.smaps_only_range)
      smaps_text = trim_smaps(smaps_text, v.options.range->first, v.options.range->second);
    Frozen files;
    if (frozen) {
      files = {{fmt::format("{}/maps", s.pid), s.maps_text},
               {fmt::format("{}/smaps", s.pid), smaps_text}};
    }
    std::vector<std::string> args = v.args;
    args.push_back(std::to_string(s.pid));
    PmapRun run = run_pmap(args, files);
    if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0) {
      ADD_FAILURE() << what << " " << v.label << ": status " << run.status << " " << run.err;
      continue;
    }
    std::string expected = without_long_line_bugs(run.out, v, s, &fixed);
    std::string ours = render_pmap(s.process, s.vmas, &s.smaps, v.options);
    EXPECT_SAME_OUTPUT(ours, expected, what + ", " + v.label);
    ++compared;
  }
  EXPECT_GT(compared, 0);
  return fixed;
}

// A forked child that builds mappings, says so through a pipe and waits to be killed.
class Child {
 public:
  template <class Setup>
  explicit Child(Setup setup) {
    int ready[2];
    if (::pipe(ready) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      int code = setup();
      if (::write(ready[1], &code, sizeof code) != sizeof code) ::_exit(1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    if (::read(ready[0], &setup_result_, sizeof setup_result_) != sizeof setup_result_) {
      setup_result_ = -1;
    }
    ::close(ready[0]);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  int setup_result() const { return setup_result_; }
  // Stops the child so nothing changes between our read and pmap's.
  bool stop() {
    int status = 0;
    return ::kill(pid_, SIGSTOP) == 0 && ::waitpid(pid_, &status, WUNTRACED) == pid_ &&
           WIFSTOPPED(status);
  }

 private:
  pid_t pid_ = -1;
  int setup_result_ = -1;
};

// A path of exactly `length` bytes under `base`, ending in `file`, directories created.
std::string long_path(const std::string& base, size_t length, const std::string& file) {
  std::string path = base;
  while (path.size() + 1 + file.size() < length) {
    size_t room = length - path.size() - 1 - file.size() - 1;  // minus this and the last '/'
    size_t component = std::min<size_t>(room, 200);
    if (room > 200 && room - 200 < 2) component = 150;  // leave room for one more "/x"
    path += "/" + std::string(component, 'd');
    ::mkdir(path.c_str(), 0700);
  }
  return path + "/" + file;
}

void* map_file(const std::string& path, size_t size, int prot, int flags, off_t offset = 0,
               bool unlink_after = false) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
  if (fd < 0) return MAP_FAILED;
  if (::ftruncate(fd, offset + static_cast<off_t>(size)) != 0) {
    ::close(fd);
    return MAP_FAILED;
  }
  void* p = ::mmap(nullptr, size, prot, flags, fd, offset);
  ::close(fd);
  if (unlink_after) ::unlink(path.c_str());
  return p;
}

// Every kind of mapping pmap names differently, plus names that trip its line buffer.
// Runs in the child; returns 0 or the number of the step that failed.
int build_mappings(const std::string& dir, std::vector<uint64_t>* starts) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto note = [&](void* p) {
    if (p != MAP_FAILED) starts->push_back(reinterpret_cast<uint64_t>(p));
    return p != MAP_FAILED;
  };
  if (!note(map_file(dir + "/file name.bin", 3 * page, PROT_READ, MAP_PRIVATE))) return 1;
  void* anon =
      ::mmap(nullptr, 16 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!note(anon)) return 2;
  std::memset(anon, 1, 3 * page);
  void* shared =
      ::mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (!note(shared)) return 3;
  std::memset(shared, 1, page);
  int memfd = ::memfd_create("my memfd", 0);
  if (memfd < 0 || ::ftruncate(memfd, 2 * page) != 0) return 4;
  void* mem = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (!note(mem)) return 4;
  std::memset(mem, 1, page);
  if (!note(map_file(dir + "/gone.bin", page, PROT_READ, MAP_PRIVATE, 0, true))) return 5;
  // Maps lines of exactly 1023 bytes (name of 950) and of 1073, whose 50-byte tail starts
  // with a capital; and a name over pmap -X's 127-byte cut. (A tail of 72 bytes or more
  // would also overwrite the part of pmap's buffer its -x -p row still points to.)
  if (!note(map_file(long_path(dir, 950, "exact.bin"), page, PROT_READ, MAP_PRIVATE))) return 6;
  if (!note(map_file(long_path(dir, 1000, std::string(200, 'T')), page, PROT_READ, MAP_PRIVATE)))
    return 7;
  if (!note(map_file(long_path(dir, 300, "medium.bin"), 2 * page, PROT_READ, MAP_PRIVATE)))
    return 8;
  int shm = ::shmget(IPC_PRIVATE, 2 * page, IPC_CREAT | 0600);
  if (shm >= 0) {
    void* seg = ::shmat(shm, nullptr, 0);
    ::shmctl(shm, IPC_RMID, nullptr);  // stays until detached, as "/SYSV... (deleted)"
    if (!note(seg == reinterpret_cast<void*>(-1) ? MAP_FAILED : seg)) return 9;
  }
  if (!note(map_file(dir + "/tab\there", page, PROT_READ, MAP_PRIVATE))) return 10;
  if (!note(map_file(dir + "/caf\xc3\xa9.bin", page, PROT_READ, MAP_PRIVATE))) return 11;
  if (!note(map_file(dir + "/new\nline.bin", page, PROT_READ, MAP_PRIVATE))) return 12;
  if (!note(::mmap(nullptr, 4 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))) return 13;
  void* rws = map_file(dir + "/shared rw.bin", 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED);
  if (!note(rws)) return 14;
  std::memset(rws, 1, page);
  if (!note(map_file(dir + "/sparse.bin", page, PROT_READ, MAP_PRIVATE, off_t(1) << 36))) return 15;
  if (!note(map_file(dir + "/SYSVlike", page, PROT_READ, MAP_SHARED))) return 16;
  return 0;
}

TEST(PmapRealTest, ChildWithEveryKindOfMapping) {
  if (::access(kPmap, X_OK) != 0) GTEST_SKIP() << "no " << kPmap;
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  int starts_pipe[2];
  ASSERT_EQ(::pipe(starts_pipe), 0);
  Child child([&] {
    std::vector<uint64_t> starts;
    int code = build_mappings(dir.path(), &starts);
    uint64_t n = starts.size();
    if (::write(starts_pipe[1], &n, sizeof n) < 0 ||
        ::write(starts_pipe[1], starts.data(), n * sizeof(uint64_t)) < 0) {
      return 99;
    }
    return code;
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_EQ(child.setup_result(), 0) << "mapping step failed";
  uint64_t n = 0;
  ASSERT_EQ(::read(starts_pipe[0], &n, sizeof n), ssize_t(sizeof n));
  std::vector<uint64_t> starts(n);
  ASSERT_EQ(::read(starts_pipe[0], starts.data(), n * sizeof(uint64_t)),
            ssize_t(n * sizeof(uint64_t)));
  ::close(starts_pipe[0]);
  ::close(starts_pipe[1]);
  ASSERT_TRUE(child.stop());

  auto s = snapshot(child.pid());
  ASSERT_TRUE(s.has_value());
  // The kinds the test is about are really there.
  auto has = [&](auto pred) { return std::any_of(s->vmas.begin(), s->vmas.end(), pred); };
  EXPECT_TRUE(has([](const Vma& v) { return v.name.ends_with("/gone.bin (deleted)"); }));
  EXPECT_TRUE(has([](const Vma& v) { return v.name == "/memfd:my memfd (deleted)"; }));
  EXPECT_TRUE(has([](const Vma& v) { return v.name == "/dev/zero (deleted)"; }));
  EXPECT_TRUE(has([](const Vma& v) { return v.name.ends_with("new\\012line.bin"); }));
  EXPECT_TRUE(has([](const Vma& v) { return model::format_maps_line(v).size() == 1023; }));
  EXPECT_TRUE(has([](const Vma& v) { return model::format_maps_line(v).size() > 1023; }));
  EXPECT_TRUE(has([](const Vma& v) { return v.offset == uint64_t(1) << 36; }));
  if (procfs::shm_minor()) {
    EXPECT_TRUE(has([](const Vma& v) { return v.name.starts_with("/SYSV"); }));
  }

  std::sort(starts.begin(), starts.end());
  auto range = std::pair<uint64_t, uint64_t>(starts[1] + 0x800, starts[starts.size() - 2]);
  auto all = variants(range);
  // Live first: the stopped child does not change, and Rss/Dirty do not depend on pmap.
  // The long names must really have tripped pmap: phantom rows, "[ anon ]" names and cut
  // names (two rows in each of the 9 unranged maps-and-x variants), and three cut names in
  // each of the 6 unranged -X/-XX variants when frozen.
  EXPECT_GE(compare_with_pmap(*s, all, false, "live child"), 2 * 9);
  if (!can_freeze()) {
    GTEST_SKIP() << "live modes matched; -X/-XX need root to show pmap our smaps snapshot";
  }
  EXPECT_GE(compare_with_pmap(*s, all, true, "frozen child"), 2 * 9 + 3 * 6);
}

TEST(PmapRealTest, ThisProcess) {
  if (::access(kPmap, X_OK) != 0) GTEST_SKIP() << "no " << kPmap;
  auto s = snapshot(::getpid());
  ASSERT_TRUE(s.has_value());
  ASSERT_GT(s->vmas.size(), 6u);
  auto range =
      std::pair<uint64_t, uint64_t>(s->vmas[2].start + 0x800, s->vmas[s->vmas.size() - 3].start);
  if (can_freeze()) {
    EXPECT_EQ(compare_with_pmap(*s, variants(range), true, "this process"), 0);
    return;
  }
  // Without root pmap reads us live: compare maps-only modes, again until we hold still.
  std::vector<Variant> maps_only;
  for (const Variant& v : variants(range)) {
    if (!uses_smaps(v)) maps_only.push_back(v);
  }
  auto process = procfs::read_pmap_process(::getpid());
  ASSERT_TRUE(process.ok());
  const std::string maps_path = fmt::format("/proc/{}/maps", ::getpid());
  std::string before, after;
  before.reserve(4 << 20);
  after.reserve(4 << 20);
  for (const Variant& v : maps_only) {
    std::vector<std::string> args = v.args;
    args.push_back(std::to_string(::getpid()));
    bool matched = false;
    std::string last;
    for (int attempt = 0; attempt < 10 && !matched; ++attempt) {
      if (!read_into_reserved(maps_path, before)) break;
      PmapRun run = run_pmap(args);
      if (!read_into_reserved(maps_path, after)) break;
      if (before != after) {
        last = "our mappings kept changing";
        continue;
      }
      auto vmas = procfs::parse_maps(before);
      ASSERT_TRUE(vmas.ok());
      std::string ours = render_pmap(*process, *vmas, nullptr, v.options);
      last = first_difference(ours, run.out);
      matched = ours == run.out;
    }
    EXPECT_TRUE(matched) << v.label << ": " << last;
  }
}

TEST(PmapRealTest, Python) {
  if (::access(kPmap, X_OK) != 0) GTEST_SKIP() << "no " << kPmap;
  std::string python;
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"}) {
    if (::access(p, X_OK) == 0) {
      python = p;
      break;
    }
  }
  if (python.empty()) GTEST_SKIP() << "no python3";
  int out[2], in[2];
  ASSERT_EQ(::pipe(out), 0);
  ASSERT_EQ(::pipe(in), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::close(in[1]);
    ::close(out[0]);
    ::execl(python.c_str(), "python3", "-c",
            "import sys, json, collections\nsys.stdout.write('ready\\n')\nsys.stdout.flush()\n"
            "sys.stdin.read()",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  ::close(in[0]);
  ::close(out[1]);
  char buffer[6] = {};
  bool ready = ::read(out[0], buffer, 6) == 6 && std::string(buffer, 6) == "ready\n";
  int status = 0;
  bool stopped = ready && ::kill(pid, SIGSTOP) == 0 && ::waitpid(pid, &status, WUNTRACED) == pid &&
                 WIFSTOPPED(status);
  std::optional<Snapshot> s;
  if (stopped) s = snapshot(pid);
  if (s) {
    auto range =
        std::pair<uint64_t, uint64_t>(s->vmas[3].start, s->vmas[s->vmas.size() - 4].end - 1);
    compare_with_pmap(*s, variants(range), false, "live python3");
    if (can_freeze()) compare_with_pmap(*s, variants(range), true, "frozen python3");
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::close(in[1]);
  ::close(out[0]);
  ASSERT_TRUE(ready && stopped && s.has_value());
}

// Several PIDs: default, -x and -d print each process as on its own; for -X we print what
// separate runs print (deviation 4), not 4.0.2's running totals.
TEST(PmapRealTest, SeveralProcesses) {
  if (::access(kPmap, X_OK) != 0) GTEST_SKIP() << "no " << kPmap;
  Child a([] { return 0; });
  Child b([] {
    void* p = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) std::memset(p, 1, 1 << 16);
    return p == MAP_FAILED ? 1 : 0;
  });
  ASSERT_TRUE(a.stop() && b.stop());
  auto sa = snapshot(a.pid()), sb = snapshot(b.pid());
  ASSERT_TRUE(sa && sb);
  const bool frozen = can_freeze();
  for (const Variant& v : variants({0, UINT64_MAX})) {
    if (!v.args.empty() && v.args.back() == "-A") continue;
    if (v.smaps_only_range || (!frozen && is_more_extended(v))) continue;
    Frozen files;
    if (frozen) {
      for (const Snapshot* s : {&*sa, &*sb}) {
        files.push_back({fmt::format("{}/maps", s->pid), s->maps_text});
        files.push_back({fmt::format("{}/smaps", s->pid), s->smaps_text});
      }
    }
    std::string ours = render_pmap(sa->process, sa->vmas, &sa->smaps, v.options) +
                       render_pmap(sb->process, sb->vmas, &sb->smaps, v.options) +
                       render_pmap(sa->process, sa->vmas, &sa->smaps, v.options);
    std::string expected;
    if (is_more_extended(v)) {
      for (pid_t pid : {a.pid(), b.pid(), a.pid()}) {
        auto args = v.args;
        args.push_back(std::to_string(pid));
        expected += run_pmap(args, files).out;
      }
    } else {
      auto args = v.args;
      for (pid_t pid : {a.pid(), b.pid(), a.pid()}) args.push_back(std::to_string(pid));
      expected = run_pmap(args, files).out;
    }
    EXPECT_SAME_OUTPUT(ours, expected, v.label + " (3 pids)");
  }
}

TEST(PmapRealTest, ZombieAndKernelThread) {
  if (::access(kPmap, X_OK) != 0) GTEST_SKIP() << "no " << kPmap;
  pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(0);
  ASSERT_GT(zombie, 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);
  std::vector<pid_t> pids = {zombie};
  if (slurp("/proc/2/comm") == "kthreadd\n") pids.push_back(2);
  for (pid_t pid : pids) {
    auto process = procfs::read_pmap_process(pid);
    auto smaps = procfs::read_smaps(pid);
    ASSERT_TRUE(process.ok() && smaps.ok());
    EXPECT_TRUE(smaps->entries.empty());
    for (const Variant& v : variants({0, UINT64_MAX})) {
      if (v.smaps_only_range) continue;
      auto args = v.args;
      args.push_back(std::to_string(pid));
      PmapRun run = run_pmap(args);
      std::string ours = render_pmap(*process, {}, &*smaps, v.options);
      EXPECT_SAME_OUTPUT(ours, run.out, fmt::format("pid {} {}", pid, v.label));
    }
  }
  ::waitpid(zombie, nullptr, 0);
}

// The title line of a process with control characters, newlines and invalid UTF-8 in its
// arguments, in a UTF-8 and in the C locale.
TEST(PmapRealTest, EscapedCommandLine) {
  if (::access(kPmap, X_OK) != 0 || ::access("/bin/sh", X_OK) != 0) GTEST_SKIP();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", "kill -STOP $$; exit 0", "a\tb",
            "c\x01"
            "d",
            "new\nline", "caf\xc3\xa9", "\xff\xfe tail\x7f", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(status));
  auto s = snapshot(pid);
  ASSERT_TRUE(s.has_value());
  for (bool utf8 : {true, false}) {
    PmapOptions o = mode(PmapOptions::kDefault);
    o.shm_minor = procfs::shm_minor();
    o.utf8 = utf8;
    PmapRun run = run_pmap({std::to_string(pid)}, {}, utf8 ? "C.UTF-8" : "C");
    EXPECT_SAME_OUTPUT(render_pmap(s->process, s->vmas, nullptr, o), run.out,
                       utf8 ? "C.UTF-8" : "C");
  }
  EXPECT_EQ(pmap_command_text(s->process, true),
            "sh -c kill -STOP $$; exit 0 a?b c?d new line café ?? tail.");
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace
}  // namespace maptrail::render
