// callers_cpp — the C++ paths for the caller tests: operator new[] of a large array and a
// large std::vector, from functions with known (mangled) names, between the same markers
// as callers.c (mmap+munmap of 0x7f000 bytes at the start, 0x7e000 at the end).
//
// Usage: callers_cpp [ROUNDS]   (default 20)
#include <malloc.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace workload {

volatile int sink;
double* volatile escaped;  // the compiler may not drop a new[]/delete[] pair it cannot see through

void marker(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::exit(1);
  munmap(p, size);
}

__attribute__((noinline)) void make_table() {
  double* table = new double[64 * 1024];  // 512 KiB: operator new[] -> malloc -> mmap
  table[100] = 1.5;
  escaped = table;
  sink = sink + int(escaped[100]);
  delete[] table;
}

__attribute__((noinline)) void fill_buffer() {
  std::vector<char> buffer(1 << 20, 'x');  // 1 MiB through std::allocator
  sink = sink + buffer[4096];
}

}  // namespace workload

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);  // not raised after the first free: mmap every round
  workload::marker(0x7f000);
  for (int i = 0; i < rounds; i++) {
    workload::make_table();
    workload::fill_buffer();
  }
  workload::marker(0x7e000);
  return workload::sink == -1;
}
