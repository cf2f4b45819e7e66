#include "procfs/maps.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "model/address_space.h"
#include "procfs/process.h"
#include "util/unique_fd.h"

namespace maptrail::procfs {
namespace {

using model::format_maps_line;
using model::Vma;

const uint64_t kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));

Vma must_parse(std::string_view line) {
  auto vma = parse_maps_line(line);
  EXPECT_TRUE(vma.ok()) << (vma.ok() ? "" : vma.error().message);
  return vma.ok() ? *vma : Vma{};
}

// Parses a kernel-formatted line and checks that formatting gives it back byte for byte.
Vma round_trip(const std::string& line) {
  Vma vma = must_parse(line);
  EXPECT_EQ(format_maps_line(vma), line);
  return vma;
}

TEST(ParseMapsLineTest, FileBackedLine) {
  Vma vma = round_trip(
      "7f2719029000-7f271917f000 r-xp 00026000 fe:00 332835                     "
      "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(vma.start, 0x7f2719029000u);
  EXPECT_EQ(vma.end, 0x7f271917f000u);
  EXPECT_EQ(vma.perms, model::kRead | model::kExec);
  EXPECT_EQ(vma.offset, 0x26000u);
  EXPECT_EQ(vma.dev_major, 0xfeu);
  EXPECT_EQ(vma.dev_minor, 0u);
  EXPECT_EQ(vma.inode, 332835u);
  EXPECT_EQ(vma.name, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(vma.vm_flags, 0u);
}

TEST(ParseMapsLineTest, SpecialNames) {
  EXPECT_EQ(
      round_trip("5629e7e95000-5629e7eb6000 rw-p 00000000 00:00 0                          [heap]")
          .name,
      "[heap]");
  EXPECT_EQ(
      round_trip("7ffe356ef000-7ffe35710000 rw-p 00000000 00:00 0                          [stack]")
          .name,
      "[stack]");
  Vma vsyscall = round_trip(
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]");
  EXPECT_EQ(vsyscall.start, 0xffffffffff600000u);
  EXPECT_EQ(vsyscall.perms, model::kExec);
  EXPECT_EQ(vsyscall.name, "[vsyscall]");
}

TEST(ParseMapsLineTest, UnnamedLineWithAndWithoutTrailingSpace) {
  Vma kernel_form = round_trip("7f2718ede000-7f2718fa2000 rw-p 00000000 00:00 0 ");
  EXPECT_EQ(kernel_form.name, "");
  Vma trimmed = must_parse("7f2718ede000-7f2718fa2000 rw-p 00000000 00:00 0");
  EXPECT_EQ(trimmed, kernel_form);
}

TEST(ParseMapsLineTest, NamesWithSpacesDeletedAndAnonNames) {
  EXPECT_EQ(round_trip("7f1e868ee000-7f1e868f0000 r--s 00000000 fe:00 10952984                   "
                       "/tmp/pmq/del me (deleted)")
                .name,
            "/tmp/pmq/del me (deleted)");
  EXPECT_EQ(round_trip("7f1e868ed000-7f1e868ee000 rw-s 00000000 00:01 1045                       "
                       "/memfd:x y (deleted)")
                .name,
            "/memfd:x y (deleted)");
  EXPECT_EQ(round_trip("7f1e868e5000-7f1e868e6000 r--s 00000000 00:01 1047                       "
                       "/dev/zero (deleted)")
                .name,
            "/dev/zero (deleted)");
  EXPECT_EQ(round_trip("7f1e868f0000-7f1e868f2000 rw-p 00000000 00:00 0                          "
                       "[anon:my arena  two]")
                .name,
            "[anon:my arena  two]");
  EXPECT_EQ(round_trip("7f1e868e9000-7f1e868ea000 r--p 00000000 fe:00 10952985                   "
                       "/tmp/new\\012line")
                .name,
            "/tmp/new\\012line");
  // Trailing spaces belong to the name.
  EXPECT_EQ(round_trip(
                "7f1e868e9000-7f1e868ea000 r--p 00000000 fe:00 10952985                   /tmp/x  ")
                .name,
            "/tmp/x  ");
}

TEST(ParseMapsLineTest, LeadingSpacesOfANameSurviveAtTheKernelColumn) {
  Vma odd;
  odd.start = 0x1000;
  odd.end = 0x2000;
  odd.perms = model::kRead;
  odd.name = "  leading";
  EXPECT_EQ(round_trip(format_maps_line(odd)).name, "  leading");
}

TEST(ParseMapsLineTest, LongPrefixWithoutPadding) {
  std::string line =
      "ffffffffff600000-ffffffffff601000 r--p 123456789abcdef0 103:fffff 18446744073709551615  /x";
  Vma vma = round_trip(line);
  EXPECT_EQ(vma.offset, 0x123456789abcdef0u);
  EXPECT_EQ(vma.dev_major, 0x103u);
  EXPECT_EQ(vma.dev_minor, 0xfffffu);
  EXPECT_EQ(vma.inode, UINT64_MAX);
  EXPECT_EQ(vma.name, "/x");
}

TEST(ParseMapsLineTest, HandWrittenSpacingAndTrailingNewline) {
  Vma vma = must_parse("00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n");
  EXPECT_EQ(vma.start, 0x400000u);
  EXPECT_EQ(vma.dev_major, 8u);
  EXPECT_EQ(vma.dev_minor, 2u);
  EXPECT_EQ(vma.name, "/usr/bin/dbus-daemon");
  Vma newline_only = must_parse("7f2718ede000-7f2718fa2000 rw-p 00000000 00:00 0 \n");
  EXPECT_EQ(newline_only.name, "");
}

struct BadLine {
  const char* line;
  const char* field;
};

TEST(ParseMapsLineTest, ErrorsNameTheFieldAndQuoteTheLine) {
  const BadLine cases[] = {
      {"", "address range"},
      {"7f00", "address range"},
      {"7f00-", "address range"},
      {"-7f00 rw-p 00000000 00:00 0", "address range"},
      {"2000-1000 rw-p 00000000 00:00 0", "address range"},  // start not below end
      {"1000-1000 rw-p 00000000 00:00 0", "address range"},
      {"1000-2g00 rw-p 00000000 00:00 0", "address range"},
      {"10000000000000000-20000000000000000 rw-p 00000000 00:00 0", "address range"},
      {"1000-2000", "permissions"},
      {"1000-2000 rw-q 00000000 00:00 0", "permissions"},
      {"1000-2000 rw 00000000 00:00 0", "permissions"},
      {"1000-2000 rw-p", "offset"},
      {"1000-2000 rw-p 0000z000 00:00 0", "offset"},
      {"1000-2000 rw-p -1 00:00 0", "offset"},
      {"1000-2000 rw-p 00000000", "device"},
      {"1000-2000 rw-p 00000000 0000 0", "device"},
      {"1000-2000 rw-p 00000000 00: 0", "device"},
      {"1000-2000 rw-p 00000000 :00 0", "device"},
      {"1000-2000 rw-p 00000000 100000000:00 0", "device"},
      {"1000-2000 rw-p 00000000 00:00", "inode"},
      {"1000-2000 rw-p 00000000 00:00 12a /x", "inode"},
      {"1000-2000 rw-p 00000000 00:00 -1", "inode"},
      {"1000-2000 rw-p 00000000 00:00 99999999999999999999", "inode"},
  };
  for (const BadLine& bad : cases) {
    auto vma = parse_maps_line(bad.line);
    ASSERT_FALSE(vma.ok()) << bad.line;
    const std::string& message = vma.error().message;
    EXPECT_NE(message.find(std::string("bad ") + bad.field), std::string::npos)
        << bad.line << " -> " << message;
    EXPECT_NE(message.find(std::string("\"") + bad.line + "\""), std::string::npos) << message;
  }
}

TEST(ParseMapsLineTest, RejectsMoreThanOneLine) {
  auto vma =
      parse_maps_line("1000-2000 rw-p 00000000 00:00 0 /a\n2000-3000 rw-p 00000000 00:00 0 /b");
  ASSERT_FALSE(vma.ok());
  EXPECT_NE(vma.error().message.find("more than one line"), std::string::npos)
      << vma.error().message;
}

TEST(ParseMapsLineTest, ErrorQuotesBinaryGarbageSafely) {
  std::string garbage = std::string("1000-2000 r\x01\xff", 14) + "p 0 0:0 0";
  auto vma = parse_maps_line(garbage);
  ASSERT_FALSE(vma.ok());
  EXPECT_NE(vma.error().message.find("\\x01\\xff"), std::string::npos) << vma.error().message;
  auto long_line = parse_maps_line(std::string(5000, 'z'));
  ASSERT_FALSE(long_line.ok());
  EXPECT_LT(long_line.error().message.size(), 400u);
}

// A parse that succeeds must describe a valid VMA that formats and parses back to itself.
void expect_consistent(std::string_view input) {
  auto vma = parse_maps_line(input);
  if (!vma.ok()) {
    EXPECT_FALSE(vma.error().message.empty());
    return;
  }
  EXPECT_LT(vma->start, vma->end) << input;
  auto again = parse_maps_line(format_maps_line(*vma));
  ASSERT_TRUE(again.ok()) << input;
  EXPECT_EQ(*again, *vma) << input;
}

TEST(ParseMapsLineFuzzTest, EveryTruncationIsHandled) {
  const std::string line =
      "7f1e868ee000-7f1e868f0000 r--s 00001000 fe:00 10952984                   /tmp/del me "
      "(deleted)";
  const size_t inode_at = line.find("10952984");
  for (size_t length = 0; length <= line.size(); ++length) {
    std::string_view prefix(line.data(), length);
    expect_consistent(prefix);
    if (length <= inode_at) {  // up to "fe:00 ", the inode is missing
      EXPECT_FALSE(parse_maps_line(prefix).ok()) << prefix;
    } else {
      EXPECT_TRUE(parse_maps_line(prefix).ok()) << prefix;
    }
  }
}

TEST(ParseMapsLineFuzzTest, RandomGarbageAndMutations) {
  std::mt19937 rng(1234);
  std::string alphabet = "0123456789abcdefABCDEF-: rwxps\t\n()[]/";
  alphabet += '\0';
  alphabet += '\xff';
  const std::vector<std::string> seeds = {
      "7f2718ede000-7f2718fa2000 rw-p 00000000 00:00 0 ",
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
      "7f2719029000-7f271917f000 r-xp 00026000 fe:00 332835                     /lib/libc.so.6"};
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string input;
    if (i % 2 == 0) {
      size_t length = rng() % 100;
      for (size_t j = 0; j < length; ++j) input += alphabet[rng() % alphabet.size()];
    } else {
      input = seeds[rng() % seeds.size()];
      for (int mutations = 1 + static_cast<int>(rng() % 3); mutations > 0; --mutations) {
        size_t at = rng() % input.size();
        switch (rng() % 3) {
          case 0:
            input[at] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            input.erase(at, 1 + rng() % 4);
            break;
          default:
            input.insert(at, 1, alphabet[rng() % alphabet.size()]);
            break;
        }
        if (input.empty()) input = "x";
      }
    }
    expect_consistent(input);
    if (parse_maps_line(input).ok()) ++parsed;
  }
  EXPECT_GT(parsed, 100);  // mutations must still reach the success path often
}

TEST(ParseMapsTest, ParsesLinesAndNamesTheBadOne) {
  auto vmas = parse_maps(
      "00400000-00401000 r-xp 00000000 08:01 1 /a\n"
      "\n"
      "00401000-00402000 rw-p 00001000 08:01 1 /a\n"
      "7ffe356ef000-7ffe35710000 rw-p 00000000 00:00 0                          [stack]");
  ASSERT_TRUE(vmas.ok()) << vmas.error().message;
  ASSERT_EQ(vmas->size(), 3u);
  EXPECT_EQ((*vmas)[1].offset, 0x1000u);
  EXPECT_EQ((*vmas)[2].name, "[stack]");

  auto bad = parse_maps(
      "00400000-00401000 r-xp 00000000 08:01 1 /a\n"
      "00401000-00402000 rw-p 00001000 08:01\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().message.starts_with("line 2: ")) << bad.error().message;
  EXPECT_NE(bad.error().message.find("bad inode"), std::string::npos);

  auto empty = parse_maps("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// Every line of every process we can read must parse and format back byte for byte.
TEST(ReadMapsTest, RealMapsOfEveryReadableProcessRoundTrip) {
  int processes = 0, lines = 0;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  ASSERT_NE(proc, nullptr);
  while (dirent* entry = ::readdir(proc.get())) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    auto text = read_text_file(std::string("/proc/") + entry->d_name + "/maps");
    if (!text) continue;
    auto vmas = parse_maps(*text);
    ASSERT_TRUE(vmas.ok()) << entry->d_name << ": " << vmas.error().message;
    std::string formatted;
    for (const Vma& vma : *vmas) formatted += format_maps_line(vma) + "\n";
    EXPECT_EQ(formatted, *text) << "pid " << entry->d_name;
    for (size_t i = 1; i < vmas->size(); ++i) {
      EXPECT_LE((*vmas)[i - 1].end, (*vmas)[i].start);
    }
    ++processes;
    lines += static_cast<int>(vmas->size());
  }
  EXPECT_GE(processes, 1);
  EXPECT_GT(lines, 20);
}

TEST(ReadMapsTest, OwnMapsHaveStackAndExecutable) {
  auto vmas = read_maps(::getpid());
  ASSERT_TRUE(vmas.ok()) << vmas.error().message;
  char exe[4096];
  ssize_t length = ::readlink("/proc/self/exe", exe, sizeof(exe));
  ASSERT_GT(length, 0);
  std::string exe_path(exe, static_cast<size_t>(length));
  auto named = [&](const std::string& name) {
    return std::count_if(vmas->begin(), vmas->end(), [&](const Vma& v) { return v.name == name; });
  };
  EXPECT_EQ(named("[stack]"), 1);
  EXPECT_GE(named(exe_path), 1);
  int local = 0;
  auto stack_vma = std::find_if(vmas->begin(), vmas->end(), [&](const Vma& v) {
    return v.contains(reinterpret_cast<uintptr_t>(&local));
  });
  ASSERT_NE(stack_vma, vmas->end());
  EXPECT_EQ(stack_vma->name, "[stack]");
}

// Finds the VMA containing addr in a fresh read of our own maps.
Vma own_vma_at(const void* addr) {
  auto vmas = read_maps(::getpid());
  EXPECT_TRUE(vmas.ok());
  if (!vmas.ok()) return {};
  for (const Vma& vma : *vmas) {
    if (vma.contains(reinterpret_cast<uintptr_t>(addr))) return vma;
  }
  ADD_FAILURE() << "no VMA contains " << addr;
  return {};
}

TEST(ReadMapsTest, MprotectOfTheMiddleShowsThreePieces) {
  // PROT_NONE guard pages on both sides keep the rw pieces from merging with neighbours.
  char* base =
      static_cast<char*>(::mmap(nullptr, 5 * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(base, MAP_FAILED);
  ASSERT_EQ(::mprotect(base + kPage, 3 * kPage, PROT_READ | PROT_WRITE), 0);
  ASSERT_EQ(::mprotect(base + 2 * kPage, kPage, PROT_READ), 0);

  const uint64_t b = reinterpret_cast<uintptr_t>(base);
  Vma left = own_vma_at(base + kPage), middle = own_vma_at(base + 2 * kPage),
      right = own_vma_at(base + 3 * kPage), guard = own_vma_at(base);
  EXPECT_EQ(left.start, b + kPage);
  EXPECT_EQ(left.end, b + 2 * kPage);
  EXPECT_EQ(model::perms_string(left.perms), "rw-p");
  EXPECT_EQ(middle.start, b + 2 * kPage);
  EXPECT_EQ(middle.end, b + 3 * kPage);
  EXPECT_EQ(model::perms_string(middle.perms), "r--p");
  EXPECT_EQ(right.start, b + 3 * kPage);
  EXPECT_EQ(right.end, b + 4 * kPage);
  EXPECT_EQ(model::perms_string(right.perms), "rw-p");
  for (const Vma& piece : {left, middle, right}) {
    EXPECT_EQ(piece.offset, 0u);
    EXPECT_EQ(piece.inode, 0u);
    EXPECT_EQ(piece.name, "");
  }
  EXPECT_EQ(model::perms_string(guard.perms), "---p");
  EXPECT_EQ(guard.end, b + kPage);

  // Undo the split: the kernel merges the three back into one VMA.
  ASSERT_EQ(::mprotect(base + 2 * kPage, kPage, PROT_READ | PROT_WRITE), 0);
  Vma merged = own_vma_at(base + 2 * kPage);
  EXPECT_EQ(merged.start, b + kPage);
  EXPECT_EQ(merged.end, b + 4 * kPage);
  ::munmap(base, 5 * kPage);
}

Vma anon(uint64_t start, uint64_t end, const char* perms = "rw-p") {
  return must_parse(fmt::format("{:x}-{:x} {} 00000000 00:00 0", start, end, perms));
}

// The shapes a read of a changing process gave on Linux 6.18, line after line: the VMA at
// the point where the kernel resumed had grown down over the lines read before.
TEST(AppendNewerTest, TheLaterLineOfARangeReadTwiceWins) {
  std::vector<Vma> read;
  append_newer(read, anon(0x1000, 0x3000));
  append_newer(read, anon(0x3000, 0x5000, "r--p"));
  append_newer(read, anon(0x3000, 0x9000));  // merged with what followed: replaces it
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[1].start, 0x3000u);
  EXPECT_EQ(read[1].end, 0x9000u);
  EXPECT_EQ(model::perms_string(read[1].perms), "rw-p");

  append_newer(read, anon(0x8000, 0xa000, "r--p"));  // split off the top: the rest stays below
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[1].end, 0x8000u);
  EXPECT_EQ(read[2].start, 0x8000u);

  append_newer(read, anon(0x2000, 0xc000, "---p"));  // over several: the one below is cut
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].start, 0x1000u);
  EXPECT_EQ(read[0].end, 0x2000u);
  EXPECT_EQ(read[1].start, 0x2000u);
  EXPECT_EQ(read[1].end, 0xc000u);

  append_newer(read, anon(0xd000, 0xe000));  // no overlap: appended as it is
  ASSERT_EQ(read.size(), 3u);
  EXPECT_TRUE(model::AddressSpace::well_formed(read));
}

// Split and merge VMAs of this process on another thread while reading its maps: /proc
// gives a range twice (old and new) in about one read in a hundred here, and the model
// refuses a list with overlaps, so a resync after a loss would leave the model as it was.
TEST(ReadMapsTest, AProcessChangingItsMappingsStillGivesAWellFormedList) {
  constexpr size_t kPages = 512;
  char* region = static_cast<char*>(
      ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(region, MAP_FAILED);
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    std::mt19937 random(7);
    while (!stop.load(std::memory_order_relaxed)) {
      size_t page = random() % (kPages - 8), pages = 1 + random() % 8;
      ::mprotect(region + page * kPage, pages * kPage,
                 random() % 2 ? PROT_READ : PROT_READ | PROT_WRITE);
    }
  });
  int reads = 0;
  for (; reads < 3000; reads++) {
    auto vmas = read_maps(::getpid());
    ASSERT_TRUE(vmas.ok()) << vmas.error().message;
    ASSERT_TRUE(model::AddressSpace::well_formed(*vmas)) << "read " << reads;
  }
  stop = true;
  churn.join();
  ::munmap(region, kPages * kPage);
  RecordProperty("reads", reads);
}

TEST(ReadMapsTest, FileMappingOffsetDeviceInodeAndDeletedName) {
  char path[] = "/tmp/maptrail maps XXXXXX";
  UniqueFd fd(::mkstemp(path));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(4 * kPage)), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  void* mapped =
      ::mmap(nullptr, 2 * kPage, PROT_READ, MAP_SHARED, fd.get(), static_cast<off_t>(2 * kPage));
  ASSERT_NE(mapped, MAP_FAILED);

  Vma vma = own_vma_at(mapped);
  EXPECT_EQ(vma.start, reinterpret_cast<uintptr_t>(mapped));
  EXPECT_EQ(vma.size(), 2 * kPage);
  EXPECT_EQ(vma.offset, 2 * kPage);
  EXPECT_EQ(vma.inode, st.st_ino);
  EXPECT_EQ(vma.dev_major, major(st.st_dev));
  EXPECT_EQ(vma.dev_minor, minor(st.st_dev));
  EXPECT_EQ(vma.name, path);
  EXPECT_EQ(model::perms_string(vma.perms), "r--s");  // MAP_SHARED without write access

  ASSERT_EQ(::unlink(path), 0);
  EXPECT_EQ(own_vma_at(mapped).name, std::string(path) + " (deleted)");
  ::munmap(mapped, 2 * kPage);
}

TEST(ReadMapsTest, MemfdName) {
  UniqueFd fd(::memfd_create("maptrail test", 0));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(kPage)), 0);
  void* mapped = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(mapped, MAP_FAILED);
  Vma vma = own_vma_at(mapped);
  EXPECT_EQ(vma.name, "/memfd:maptrail test (deleted)");
  EXPECT_EQ(model::perms_string(vma.perms), "rw-s");
  EXPECT_NE(vma.inode, 0u);
  ::munmap(mapped, kPage);
}

TEST(ReadMapsTest, MissingProcess) {
  std::ifstream pid_max_file("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  pid_max_file >> pid_max;
  pid_t pid = static_cast<pid_t>(pid_max + 1);
  auto vmas = read_maps(pid);
  ASSERT_FALSE(vmas.ok());
  EXPECT_EQ(vmas.error().message,
            "process " + std::to_string(pid) + " not found (it may have exited)");
  EXPECT_FALSE(read_maps(0).ok());
}

TEST(ReadMapsTest, PermissionDeniedSaysWhatToDo) {
  if (::geteuid() != 0) {
    // Not root: pid 1 belongs to root and is unreadable.
    auto vmas = read_maps(1);
    ASSERT_FALSE(vmas.ok());
    EXPECT_EQ(vmas.error().message,
              "permission denied reading /proc/1/maps: run as root or as the process's owner");
    return;
  }
  // Root: a child that drops to nobody tries to read its root-owned parent.
  int pipe_ends[2];
  ASSERT_EQ(::pipe(pipe_ends), 0);
  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_ends[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    auto vmas = read_maps(parent);
    std::string report =
        vmas.ok() ? "ok" : vmas.error().message + "|" + std::to_string(vmas.error().err);
    if (::write(pipe_ends[1], report.data(), report.size()) < 0) ::_exit(3);
    ::_exit(0);
  }
  ::close(pipe_ends[1]);
  std::string report;
  char buffer[512];
  for (ssize_t got; (got = ::read(pipe_ends[0], buffer, sizeof(buffer))) > 0;)
    report.append(buffer, static_cast<size_t>(got));
  ::close(pipe_ends[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(report, "permission denied reading /proc/" + std::to_string(parent) +
                        "/maps: run as root or as the process's owner|" + std::to_string(EACCES));
}

TEST(ReadMapsTest, KernelThreadHasNoVmas) {
  auto kthreadd = read_process(2);
  if (!kthreadd.ok() || kthreadd->comm != "kthreadd") GTEST_SKIP() << "pid 2 is not kthreadd here";
  auto vmas = read_maps(2);
  ASSERT_TRUE(vmas.ok()) << vmas.error().message;
  EXPECT_TRUE(vmas->empty());
  EXPECT_EQ(kthreadd->exe, "");
}

}  // namespace
}  // namespace maptrail::procfs
