#include "symbolize/unwinder.h"

#include <dwarf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace maptrail::symbolize {

namespace {

constexpr int kRsp = 7, kRbp = 6, kRip = 16;

constexpr uint32_t bit(int reg) {
  return 1u << reg;
}

// CFA = register + offset, the only CFA rule compilers emit outside PLT stubs.
bool simple_cfa(Dwarf_Frame* frame, Unwinder::Rule& rule) {
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1) return false;
  uint64_t reg;
  int64_t offset;
  if (ops[0].atom == DW_OP_bregx) {
    reg = ops[0].number;
    offset = int64_t(ops[0].number2);
  } else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
    reg = ops[0].atom - DW_OP_breg0;
    offset = int64_t(ops[0].number);
  } else {
    return false;
  }
  if (reg >= kUserRegs || offset != int32_t(offset)) return false;
  rule.cfa_register = uint8_t(reg);
  rule.cfa_offset = int32_t(offset);
  return true;
}

Unwinder::RegisterRule register_rule(Dwarf_Frame* frame, int reg) {
  using R = Unwinder::RegisterRule;
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_frame_register(frame, reg, mem, &ops, &nops) != 0) return {R::kUndefined, 0};
  if (nops == 0) return {ops ? R::kUndefined : R::kSame, 0};
  if (ops[0].atom != DW_OP_call_frame_cfa) return {R::kUnsupported, 0};
  int64_t offset = 0;
  size_t i = 1;
  if (i < nops && ops[i].atom == DW_OP_plus_uconst) offset = int64_t(ops[i++].number);
  if (i == nops) return {R::kAtCfa, offset};
  if (i + 1 == nops && ops[i].atom == DW_OP_stack_value) return {R::kIsCfa, offset};
  return {R::kUnsupported, 0};
}

}  // namespace

const char* end_name(Unwound::End end) {
  switch (end) {
    case Unwound::End::kOutermost:
      return "outermost";
    case Unwound::End::kNoModule:
      return "no_module";
    case Unwound::End::kNoRule:
      return "no_rule";
    case Unwound::End::kOutOfStack:
      return "out_of_stack";
    case Unwound::End::kDepth:
      return "depth";
  }
  return "?";
}

const Unwinder::Rule* Unwinder::rule_at(ElfModule* module, uint64_t elf_address) {
  auto [it, inserted] = rules_.try_emplace({module, elf_address});
  Rule& rule = it->second;
  if (!inserted) return &rule;
  Dwarf_CFI* cfi = module->cfi();
  Dwarf_Frame* raw = nullptr;
  if (!cfi || dwarf_cfi_addrframe(cfi, elf_address, &raw) != 0) return &rule;
  std::unique_ptr<Dwarf_Frame, decltype(&std::free)> frame(raw, &std::free);
  bool signal = false;
  int ra = dwarf_frame_info(frame.get(), nullptr, nullptr, &signal);
  if (ra < 0 || ra >= kUserRegs || signal) return &rule;
  if (!simple_cfa(frame.get(), rule)) return &rule;
  rule.return_address_register = uint8_t(ra);
  for (int reg = 0; reg < kUserRegs; reg++) {
    RegisterRule r = register_rule(frame.get(), reg);
    if (r.kind == RegisterRule::kSame) {
      rule.same_registers |= bit(reg);
    } else if (reg == kRsp && r.kind == RegisterRule::kIsCfa && r.offset == 0) {
      // the x86-64 ABI's default, which the unwind applies to every frame
    } else if (r.kind == RegisterRule::kAtCfa || r.kind == RegisterRule::kIsCfa) {
      if (rule.ncomputed == Rule::kMaxComputed || r.offset != int16_t(r.offset)) return &rule;
      rule.computed[rule.ncomputed++] = {uint8_t(reg), r.kind, int16_t(r.offset)};
    } else if (reg == ra) {
      if (r.kind == RegisterRule::kUnsupported) return &rule;
      rule.return_address_undefined = true;
    }
  }
  rule.usable = true;
  return &rule;
}

const Unwinder::Place& Unwinder::place_at(const model::AddressSpace& layout, uint64_t pc) {
  auto& slot = places_.slot_for(layout.exec_epoch(), pc);
  static_assert(sizeof(slot) == 64, "one cache line per return address");
  if (slot.holds(layout.exec_epoch(), pc)) {
    place_hits_++;
    return slot.value;
  }
  place_misses_++;
  slot = {.epoch = layout.exec_epoch(), .addr = pc};
  Place& place = slot.value;
  const model::Vma* vma = layout.find(pc);
  place.in_code = vma && (vma->perms & model::kExec);
  if (place.in_code && !vma->name.empty() && vma->name[0] == '/') {
    if (ElfModule* module = modules_.module_for(*vma))
      if (auto at = module->elf_address(pc - vma->start + vma->offset))
        place.rule = *rule_at(module, *at);
  }
  return place;
}

Unwound Unwinder::unwind(const model::AddressSpace* layout,
                         const std::array<uint64_t, kUserRegs>& regs,
                         std::span<const uint8_t> stack, size_t max_frames) {
  Walk walk(*this, layout, regs, stack);
  walk.walk_to(max_frames);
  Unwound out = std::move(walk.result());
  if (!walk.ended()) out.end = Unwound::End::kDepth;
  return out;
}

Unwinder::Walk::Walk(Unwinder& unwinder, const model::AddressSpace* layout,
                     const std::array<uint64_t, kUserRegs>& regs, std::span<const uint8_t> stack,
                     std::vector<uint64_t> pcs)
    : unwinder_(unwinder),
      layout_(layout),
      stack_(stack),
      stack_lo_(regs[kRsp]),
      stack_hi_(regs[kRsp] + stack.size()),
      now_(regs),
      known_(bit(kUserRegs) - 1) {
  out_.pcs = std::move(pcs);
  out_.pcs.clear();
  out_.pcs.push_back(now_[kRip]);
}

bool Unwinder::Walk::load(uint64_t addr, uint64_t& value) {
  if (addr < stack_lo_ || addr > stack_hi_ - 8 || stack_.size() < 8) return false;
  std::memcpy(&value, stack_.data() + (addr - stack_lo_), 8);
  out_.used_top = std::max(out_.used_top, addr + 8);
  return true;
}

void Unwinder::Walk::walk_to(size_t frames) {
  frames = std::min(frames, kMaxFrames);
  while (!ended_ && out_.pcs.size() < frames) step();
  if (!ended_ && out_.pcs.size() == kMaxFrames) {
    out_.end = Unwound::End::kDepth;
    ended_ = true;
  }
}

void Unwinder::Walk::step() {
  auto end = [&](Unwound::End why) {
    out_.end = why;
    ended_ = true;
  };
  // A return address points after the call: look up the call itself (innermost: the pc).
  uint64_t pc = now_[kRip];
  uint64_t where = out_.pcs.size() == 1 ? pc : pc - 1;
  if (!layout_) return end(Unwound::End::kNoModule);
  const Place& place = unwinder_.place_at(*layout_, where);
  if (!place.in_code) return end(Unwound::End::kNoModule);
  const Rule* rule = &place.rule;

  std::array<uint64_t, kUserRegs> caller{};
  uint32_t caller_known = 0;
  if (rule->usable) {
    if (!(known_ & bit(rule->cfa_register))) return end(Unwound::End::kNoRule);
    uint64_t cfa = now_[rule->cfa_register] + uint64_t(rule->cfa_offset);
    caller = now_;
    caller_known = known_ & rule->same_registers;
    for (int i = 0; i < rule->ncomputed; i++) {
      const Rule::Computed& r = rule->computed[i];
      int reg = r.reg;
      if (r.kind == RegisterRule::kIsCfa) {
        caller[reg] = cfa + uint64_t(r.offset);
        caller_known |= bit(reg);
      } else if (load(cfa + uint64_t(r.offset), caller[reg])) {
        caller_known |= bit(reg);
      }
    }
    caller[kRsp] = cfa;  // by definition of the CFA on x86-64
    caller_known |= bit(kRsp);
    int ra = rule->return_address_register;
    if (!(caller_known & bit(ra)))
      return end(rule->return_address_undefined ? Unwound::End::kOutermost
                                                : Unwound::End::kOutOfStack);
    caller[kRip] = caller[ra];
    caller_known |= bit(kRip);
  } else {
    // No CFI: follow the frame pointer once, as JIT code and -fno-omit-frame-pointer
    // builds keep it.
    uint64_t fp = now_[kRbp];
    if (!(known_ & bit(kRbp)) || !load(fp, caller[kRbp]) || !load(fp + 8, caller[kRip]))
      return end(Unwound::End::kNoRule);
    caller[kRsp] = fp + 16;
    caller_known = bit(kRbp) | bit(kRsp) | bit(kRip);
    out_.frame_pointer_steps++;
  }
  if (caller[kRip] == 0) return end(Unwound::End::kOutermost);
  // callers live higher up: anything else is garbage
  if (caller[kRsp] <= now_[kRsp]) return end(Unwound::End::kNoRule);
  now_ = caller;
  known_ = caller_known;
  out_.pcs.push_back(now_[kRip]);
}

}  // namespace maptrail::symbolize
