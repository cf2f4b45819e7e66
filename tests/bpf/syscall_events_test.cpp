// Driver-style tests: perform each traced call for real and assert every field of the event
// it produced, including that the post-call window equals /proc/self/maps over that range.
#include <fcntl.h>
#include <linux/mman.h>
#include <linux/userfaultfd.h>
#include <alloca.h>
#include <asm/prctl.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bpf_env.h"
#include "model/vma.h"
#include "procfs/maps.h"
#include "symbolize/stack.h"
#include "util/unique_fd.h"

namespace maptrail::testing {
namespace {

using event::Event;
using event::Syscall;

constexpr uint64_t kPage = 4096;

// A layout as /proc/PID/maps prints it: a mismatch reads as a diff of maps lines.
std::string maps_text(const std::vector<model::Vma>& vmas) {
  std::string out;
  for (const auto& v : vmas) out += model::format_maps_line(v) + "\n";
  return out;
}

std::string own_comm() {
  std::ifstream in("/proc/self/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

class SyscallEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    MAPTRAIL_REQUIRE_ROOT_BPF();
    session_ = std::make_unique<TraceSession>();
    ASSERT_TRUE(session_->ok()) << session_->error();
  }

  // The event of this thread's call `s` whose first argument is arg0.
  const Event* find(Syscall s, uint64_t arg0) {
    pid_t tid = current_tid();
    return session_->wait_for([&](const Event& e) {
      return e.kind == event::Kind::kSyscall && e.syscall == s && e.tid == uint32_t(tid) &&
             e.args[0] == arg0;
    });
  }

  // Fields every syscall event has, whatever the call.
  void expect_common_fields(const Event& e, Syscall s) {
    EXPECT_EQ(e.syscall, s);
    EXPECT_EQ(e.pid, uint32_t(getpid()));
    EXPECT_EQ(e.tid, uint32_t(current_tid()));
    EXPECT_EQ(e.comm, own_comm());
    EXPECT_NE(e.mm, 0u);
    EXPECT_GT(e.enter_ns, 0u);
    EXPECT_GT(e.latency_ns(), 0u) << "exit must come after enter";
    expect_stack_reaches_the_test(e);
  }

  // The copied registers and stack unwind, through libc's wrapper, to this test's body.
  void expect_stack_reaches_the_test(const Event& e) {
    ASSERT_TRUE(e.flags & MT_F_STACK_COPY) << "flags " << e.flags;
    EXPECT_TRUE(e.frames.empty()) << "no frame-pointer frames beside a stack copy";
    EXPECT_GE(e.user_stack.size(), 1024u) << "the test runs deeper than 1 KiB into its stack";
    EXPECT_LE(e.user_stack.size(), 8192u);
    auto layout = maps_now();
    model::AddressSpace space;
    ASSERT_TRUE(space.assign(layout));
    const model::Vma* pc_vma = space.find(e.user_regs[16]);
    ASSERT_NE(pc_vma, nullptr);
    EXPECT_NE(pc_vma->name.find("libc.so"), std::string::npos) << "the syscall is in libc";
    const model::Vma* sp_vma = space.find(e.user_regs[7]);
    ASSERT_NE(sp_vma, nullptr);
    EXPECT_EQ(sp_vma->name, "[stack]") << "the tests run on the main thread";
    symbolize::Symbolizer symbols;
    auto stack = symbolize::resolve_stack(e, &space, symbols);
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string body = fmt::format("{}_{}_Test::TestBody", test->test_suite_name(), test->name());
    std::string frames;
    bool found = false;
    for (const auto& f : stack.frames) {
      frames += f.to_string() + " (" + f.module + ")\n";
      found = found || f.symbol.find(body) != std::string::npos;
    }
    EXPECT_TRUE(found) << "no frame in " << body << ":\n" << frames;
    ASSERT_GE(stack.caller, 0) << frames;
    EXPECT_EQ(stack.frames[stack.caller].module.find("libc"), std::string::npos) << frames;
  }

  // The window must be exactly the /proc lines intersecting each reported range (read right
  // after the call, before anything else could change the layout).
  void expect_window_equals_proc(const Event& e, const std::vector<model::Vma>& proc) {
    ASSERT_TRUE(e.window_complete()) << "flags " << e.flags;
    ASSERT_FALSE(e.ranges.empty());
    std::vector<model::Vma> expected;
    for (const auto& v : proc) {
      for (const auto& r : e.ranges) {
        if (v.intersects(r.lo, r.hi)) {
          expected.push_back(v);
          break;
        }
      }
    }
    std::vector<model::Vma> got;
    for (const auto& w : e.vmas) got.push_back(event::to_proc_vma(w, e));
    EXPECT_EQ(maps_text(got), maps_text(expected));
  }

  std::vector<model::Vma> maps_now() {
    auto maps = procfs::read_maps(getpid());
    EXPECT_TRUE(maps.ok());
    return maps.ok() ? *maps : std::vector<model::Vma>{};
  }

  std::unique_ptr<TraceSession> session_;
};

TEST_F(SyscallEvents, MmapAnonymous) {
  size_t len = 3 * kPage;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto proc = maps_now();
  const Event* e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMmap && e.tid == uint32_t(current_tid()) &&
           e.ret == int64_t(uintptr_t(p));
  });
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMmap);
  EXPECT_EQ(e->args[0], 0u);
  EXPECT_EQ(e->args[1], len);
  EXPECT_EQ(e->args[2], uint64_t(PROT_READ | PROT_WRITE));
  EXPECT_EQ(e->args[3], uint64_t(MAP_PRIVATE | MAP_ANONYMOUS));
  EXPECT_EQ(int(e->args[4]), -1);
  EXPECT_EQ(e->args[5], 0u);
  EXPECT_FALSE(e->failed());
  ASSERT_EQ(e->ranges.size(), 1u);
  EXPECT_EQ(e->ranges[0].lo, uint64_t(uintptr_t(p)));
  EXPECT_EQ(e->ranges[0].hi, uint64_t(uintptr_t(p)) + len);
  expect_window_equals_proc(*e, proc);
  EXPECT_EQ(event::bytes_mapped(*e), len);
  munmap(p, len);
}

// --stack fp: bpf_get_stack's frames and the word at the user sp, no copy.
TEST_F(SyscallEvents, FramePointerModeCarriesFramesAndNoCopy) {
  session_.reset();
  session_ = std::make_unique<TraceSession>(std::vector<pid_t>{getpid()}, 16 << 20, MT_STACK_FP);
  ASSERT_TRUE(session_->ok()) << session_->error();
  void* p = mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  const Event* e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMmap && e.tid == uint32_t(current_tid()) &&
           e.ret == int64_t(uintptr_t(p));
  });
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->flags & MT_F_STACK_FP);
  EXPECT_FALSE(e->flags & MT_F_STACK_COPY);
  EXPECT_FALSE(e->frames.empty());
  EXPECT_TRUE(e->user_stack.empty());
  EXPECT_NE(e->sp_word, 0u) << "the return address into the wrapper's caller";
  munmap(p, kPage);
}

// /proc prints a newline in a path as "\012" (seq_path); the model must hold the same name,
// or verify reports a difference and pmap prints a broken line.
TEST_F(SyscallEvents, MmapFileWithNewlineInItsNameIsNamedAsProcShowsIt) {
  std::string path = fmt::format("/tmp/maptrail-test-{}-new\nline", getpid());
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
  ASSERT_TRUE(fd.valid()) << strerror(errno);
  ASSERT_EQ(ftruncate(fd.get(), kPage), 0);
  void* p = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  auto proc = maps_now();
  unlink(path.c_str());
  const Event* e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMmap && e.ret == int64_t(uintptr_t(p));
  });
  ASSERT_NE(e, nullptr);
  expect_window_equals_proc(*e, proc);
  bool named = false;
  for (const auto& w : e->vmas) {
    if (w.start != uint64_t(uintptr_t(p))) continue;
    named = true;
    EXPECT_EQ(event::to_proc_vma(w, *e).name,
              fmt::format("/tmp/maptrail-test-{}-new\\012line", getpid()));
  }
  EXPECT_TRUE(named);
  munmap(p, kPage);
}

TEST_F(SyscallEvents, MmapFileWithOffsetNamesThePath) {
  char path[] = "/tmp/maptrail-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4 * kPage), 0);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  void* p = mmap(nullptr, 2 * kPage, PROT_READ, MAP_SHARED, fd, kPage);
  ASSERT_NE(p, MAP_FAILED);
  auto proc = maps_now();
  const Event* e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMmap && e.ret == int64_t(uintptr_t(p));
  });
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMmap);
  EXPECT_EQ(e->args[1], 2 * kPage);
  EXPECT_EQ(e->args[2], uint64_t(PROT_READ));
  EXPECT_EQ(e->args[3], uint64_t(MAP_SHARED));
  EXPECT_EQ(int(e->args[4]), fd);
  EXPECT_EQ(e->args[5], kPage);
  expect_window_equals_proc(*e, proc);
  const event::WindowVma* mapped = nullptr;
  for (const auto& w : e->vmas)
    if (w.start == uint64_t(uintptr_t(p))) mapped = &w;
  ASSERT_NE(mapped, nullptr);
  EXPECT_EQ(mapped->name, path) << "the fd resolves to its path";
  EXPECT_EQ(mapped->inode, st.st_ino);
  EXPECT_EQ(mapped->dev >> 20, major(st.st_dev));
  EXPECT_EQ(mapped->dev & 0xfffff, minor(st.st_dev));
  EXPECT_EQ(mapped->pgoff, 1u);
  munmap(p, 2 * kPage);
  close(fd);
  unlink(path);
}

TEST_F(SyscallEvents, PathsOnTmpfsMemfdAndDeletedFiles) {
  // /dev/shm is a tmpfs mount: the walk must cross the mount point.
  std::string shm_path = fmt::format("/dev/shm/maptrail-test-{}", getpid());
  int shm_fd = open(shm_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(shm_fd, 0);
  ASSERT_EQ(ftruncate(shm_fd, kPage), 0);
  void* on_tmpfs = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, shm_fd, 0);
  ASSERT_NE(on_tmpfs, MAP_FAILED);
  auto proc = maps_now();
  const Event* e = find(Syscall::kMmap, 0);
  e = session_->wait_for([&](const Event& e) { return e.ret == int64_t(uintptr_t(on_tmpfs)); });
  ASSERT_NE(e, nullptr);
  expect_window_equals_proc(*e, proc);

  int mem_fd = memfd_create("maptrail-test", 0);
  ASSERT_GE(mem_fd, 0);
  ASSERT_EQ(ftruncate(mem_fd, kPage), 0);
  void* memfd_map = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, mem_fd, 0);
  ASSERT_NE(memfd_map, MAP_FAILED);
  proc = maps_now();
  e = session_->wait_for([&](const Event& e) { return e.ret == int64_t(uintptr_t(memfd_map)); });
  ASSERT_NE(e, nullptr);
  expect_window_equals_proc(*e, proc);
  bool named = false;
  for (const auto& w : e->vmas) named |= w.name == "/memfd:maptrail-test (deleted)";
  EXPECT_TRUE(named);

  // Unlinked after mapping: the next window must say " (deleted)", as /proc does.
  ASSERT_EQ(unlink(shm_path.c_str()), 0);
  ASSERT_EQ(mprotect(on_tmpfs, kPage, PROT_NONE), 0);
  proc = maps_now();
  e = find(Syscall::kMprotect, uint64_t(uintptr_t(on_tmpfs)));
  ASSERT_NE(e, nullptr);
  expect_window_equals_proc(*e, proc);
  bool deleted = false;
  for (const auto& w : e->vmas) deleted |= w.name == shm_path + " (deleted)";
  EXPECT_TRUE(deleted);

  // Shared anonymous memory is a shmem file named /dev/zero.
  void* shared_anon =
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared_anon, MAP_FAILED);
  proc = maps_now();
  e = session_->wait_for([&](const Event& e) { return e.ret == int64_t(uintptr_t(shared_anon)); });
  ASSERT_NE(e, nullptr);
  expect_window_equals_proc(*e, proc);

  munmap(on_tmpfs, kPage);
  munmap(memfd_map, kPage);
  munmap(shared_anon, kPage);
  close(shm_fd);
  close(mem_fd);
}

TEST_F(SyscallEvents, MmapFailureCarriesErrnoAndNoWindow) {
  void* p = mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE, 987654, 0);  // not an open fd
  ASSERT_EQ(p, MAP_FAILED);
  ASSERT_EQ(errno, EBADF);
  const Event* e = session_->wait_for(
      [&](const Event& e) { return e.syscall == Syscall::kMmap && int(e.args[4]) == 987654; });
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMmap);
  EXPECT_TRUE(e->failed());
  EXPECT_EQ(e->ret, -EBADF);
  EXPECT_EQ(e->error_number(), EBADF);
  EXPECT_TRUE(e->flags & MT_F_NO_WINDOW);
  EXPECT_TRUE(e->vmas.empty());

  // MAP_FIXED_NOREPLACE over an existing mapping fails with EEXIST and changes nothing.
  void* q = mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(q, MAP_FAILED);
  void* r = mmap(q, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_EQ(r, MAP_FAILED);
  e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMmap && e.args[0] == uint64_t(uintptr_t(q));
  });
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ret, -EEXIST);
  munmap(q, kPage);
}

TEST_F(SyscallEvents, MunmapOfTheMiddleLeavesTwoPieces) {
  char* p = static_cast<char*>(
      mmap(nullptr, 5 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  ASSERT_EQ(munmap(p + kPage, 2 * kPage), 0);
  auto proc = maps_now();
  const Event* e = find(Syscall::kMunmap, uint64_t(uintptr_t(p + kPage)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMunmap);
  EXPECT_EQ(e->args[1], 2 * kPage);
  EXPECT_EQ(e->ret, 0);
  expect_window_equals_proc(*e, proc);
  EXPECT_EQ(event::bytes_unmapped(*e), 2 * kPage);
  // The emptied range is not looked up (no lock, no tree walk): it cannot come back busy.
  EXPECT_TRUE(e->flags & MT_F_WINDOW_EMPTY_ASSUMED) << "flags " << e->flags;
  EXPECT_TRUE(e->window_complete()) << "flags " << e->flags;
  for (const auto& w : e->vmas)
    EXPECT_FALSE(w.start < uint64_t(uintptr_t(p + 3 * kPage)) &&
                 uint64_t(uintptr_t(p + kPage)) < w.end)
        << "nothing may remain in the unmapped range";
  munmap(p, 5 * kPage);
}

TEST_F(SyscallEvents, MprotectSplitsInThreeAndMergesBack) {
  char* p = static_cast<char*>(
      mmap(nullptr, 6 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  ASSERT_EQ(mprotect(p + 2 * kPage, 2 * kPage, PROT_READ), 0);
  auto proc = maps_now();
  const Event* e = find(Syscall::kMprotect, uint64_t(uintptr_t(p + 2 * kPage)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMprotect);
  EXPECT_EQ(e->args[1], 2 * kPage);
  EXPECT_EQ(e->args[2], uint64_t(PROT_READ));
  EXPECT_EQ(e->ret, 0);
  expect_window_equals_proc(*e, proc);
  ASSERT_EQ(e->vmas.size(), 1u) << "the window is the range; the model clips the neighbours";
  EXPECT_EQ(e->vmas[0].start, uint64_t(uintptr_t(p + 2 * kPage)));
  EXPECT_EQ(e->vmas[0].end, uint64_t(uintptr_t(p + 4 * kPage)));

  ASSERT_EQ(mprotect(p + 2 * kPage, 2 * kPage, PROT_READ | PROT_WRITE), 0);
  proc = maps_now();
  session_->drain(std::chrono::milliseconds(50));
  const Event* merged = nullptr;
  for (const auto& ev : session_->events())
    if (ev.syscall == Syscall::kMprotect && ev.args[0] == uint64_t(uintptr_t(p + 2 * kPage)) &&
        ev.args[2] == uint64_t(PROT_READ | PROT_WRITE))
      merged = &ev;
  ASSERT_NE(merged, nullptr);
  expect_window_equals_proc(*merged, proc);
  ASSERT_EQ(merged->vmas.size(), 1u);
  EXPECT_LE(merged->vmas[0].start, uint64_t(uintptr_t(p))) << "merged with both neighbours";
  EXPECT_GE(merged->vmas[0].end, uint64_t(uintptr_t(p + 6 * kPage)));
  munmap(p, 6 * kPage);
}

TEST_F(SyscallEvents, PkeyMprotectWithDefaultKey) {
  char* p = static_cast<char*>(
      mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  long rc = syscall(SYS_pkey_mprotect, p + kPage, kPage, PROT_READ, -1);
  ASSERT_EQ(rc, 0) << strerror(errno);
  auto proc = maps_now();
  const Event* e = find(Syscall::kPkeyMprotect, uint64_t(uintptr_t(p + kPage)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kPkeyMprotect);
  EXPECT_EQ(int(e->args[3]), -1);
  expect_window_equals_proc(*e, proc);
  munmap(p, 4 * kPage);
}

// Reads /proc/self/maps into a buffer allocated beforehand: while the break is moved behind
// malloc's back, nothing may allocate (malloc would move it again).
std::string_view read_maps_without_allocating(std::vector<char>& buffer) {
  int fd = open("/proc/self/maps", O_RDONLY);
  size_t used = 0;
  ssize_t n;
  while (fd >= 0 && used < buffer.size() &&
         (n = read(fd, buffer.data() + used, buffer.size() - used)) > 0)
    used += n;
  if (fd >= 0) close(fd);
  return {buffer.data(), used};
}

TEST_F(SyscallEvents, BrkUpAndDownNamesTheHeap) {
  std::vector<char> after_up(1 << 20), after_down(1 << 20);
  uint64_t start = syscall(SYS_brk, 0);
  uint64_t up = start + 16 * kPage;
  uint64_t got_up = syscall(SYS_brk, up);
  std::string_view maps_up = read_maps_without_allocating(after_up);
  uint64_t got_down = syscall(SYS_brk, start);
  std::string_view maps_down = read_maps_without_allocating(after_down);
  ASSERT_EQ(got_up, up);
  ASSERT_EQ(got_down, start);

  auto proc = procfs::parse_maps(maps_up);
  ASSERT_TRUE(proc.ok()) << proc.error().message;
  const Event* e = find(Syscall::kBrk, up);
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kBrk);
  EXPECT_EQ(uint64_t(e->ret), up);
  EXPECT_EQ(e->brk, up);
  expect_window_equals_proc(*e, *proc);
  bool heap = false;
  for (const auto& w : e->vmas) heap |= event::to_proc_vma(w, *e).name == "[heap]";
  EXPECT_TRUE(heap);
  EXPECT_EQ(event::bytes_mapped(*e), 16 * kPage);

  proc = procfs::parse_maps(maps_down);
  ASSERT_TRUE(proc.ok());
  // malloc's own last brk() may have had the same argument: take the one after ours
  uint64_t up_time = e->enter_ns;
  e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kBrk && e.args[0] == start && e.enter_ns > up_time;
  });
  ASSERT_NE(e, nullptr);
  expect_window_equals_proc(*e, *proc);
  EXPECT_EQ(event::bytes_unmapped(*e), 16 * kPage);
}

TEST_F(SyscallEvents, MremapGrowMovesAndShrinkStaysInPlace) {
  // A guard right after the region forces the grow to move.
  char* p = static_cast<char*>(
      mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  ASSERT_EQ(mprotect(p + 2 * kPage, kPage, PROT_NONE), 0);
  void* moved = mremap(p, 2 * kPage, 8 * kPage, MREMAP_MAYMOVE);
  ASSERT_NE(moved, MAP_FAILED);
  ASSERT_NE(moved, p);
  auto proc = maps_now();
  const Event* e = find(Syscall::kMremap, uint64_t(uintptr_t(p)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMremap);
  EXPECT_EQ(e->args[1], 2 * kPage);
  EXPECT_EQ(e->args[2], 8 * kPage);
  EXPECT_EQ(e->args[3], uint64_t(MREMAP_MAYMOVE));
  EXPECT_EQ(e->ret, int64_t(uintptr_t(moved)));
  ASSERT_EQ(e->ranges.size(), 2u) << "old and new places";
  expect_window_equals_proc(*e, proc);

  void* shrunk = mremap(moved, 8 * kPage, 2 * kPage, 0);
  ASSERT_EQ(shrunk, moved);
  proc = maps_now();
  e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMremap && e.args[0] == uint64_t(uintptr_t(moved));
  });
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->ranges.size(), 1u);
  expect_window_equals_proc(*e, proc);
  EXPECT_EQ(event::bytes_unmapped(*e), 6 * kPage);
  munmap(shrunk, 2 * kPage);
  munmap(p + 2 * kPage, kPage);
}

TEST_F(SyscallEvents, MadviseThatSplitsHasAWindowAndDontneedHasNone) {
  char* p = static_cast<char*>(
      mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  ASSERT_EQ(madvise(p + kPage, kPage, MADV_DONTFORK), 0);
  auto proc = maps_now();
  const Event* e = find(Syscall::kMadvise, uint64_t(uintptr_t(p + kPage)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMadvise);
  EXPECT_EQ(e->args[2], uint64_t(MADV_DONTFORK));
  expect_window_equals_proc(*e, proc);
  ASSERT_EQ(e->vmas.size(), 1u);
  EXPECT_EQ(e->vmas[0].start, uint64_t(uintptr_t(p + kPage)));
  EXPECT_EQ(e->vmas[0].end, uint64_t(uintptr_t(p + 2 * kPage)));

  ASSERT_EQ(madvise(p, kPage, MADV_DONTNEED), 0);
  e = find(Syscall::kMadvise, uint64_t(uintptr_t(p)));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[2], uint64_t(MADV_DONTNEED));
  EXPECT_TRUE(e->flags & MT_F_NO_WINDOW);

  // An invalid advice fails with EINVAL.
  ASSERT_NE(madvise(p, kPage, 12345), 0);
  e = session_->wait_for(
      [&](const Event& e) { return e.syscall == Syscall::kMadvise && e.args[2] == 12345u; });
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ret, -EINVAL);
  munmap(p, 4 * kPage);
}

TEST_F(SyscallEvents, MlockMlock2AndMunlock) {
  char* p = static_cast<char*>(
      mmap(nullptr, 6 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  ASSERT_EQ(mlock(p + kPage, kPage), 0) << strerror(errno);
  auto proc = maps_now();
  const Event* e = find(Syscall::kMlock, uint64_t(uintptr_t(p + kPage)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMlock);
  expect_window_equals_proc(*e, proc);
  bool locked = false;
  for (const auto& w : e->vmas) locked |= (w.vm_flags & 0x2000 /* VM_LOCKED */) != 0;
  EXPECT_TRUE(locked) << "the kernel's vm_flags are carried";

  ASSERT_EQ(syscall(SYS_mlock2, p + 3 * kPage, kPage, MLOCK_ONFAULT), 0) << strerror(errno);
  proc = maps_now();
  e = find(Syscall::kMlock2, uint64_t(uintptr_t(p + 3 * kPage)));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[2], uint64_t(MLOCK_ONFAULT));
  expect_window_equals_proc(*e, proc);

  ASSERT_EQ(munlock(p, 6 * kPage), 0);
  proc = maps_now();
  e = find(Syscall::kMunlock, uint64_t(uintptr_t(p)));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[1], 6 * kPage);
  expect_window_equals_proc(*e, proc);
  munmap(p, 6 * kPage);
}

TEST_F(SyscallEvents, MlockallAndMunlockallMarkTheWholeSpace) {
  ASSERT_EQ(mlockall(MCL_FUTURE), 0) << strerror(errno);
  ASSERT_EQ(munlockall(), 0);
  const Event* e = find(Syscall::kMlockall, uint64_t(MCL_FUTURE));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMlockall);
  EXPECT_TRUE(e->flags & MT_F_WHOLE_MM);
  e = session_->wait_for([&](const Event& e) { return e.syscall == Syscall::kMunlockall; });
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ret, 0);
  EXPECT_TRUE(e->flags & MT_F_WHOLE_MM);
}

TEST_F(SyscallEvents, ShmatAndShmdt) {
  int id = shmget(IPC_PRIVATE, 4 * kPage, IPC_CREAT | 0600);
  ASSERT_GE(id, 0) << strerror(errno);
  void* p = shmat(id, nullptr, 0);
  ASSERT_NE(p, (void*)-1);
  auto proc = maps_now();
  const Event* e = find(Syscall::kShmat, uint64_t(id));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kShmat);
  EXPECT_EQ(e->ret, int64_t(uintptr_t(p)));
  expect_window_equals_proc(*e, proc);
  EXPECT_EQ(event::bytes_mapped(*e), 4 * kPage);

  ASSERT_EQ(shmdt(p), 0);
  proc = maps_now();
  e = find(Syscall::kShmdt, uint64_t(uintptr_t(p)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kShmdt);
  expect_window_equals_proc(*e, proc);
  shmctl(id, IPC_RMID, nullptr);
}

TEST_F(SyscallEvents, Mseal) {
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
  char* p =
      static_cast<char*>(mmap(nullptr, 4 * kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  long rc = syscall(SYS_mseal, p + kPage, kPage, 0);
  if (rc != 0 && errno == ENOSYS) GTEST_SKIP() << "this kernel has no mseal (before 6.10)";
  ASSERT_EQ(rc, 0) << strerror(errno);
  auto proc = maps_now();
  const Event* e = find(Syscall::kMseal, uint64_t(uintptr_t(p + kPage)));
  ASSERT_NE(e, nullptr);
  expect_common_fields(*e, Syscall::kMseal);
  expect_window_equals_proc(*e, proc);
  // the sealed page stays mapped for the life of the test process: that is what mseal means
  munmap(p, kPage);
}

TEST_F(SyscallEvents, MmQueryNamesTheSpaceEventsCarry) {
  void* p = mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  const Event* e =
      session_->wait_for([&](const Event& e) { return e.ret == int64_t(uintptr_t(p)); });
  ASSERT_NE(e, nullptr);
  auto mm = session_->tracer().mm_of(getpid());
  ASSERT_TRUE(mm.ok()) << mm.error().message;
  EXPECT_EQ(*mm, e->mm);
  auto none = session_->tracer().mm_of(999999999);
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(none.error().err, ESRCH);
  munmap(p, kPage);
}

TEST_F(SyscallEvents, MapFixedOverAMergedRegion) {
  char* p = static_cast<char*>(
      mmap(nullptr, 8 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  void* q =
      mmap(p + 2 * kPage, 3 * kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(q, p + 2 * kPage);
  auto proc = maps_now();
  const Event* e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMmap && e.args[0] == uint64_t(uintptr_t(q));
  });
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->args[3] & MAP_FIXED);
  expect_window_equals_proc(*e, proc);
  ASSERT_EQ(e->vmas.size(), 1u);
  EXPECT_EQ(e->vmas[0].start, uint64_t(uintptr_t(q)));
  EXPECT_EQ(e->vmas[0].end, uint64_t(uintptr_t(p + 5 * kPage)));
  munmap(p, 8 * kPage);
}

// The window holds only the VMAs inside the call's range; what the call did to the
// neighbours (split, clipped, merged into) must still follow: replaying each event's window
// on a model seeded just before the call gives the layout /proc shows after it. Everything
// happens inside a PROT_NONE reservation, so no other thread's mapping lands in between;
// the file mapping checks that a piece cut from a neighbour keeps the right offset.
TEST_F(SyscallEvents, WindowsReplayedOnTheLayoutBeforeGiveTheLayoutAfter) {
  constexpr size_t kPages = 32;
  char* region = static_cast<char*>(
      mmap(nullptr, kPages * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(region, MAP_FAILED);
  const uint64_t lo = uintptr_t(region), hi = lo + kPages * kPage;
  char path[] = "/tmp/maptrail-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 16 * kPage), 0);

  // The part of a layout inside the reservation, cut at its ends.
  auto inside = [&](const std::vector<model::Vma>& vmas) {
    std::vector<model::Vma> out;
    for (model::Vma v : vmas) {
      if (!v.intersects(lo, hi)) continue;
      if (v.start < lo) {
        if (v.has_backing_object()) v.offset += lo - v.start;
        v.start = lo;
      }
      v.end = std::min(v.end, hi);
      v.vm_flags = 0;
      out.push_back(v);
    }
    return out;
  };

  struct Step {
    const char* what;
    Syscall syscall;
    std::function<uint64_t()> call;  // returns the event's first argument
  };
  char* a = region + 4 * kPage;
  const std::vector<Step> steps = {
      {"file map with offset", Syscall::kMmap,
       [&] {
         void* q = mmap(a, 12 * kPage, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 2 * kPage);
         EXPECT_EQ(q, a);
         return uint64_t(uintptr_t(a));
       }},
      {"mprotect splits the file map in three", Syscall::kMprotect,
       [&] {
         EXPECT_EQ(mprotect(a + 3 * kPage, 2 * kPage, PROT_READ | PROT_WRITE), 0);
         return uint64_t(uintptr_t(a + 3 * kPage));
       }},
      {"mprotect merges it back", Syscall::kMprotect,
       [&] {
         EXPECT_EQ(mprotect(a + 3 * kPage, 2 * kPage, PROT_READ), 0);
         return uint64_t(uintptr_t(a + 3 * kPage));
       }},
      {"munmap of the middle", Syscall::kMunmap,
       [&] {
         EXPECT_EQ(munmap(a + 6 * kPage, kPage), 0);
         return uint64_t(uintptr_t(a + 6 * kPage));
       }},
      {"MAP_FIXED anonymous across the hole", Syscall::kMmap,
       [&] {
         void* q = mmap(a + 5 * kPage, 3 * kPage, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
         EXPECT_EQ(q, a + 5 * kPage);
         return uint64_t(uintptr_t(a + 5 * kPage));
       }},
      {"anonymous map that merges with it", Syscall::kMmap,
       [&] {
         void* q = mmap(a + 8 * kPage, 2 * kPage, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
         EXPECT_EQ(q, a + 8 * kPage);
         return uint64_t(uintptr_t(a + 8 * kPage));
       }},
      {"madvise DONTFORK splits", Syscall::kMadvise,
       [&] {
         EXPECT_EQ(madvise(a + 6 * kPage, kPage, MADV_DONTFORK), 0);
         return uint64_t(uintptr_t(a + 6 * kPage));
       }},
      {"mremap shrinks the file piece in place", Syscall::kMremap,
       [&] {
         void* q = mremap(a, 3 * kPage, kPage, 0);
         EXPECT_EQ(q, a);
         return uint64_t(uintptr_t(a));
       }},
      {"mprotect across file and anonymous pieces", Syscall::kMprotect,
       [&] {
         EXPECT_EQ(mprotect(a + 3 * kPage, 7 * kPage, PROT_READ), 0);
         return uint64_t(uintptr_t(a + 3 * kPage));
       }},
      {"mprotect that merges anonymous pieces", Syscall::kMprotect,
       [&] {
         EXPECT_EQ(mprotect(a + 7 * kPage, 3 * kPage, PROT_READ | PROT_WRITE), 0);
         EXPECT_EQ(mprotect(a + 7 * kPage, 3 * kPage, PROT_READ), 0);
         return uint64_t(uintptr_t(a + 7 * kPage));
       }},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(step.what);
    auto before = maps_now();
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);  // bpf_ktime_get_ns's clock
    const uint64_t called_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
    uint64_t arg0 = step.call();
    auto after = maps_now();
    // This step's last call: an earlier step, or this one, may have made the same call.
    auto match = [&](const Event& ev) {
      return ev.kind == event::Kind::kSyscall && ev.syscall == step.syscall &&
             ev.tid == uint32_t(current_tid()) && ev.args[0] == arg0 && ev.enter_ns >= called_ns;
    };
    ASSERT_NE(session_->wait_for(match), nullptr);
    const auto& seen = session_->drain(std::chrono::milliseconds(50));
    auto last = std::find_if(seen.rbegin(), seen.rend(), match);
    const Event* e = &*last;
    ASSERT_NE(e, nullptr);
    ASSERT_TRUE(e->window_complete()) << "flags " << e->flags;
    model::AddressSpace space;
    ASSERT_TRUE(space.assign(before));
    for (const auto& r : e->ranges) {
      std::vector<model::Vma> in_range;
      for (const auto& w : e->vmas) {
        model::Vma v = event::to_proc_vma(w, *e);
        if (v.intersects(r.lo, r.hi)) in_range.push_back(v);
      }
      ASSERT_TRUE(space.replace_window(r.lo, r.hi, in_range));
    }
    EXPECT_EQ(maps_text(inside(space.vmas())), maps_text(inside(after)));
  }
  munmap(region, kPages * kPage);
  close(fd);
  unlink(path);
}

// madvise(MADV_POPULATE_READ) calls held inside the kernel on userfaultfd faults, one page
// and one thread each, until released.
class HeldCalls {
 public:
  explicit HeldCalls(size_t pages) : pages_(pages), threads_(pages), tids_(pages), rcs_(pages, -1) {
    uffd_.reset(int(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)));
    if (!uffd_.valid()) {
      error_ = fmt::format("userfaultfd: {}", strerror(errno));
      return;
    }
    uffdio_api api{};
    api.api = UFFD_API;
    if (ioctl(uffd_.get(), UFFDIO_API, &api) != 0) {
      error_ = fmt::format("UFFDIO_API: {}", strerror(errno));
      return;
    }
    base_ = static_cast<char*>(
        mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      error_ = fmt::format("mmap: {}", strerror(errno));
      return;
    }
    uffdio_register reg{};
    reg.range = {address(0), pages * kPage};
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (ioctl(uffd_.get(), UFFDIO_REGISTER, &reg) != 0)
      error_ = fmt::format("UFFDIO_REGISTER: {}", strerror(errno));
  }
  ~HeldCalls() {
    for (size_t i = 0; i < pages_; i++) release(i);
    if (base_) munmap(base_, pages_ * kPage);
  }
  const std::string& error() const { return error_; }
  uint64_t address(size_t i) const { return uint64_t(uintptr_t(base_)) + i * kPage; }
  pid_t tid(size_t i) const { return tids_[i]; }
  int rc(size_t i) const { return rcs_[i]; }

  // Starts the call on page i; true once its fault shows it waiting inside the kernel.
  bool hold(size_t i) {
    threads_[i] = std::thread([this, i] {
      tids_[i] = current_tid();
      rcs_[i] = madvise(base_ + i * kPage, kPage, MADV_POPULATE_READ);
    });
    pollfd ready{uffd_.get(), POLLIN, 0};
    if (poll(&ready, 1, 5000) != 1) return false;
    uffd_msg msg{};
    return read(uffd_.get(), &msg, sizeof(msg)) == sizeof(msg) &&
           msg.event == UFFD_EVENT_PAGEFAULT &&
           (msg.arg.pagefault.address & ~(kPage - 1)) == address(i);
  }
  // Lets the call on page i finish (a zero page is supplied) and waits for its thread.
  void release(size_t i) {
    if (!threads_[i].joinable()) return;
    uffdio_zeropage zero{};
    zero.range = {address(i), kPage};
    ioctl(uffd_.get(), UFFDIO_ZEROPAGE, &zero);
    threads_[i].join();
  }

 private:
  size_t pages_;
  UniqueFd uffd_;
  char* base_ = nullptr;
  std::vector<std::thread> threads_;
  std::vector<pid_t> tids_;
  std::vector<int> rcs_;
  std::string error_;
};

// This process traces itself, and the tracer's own reader thread maps memory now and then:
// "no call in flight" holds within a moment, not at every instant.
bool leaves_flight(trace::Tracer& tracer, pid_t pid) {
  for (int i = 0; i < 200; i++) {
    if (!tracer.in_flight(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The verifier skips a process while one of its mapping calls is between entry and exit.
TEST_F(SyscallEvents, InFlightWhileACallIsInsideTheKernelAndNotAfter) {
  HeldCalls held(1);
  ASSERT_EQ(held.error(), "");
  EXPECT_TRUE(leaves_flight(session_->tracer(), getpid()));
  ASSERT_TRUE(held.hold(0)) << "no userfaultfd fault from MADV_POPULATE_READ";
  EXPECT_TRUE(session_->tracer().in_flight(getpid()));
  EXPECT_FALSE(session_->tracer().in_flight(getpid() + 1000000));  // no such process
  held.release(0);
  EXPECT_EQ(held.rc(0), 0);
  const Event* e = session_->wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMadvise && e.tid == uint32_t(held.tid(0));
  });
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[0], held.address(0));
  EXPECT_EQ(e->args[1], kPage);
  EXPECT_EQ(e->args[2], uint64_t(MADV_POPULATE_READ));
  EXPECT_EQ(e->ret, 0);
  EXPECT_TRUE(leaves_flight(session_->tracer(), getpid()));
}

// With one slot for calls in flight, calls made while another holds it go through the
// collision hash: every one still produces its whole event, and the verifier's in-flight
// check sees a call held there.
// A thread whose stack top user space has not yet learned (its first calls) gets a copy
// that stops under its thread descriptor (where fsbase points: glibc puts it at the top of
// the thread's stack) and never past the end of the mapping holding its stack pointer,
// even when the memory above is readable: no frame of that stack lies beyond either. The
// thread runs on a stack of our own with a readable page right above it.
// A thread on a stack of 4 pages (with a readable page above it) makes one mmap; it waits
// for `go` first, so the test can start tracing after the thread was created.
struct ThreadOnGivenStack {
  static constexpr size_t kStackPages = 4;
  char* area = nullptr;
  uint64_t stack_end = 0;
  pthread_t thread{};
  std::atomic<bool> go{false};
  pid_t tid = 0;
  uint64_t fsbase = 0;
  uint64_t local = 0;  // an address in the thread function's frame
  void* mapped = MAP_FAILED;
  size_t depth = 0;  // bytes of stack the thread takes before its mmap

  bool start() {
    area = static_cast<char*>(
        mmap(nullptr, (kStackPages + 1) * kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (area == MAP_FAILED) return false;
    // Two VMAs: the stack (read-write) and the read-only page above it.
    if (mprotect(area, kStackPages * kPage, PROT_READ | PROT_WRITE) != 0) return false;
    stack_end = uintptr_t(area) + kStackPages * kPage;
    // Present, not only readable: a copy reads without faulting pages in.
    (void)*static_cast<volatile char*>(area + kStackPages * kPage);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, area, kStackPages * kPage);
    int rc = pthread_create(
        &thread, &attr,
        [](void* arg) -> void* {
          auto* t = static_cast<ThreadOnGivenStack*>(arg);
          volatile char here = 0;
          t->local = uintptr_t(&here);
          t->tid = current_tid();
          syscall(SYS_arch_prctl, ARCH_GET_FS, &t->fsbase);
          while (!t->go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (t->depth) {  // deep in its stack, as a JVM thread loading classes is
            auto* below = static_cast<volatile char*>(alloca(t->depth));
            for (size_t i = 0; i < t->depth; i += 512) below[i] = 1;  // present, for the copy
          }
          t->mapped = mmap(nullptr, 7 * kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          return nullptr;
        },
        this);
    pthread_attr_destroy(&attr);
    return rc == 0;
  }
  void finish() {
    go = true;
    pthread_join(thread, nullptr);
  }
  ~ThreadOnGivenStack() {
    if (mapped != MAP_FAILED) munmap(mapped, 7 * kPage);
    if (area && area != MAP_FAILED) munmap(area, (kStackPages + 1) * kPage);
  }
};

// Lets the thread make its mmap; the event of that call, or nullptr.
const Event* finish_and_find_its_mmap(TraceSession& session, ThreadOnGivenStack& t) {
  t.finish();
  if (t.mapped == MAP_FAILED) return nullptr;
  return session.wait_for([&](const Event& e) {
    return e.syscall == Syscall::kMmap && e.tid == uint32_t(t.tid) &&
           e.ret == int64_t(uintptr_t(t.mapped));
  });
}

// What the copy left out held no frame: the unwind still reaches the thread's start.
void expect_unwind_reaches_the_threads_start(const Event& e) {
  auto layout = procfs::read_maps(getpid());
  ASSERT_TRUE(layout.ok());
  model::AddressSpace space;
  ASSERT_TRUE(space.assign(std::move(*layout)));
  symbolize::Symbolizer symbols;
  auto unwound = symbols.unwinder().unwind(&space, e.user_regs, e.user_stack);
  EXPECT_EQ(unwound.end, symbolize::Unwound::End::kOutermost)
      << symbolize::end_name(unwound.end) << " after " << unwound.pcs.size() << " frames";
}

// A thread that was there before tracing began has no known stack top: its copy stops at
// the end of its stack's mapping, or lower, at the thread descriptor (fsbase).
TEST_F(SyscallEvents, AnOlderThreadsCopyStopsAtItsDescriptorInsideTheStacksMapping) {
  ThreadOnGivenStack t;
  ASSERT_TRUE(t.start());
  while (!t.fsbase) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  session_ = std::make_unique<TraceSession>();  // created after the thread
  ASSERT_TRUE(session_->ok()) << session_->error();
  const Event* e = finish_and_find_its_mmap(*session_, t);
  ASSERT_NE(e, nullptr) << "mapped " << t.mapped;
  ASSERT_TRUE(e->flags & MT_F_STACK_COPY) << "flags " << e->flags;
  EXPECT_FALSE(e->flags & MT_F_STACK_TRIMMED) << "no stack top was known";
  EXPECT_FALSE(e->flags & MT_F_STACK_TOP_KNOWN);
  const uint64_t sp = e->user_regs[7];
  ASSERT_GT(sp, uintptr_t(t.area));
  ASSERT_GT(t.fsbase, sp) << "glibc keeps the descriptor at the top of a given stack";
  ASSERT_LT(t.fsbase, t.stack_end);
  ASSERT_LT(t.stack_end - sp, 8192u) << "the readable page is within a full copy's reach";
  EXPECT_EQ(e->user_stack.size(), t.fsbase - sp);
  EXPECT_EQ(0, memcmp(e->user_stack.data() + e->user_stack.size() - 64,
                      reinterpret_cast<const void*>(t.fsbase - 64), 64))
      << "the copy ends with the bytes under the descriptor";
  expect_unwind_reaches_the_threads_start(*e);
}

// A thread created while traced: the kernel takes its stack top from the stack pointer clone
// gave it, so even its first copy leaves out the static TLS between that and fsbase.
TEST_F(SyscallEvents, ANewThreadsCopiesStopAtTheStackPointerCloneGaveIt) {
  ThreadOnGivenStack t;
  ASSERT_TRUE(t.start());
  const Event* e = finish_and_find_its_mmap(*session_, t);
  ASSERT_NE(e, nullptr) << "mapped " << t.mapped;
  ASSERT_TRUE(e->flags & MT_F_STACK_COPY) << "flags " << e->flags;
  EXPECT_TRUE(e->flags & MT_F_STACK_TRIMMED) << "the top was known from the thread's first call";
  EXPECT_TRUE(e->flags & MT_F_STACK_TOP_KNOWN);
  const uint64_t sp = e->user_regs[7];
  const uint64_t copy_end = sp + e->user_stack.size();
  ASSERT_GT(t.fsbase, sp);
  EXPECT_GT(copy_end, t.local) << "the thread function's frame is in the copy";
  EXPECT_LT(copy_end, t.fsbase) << "the copy stops below the static TLS";
  EXPECT_LE(copy_end, t.local + 1024) << "and not far above the thread's first frames";
  expect_unwind_reaches_the_threads_start(*e);
}

// A thread deeper than a copy can hold: the copy is --stack-size long, not cut at the top,
// and says the top was known (user space need not unwind it to its end to learn the top).
TEST_F(SyscallEvents, ADeepThreadsCopyIsFullLengthWithItsTopKnown) {
  ThreadOnGivenStack t;
  t.depth = 9 * 1024;
  ASSERT_TRUE(t.start());
  const Event* e = finish_and_find_its_mmap(*session_, t);
  ASSERT_NE(e, nullptr) << "mapped " << t.mapped;
  ASSERT_TRUE(e->flags & MT_F_STACK_COPY) << "flags " << e->flags;
  EXPECT_TRUE(e->flags & MT_F_STACK_TOP_KNOWN) << "flags " << e->flags;
  EXPECT_FALSE(e->flags & MT_F_STACK_TRIMMED) << "the top lies beyond a full copy";
  EXPECT_EQ(e->user_stack.size(), 8192u);
  EXPECT_LT(e->user_regs[7] + 8192, t.local) << "the thread function's frame is not in the copy";
}

// A child that maps and unmaps `length` bytes `calls` times once a byte comes on *gate
// (the write end, for the caller to close); exits 0 when all went well. A child, not this
// process: the tracer's own allocations would be traced.
pid_t fork_gated_mapper(int calls, size_t length, int* gate) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t child = fork();
  if (child == 0) {
    char go;
    if (read(fds[0], &go, 1) != 1) _exit(2);
    for (int i = 0; i < calls; i++) {
      void* p = mmap(nullptr, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED || munmap(p, length) != 0) _exit(1);
    }
    _exit(0);
  }
  close(fds[0]);
  *gate = fds[1];
  return child;
}

// Opens the gate and reaps the child: "" once it has made all its calls, else what failed.
std::string run_gated_mapper(int gate, pid_t child) {
  bool opened = write(gate, "g", 1) == 1;
  int err = errno;
  close(gate);
  int status = 0;
  if (waitpid(child, &status, 0) != child) return fmt::format("waitpid: {}", strerror(errno));
  if (!opened) return fmt::format("opening the gate: {}", strerror(err));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fmt::format("status {:#x}", status);
  return "";
}

// A handler that falls far behind (here: nobody polls while a child makes 8,000 calls) must
// not cost records: once the backlog is half full, records are kept without their stack
// copy. A 16 MiB backlog holds ~2,000 records with copies, the 1 MiB ring a few hundred
// more. (A child, not this process: the reader's own allocations would be traced.)
TEST_F(SyscallEvents, AStalledHandlerLosesStacksNotRecords) {
  constexpr int kCalls = 4000;
  constexpr size_t kLength = 3 * kPage;
  int gate = -1;
  pid_t child = fork_gated_mapper(kCalls, kLength, &gate);
  ASSERT_GT(child, 0);
  auto options = TraceSession::options_for({child}, 1 << 20);
  options.max_backlog_bytes = 16 << 20;
  session_ = std::make_unique<TraceSession>(options, TraceSession::Options{});
  bool started = session_->ok();
  ASSERT_EQ(run_gated_mapper(gate, child), "");
  ASSERT_TRUE(started) << session_->error();

  int maps = 0, unmaps = 0, with_stack = 0, shortened = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((maps < kCalls || unmaps < kCalls) && std::chrono::steady_clock::now() < deadline) {
    auto n = session_->tracer().poll(20, [&](const Event& e) {
      if (e.kind != event::Kind::kSyscall || e.pid != uint32_t(child) || e.args[1] != kLength)
        return;
      if (e.syscall == Syscall::kMmap && !e.failed()) maps++;
      if (e.syscall == Syscall::kMunmap && e.ret == 0) unmaps++;
      if (e.syscall != Syscall::kMmap && e.syscall != Syscall::kMunmap) return;
      if (e.flags & MT_F_STACK_SHORTENED)
        shortened++;
      else if (e.user_stack.size() >= 512)
        with_stack++;
    });
    ASSERT_TRUE(n.ok()) << n.error().message;
  }
  EXPECT_EQ(session_->tracer().lost_total(), 0u);
  EXPECT_EQ(maps, kCalls);
  EXPECT_EQ(unmaps, kCalls);
  EXPECT_GT(with_stack, 500) << "the first records keep their copies";
  EXPECT_GT(shortened, kCalls) << "most records past half the backlog come without one";
}

TEST_F(SyscallEvents, AConsumerIdleWhileItKeepsUpGetsItsOwnPolicyBackWhenBehind) {
  constexpr int kCalls = 3000;  // records of ~8 KiB: ~24 MiB, well past the mark below
  constexpr size_t kLength = 2 * kPage;
  pid_t self = current_tid();
  int own_policy = sched_getscheduler(self);
  ASSERT_EQ(own_policy, SCHED_OTHER) << "the test must start as a normal thread";
  errno = 0;
  int own_nice = getpriority(PRIO_PROCESS, self);
  ASSERT_EQ(errno, 0);
  int gate = -1;
  pid_t child = fork_gated_mapper(kCalls, kLength, &gate);
  ASSERT_GT(child, 0);
  auto options = TraceSession::options_for({child}, 16 << 20);
  options.consumer_yields = true;
  options.consumer_raise_bytes = 2 << 20;
  session_ = std::make_unique<TraceSession>(options, TraceSession::Options{});
  bool started = session_->ok();
  auto& tracer = session_->tracer();
  int handled = 0;
  auto count = [&](const Event& e) {
    if (e.kind == event::Kind::kSyscall && e.pid == uint32_t(child)) handled++;
  };
  ASSERT_TRUE(tracer.poll(0, count).ok());
  EXPECT_TRUE(tracer.consumer_lowered());
  EXPECT_EQ(sched_getscheduler(self), SCHED_IDLE) << "keeping up (nothing to do): idle";

  // Not polling while the child runs: the reader's backlog grows past the mark.
  ASSERT_EQ(run_gated_mapper(gate, child), "");
  ASSERT_TRUE(started) << session_->error();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (tracer.consumer_lowered() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(tracer.consumer_lowered()) << "backlog " << tracer.backlog() << " events";
  EXPECT_EQ(sched_getscheduler(self), own_policy) << "behind: its own policy again";
  EXPECT_GE(tracer.consumer_raises(), 1u);

  // Caught up: polite again, and nothing was lost on the way.
  while (handled < 2 * kCalls && std::chrono::steady_clock::now() < deadline)
    ASSERT_TRUE(tracer.poll(20, count).ok());
  ASSERT_TRUE(tracer.poll(0, count).ok());
  EXPECT_EQ(handled, 2 * kCalls);
  EXPECT_EQ(tracer.lost_total(), 0u);
  EXPECT_TRUE(tracer.consumer_lowered());
  EXPECT_EQ(sched_getscheduler(self), SCHED_IDLE);

  session_.reset();
  EXPECT_EQ(sched_getscheduler(self), own_policy) << "the tracer gone, the thread as it was";
  EXPECT_EQ(getpriority(PRIO_PROCESS, self), own_nice) << "its nice value kept throughout";
}

// The ring reader keeps its nice value while records trickle in, takes a better one when a
// pass finds at least the wake-up mark (records come faster than it looks), and gives it
// back after a quiet second.
TEST_F(SyscallEvents, ARingReaderPressedByABurstIsRaisedAndLoweredWhenQuiet) {
  constexpr int kCalls = 3000;  // records of ~8 KiB: ~48 MiB, the mark is 2 MiB
  constexpr size_t kLength = 2 * kPage;
  int gate = -1;
  pid_t child = fork_gated_mapper(kCalls, kLength, &gate);
  ASSERT_GT(child, 0);
  session_ = std::make_unique<TraceSession>(TraceSession::options_for({child}, 16 << 20),
                                            TraceSession::Options{});
  bool started = session_->ok();
  auto& tracer = session_->tracer();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (started && !tracer.reader_tid() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  pid_t reader = tracer.reader_tid();
  errno = 0;
  int own_nice = getpriority(PRIO_PROCESS, reader);
  EXPECT_EQ(errno, 0);
  EXPECT_FALSE(tracer.reader_raised()) << "nothing read yet";

  ASSERT_EQ(run_gated_mapper(gate, child), "");
  ASSERT_TRUE(started) << session_->error();
  int handled = 0;
  auto count = [&](const Event& e) {
    if (e.kind == event::Kind::kSyscall && e.pid == uint32_t(child)) handled++;
  };
  ASSERT_TRUE(tracer.poll(0, count).ok());  // everything the child recorded is read now
  EXPECT_GE(tracer.reader_raises(), 1u);
  EXPECT_TRUE(tracer.reader_raised()) << "raised less than a second ago";
  EXPECT_EQ(getpriority(PRIO_PROCESS, reader),
            std::max(-20, own_nice - trace::ReaderPriority::kRaiseBy));

  while (handled < 2 * kCalls && std::chrono::steady_clock::now() < deadline)
    ASSERT_TRUE(tracer.poll(20, count).ok());
  while (tracer.reader_raised() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(tracer.reader_raised()) << "quiet for a second: its own nice value again";
  EXPECT_EQ(getpriority(PRIO_PROCESS, reader), own_nice);
  EXPECT_EQ(handled, 2 * kCalls);
  EXPECT_EQ(tracer.lost_total(), 0u);
  EXPECT_EQ(tracer.reader_raises(), 1u) << "one burst, one raise";
}

TEST_F(SyscallEvents, CallsWhoseSlotIsTakenGoThroughTheCollisionHash) {
  auto options = TraceSession::options_for();
  options.pending_slots = 1;
  session_ = std::make_unique<TraceSession>(options, TraceSession::Options{});
  ASSERT_TRUE(session_->ok()) << session_->error();

  // Four threads mapping at once on two vCPUs: calls overlap all the time. Each thread maps
  // its own size, so every event can be matched to its thread and checked.
  constexpr int kThreads = 4, kCalls = 2000;
  std::vector<std::thread> threads;
  std::vector<pid_t> tids(kThreads);
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      tids[t] = current_tid();
      for (int i = 0; i < kCalls; i++) {
        void* p = mmap(nullptr, (t + 1) * kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) munmap(p, (t + 1) * kPage);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> maps(kThreads), unmaps(kThreads);
  for (const auto& e : session_->drain(std::chrono::milliseconds(1500))) {
    for (int t = 0; t < kThreads; t++) {
      if (e.kind != event::Kind::kSyscall || e.tid != uint32_t(tids[t])) continue;
      // (the window may be flagged busy: the threads contend for the mmap lock)
      if (e.syscall == Syscall::kMmap && e.args[1] == (t + 1) * kPage && !e.failed() &&
          e.args[2] == uint64_t(PROT_READ) && e.latency_ns() > 0)
        maps[t]++;
      if (e.syscall == Syscall::kMunmap && e.args[1] == (t + 1) * kPage && e.ret == 0 &&
          e.latency_ns() > 0)
        unmaps[t]++;
    }
  }
  for (int t = 0; t < kThreads; t++) {
    SCOPED_TRACE(t);
    EXPECT_EQ(maps[t], kCalls);
    EXPECT_EQ(unmaps[t], kCalls);
  }
  EXPECT_EQ(session_->tracer().lost_total(), 0u);

  HeldCalls held(2);
  ASSERT_EQ(held.error(), "");
  ASSERT_TRUE(held.hold(0)) << "no userfaultfd fault from MADV_POPULATE_READ";
  ASSERT_TRUE(held.hold(1));  // one of the two is in the hash
  EXPECT_TRUE(session_->tracer().in_flight(getpid()));
  held.release(0);
  EXPECT_TRUE(session_->tracer().in_flight(getpid())) << "the other call is still held";
  held.release(1);
  EXPECT_TRUE(leaves_flight(session_->tracer(), getpid()));
  for (size_t i = 0; i < 2; i++) {
    SCOPED_TRACE(i);
    EXPECT_EQ(held.rc(i), 0);
    const Event* m = session_->wait_for([&](const Event& e) {
      return e.syscall == Syscall::kMadvise && e.tid == uint32_t(held.tid(i));
    });
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->args[0], held.address(i));
    EXPECT_EQ(m->args[2], uint64_t(MADV_POPULATE_READ));
    EXPECT_EQ(m->ret, 0);
    EXPECT_GT(m->latency_ns(), 0u);
  }
}

}  // namespace
}  // namespace maptrail::testing
