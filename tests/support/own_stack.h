// This thread's registers and the top of its stack, captured the way maptrail's BPF program
// captures a traced thread's at a syscall: for unwinder tests and benchmarks that need real
// stacks without root.
#pragma once

#include <pthread.h>
#include <ucontext.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace maptrail::testing {

struct OwnStack {
  std::array<uint64_t, 17> regs{};  // x86-64 DWARF order: rax..r15, rip
  std::vector<uint8_t> stack;       // from regs[7] (rsp) up
};

// The registers are those at the return from getcontext, inside this function: the
// unwind starts here, then goes through its callers.
__attribute__((noinline)) inline OwnStack capture_own_stack(size_t bytes = 8192) {
  OwnStack out;
  ucontext_t context;
  getcontext(&context);
  const greg_t* g = context.uc_mcontext.gregs;
  static constexpr int kOrder[17] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI,
                                     REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                     REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
  for (int i = 0; i < 17; i++) out.regs[i] = uint64_t(g[kOrder[i]]);
  // Stop at the top of the stack, as the BPF copy stops at the end of the mapping.
  pthread_attr_t attr;
  void* low = nullptr;
  size_t size = 0;
  pthread_getattr_np(pthread_self(), &attr);
  pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_destroy(&attr);
  uint64_t top = uint64_t(uintptr_t(low)) + size;
  uint64_t sp = out.regs[7];
  size_t n = sp < top ? std::min<uint64_t>(bytes, top - sp) : 0;
  out.stack.resize(n);
  std::memcpy(out.stack.data(), reinterpret_cast<const void*>(uintptr_t(sp)), n);
  asm volatile("" ::: "memory");  // keep the frame (and the copy) as it is
  return out;
}

}  // namespace maptrail::testing
