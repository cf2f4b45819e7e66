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
#include <unordered_set>
#include <vector>

#include "model/address_space.h"
#include "symbolize/address_cache.h"
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

  // Addresses answered from the per-address cache / looked up in the model and the module.
  uint64_t resolved_hits() const { return resolved_hits_; }
  uint64_t resolved_misses() const { return resolved_misses_; }

 private:
  // The uncached resolve. Says where the symbol's name is in places_ (if any), and whether
  // the address is in an executable VMA.
  struct Slow {
    const std::string* symbol = nullptr;
    bool code = false;
  };
  Slow resolve_slowly(const model::AddressSpace* layout, uint64_t addr, Frame& frame);
  uint64_t resolved_hits_ = 0, resolved_misses_ = 0;

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
  // What resolve() gives for one address of an address space (see AddressCache). The
  // strings live in names_ and places_, whose nodes never move.
  struct Resolved {
    const std::string* name = nullptr;    // the VMA's name ("[anon]" for an unnamed one)
    const std::string* symbol = nullptr;  // nullptr: none
    uint64_t offset = 0;                  // as Frame::offset
    uint32_t module_at = 0;               // where the file name starts in *name
    bool file = false;                    // *name is a path
  };
  AddressCache<Resolved, 4096> resolved_;
  static constexpr size_t kMaxNames = 1 << 16;
  std::unordered_set<std::string> names_;
  const std::string* last_name_ = nullptr;  // in names_
  std::vector<std::string> runtime_modules_;
};

}  // namespace maptrail::symbolize
