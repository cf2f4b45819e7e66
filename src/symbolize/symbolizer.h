// Turns user return addresses into module + symbol + offset, through the layout of the
// process's file mappings (so it needs no live /proc once the layout is known). Each file
// is opened once (ModuleCache) and each return address looked up once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "model/address_space.h"
#include "symbolize/elf_module.h"
#include "symbolize/unwinder.h"

namespace maptrail::symbolize {

struct Frame {
  uint64_t addr = 0;
  std::string module;   // file name without directories ("libc.so.6"), "[anon]", "" if unknown
  std::string path;     // full path of the module, when a file
  std::string symbol;   // demangled; empty when the module has no symbol for addr
  uint64_t offset = 0;  // from the symbol's start, or from the module's start when no symbol

  std::string to_string() const;  // "alloc_cache+0x1c", "libfoo.so+0x1234", "0x7f0012345678"
};

class Symbolizer {
 public:
  Symbolizer();
  Symbolizer(const Symbolizer&) = delete;  // the unwinder refers to this object's modules
  Symbolizer& operator=(const Symbolizer&) = delete;

  Frame resolve(const model::AddressSpace* layout, uint64_t addr);
  // The same into an existing frame: its strings keep their capacity, so a frame reused
  // from event to event costs no allocation once its names have fit.
  void resolve(const model::AddressSpace* layout, uint64_t addr, Frame& frame);

  // Modules whose frames are runtime plumbing (allocator, loader, libc), skipped when
  // choosing the caller shown in the log.
  void add_runtime_module(std::string name) { runtime_modules_.push_back(std::move(name)); }
  bool is_runtime(const Frame& frame) const;

  ModuleCache& modules() { return modules_; }
  // Unwinds copied stacks with the same modules (and keeps its rule cache across events).
  Unwinder& unwinder() { return unwinder_; }

 private:
  ModuleCache modules_;
  Unwinder unwinder_{modules_};
  // Return addresses repeat (a loop calls mmap from the same place): symbol and offset by
  // (module, file offset), so libdw is asked once per place.
  struct PlaceKey {
    const ElfModule* module;
    uint64_t file_offset;
    bool operator==(const PlaceKey&) const = default;
  };
  struct PlaceHash {
    size_t operator()(const PlaceKey& k) const {
      return std::hash<const void*>()(k.module) ^ (k.file_offset * 0x9e3779b97f4a7c15ull);
    }
  };
  std::unordered_map<PlaceKey, std::pair<std::string, uint64_t>, PlaceHash> places_;
  std::vector<std::string> runtime_modules_;
};

}  // namespace maptrail::symbolize
