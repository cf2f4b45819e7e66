#include "symbolize/symbolizer.h"

#include <fmt/compile.h>
#include <fmt/format.h>

namespace maptrail::symbolize {

namespace {

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Symbolizer::Symbolizer()
    : runtime_modules_{"libc.so",  "ld-linux",    "libpthread",  "libstdc++",   "libgcc_s",
                       "libdl.so", "libjemalloc", "libtcmalloc", "libmimalloc", "ld.so"} {}

std::string Frame::to_string() const {
  if (!symbol.empty())
    return offset ? fmt::format(FMT_COMPILE("{}+{:#x}"), symbol, offset) : symbol;
  if (!module.empty()) return fmt::format(FMT_COMPILE("{}+{:#x}"), module, offset);
  return fmt::format(FMT_COMPILE("{:#x}"), addr);
}

bool Symbolizer::is_runtime(const Frame& frame) const {
  for (const auto& name : runtime_modules_)
    if (frame.module.rfind(name, 0) == 0) return true;
  return false;
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
  ElfModule* elf = modules_.module_for(*vma);
  if (!elf) return frame;
  auto [place, inserted] = places_.try_emplace({elf, file_offset});
  if (inserted) {
    place->second = {"", file_offset};
    if (auto at = elf->elf_address(file_offset))
      if (auto symbol = elf->symbol_at(*at)) place->second = {symbol->name, symbol->offset};
  }
  if (!place->second.first.empty()) {
    frame.symbol = place->second.first;
    frame.offset = place->second.second;
  }
  return frame;
}

}  // namespace maptrail::symbolize
