#include "symbolize/symbolizer.h"

#include <string_view>

#include <fmt/compile.h>
#include <fmt/format.h>

namespace maptrail::symbolize {

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
  resolve(layout, addr, frame);
  return frame;
}

void Symbolizer::resolve(const model::AddressSpace* layout, uint64_t addr, Frame& frame) {
  frame.addr = addr;
  frame.offset = 0;
  frame.path.clear();
  frame.symbol.clear();
  const model::Vma* vma = layout ? layout->find(addr) : nullptr;
  if (!vma) {
    frame.module.clear();
    return;
  }
  const std::string& name = vma->name;
  if (name.empty() || name[0] != '/') {
    frame.module.assign(name.empty() ? std::string_view("[anon]") : std::string_view(name));
    frame.offset = addr - vma->start;
    return;
  }
  frame.path.assign(name);
  frame.module.assign(name, name.rfind('/') + 1);
  uint64_t file_offset = addr - vma->start + vma->offset;
  frame.offset = file_offset;
  ElfModule* elf = modules_.module_for(*vma);
  if (!elf) return;
  auto [place, inserted] = places_.try_emplace({elf, file_offset});
  if (inserted) {
    place->second = {"", file_offset};
    if (auto at = elf->elf_address(file_offset))
      if (auto symbol = elf->symbol_at(*at)) place->second = {symbol->name, symbol->offset};
  }
  if (!place->second.first.empty()) {
    frame.symbol.assign(place->second.first);
    frame.offset = place->second.second;
  }
}

}  // namespace maptrail::symbolize
