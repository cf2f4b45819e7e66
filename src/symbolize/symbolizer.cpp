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
  if (!layout) {
    resolve_slowly(layout, addr, frame);
    return;
  }
  const uint64_t epoch = layout->exec_epoch();
  auto& slot = resolved_.slot_for(epoch, addr);
  if (slot.holds(epoch, addr)) {
    resolved_hits_++;
    const Resolved& known = slot.value;
    frame.addr = addr;
    frame.module.assign(*known.name, known.module_at);
    if (known.file)
      frame.path.assign(*known.name);
    else
      frame.path.clear();
    if (known.symbol)
      frame.symbol.assign(*known.symbol);
    else
      frame.symbol.clear();
    frame.offset = known.offset;
    return;
  }
  resolved_misses_++;
  auto [symbol, code] = resolve_slowly(layout, addr, frame);
  // Only code: its names stay as long as the exec epoch; data mappings change all the time.
  if (!code) return;
  if (names_.size() >= kMaxNames) {  // a runaway of unique names: start over
    resolved_.clear();
    names_.clear();
    last_name_ = nullptr;
  }
  const bool file = !frame.path.empty();
  const std::string& name = file ? frame.path : frame.module;
  if (!last_name_ || *last_name_ != name) last_name_ = &*names_.insert(name).first;
  // consecutive frames are mostly in one module: last_name_ spares a hash of the path
  slot = {.epoch = epoch,
          .addr = addr,
          .value = {.name = last_name_,
                    .symbol = symbol,
                    .offset = frame.offset,
                    .module_at = uint32_t(last_name_->size() - frame.module.size()),
                    .file = file}};
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
