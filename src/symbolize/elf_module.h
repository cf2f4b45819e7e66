// One ELF file as the symbolizer and the unwinder need it: its load segments (to turn a
// file offset into the ELF's own addresses), its symbols (its own .symtab read in place;
// without one, through libdwfl: .dynsym, .gnu_debugdata, separate debug info on this
// machine) and its call-frame information (.eh_frame, through libdw). Opened once per file and
// cached by ModuleCache.
#pragma once

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "model/vma.h"

namespace maptrail::symbolize {

class ElfModule {
 public:
  // Where the symbols come from: the file's own .symtab read in place when it has one, else
  // libdwfl (kAuto); or libdwfl always, which reads the same table more slowly (kLibdwfl:
  // for tests that compare the two).
  enum class SymbolSource { kAuto, kLibdwfl };
  // nullptr when the file cannot be opened as ELF.
  static std::unique_ptr<ElfModule> open(const std::string& path,
                                         SymbolSource symbols = SymbolSource::kAuto);
  ~ElfModule();
  ElfModule(const ElfModule&) = delete;
  ElfModule& operator=(const ElfModule&) = delete;

  // A file offset -> the address the ELF itself uses (p_vaddr based), if a PT_LOAD has it.
  std::optional<uint64_t> elf_address(uint64_t file_offset) const;

  struct Symbol {
    std::string name;  // demangled, the preferred one of several aliases
    uint64_t offset = 0;
  };
  // The symbol containing an ELF address.
  std::optional<Symbol> symbol_at(uint64_t elf_address);

  // .eh_frame (or .debug_frame) call-frame information; nullptr when the file has none.
  Dwarf_CFI* cfi();

 private:
  ElfModule() = default;
  void build_symbols();

  Dwfl* dwfl_ = nullptr;
  Dwfl_Module* module_ = nullptr;
  GElf_Addr bias_ = 0;  // where libdwfl placed the module
  Elf* elf_ = nullptr;
  std::vector<GElf_Phdr> loads_;
  struct SymbolEntry {
    GElf_Addr start, end;  // in libdwfl's addresses (ELF address + bias_)
    const char* name;      // in the ELF's string table, alive as long as dwfl_
  };
  SymbolSource symbol_source_ = SymbolSource::kAuto;
  bool symbols_built_ = false;
  std::vector<SymbolEntry> symbols_;  // by start, one per address
  bool cfi_opened_ = false;
  Dwarf_CFI* cfi_ = nullptr;
};

// Every ELF file met, by device and inode (and path, for files the kernel names without an
// inode). The same file in many processes, or after its process exited, is opened once.
class ModuleCache {
 public:
  // The module of a file-backed VMA; nullptr when the file is not ELF or cannot be read.
  ElfModule* module_for(const model::Vma& vma);

 private:
  struct Key {
    uint32_t dev_major, dev_minor;
    uint64_t inode;
    std::string path;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.inode ^ (uint64_t(k.dev_major) << 52) ^
                                   (uint64_t(k.dev_minor) << 32));
    }
  };
  std::unordered_map<Key, std::unique_ptr<ElfModule>, KeyHash> modules_;
  // Consecutive frames are mostly in the same file.
  model::Vma last_key_;
  ElfModule* last_module_ = nullptr;
};

}  // namespace maptrail::symbolize
