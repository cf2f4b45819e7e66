#include "symbolize/symbolizer.h"

#include <algorithm>
#include <bit>
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
  if (!layout) {
    resolve_slowly(layout, addr, frame);
    return;
  }
  if (resolved_.empty()) resolved_.resize(kResolvedSlots);
  const uint64_t epoch = layout->exec_epoch();
  uint64_t hash = (addr ^ (epoch << 40)) * 0x9e3779b97f4a7c15ull;
  Resolved& slot = resolved_[hash >> (64 - std::countr_zero(kResolvedSlots))];
  if (slot.epoch == epoch && slot.addr == addr) {
    resolved_hits_++;
    frame.addr = addr;
    frame.module.assign(*slot.name, slot.module_at);
    if (slot.file)
      frame.path.assign(*slot.name);
    else
      frame.path.clear();
    if (slot.symbol)
      frame.symbol.assign(*slot.symbol);
    else
      frame.symbol.clear();
    frame.offset = slot.offset;
    return;
  }
  resolved_misses_++;
  auto [symbol, code] = resolve_slowly(layout, addr, frame);
  // Only code: its names stay as long as the exec epoch; data mappings change all the time.
  if (!code) return;
  if (names_.size() >= kMaxNames) {  // a runaway of unique names: start over
    std::fill(resolved_.begin(), resolved_.end(), Resolved{});
    names_.clear();
    last_name_ = nullptr;
  }
  slot = Resolved{.epoch = epoch, .addr = addr, .offset = frame.offset};
  slot.file = !frame.path.empty();
  const std::string& name = slot.file ? frame.path : frame.module;
  if (!last_name_ || *last_name_ != name) last_name_ = &*names_.insert(name).first;
  slot.name = last_name_;  // consecutive frames are mostly in one module
  slot.module_at = uint32_t(slot.name->size() - frame.module.size());
  slot.symbol = symbol;
}

Symbolizer::Slow Symbolizer::resolve_slowly(const model::AddressSpace* layout, uint64_t addr,
                                            Frame& frame) {
  frame.addr = addr;
  frame.offset = 0;
  frame.path.clear();
  frame.symbol.clear();
  const model::Vma* vma = layout ? layout->find(addr) : nullptr;
  if (!vma) {
    frame.module.clear();
    return {};
  }
  const bool code = vma->perms & model::kExec;
  const std::string& name = vma->name;
  if (name.empty() || name[0] != '/') {
    frame.module.assign(name.empty() ? std::string_view("[anon]") : std::string_view(name));
    frame.offset = addr - vma->start;
    return {nullptr, code};
  }
  frame.path.assign(name);
  frame.module.assign(name, name.rfind('/') + 1);
  uint64_t file_offset = addr - vma->start + vma->offset;
  frame.offset = file_offset;
  ElfModule* elf = modules_.module_for(*vma);
  if (!elf) return {nullptr, code};
  auto [place, inserted] = places_.try_emplace({elf, file_offset});
  if (inserted) {
    place->second = {"", file_offset};
    if (auto at = elf->elf_address(file_offset))
      if (auto symbol = elf->symbol_at(*at)) place->second = {symbol->name, symbol->offset};
  }
  if (!place->second.first.empty()) {
    frame.symbol.assign(place->second.first);
    frame.offset = place->second.second;
    return {&place->second.first, code};
  }
  return {nullptr, code};
}

}  // namespace maptrail::symbolize
