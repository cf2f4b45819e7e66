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

// libdwfl's view of a file, the reference ElfModule is checked against.
class Reference {
 public:
  explicit Reference(const char* path) {
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = nullptr,
    };
    dwfl_ = dwfl_begin(&callbacks);
    if (!dwfl_) return;
    dwfl_report_begin(dwfl_);
    module_ = dwfl_report_offline(dwfl_, path, path, -1);
    dwfl_report_end(dwfl_, nullptr, nullptr);
    if (module_ && !dwfl_module_getelf(module_, &bias_)) module_ = nullptr;
  }
  ~Reference() {
    if (dwfl_) dwfl_end(dwfl_);
  }
  Reference(const Reference&) = delete;
  Reference& operator=(const Reference&) = delete;

  Dwfl_Module* module() const { return module_; }
  GElf_Addr bias() const { return bias_; }

  // Calls visit(address in the ELF's own terms, size) for every sized function.
  template <class Visit>
  void for_each_function(Visit visit) const {
    int count = dwfl_module_getsymtab(module_);
    for (int i = 1; i < count; i++) {
      GElf_Sym sym;
      GElf_Addr at;
      const char* name = dwfl_module_getsym_info(module_, i, &sym, &at, nullptr, nullptr, nullptr);
      if (!name || GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size < 2) continue;
      visit(at - bias_, sym.st_size);
    }
  }

 private:
  Dwfl* dwfl_ = nullptr;
  Dwfl_Module* module_ = nullptr;
  GElf_Addr bias_ = 0;
};

// For the middle of every sized function of the file, the symbol found starts where the
// one libdwfl's dwfl_module_addrinfo finds starts (the names may differ: of several aliases
// at one address ElfModule shows the preferred one).
void expect_agrees_with_libdwfl(const char* path) {
  auto module = ElfModule::open(path);
  ASSERT_TRUE(module) << path;
  Reference reference(path);
  ASSERT_TRUE(reference.module()) << path;

  int checked = 0, disagreed = 0;
  std::string first_disagreement;
  reference.for_each_function([&](GElf_Addr start, GElf_Xword size) {
    GElf_Addr probe = start + size / 2;
    GElf_Off expected_offset = 0;
    GElf_Sym found;
    const char* expected =
        dwfl_module_addrinfo(reference.module(), probe + reference.bias(), &expected_offset, &found,
                             nullptr, nullptr, nullptr);
    if (!expected) return;
    auto mine = module->symbol_at(probe);
    checked++;
    if (!mine || mine->offset != expected_offset) {
      if (disagreed++ == 0)
        first_disagreement = std::string(expected) + "+" + std::to_string(expected_offset) +
                             " vs " +
                             (mine ? mine->name + "+" + std::to_string(mine->offset) : "none");
    }
  });
  EXPECT_GT(checked, 1000) << path << " has thousands of functions";
  EXPECT_EQ(disagreed, 0) << path << ", first: " << first_disagreement;
}

bool has_symtab(const char* path) {
  Reference reference(path);
  GElf_Addr ignored;
  Elf* elf = reference.module() ? dwfl_module_getelf(reference.module(), &ignored) : nullptr;
  for (Elf_Scn* scn = elf ? elf_nextscn(elf, nullptr) : nullptr; scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_SYMTAB) return true;
  }
  return false;
}

// Debian's libc has no .symtab: its symbols come through libdwfl (.dynsym).
TEST(ElfModule, AgreesWithLibdwflOnEveryFunctionOfLibc) {
  ASSERT_FALSE(has_symtab(kLibc)) << "this test is meant for libdwfl's path";
  expect_agrees_with_libdwfl(kLibc);
}

// This test program keeps its .symtab: ElfModule reads it in place.
TEST(ElfModule, AgreesWithLibdwflOnEveryFunctionOfItsOwnSymtab) {
  std::string self = std::filesystem::read_symlink("/proc/self/exe");
  ASSERT_TRUE(has_symtab(self.c_str())) << self << " was built without a .symtab";
  expect_agrees_with_libdwfl(self.c_str());
}

// Reading .symtab in place gives the very table libdwfl's reading of it gives: the same
// name and offset at the start and in the middle of every function, and between them.
TEST(ElfModule, OwnSymtabReaderMatchesLibdwflReader) {
  std::string self = std::filesystem::read_symlink("/proc/self/exe");
  auto own = ElfModule::open(self);
  auto through_libdwfl = ElfModule::open(self, ElfModule::SymbolSource::kLibdwfl);
  ASSERT_TRUE(own && through_libdwfl);
  Reference reference(self.c_str());
  ASSERT_TRUE(reference.module());
  int checked = 0, named = 0;
  reference.for_each_function([&](GElf_Addr start, GElf_Xword size) {
    for (GElf_Addr probe : {start, start + size / 2, start + size - 1, start + size}) {
      auto a = own->symbol_at(probe);
      auto b = through_libdwfl->symbol_at(probe);
      checked++;
      ASSERT_EQ(a.has_value(), b.has_value()) << std::hex << probe;
      if (!a) continue;
      named++;
      ASSERT_EQ(a->name, b->name) << std::hex << probe;
      ASSERT_EQ(a->offset, b->offset) << std::hex << probe;
    }
  });
  EXPECT_GT(checked, 4000);
  EXPECT_GT(named, checked / 2);
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
