#include "symbolize/elf_module.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <vector>

#include "util/radix_sort.h"

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

// Lower is better: global over weak over local, then fewer leading underscores, then shorter.
std::tuple<int, size_t, size_t> alias_rank(int binding, const char* name) {
  int bind_rank = binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 1 : 2;
  return {bind_rank, strspn(name, "_"), strlen(name)};
}

constexpr const char* kDeletedSuffix = " (deleted)";

// Separate debug files on this machine only, where distributions install them (build-id
// path, then .gnu_debuglink). Not dwfl_standard_find_debuginfo: when DEBUGINFOD_URLS is set
// it asks a debuginfod server for every stripped module: a download in the middle of
// tracing while records wait.
// libdwfl checks that the file it is given carries the module's build id.
int find_local_debuginfo(Dwfl_Module* mod, void**, const char*, Dwarf_Addr, const char* file_name,
                         const char* debuglink, GElf_Word, char** debuginfo_file_name) {
  constexpr const char* kDebugRoot = "/usr/lib/debug";
  std::vector<std::string> candidates;
  const unsigned char* id = nullptr;
  GElf_Addr id_vaddr = 0;
  int id_len = dwfl_module_build_id(mod, &id, &id_vaddr);
  if (id_len > 1) {
    std::string hex;
    for (int i = 0; i < id_len; i++) hex += fmt::format("{:02x}", id[i]);
    candidates.push_back(
        fmt::format("{}/.build-id/{}/{}.debug", kDebugRoot, hex.substr(0, 2), hex.substr(2)));
  }
  if (debuglink && *debuglink && file_name) {
    std::string dir = std::filesystem::path(file_name).parent_path().string();
    candidates.push_back(fmt::format("{}/{}", dir, debuglink));
    candidates.push_back(fmt::format("{}/.debug/{}", dir, debuglink));
    candidates.push_back(fmt::format("{}{}/{}", kDebugRoot, dir, debuglink));
  }
  for (const auto& candidate : candidates) {
    if (file_name && candidate == file_name) continue;  // a debuglink naming the file itself
    int fd = ::open(candidate.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    *debuginfo_file_name = strdup(candidate.c_str());
    return fd;
  }
  return -1;
}

}  // namespace

std::unique_ptr<ElfModule> ElfModule::open(const std::string& path, SymbolSource symbols) {
  static const Dwfl_Callbacks callbacks = {
      .find_elf = dwfl_build_id_find_elf,
      .find_debuginfo = find_local_debuginfo,
      .section_address = dwfl_offline_section_address,
      .debuginfo_path = nullptr,
  };
  std::unique_ptr<ElfModule> m(new ElfModule);  // private constructor: no make_unique
  m->symbol_source_ = symbols;
  m->dwfl_ = dwfl_begin(&callbacks);
  if (!m->dwfl_) return nullptr;
  dwfl_report_begin(m->dwfl_);
  m->module_ = dwfl_report_offline(m->dwfl_, path.c_str(), path.c_str(), -1);
  dwfl_report_end(m->dwfl_, nullptr, nullptr);
  if (!m->module_) return nullptr;
  m->elf_ = dwfl_module_getelf(m->module_, &m->bias_);
  if (!m->elf_) return nullptr;
  size_t count = 0;
  if (elf_getphdrnum(m->elf_, &count) != 0) return nullptr;
  for (size_t i = 0; i < count; i++) {
    GElf_Phdr phdr;
    if (gelf_getphdr(m->elf_, i, &phdr) && phdr.p_type == PT_LOAD) m->loads_.push_back(phdr);
  }
  return m;
}

ElfModule::~ElfModule() {
  if (cfi_) dwarf_cfi_end(cfi_);
  if (dwfl_) dwfl_end(dwfl_);
}

std::optional<uint64_t> ElfModule::elf_address(uint64_t file_offset) const {
  for (const auto& p : loads_)
    if (file_offset >= p.p_offset && file_offset < p.p_offset + std::max(p.p_filesz, p.p_memsz))
      return file_offset - p.p_offset + p.p_vaddr;
  return std::nullopt;
}

namespace {

struct Candidate {
  GElf_Addr start;
  GElf_Xword size;
  const char* name;
  bool untyped;     // an assembler label (_dl_start_user): named only if nothing else is
  uint8_t binding;  // global, weak, local
};

bool names_code_or_data(const GElf_Sym& sym) {
  int type = GELF_ST_TYPE(sym.st_info);
  return type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_OBJECT || type == STT_NOTYPE;
}

Candidate candidate(const GElf_Sym& sym, GElf_Addr at, const char* name) {
  return {at, sym.st_size, name, GELF_ST_TYPE(sym.st_info) == STT_NOTYPE,
          uint8_t(GELF_ST_BIND(sym.st_info))};
}

// The file's own .symtab, read where it lies. libdwfl reads the same table when a file has
// one (it looks no further), but asks for each symbol's section and address through several
// calls: for libjvm.so's 58,000 symbols that was a quarter of the CPU maptrail spends on the
// first JVM start it sees. false: no .symtab (or not a 64-bit executable or library), so
// libdwfl looks for one elsewhere.
bool read_own_symtab(Elf* elf, GElf_Addr bias, std::vector<Candidate>& out) {
  GElf_Ehdr ehdr;
  if (!gelf_getehdr(elf, &ehdr) || ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
      (ehdr.e_type != ET_DYN && ehdr.e_type != ET_EXEC))
    return false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB) continue;
    Elf_Data* symbols = elf_getdata(scn, nullptr);
    Elf_Scn* strings_scn = elf_getscn(elf, shdr.sh_link);
    Elf_Data* strings = strings_scn ? elf_getdata(strings_scn, nullptr) : nullptr;
    if (!symbols || !strings || strings->d_size == 0 || symbols->d_type != ELF_T_SYM ||
        static_cast<const char*>(strings->d_buf)[strings->d_size - 1] != '\0')
      return false;
    const auto* syms = static_cast<const Elf64_Sym*>(symbols->d_buf);
    const auto* names = static_cast<const char*>(strings->d_buf);
    size_t count = symbols->d_size / sizeof(Elf64_Sym);
    out.reserve(count);
    for (size_t i = 1; i < count; i++) {
      const Elf64_Sym& sym = syms[i];
      if (sym.st_shndx == SHN_UNDEF || sym.st_shndx == SHN_ABS || !names_code_or_data(sym) ||
          sym.st_name == 0 || sym.st_name >= strings->d_size || names[sym.st_name] == '\0')
        continue;
      out.push_back(candidate(sym, sym.st_value + bias, names + sym.st_name));
    }
    return true;
  }
  return false;
}

// Whatever symbols libdwfl found: .dynsym, .gnu_debugdata, a separate debug file.
void read_dwfl_symbols(Dwfl_Module* module, std::vector<Candidate>& out) {
  int count = dwfl_module_getsymtab(module);
  out.reserve(std::max(count, 0));
  for (int i = 1; i < count; i++) {
    GElf_Sym sym;
    GElf_Addr at;
    GElf_Word section = SHN_UNDEF;
    const char* name = dwfl_module_getsym_info(module, i, &sym, &at, &section, nullptr, nullptr);
    if (!name || !*name || section == SHN_UNDEF || section == SHN_ABS || !names_code_or_data(sym))
      continue;
    out.push_back(candidate(sym, at, name));
  }
}

}  // namespace

// One table per module, sorted by address, built on first use from every function and
// object symbol. libdwfl's own dwfl_module_addrinfo scans the whole symbol table at every
// call: the first events of a JVM, each frame in libjvm.so, cost most of a second of CPU
// that way. Several names often share one address (malloc and __libc_malloc): the one a
// person would write is kept, like perf does.
void ElfModule::build_symbols() {
  symbols_built_ = true;
  std::vector<Candidate> found;
  if (symbol_source_ == SymbolSource::kLibdwfl || !read_own_symtab(elf_, bias_, found))
    read_dwfl_symbols(module_, found);
  // By address alone, and names ranked only where aliases share one: the first JVM traced
  // waits on this table, and most addresses have a single name.
  util::radix_sort(found, [](const Candidate& c) { return c.start; });
  auto rank = [](const Candidate& c) {
    return std::make_tuple(c.untyped, alias_rank(c.binding, c.name));
  };
  symbols_.reserve(found.size());
  for (size_t i = 0; i < found.size();) {
    size_t best = i, next = i + 1;
    GElf_Addr end = found[i].start + found[i].size;
    if (next < found.size() && found[next].start == found[i].start) {
      auto best_rank = rank(found[i]);
      for (; next < found.size() && found[next].start == found[i].start; next++) {
        // an alias: the best-ranked name is kept, with the longest size any of them gives
        end = std::max(end, found[next].start + found[next].size);
        auto next_rank = rank(found[next]);
        if (next_rank < best_rank) best = next, best_rank = next_rank;
      }
    }
    symbols_.push_back({found[i].start, end, found[best].name});
    i = next;
  }
  // A symbol without a size reaches the next one, as libdwfl takes it.
  for (size_t i = 0; i < symbols_.size(); i++)
    if (symbols_[i].end == symbols_[i].start)
      symbols_[i].end = i + 1 < symbols_.size() ? symbols_[i + 1].start : symbols_[i].start + 1;
}

std::optional<ElfModule::Symbol> ElfModule::symbol_at(uint64_t elf_address) {
  if (!symbols_built_) build_symbols();
  GElf_Addr addr = elf_address + bias_;
  auto after = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                                [](GElf_Addr a, const SymbolEntry& e) { return a < e.start; });
  // The nearest start at or below addr; a few more back in case that one is nested inside
  // a bigger symbol that also holds addr.
  for (int back = 0; back < 4 && after != symbols_.begin(); back++) {
    const SymbolEntry& e = *--after;
    if (addr >= e.end) continue;
    std::string chosen = e.name;
    // "pthread_create@GLIBC_2.2.5": the symbol version says nothing about the caller.
    if (auto at = chosen.find('@'); at != std::string::npos && at > 0) chosen.resize(at);
    return Symbol{demangle(chosen.c_str()), addr - e.start};
  }
  return std::nullopt;
}

Dwarf_CFI* ElfModule::cfi() {
  if (!cfi_opened_) {
    cfi_opened_ = true;
    cfi_ = dwarf_getcfi_elf(elf_);
  }
  return cfi_;
}

ElfModule* ModuleCache::module_for(const model::Vma& vma) {
  if (last_module_ && vma.inode == last_key_.inode && vma.dev_major == last_key_.dev_major &&
      vma.dev_minor == last_key_.dev_minor && vma.name == last_key_.name)
    return last_module_;
  Key key{vma.dev_major, vma.dev_minor, vma.inode, vma.name};
  auto it = modules_.find(key);
  if (it == modules_.end()) {
    std::string path = vma.name;
    if (path.ends_with(kDeletedSuffix)) path.resize(path.size() - strlen(kDeletedSuffix));
    it = modules_.emplace(std::move(key), ElfModule::open(path)).first;
  }
  last_key_ = vma;
  last_module_ = it->second.get();
  return last_module_;
}

}  // namespace maptrail::symbolize
