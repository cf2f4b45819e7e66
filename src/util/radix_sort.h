// A stable sort by an unsigned 64-bit key, least significant byte first. For the tens of
// thousands of symbols of a big library, read while a traced program starts, it is several
// times faster than std::sort: one pass counts every byte of every key, and a byte that is
// the same in all keys (the high bytes of addresses) costs no pass at all.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace maptrail::util {

template <class T, class KeyOf>
void radix_sort(std::vector<T>& items, KeyOf key_of) {
  constexpr int kDigits = 8;
  if (items.size() < 2) return;
  std::array<std::array<size_t, 256>, kDigits> counts{};
  for (const T& item : items) {
    uint64_t key = key_of(item);
    for (int d = 0; d < kDigits; d++) counts[d][(key >> (8 * d)) & 0xff]++;
  }
  std::vector<T> scratch(items.size());
  for (int d = 0; d < kDigits; d++) {
    auto& count = counts[d];
    bool one_value = false;
    for (size_t c : count) {
      if (c == items.size()) one_value = true;
      if (c) break;
    }
    if (one_value) continue;
    size_t at = 0;
    for (size_t& c : count) at += std::exchange(c, at);  // counts -> where each value starts
    for (T& item : items) scratch[count[(key_of(item) >> (8 * d)) & 0xff]++] = std::move(item);
    items.swap(scratch);
  }
}

}  // namespace maptrail::util
