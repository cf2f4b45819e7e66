// DWARF unwinding of a copied user stack (DESIGN.md principle 4): the registers and the top
// of the stack captured at the syscall, the process's file mappings from the model, and
// each module's .eh_frame read through libdw. The rule for each return address (where the
// CFA is, where the caller's registers were saved) is asked of libdw once per module and
// offset, and kept again per address of the process, so a warm frame is one cache line.
//
// Where a frame has no CFI (JIT code, stripped modules) one frame-pointer step is tried,
// as perf does, before giving up.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "model/address_space.h"
#include "symbolize/address_cache.h"
#include "symbolize/elf_module.h"

namespace maptrail::symbolize {

constexpr int kUserRegs = 17;  // x86-64 DWARF registers 0..16 (rax..r15, rip)

struct Unwound {
  std::vector<uint64_t> pcs;  // innermost first: the syscall's pc, then return addresses
  enum class End {
    kOutermost,   // the CFI says there is no caller (_start, clone's child) or pc 0
    kNoModule,    // a pc outside any executable mapping
    kNoRule,      // no usable CFI and no frame pointer to follow
    kOutOfStack,  // a caller's frame lies beyond the copied stack
    kDepth,       // max_frames reached
  } end = End::kOutermost;
  int frame_pointer_steps = 0;  // frames found without CFI
  // The end of the stack bytes the unwind needed: with End::kOutermost, the top of the
  // thread's stack as far as any call from it can need.
  uint64_t used_top = 0;
};

// "outermost", "no_module", "no_rule", "out_of_stack", "depth"
const char* end_name(Unwound::End end);

class Unwinder {
 public:
  static constexpr size_t kMaxFrames = 128;

  explicit Unwinder(ModuleCache& modules) : modules_(modules) {}

  // `stack` was copied from regs[7] (rsp) upwards.
  Unwound unwind(const model::AddressSpace* layout, const std::array<uint64_t, kUserRegs>& regs,
                 std::span<const uint8_t> stack, size_t max_frames = kMaxFrames);

  // One copied stack unwound a frame at a time, only as far as its reader needs: the text
  // log shows the caller and two frames after it, often the 2nd to 5th of twenty, and each
  // frame unwound reads a rule and stack bytes the traced program has evicted from the CPU
  // caches. `layout`, `stack` and the Unwinder must outlive the walk.
  class Walk {
   public:
    // `pcs` is storage to reuse (its content is dropped).
    Walk(Unwinder& unwinder, const model::AddressSpace* layout,
         const std::array<uint64_t, kUserRegs>& regs, std::span<const uint8_t> stack,
         std::vector<uint64_t> pcs = {});
    // Unwinds until `frames` pcs are known or the stack ends there; at kMaxFrames it ends
    // (kDepth).
    void walk_to(size_t frames);
    bool ended() const { return ended_; }
    // So far; `end` holds only once ended().
    const Unwound& result() const { return out_; }
    Unwound& result() { return out_; }

   private:
    bool load(uint64_t addr, uint64_t& value);
    void step();  // one more pc, or ended_

    Unwinder& unwinder_;
    const model::AddressSpace* layout_;
    std::span<const uint8_t> stack_;
    uint64_t stack_lo_, stack_hi_;
    std::array<uint64_t, kUserRegs> now_;
    uint32_t known_;
    bool ended_ = false;
    Unwound out_;
  };

  size_t cached_rules() const { return rules_.size(); }
  // Return addresses answered from the per-address cache / looked up in the model and CFI.
  uint64_t place_hits() const { return place_hits_; }
  uint64_t place_misses() const { return place_misses_; }

  // How one register of the caller is found, relative to the CFA.
  struct RegisterRule {
    enum Kind : uint8_t { kSame, kUndefined, kAtCfa, kIsCfa, kUnsupported } kind = kSame;
    int64_t offset = 0;
  };
  // The CFI at one pc, reduced to what x86-64 code uses, in 40 bytes: the registers a
  // function saves are the 6 callee-saved ones and the return address, at small offsets
  // from the CFA. A rule needing more is left unusable (a frame-pointer step is tried).
  struct Rule {
    static constexpr int kMaxComputed = 7;
    int32_t cfa_offset = 0;
    uint32_t same_registers = 0;  // kept as they are in the caller
    uint8_t cfa_register = 7;
    uint8_t return_address_register = 16;
    bool usable : 1 = false;  // CFA = register + offset, nothing exotic
    bool return_address_undefined : 1 = false;
    uint8_t ncomputed = 0;  // the others that the caller gets back: loaded or computed
    struct Computed {
      uint8_t reg;
      RegisterRule::Kind kind;  // kAtCfa or kIsCfa
      int16_t offset;
    };
    std::array<Computed, kMaxComputed> computed{};
  };

 private:
  // What one pc of an address space leads to (see AddressCache).
  struct Place {
    Rule rule;
    bool in_code = false;  // inside an executable VMA
  };
  const Place& place_at(const model::AddressSpace& layout, uint64_t pc);
  const Rule* rule_at(ElfModule* module, uint64_t elf_address);

  ModuleCache& modules_;
  struct Key {
    const ElfModule* module;
    uint64_t address;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<const void*>()(k.module) ^ (k.address * 0x9e3779b97f4a7c15ull);
    }
  };
  std::unordered_map<Key, Rule, KeyHash> rules_;
  AddressCache<Place, 4096> places_;
  uint64_t place_hits_ = 0, place_misses_ = 0;
};

}  // namespace maptrail::symbolize
