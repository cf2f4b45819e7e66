#include "procfs/smaps.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "procfs/maps.h"
#include "procfs/process.h"

namespace maptrail::procfs {
namespace {

using namespace std::string_literals;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr const char* kTwoBlocks =
    "7f2719029000-7f271917f000 r-xp 00026000 fe:00 332835                     "
    "/usr/lib/x86_64-linux-gnu/libc.so.6\n"
    "Size:               1368 kB\n"
    "KernelPageSize:        4 kB\n"
    "Rss:                 900 kB\n"
    "Shared_Dirty:          0 kB\n"
    "Private_Dirty:        12 kB\n"
    "Swap:                  0 kB\n"
    "THPeligible:           0\n"
    "ProtectionKey:         0\n"
    "VmFlags: rd ex mr mw me \n"
    "7ffd4c483000-7ffd4c4a4000 rw-p 00000000 00:00 0                          [stack]\n"
    "Size:                132 kB\n"
    "Rss:                  16 kB\n"
    "VmFlags: rd wr mr mw me gd ac \n";

TEST(SmapsParseTest, KeepsBlocksFieldsInOrderAndFlags) {
  auto data = parse_smaps(kTwoBlocks);
  ASSERT_TRUE(data.ok()) << data.error().message;
  ASSERT_EQ(data->entries.size(), 2u);

  const SmapsEntry& libc = data->entries[0];
  EXPECT_EQ(libc.vma.start, 0x7f2719029000u);
  EXPECT_EQ(libc.vma.end, 0x7f271917f000u);
  EXPECT_EQ(libc.vma.offset, 0x26000u);
  EXPECT_EQ(libc.vma.name, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  std::vector<std::string> keys;
  for (const SmapsField& f : libc.fields) keys.push_back(f.key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"Size", "KernelPageSize", "Rss", "Shared_Dirty",
                                      "Private_Dirty", "Swap", "THPeligible", "ProtectionKey"}));
  EXPECT_EQ(libc.fields[0].value, "1368");
  EXPECT_EQ(libc.fields[0].number, 1368u);
  EXPECT_EQ(libc.value("Rss"), 900u);
  EXPECT_EQ(libc.value("Private_Dirty"), 12u);
  EXPECT_EQ(libc.value("Pss"), std::nullopt);
  EXPECT_EQ(libc.vm_flags, "rd ex mr mw me ");

  const SmapsEntry& stack = data->entries[1];
  EXPECT_EQ(stack.vma.name, "[stack]");
  EXPECT_EQ(stack.fields.size(), 2u);
  EXPECT_EQ(stack.vm_flags, "rd wr mr mw me gd ac ");

  EXPECT_EQ(data->find(0x7ffd4c483000), &data->entries[1]);
  EXPECT_EQ(data->find(0x7f2719029000), &data->entries[0]);
  EXPECT_EQ(data->find(0x7ffd4c484000), nullptr);  // inside, not a start
  EXPECT_EQ(data->find(0), nullptr);
}

TEST(SmapsParseTest, CounterLinesFollowPmapsRule) {
  SmapsField f;
  EXPECT_TRUE(parse_smaps_field("Rss:                 900 kB", f));
  EXPECT_EQ(f.key, "Rss");
  EXPECT_EQ(f.value, "900");
  EXPECT_TRUE(parse_smaps_field("THPeligible:    1\n", f));
  EXPECT_EQ(f.key, "THPeligible");
  EXPECT_EQ(f.number, 1u);
  EXPECT_TRUE(parse_smaps_field("Odd:12 MB", f));  // pmap only rejects text after "kB"
  EXPECT_TRUE(parse_smaps_field("Big: 18446744073709551616 kB", f));
  EXPECT_EQ(f.value, "18446744073709551616");
  EXPECT_EQ(f.number, UINT64_MAX);  // saturates like strtoul

  EXPECT_FALSE(parse_smaps_field("VmFlags: rd wr", f));
  EXPECT_FALSE(parse_smaps_field("Rss: 4 kB trailing", f));
  EXPECT_FALSE(parse_smaps_field("Rss:", f));
  EXPECT_FALSE(parse_smaps_field(": 4 kB", f));
  EXPECT_FALSE(parse_smaps_field("NoColon 4 kB", f));
  EXPECT_FALSE(parse_smaps_field(std::string(32, 'K') + ": 4 kB", f));  // key over 31 bytes
  EXPECT_TRUE(parse_smaps_field(std::string(31, 'K') + ": 4 kB", f));
  EXPECT_FALSE(parse_smaps_field("Rss: 123456789012345678901 kB", f));  // over 20 digits
}

TEST(SmapsParseTest, SkipsTextLinesAndReportsErrors) {
  auto data = parse_smaps(
      "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n"
      "Size:  328 kB\n"
      "Name:  something textual\n"
      "Rss:  4 kB\n"
      "\n");
  ASSERT_TRUE(data.ok()) << data.error().message;
  ASSERT_EQ(data->entries.size(), 1u);
  EXPECT_EQ(data->entries[0].fields.size(), 2u);
  EXPECT_FALSE(data->entries[0].vm_flags.has_value());

  auto empty = parse_smaps("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entries.empty());

  auto orphan = parse_smaps("Rss: 4 kB\n");
  ASSERT_FALSE(orphan.ok());
  EXPECT_NE(orphan.error().message.find("line 1"), std::string::npos);

  auto bad_header = parse_smaps(
      "00400000-00452000 r-xp 00000000 08:02 1 /a\nSize: 4 kB\n00500000-00400000 r--p 0 0:0 0\n");
  ASSERT_FALSE(bad_header.ok());
  EXPECT_NE(bad_header.error().message.find("line 3"), std::string::npos);

  auto unordered = parse_smaps(
      "00500000-00501000 r--p 00000000 00:00 0\n00400000-00401000 r--p 00000000 00:00 0\n");
  ASSERT_FALSE(unordered.ok());
  EXPECT_NE(unordered.error().message.find("order"), std::string::npos);
}

TEST(SmapsParseTest, FixtureMatchesItsMapsFile) {
  const std::string dir = MAPTRAIL_TEST_DATA_DIR "/pmap/";
  auto smaps = parse_smaps(slurp(dir + "synthetic.smaps"));
  ASSERT_TRUE(smaps.ok()) << smaps.error().message;
  auto maps = parse_maps(slurp(dir + "synthetic.maps"));
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  ASSERT_EQ(smaps->entries.size(), maps->size());
  for (size_t i = 0; i < maps->size(); ++i) {
    EXPECT_EQ(smaps->entries[i].vma, (*maps)[i]) << i;
    EXPECT_EQ(smaps->entries[i].fields.size(), 24u) << i;
    EXPECT_TRUE(smaps->entries[i].vm_flags.has_value()) << i;
  }
}

// The smaps block headers are the maps lines. Read from a stopped child: our own
// mappings change while we read them (a large read buffer is itself an mmap).
TEST(SmapsReadTest, SmapsOfAStoppedProcessAgreesWithMaps) {
  pid_t child = ::fork();
  if (child == 0) {
    void* p = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) static_cast<char*>(p)[0] = 1;
    ::raise(SIGSTOP);
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(status));
  auto maps = read_maps(child);
  auto smaps = read_smaps(child);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  ASSERT_TRUE(smaps.ok()) << smaps.error().message;
  ASSERT_EQ(maps->size(), smaps->entries.size());
  uint64_t touched = 0;
  for (size_t i = 0; i < maps->size(); ++i) {
    const SmapsEntry& entry = smaps->entries[i];
    EXPECT_EQ(entry.vma, (*maps)[i]);
    EXPECT_EQ(smaps->find(entry.vma.start), &entry);
    ASSERT_TRUE(entry.value("Size").has_value());
    EXPECT_EQ(*entry.value("Size"), entry.vma.size() >> 10);
    EXPECT_TRUE(entry.value("Rss").has_value());
    EXPECT_TRUE(entry.value("Swap").has_value());
    EXPECT_TRUE(entry.vm_flags.has_value());
    if (entry.vma.size() >= (1u << 20) && entry.value("Rss") >= 4u) ++touched;
  }
  EXPECT_GE(touched, 1u);
}

TEST(SmapsReadTest, MissingProcessAndKernelThread) {
  auto gone = read_smaps(0x7ffffff0);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message.find("not found"), std::string::npos);
  EXPECT_FALSE(read_smaps(0).ok());
  if (slurp("/proc/2/comm") == "kthreadd\n") {
    auto kthread = read_smaps(2);
    ASSERT_TRUE(kthread.ok()) << kthread.error().message;
    EXPECT_TRUE(kthread->entries.empty());
  }
}

TEST(PmapProcessTest, ParsesStatusStatAndCutsCmdline) {
  auto p = parse_pmap_process("Name:\tx\nTgid:\t4242\nPid:\t4243\n",
                              "4243 (a) (b c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 "
                              "20 21 22 23 24 140724603518976 26 27\n",
                              "app\0arg\0"s);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->tgid, 4242);
  EXPECT_EQ(p->comm, "a) (b c");
  EXPECT_EQ(p->state, 'S');
  EXPECT_EQ(p->start_stack, 140724603518976u);
  EXPECT_EQ(p->cmdline, "app\0arg\0"s);

  auto big =
      parse_pmap_process("Tgid:\t1\n", "1 (x) R 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7",
                         std::string(200000, 'a'));
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->cmdline.size(), kPmapCmdlineMax);
  EXPECT_EQ(big->start_stack, 7u);

  EXPECT_FALSE(parse_pmap_process("Pid:\t1\n", "1 (x) R 0", "").ok());
  EXPECT_FALSE(parse_pmap_process("Tgid:\t1\n", "1 (x) R 0 0", "").ok());  // no field 28
  EXPECT_FALSE(parse_pmap_process("Tgid:\t1\n", "1 x R", "").ok());
  EXPECT_FALSE(parse_pmap_process("Tgid:\t1\n",
                                  "1 (x) RR 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7", "")
                   .ok());
}

TEST(PmapProcessTest, ReadsOwnProcessAndThreadsGiveTheirGroup) {
  auto self = read_pmap_process(::getpid());
  ASSERT_TRUE(self.ok()) << self.error().message;
  EXPECT_EQ(self->tgid, ::getpid());
  EXPECT_EQ(self->cmdline, slurp("/proc/self/cmdline"));
  EXPECT_EQ(self->comm + "\n", slurp("/proc/self/comm"));
  EXPECT_EQ(self->state, 'R');
  // The stack the kernel set up at exec holds start_stack.
  auto maps = read_maps(::getpid());
  ASSERT_TRUE(maps.ok());
  bool in_stack = false;
  for (const model::Vma& vma : *maps) {
    if (vma.name == "[stack]" && vma.start <= self->start_stack && self->start_stack <= vma.end) {
      in_stack = true;
    }
  }
  EXPECT_TRUE(in_stack) << std::hex << self->start_stack;

  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread thread([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    while (!done) std::this_thread::yield();
  });
  while (tid == 0) std::this_thread::yield();
  auto thread_view = read_pmap_process(tid);
  done = true;
  thread.join();
  ASSERT_TRUE(thread_view.ok()) << thread_view.error().message;
  EXPECT_EQ(thread_view->tgid, ::getpid());
  EXPECT_EQ(thread_view->cmdline, self->cmdline);
}

TEST(PmapProcessTest, ZombieHasEmptyCmdline) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  auto zombie = read_pmap_process(child);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(zombie.ok()) << zombie.error().message;
  EXPECT_EQ(zombie->state, 'Z');
  EXPECT_EQ(zombie->cmdline, "");
  EXPECT_EQ(zombie->tgid, child);
  EXPECT_FALSE(zombie->comm.empty());

  auto gone = read_pmap_process(child);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message.find("not found"), std::string::npos);
}

TEST(ShmMinorTest, RuleOnFixedMaps) {
  auto maps = parse_maps(
      "7f0000300000-7f0000305000 rw-s 00000000 00:01 33                         /SYSV00000000 "
      "(deleted)\n"
      "7f0000400000-7f0000401000 r--s 00000000 00:07 34                         /SYSV00000000 "
      "(deleted)\n"
      "7f0000500000-7f0000501000 r--s 00000000 fe:01 35                         /home/SYSV\n"
      "7f0000600000-7f0000601000 r--p 00000000 00:09 36                         /SYSV00000000 "
      "(deleted)\n");
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  EXPECT_EQ(shm_minor_from_maps(*maps, 0x7f0000300000), 1u);
  EXPECT_EQ(shm_minor_from_maps(*maps, 0x7f0000400000), 7u);
  EXPECT_EQ(shm_minor_from_maps(*maps, 0x7f0000500000), std::nullopt);  // major not 0
  EXPECT_EQ(shm_minor_from_maps(*maps, 0x7f0000600000), std::nullopt);  // not shared
  EXPECT_EQ(shm_minor_from_maps(*maps, 0x7f0000301000), std::nullopt);  // not a start
}

TEST(ShmMinorTest, MatchesAnAttachedSegmentAndLeavesNothingBehind) {
  int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  if (id < 0) GTEST_SKIP() << "SysV IPC unavailable";
  void* address = ::shmat(id, nullptr, 0);
  ASSERT_NE(address, reinterpret_cast<void*>(-1));
  auto maps = read_maps(::getpid());
  ::shmdt(address);
  ::shmctl(id, IPC_RMID, nullptr);
  ASSERT_TRUE(maps.ok());
  auto expected = shm_minor_from_maps(*maps, reinterpret_cast<uint64_t>(address));
  ASSERT_TRUE(expected.has_value());

  auto before = read_maps(::getpid());
  EXPECT_EQ(shm_minor(), expected);
  EXPECT_EQ(shm_minor(), expected);  // cached
  auto after = read_maps(::getpid());
  ASSERT_TRUE(before.ok() && after.ok());
  for (const model::Vma& vma : *after) {
    EXPECT_EQ(vma.name.find("/SYSV"), std::string::npos) << "segment left attached";
  }
}

}  // namespace
}  // namespace maptrail::procfs
