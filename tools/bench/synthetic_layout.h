// A synthetic address space shared by the model and render benchmarks: n VMAs of 2 pages
// with 1-page holes, alternating permissions, every fourth one a library mapping.
#pragma once

#include <cstdint>
#include <vector>

#include "model/vma.h"

namespace maptrail::bench {

inline std::vector<model::Vma> synthetic_layout(size_t n) {
  constexpr uint64_t kPage = 4096, kBase = 0x7f0000000000;
  std::vector<model::Vma> vmas;
  vmas.reserve(n);
  for (size_t i = 0; i < n; i++) {
    model::Vma v;
    v.start = kBase + i * 3 * kPage;
    v.end = v.start + 2 * kPage;
    v.perms = (i % 3 == 0) ? 5 : 3;
    if (i % 4 == 0) {
      v.name = "/usr/lib/x86_64-linux-gnu/libexample.so.1";
      v.inode = 1234;
      v.dev_major = 254;
      v.offset = i * kPage;
    }
    vmas.push_back(v);
  }
  return vmas;
}

}  // namespace maptrail::bench
