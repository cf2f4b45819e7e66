#include "procfs/procmap_query.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "model/address_space.h"
#include "procfs/maps.h"

namespace maptrail::procfs {
namespace {

using model::Vma;

const uint64_t kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));

std::string describe(const std::vector<Vma>& vmas) {
  std::string text;
  for (const Vma& vma : vmas) text += model::format_maps_line(vma) + "\n";
  return text;
}

class MapsQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MapsQuery::supported()) GTEST_SKIP() << "kernel without PROCMAP_QUERY (Linux < 6.11)";
  }
};

// A child with every kind of name the ioctl could render differently from /proc. It
// reports readiness through a pipe, then waits to be killed.
class InterestingChild {
 public:
  explicit InterestingChild(const std::string& dir) {
    int ready[2];
    EXPECT_EQ(::pipe(ready), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      make_mappings(dir);
      char ok = 'k';
      if (::write(ready[1], &ok, 1) != 1) ::_exit(1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char ok = 0;
    EXPECT_EQ(::read(ready[0], &ok, 1), 1);
    ::close(ready[0]);
  }
  ~InterestingChild() { kill_and_reap(); }
  pid_t pid() const { return pid_; }
  void kill_and_reap() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  static void map_file(const std::string& path, int prot, int flags, bool unlink_after) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(4 * kPage)) != 0) ::_exit(10);
    if (::mmap(nullptr, 2 * kPage, prot, flags, fd, static_cast<off_t>(kPage)) == MAP_FAILED)
      ::_exit(11);
    if (unlink_after) ::unlink(path.c_str());
  }

  static void make_mappings(const std::string& dir) {
    map_file(dir + "/plain file", PROT_READ, MAP_PRIVATE, false);
    map_file(dir + "/deleted file", PROT_READ, MAP_SHARED, true);
    map_file(dir + "/new\nline", PROT_READ | PROT_WRITE, MAP_PRIVATE, false);
    int memfd = ::memfd_create("child memfd", 0);
    if (memfd < 0 || ::ftruncate(memfd, static_cast<off_t>(kPage)) != 0) ::_exit(12);
    if (::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0) == MAP_FAILED)
      ::_exit(13);
    char* shared = static_cast<char*>(
        ::mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    if (shared == MAP_FAILED || ::munmap(shared + kPage, kPage) != 0) ::_exit(14);
    char* split = static_cast<char*>(
        ::mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (split == MAP_FAILED || ::mprotect(split + kPage, kPage, PROT_READ | PROT_EXEC) != 0)
      ::_exit(15);
    // Grow the heap so "[heap]" exists even if malloc has not run yet.
    if (::sbrk(static_cast<intptr_t>(8 * kPage)) == reinterpret_cast<void*>(-1)) ::_exit(16);
  }

  pid_t pid_ = -1;
};

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/maptrail_pmq_XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    for (const char* name : {"/plain file", "/deleted file", "/new\nline"})
      ::unlink((path_ + name).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_F(MapsQueryTest, WholeRangeOfOwnProcessEqualsReadMaps) {
  auto query = MapsQuery::open(::getpid());
  ASSERT_TRUE(query.ok()) << query.error().message;
  // Reading our own maps allocates, which can change them (always so under ASan). Retry
  // until a query lies between two identical /proc reads; failing that, every VMA both
  // reads agree on must still be in the query exactly.
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto before = read_maps(::getpid());
    auto queried = query->range(0, UINT64_MAX);
    auto after = read_maps(::getpid());
    ASSERT_TRUE(before.ok() && after.ok());
    ASSERT_TRUE(queried.ok()) << queried.error().message;
    ASSERT_TRUE(model::AddressSpace::well_formed(*queried));
    if (*before == *after) {
      EXPECT_EQ(describe(*queried), describe(*before));
      EXPECT_EQ(*queried, *before);
      return;
    }
    if (attempt < 19) continue;
    int stable = 0;
    for (const Vma& vma : *before) {
      if (std::find(after->begin(), after->end(), vma) == after->end()) continue;
      ++stable;
      EXPECT_NE(std::find(queried->begin(), queried->end(), vma), queried->end())
          << model::format_maps_line(vma);
    }
    EXPECT_GT(stable, 10);
  }
}

TEST_F(MapsQueryTest, WholeRangeOfChildEqualsReadMaps) {
  TempDir dir;
  InterestingChild child(dir.path());
  auto expected = read_maps(child.pid());
  ASSERT_TRUE(expected.ok()) << expected.error().message;
  auto query = MapsQuery::open(child.pid());
  ASSERT_TRUE(query.ok()) << query.error().message;
  auto queried = query->range(0, UINT64_MAX);
  ASSERT_TRUE(queried.ok()) << queried.error().message;
  EXPECT_EQ(describe(*queried), describe(*expected));
  ASSERT_EQ(*queried, *expected);

  // The names whose rendering had to be checked, present in both.
  auto has = [&](const std::string& name) {
    for (const Vma& vma : *queried) {
      if (vma.name == name) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("[heap]"));
  EXPECT_TRUE(has("[stack]"));
  EXPECT_TRUE(has("[vdso]"));
  EXPECT_TRUE(has(dir.path() + "/plain file"));
  EXPECT_TRUE(has(dir.path() + "/deleted file (deleted)"));
  EXPECT_TRUE(has(dir.path() + "/new\\012line"));
  EXPECT_TRUE(has("/memfd:child memfd (deleted)"));
  EXPECT_TRUE(has("/dev/zero (deleted)"));
}

TEST_F(MapsQueryTest, SubRangesEqualTheIntersectingMapsLines) {
  TempDir dir;
  InterestingChild child(dir.path());
  auto all = read_maps(child.pid());
  ASSERT_TRUE(all.ok());
  model::AddressSpace reference;
  ASSERT_TRUE(reference.assign(*all));
  auto query = MapsQuery::open(child.pid());
  ASSERT_TRUE(query.ok());

  // Ranges around every VMA boundary, in holes, unaligned, and random.
  std::vector<std::pair<uint64_t, uint64_t>> ranges = {{0, 1}, {0, 0}, {1, 0}};
  for (const Vma& vma : *all) {
    ranges.emplace_back(vma.start, vma.end);
    ranges.emplace_back(vma.start - 1, vma.start + 1);
    ranges.emplace_back(vma.end - 1, vma.end + 1);
    ranges.emplace_back(vma.end, vma.end + kPage);
  }
  std::mt19937_64 rng(99);
  for (int i = 0; i < 200; ++i) {
    const Vma& pick = (*all)[rng() % all->size()];
    uint64_t lo = pick.start + rng() % (64 * kPage) - 32 * kPage;
    ranges.emplace_back(lo, lo + rng() % (256 * kPage));
  }
  for (auto [lo, hi] : ranges) {
    auto queried = query->range(lo, hi);
    ASSERT_TRUE(queried.ok()) << queried.error().message;
    EXPECT_EQ(*queried, reference.in_range(lo, hi)) << std::hex << lo << "-" << hi;
  }
}

TEST_F(MapsQueryTest, CoveringOrNextAndTheGateArea) {
  auto query = MapsQuery::open(::getpid());
  ASSERT_TRUE(query.ok());
  int local = 0;
  auto covering = query->covering_or_next(reinterpret_cast<uintptr_t>(&local));
  ASSERT_TRUE(covering.ok());
  ASSERT_TRUE(covering->has_value());
  EXPECT_EQ((*covering)->name, "[stack]");
  auto next = query->covering_or_next(0);
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_GT((*next)->start, 0u);

  // The gate area is outside the mm: the ioctl never returns it, range() adds it.
  auto gate = system_gate_vma();
  if (!gate) GTEST_SKIP() << "no gate area on this machine (vsyscall=none or not x86-64)";
  EXPECT_EQ(gate->name, "[vsyscall]");
  auto above = query->covering_or_next(gate->start);
  ASSERT_TRUE(above.ok());
  EXPECT_FALSE(above->has_value());
  auto top = query->range(gate->start, UINT64_MAX);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0], *gate);
  auto just_below = query->range(gate->start - kPage, gate->start);
  ASSERT_TRUE(just_below.ok());
  EXPECT_TRUE(just_below->empty());
}

TEST_F(MapsQueryTest, ExitedProcessGivesEsrch) {
  TempDir dir;
  InterestingChild child(dir.path());
  auto query = MapsQuery::open(child.pid());
  ASSERT_TRUE(query.ok());
  ASSERT_TRUE(query->range(0, UINT64_MAX).ok());
  pid_t pid = child.pid();
  child.kill_and_reap();
  auto after_exit = query->range(0, UINT64_MAX);
  ASSERT_FALSE(after_exit.ok());
  EXPECT_EQ(after_exit.error().err, ESRCH);
  EXPECT_EQ(after_exit.error().message,
            "process " + std::to_string(pid) + " exited or exec'd since its maps were opened");
}

TEST(MapsQueryOpenTest, MissingProcessAndSupportProbe) {
  auto query = MapsQuery::open(0x7ffffff0);
  ASSERT_FALSE(query.ok());
  EXPECT_EQ(query.error().message, "process 2147483632 not found (it may have exited)");
  EXPECT_FALSE(MapsQuery::open(-1).ok());

  // This project targets kernels with the ioctl; say so loudly if the test machine lacks it.
  EXPECT_TRUE(MapsQuery::supported()) << "PROCMAP_QUERY missing: kernel older than 6.11?";
}

TEST(MapsQueryOpenTest, ObjectIsMovable) {
  auto query = MapsQuery::open(::getpid());
  ASSERT_TRUE(query.ok());
  MapsQuery moved = std::move(*query);
  EXPECT_EQ(moved.pid(), ::getpid());
  if (MapsQuery::supported()) {
    EXPECT_TRUE(moved.range(0, UINT64_MAX).ok());
  }
}

// [x, x+2p) and [x+4p, x+6p), with another thread mapping the gap between them (merging
// the three into one VMA) and unmapping it again as fast as it can. A read that finds the
// first VMA, then the merged one at x+2p, would hold two VMAs starting at x: the merged one
// replaces the first, and every result is a layout the process really had.
TEST_F(MapsQueryTest, ARangeChangingWhileReadNeverComesBackOverlapping) {
  const size_t page = ::sysconf(_SC_PAGESIZE);
  void* region = ::mmap(nullptr, 6 * page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  auto x = reinterpret_cast<uintptr_t>(region);
  ASSERT_EQ(::munmap(reinterpret_cast<void*>(x + 2 * page), 2 * page), 0);
  // stops and joins when the test returns, early or not
  std::jthread toggler([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      ::mmap(reinterpret_cast<void*>(x + 2 * page), 2 * page, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
      ::munmap(reinterpret_cast<void*>(x + 2 * page), 2 * page);
    }
  });
  auto query = MapsQuery::open(::getpid());
  ASSERT_TRUE(query.ok()) << query.error().message;
  int merged = 0, apart = 0;
  for (int i = 0; i < 20000; i++) {
    auto vmas = query->range(x, x + 6 * page);
    ASSERT_TRUE(vmas.ok()) << vmas.error().message;
    ASSERT_TRUE(model::AddressSpace::well_formed(*vmas)) << describe(*vmas);
    if (vmas->size() == 1 && vmas->front().start == x && vmas->front().end == x + 6 * page)
      merged++;
    else if (vmas->size() == 2 && vmas->front().start == x && vmas->front().end == x + 2 * page &&
             vmas->back().start == x + 4 * page && vmas->back().end == x + 6 * page)
      apart++;
    else
      ADD_FAILURE() << "a layout the process never had:\n" << describe(*vmas);
  }
  toggler.request_stop();
  toggler.join();
  ::munmap(region, 6 * page);
  EXPECT_GT(merged, 0);
  EXPECT_GT(apart, 0);
}

}  // namespace
}  // namespace maptrail::procfs
