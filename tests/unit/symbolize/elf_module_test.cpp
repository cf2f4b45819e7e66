// ElfModule's own symbol table against libdwfl's lookup, over a whole real library.
#include "symbolize/elf_module.h"

#include <arpa/inet.h>
#include <elfutils/libdwfl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace maptrail::symbolize {
namespace {

constexpr const char* kLibc = "/lib/x86_64-linux-gnu/libc.so.6";
constexpr const char* kStrippedProgram = "/usr/bin/bash";

// For the middle of every sized function of libc, the symbol found starts where the one
// libdwfl's dwfl_module_addrinfo finds starts (the names may differ: of several aliases at
// one address ElfModule shows the preferred one).
TEST(ElfModule, AgreesWithLibdwflOnEveryFunctionOfLibc) {
  auto module = ElfModule::open(kLibc);
  ASSERT_TRUE(module) << kLibc;

  static const Dwfl_Callbacks callbacks = {
      .find_elf = dwfl_build_id_find_elf,
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .section_address = dwfl_offline_section_address,
      .debuginfo_path = nullptr,
  };
  Dwfl* dwfl = dwfl_begin(&callbacks);
  ASSERT_TRUE(dwfl);
  dwfl_report_begin(dwfl);
  Dwfl_Module* reference = dwfl_report_offline(dwfl, kLibc, kLibc, -1);
  dwfl_report_end(dwfl, nullptr, nullptr);
  ASSERT_TRUE(reference);
  GElf_Addr bias = 0;
  ASSERT_TRUE(dwfl_module_getelf(reference, &bias));

  int checked = 0, disagreed = 0;
  std::string first_disagreement;
  int count = dwfl_module_getsymtab(reference);
  for (int i = 1; i < count; i++) {
    GElf_Sym sym;
    GElf_Addr at;
    const char* name = dwfl_module_getsym_info(reference, i, &sym, &at, nullptr, nullptr, nullptr);
    if (!name || GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size < 2) continue;
    GElf_Addr probe = at + sym.st_size / 2;
    GElf_Off expected_offset = 0;
    GElf_Sym found;
    const char* expected =
        dwfl_module_addrinfo(reference, probe, &expected_offset, &found, nullptr, nullptr, nullptr);
    if (!expected) continue;
    auto mine = module->symbol_at(probe - bias);
    checked++;
    if (!mine || mine->offset != expected_offset) {
      if (disagreed++ == 0)
        first_disagreement = std::string(expected) + "+" + std::to_string(expected_offset) +
                             " vs " +
                             (mine ? mine->name + "+" + std::to_string(mine->offset) : "none");
    }
  }
  dwfl_end(dwfl);
  EXPECT_GT(checked, 1000) << "libc has thousands of functions";
  EXPECT_EQ(disagreed, 0) << "first: " << first_disagreement;
}

// With DEBUGINFOD_URLS set (Debian sets it in login shells when debuginfod was enabled at
// install), a stripped program's symbols and unwind rules come from the machine alone: no
// connection reaches the server, here a listening socket on the loopback that no one answers. libdw
// reads the variable when it is loaded: the module is opened in a new image of this test
// (a "threadsafe" death test re-executes it) started with the variable set.
TEST(ElfModule, AsksNoDebuginfodServer) {
  int server = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(server, 16), 0);
  ASSERT_EQ(getsockname(server, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  auto cache =
      std::filesystem::temp_directory_path() / ("maptrail-debuginfod-" + std::to_string(getpid()));
  // Not overwritten: the death test's new image runs this function again, and must ask the
  // server of the image that started it.
  setenv("DEBUGINFOD_URLS", url.c_str(), 0);
  setenv("DEBUGINFOD_TIMEOUT", "1", 0);  // a failing run ends in seconds, not minutes
  setenv("DEBUGINFOD_CACHE_PATH", cache.c_str(), 0);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        // A stripped program: libdwfl looks for its symbols in a separate debug file.
        auto module = ElfModule::open(kStrippedProgram);
        if (module) {
          module->symbol_at(0x10000);
          module->cfi();
        }
        std::exit(module ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
  unsetenv("DEBUGINFOD_URLS");
  unsetenv("DEBUGINFOD_TIMEOUT");
  unsetenv("DEBUGINFOD_CACHE_PATH");
  int accepted = accept(server, nullptr, nullptr);
  int accept_errno = errno;
  EXPECT_EQ(accepted, -1) << kStrippedProgram << "'s debug info was asked of " << url;
  EXPECT_EQ(accept_errno, EAGAIN);
  if (accepted >= 0) close(accepted);
  close(server);
  std::filesystem::remove_all(cache);
}

}  // namespace
}  // namespace maptrail::symbolize
