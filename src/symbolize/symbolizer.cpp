#include "symbolize/symbolizer.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <cstdlib>
#include <cstring>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

namespace maptrail::symbolize {

namespace {

std::string demangle(const char* name) {
  if (!name) return {};
  if (name[0] != '_' || name[1] != 'Z') return name;
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

constexpr const char* kDeletedSuffix = " (deleted)";

}  // namespace

// One ELF file, reported to its own offline Dwfl so that symbol lookups use libdwfl's
// handling of .symtab, .dynsym, .gnu_debugdata and separate debug info.
struct Symbolizer::ElfModule {
  Dwfl* dwfl = nullptr;
  Dwfl_Module* module = nullptr;
  GElf_Addr bias = 0;
  std::vector<GElf_Phdr> loads;

  bool aliases_built = false;
  std::unordered_map<GElf_Addr, std::string> preferred;

  // Lower is better: global over weak over local, then fewer leading underscores, then shorter.
  static std::tuple<int, size_t, size_t> rank(const GElf_Sym& sym, const char* name) {
    int binding = GELF_ST_BIND(sym.st_info);
    int bind_rank = binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 1 : 2;
    size_t underscores = strspn(name, "_");
    return {bind_rank, underscores, strlen(name)};
  }

  void build_aliases() {
    aliases_built = true;
    std::unordered_map<GElf_Addr, std::tuple<int, size_t, size_t>> best;
    int count = dwfl_module_getsymtab(module);
    for (int i = 1; i < count; i++) {
      GElf_Sym sym;
      GElf_Addr addr;
      const char* name = dwfl_module_getsym_info(module, i, &sym, &addr, nullptr, nullptr, nullptr);
      if (!name || !*name) continue;
      int type = GELF_ST_TYPE(sym.st_info);
      if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT) continue;
      auto r = rank(sym, name);
      auto [it, inserted] = best.try_emplace(addr, r);
      if (inserted || r < it->second) {
        it->second = r;
        preferred[addr] = name;
      }
    }
  }

  ~ElfModule() {
    if (dwfl) dwfl_end(dwfl);
  }

  bool open(const std::string& path) {
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = nullptr,
    };
    dwfl = dwfl_begin(&callbacks);
    if (!dwfl) return false;
    dwfl_report_begin(dwfl);
    module = dwfl_report_offline(dwfl, path.c_str(), path.c_str(), -1);
    dwfl_report_end(dwfl, nullptr, nullptr);
    if (!module) return false;
    Elf* elf = dwfl_module_getelf(module, &bias);
    if (!elf) return false;
    size_t count = 0;
    if (elf_getphdrnum(elf, &count) != 0) return false;
    for (size_t i = 0; i < count; i++) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, i, &phdr) && phdr.p_type == PT_LOAD) loads.push_back(phdr);
    }
    return true;
  }

  // Several names often share one address (malloc and __libc_malloc): show the one a
  // person would write, like perf does. Built once per module, on first use.
  const std::string* preferred_name(GElf_Addr addr) {
    if (!aliases_built) build_aliases();
    auto it = preferred.find(addr);
    return it == preferred.end() ? nullptr : &it->second;
  }

  // File offset -> the address libdwfl knows the module by.
  bool file_offset_to_address(uint64_t offset, GElf_Addr* addr) const {
    for (const auto& p : loads) {
      if (offset >= p.p_offset && offset < p.p_offset + std::max(p.p_filesz, p.p_memsz)) {
        *addr = offset - p.p_offset + p.p_vaddr + bias;
        return true;
      }
    }
    return false;
  }
};

Symbolizer::Symbolizer()
    : runtime_modules_{"libc.so",  "ld-linux",    "libpthread",  "libstdc++",   "libgcc_s",
                       "libdl.so", "libjemalloc", "libtcmalloc", "libmimalloc", "ld.so"} {}
Symbolizer::~Symbolizer() = default;

std::string Frame::to_string() const {
  if (!symbol.empty()) return offset ? fmt::format("{}+{:#x}", symbol, offset) : symbol;
  if (!module.empty()) return fmt::format("{}+{:#x}", module, offset);
  return fmt::format("{:#x}", addr);
}

bool Symbolizer::is_runtime(const Frame& frame) const {
  for (const auto& name : runtime_modules_)
    if (frame.module.rfind(name, 0) == 0) return true;
  return false;
}

Symbolizer::ElfModule* Symbolizer::module_for(const model::Vma& vma) {
  auto key = std::make_tuple(vma.dev_major, vma.dev_minor, vma.inode, vma.name);
  auto it = modules_.find(key);
  if (it != modules_.end()) return it->second.get();
  auto module = std::make_unique<ElfModule>();
  std::string path = vma.name;
  if (path.ends_with(kDeletedSuffix)) path.resize(path.size() - strlen(kDeletedSuffix));
  if (!module->open(path)) module.reset();
  return modules_.emplace(key, std::move(module)).first->second.get();
}

Frame Symbolizer::resolve(const model::AddressSpace* layout, uint64_t addr) {
  Frame frame;
  frame.addr = addr;
  const model::Vma* vma = layout ? layout->find(addr) : nullptr;
  if (!vma) return frame;
  if (vma->name.empty() || vma->name[0] != '/') {
    frame.module = vma->name.empty() ? "[anon]" : vma->name;
    frame.offset = addr - vma->start;
    return frame;
  }
  frame.path = vma->name;
  frame.module = basename_of(vma->name);
  uint64_t file_offset = addr - vma->start + vma->offset;
  frame.offset = file_offset;
  ElfModule* elf = module_for(*vma);
  if (!elf) return frame;
  if (auto cached = places_.find({elf, file_offset}); cached != places_.end()) {
    if (!cached->second.first.empty()) {
      frame.symbol = cached->second.first;
      frame.offset = cached->second.second;
    }
    return frame;
  }
  auto& place = places_[{elf, file_offset}];
  place = {"", file_offset};
  GElf_Addr module_addr;
  if (!elf->file_offset_to_address(file_offset, &module_addr)) return frame;
  GElf_Off symbol_offset = 0;
  GElf_Sym sym;
  const char* name = dwfl_module_addrinfo(elf->module, module_addr, &symbol_offset, &sym, nullptr,
                                          nullptr, nullptr);
  if (name) {
    const std::string* alias = elf->preferred_name(module_addr - symbol_offset);
    frame.symbol = demangle(alias ? alias->c_str() : name);
    frame.offset = symbol_offset;
    place = {frame.symbol, frame.offset};
  }
  return frame;
}

}  // namespace maptrail::symbolize
