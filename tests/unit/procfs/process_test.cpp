#include "procfs/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "util/unique_fd.h"

namespace maptrail::procfs {
namespace {

// A pid that cannot exist: one above the kernel's maximum.
pid_t impossible_pid() {
  std::ifstream pid_max("/proc/sys/kernel/pid_max");
  long max = 0;
  pid_max >> max;
  EXPECT_GT(max, 0);
  return static_cast<pid_t>(max + 1);
}

// A forked child that runs `setup`, reports readiness through a pipe and waits to be killed.
class Child {
 public:
  template <class Setup>
  explicit Child(Setup setup) {
    int ready[2];
    EXPECT_EQ(::pipe(ready), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      setup();
      char ok = 'k';
      if (::write(ready[1], &ok, 1) != 1) ::_exit(1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char ok = 0;
    EXPECT_EQ(::read(ready[0], &ok, 1), 1);
    ::close(ready[0]);
  }
  ~Child() { reap(); }
  pid_t pid() const { return pid_; }
  void kill_only() { ::kill(pid_, SIGKILL); }
  void reap() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

TEST(ProcessTest, ReadsOwnProcess) {
  auto info = read_process(::getpid());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->pid, ::getpid());
  EXPECT_EQ(info->ppid, ::getppid());
  EXPECT_EQ(info->uid, ::geteuid());
  std::ifstream comm_file("/proc/self/comm");
  std::string comm;
  std::getline(comm_file, comm);
  EXPECT_EQ(info->comm, comm);
  char exe[4096];
  ssize_t length = ::readlink("/proc/self/exe", exe, sizeof(exe));
  ASSERT_GT(length, 0);
  EXPECT_EQ(info->exe, std::string(exe, static_cast<size_t>(length)));
  EXPECT_NE(info->exe.find("unit_procfs"), std::string::npos);
  EXPECT_EQ(info->tgid, ::getpid());
}

TEST(ProcessTest, AThreadIdNamesItsProcess) {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread thread([&] {
    tid = ::gettid();
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!tid) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto info = read_process(tid);
  done = true;
  thread.join();
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->pid, tid.load());
  EXPECT_EQ(info->tgid, ::getpid());
}

TEST(ProcessTest, CommWithSpacesAndParentheses) {
  Child child([] { ::prctl(PR_SET_NAME, "a) (b c) x"); });
  auto info = read_process(child.pid());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->comm, "a) (b c) x");
  EXPECT_EQ(info->ppid, ::getpid());
  EXPECT_EQ(info->pid, child.pid());
}

TEST(ProcessTest, MissingProcessIsReportedAsSuch) {
  pid_t pid = impossible_pid();
  auto info = read_process(pid);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().message,
            "process " + std::to_string(pid) + " not found (it may have exited)");
  EXPECT_FALSE(read_process(0).ok());
  EXPECT_FALSE(read_process(-5).ok());
}

TEST(ParseStatTest, TakesCommUpToTheLastParenthesis) {
  auto info = parse_stat("1234 (x) (y)) S 77 1234 1234 0 -1 4194560 99 0 0 0\n");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->pid, 1234);
  EXPECT_EQ(info->comm, "x) (y)");
  EXPECT_EQ(info->ppid, 77);

  auto empty_comm = parse_stat("5 () R 0 0");
  ASSERT_TRUE(empty_comm.ok());
  EXPECT_EQ(empty_comm->comm, "");
  EXPECT_EQ(empty_comm->ppid, 0);
}

TEST(ParseStatTest, RejectsMalformedText) {
  for (const char* bad : {"", "1234", "1234 (x S 1", "x (y) S 1", "1 (y) S", "1 (y) S x", "1 (y)",
                          "1 (y)S 1", ") 1 (", "-1 (y) S 1 2", "1 (y) S -3 2", "0 (y) S 1"}) {
    auto info = parse_stat(bad);
    EXPECT_FALSE(info.ok()) << bad;
    if (!info.ok()) {
      EXPECT_NE(info.error().message.find("malformed"), std::string::npos);
    }
  }
}

TEST(ProcessTest, ExistenceOfLiveZombieAndReapedProcesses) {
  EXPECT_TRUE(process_exists(::getpid()));
  EXPECT_FALSE(process_exists(0));
  EXPECT_FALSE(process_exists(-1));
  EXPECT_FALSE(process_exists(impossible_pid()));

  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  // Until reaped the child is a zombie, which still holds its pid.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_TRUE(process_exists(child));
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(process_exists(child));
}

TEST(ProcessTest, FdPathOfFilesPipesAndErrors) {
  char path[] = "/tmp/maptrail_fd_path_XXXXXX";
  UniqueFd file(::mkstemp(path));
  ASSERT_TRUE(file.valid());
  auto target = fd_path(::getpid(), file.get());
  ASSERT_TRUE(target.ok()) << target.error().message;
  EXPECT_EQ(*target, path);
  ::unlink(path);
  auto deleted = fd_path(::getpid(), file.get());
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, std::string(path) + " (deleted)");

  int pipe_ends[2];
  ASSERT_EQ(::pipe(pipe_ends), 0);
  UniqueFd read_end(pipe_ends[0]), write_end(pipe_ends[1]);
  auto pipe_target = fd_path(::getpid(), read_end.get());
  ASSERT_TRUE(pipe_target.ok());
  EXPECT_TRUE(pipe_target->starts_with("pipe:[")) << *pipe_target;

  auto closed = fd_path(::getpid(), 999999);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().message,
            "process " + std::to_string(::getpid()) + " has no open fd 999999");

  auto gone = fd_path(impossible_pid(), 0);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message.find("not found"), std::string::npos);
}

TEST(ProcessTest, FdPathLongerThanTheFirstBuffer) {
  std::string dir = "/tmp/maptrail_" + std::string(200, 'd');
  ::mkdir(dir.c_str(), 0700);
  std::string name = dir + "/" + std::string(200, 'f');
  UniqueFd file(::open(name.c_str(), O_RDWR | O_CREAT, 0600));
  ASSERT_TRUE(file.valid());
  auto target = fd_path(::getpid(), file.get());
  ::unlink(name.c_str());
  ::rmdir(dir.c_str());
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, name);
}

TEST(ProcessTest, ThreadIdsListsEveryThread) {
  std::atomic<int> started{0};
  std::atomic<bool> stop{false};
  std::vector<pid_t> tids(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      tids[i] = ::gettid();
      started++;
      while (!stop) std::this_thread::yield();
    });
  }
  while (started < 2) std::this_thread::yield();
  auto ids = thread_ids(::getpid());
  stop = true;
  for (auto& thread : threads) thread.join();

  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_GE(ids.size(), 3u);
  for (pid_t tid : {::getpid(), tids[0], tids[1]}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), tid), ids.end()) << tid;
  }
  EXPECT_TRUE(thread_ids(impossible_pid()).empty());
  EXPECT_TRUE(thread_ids(0).empty());
}

TEST(ReadTextFileTest, ReadsWholeFiles) {
  char path[] = "/tmp/maptrail_read_text_XXXXXX";
  UniqueFd file(::mkstemp(path));
  ASSERT_TRUE(file.valid());
  std::string content;
  for (int i = 0; content.size() < 300 * 1024; ++i) content += std::to_string(i) + "\n";
  ASSERT_EQ(::write(file.get(), content.data(), content.size()),
            static_cast<ssize_t>(content.size()));
  auto text = read_text_file(path);
  ::unlink(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, content);
}

TEST(ReadTextFileTest, ReadsSeqFilesBeyondTheirFirstPage) {
  // seq_file hands out about a page per read(); smaps of any process spans many pages.
  auto smaps = read_text_file("/proc/self/smaps");
  ASSERT_TRUE(smaps.ok());
  EXPECT_GT(smaps->size(), 16384u);
  ASSERT_TRUE(smaps->ends_with('\n'));
  size_t last_line = smaps->rfind('\n', smaps->size() - 2);
  EXPECT_EQ(smaps->compare(last_line + 1, 8, "VmFlags:"), 0);

  auto missing = read_text_file("/nonexistent/file");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().err, ENOENT);
  EXPECT_NE(missing.error().message.find("/nonexistent/file"), std::string::npos);
}

TEST(ProcAccessErrorTest, WordsErrorsForTheUser) {
  EXPECT_EQ(proc_access_error(42, "/proc/42/maps", ENOENT).message,
            "process 42 not found (it may have exited)");
  EXPECT_EQ(proc_access_error(42, "/proc/42/maps", ESRCH).err, ESRCH);
  EXPECT_EQ(proc_access_error(42, "/proc/42/maps", EACCES).message,
            "permission denied reading /proc/42/maps: run as root or as the process's owner");
  EXPECT_EQ(proc_access_error(42, "/proc/42/maps", EPERM).err, EPERM);
  EXPECT_EQ(proc_access_error(42, "/proc/42/maps", EIO).message,
            "/proc/42/maps: Input/output error");
}

}  // namespace
}  // namespace maptrail::procfs
