// ElfModule's own symbol table against libdwfl's lookup, over a whole real library.
#include "symbolize/elf_module.h"

#include <elfutils/libdwfl.h>
#include <gtest/gtest.h>

#include <string>

namespace maptrail::symbolize {
namespace {

constexpr const char* kLibc = "/lib/x86_64-linux-gnu/libc.so.6";

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

}  // namespace
}  // namespace maptrail::symbolize
