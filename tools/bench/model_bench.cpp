// The model's costs at scale: window applies per second and memory per VMA for address
// spaces of 1k to 1M VMAs (65,530 is the default vm.max_map_count). docs/BENCHMARKS.md
// has the figures and the command.
#include <malloc.h>

#include <cstdint>
#include <memory>
#include <string>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "synthetic_layout.h"

#include "model/address_space.h"
#include "model/history.h"

namespace {

using maptrail::model::AddressSpace;
using maptrail::model::Vma;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = 0x7f0000000000;

// n VMAs of 2 pages with 1-page holes between them, alternating permissions and names like
// a real process (libraries, anonymous memory, thread stacks).
std::vector<Vma> layout(size_t n) {
  return maptrail::bench::synthetic_layout(n);
}

// What an mprotect of a VMA's second page reports: the VMA split in two; then the inverse
// call merges it back. Each apply replaces a window as the engine does for every event.
// `pick` chooses the VMA of each round by its index in the layout; the VMA is taken from
// the layout, not looked up in the model: the engine gets its window from the kernel, and
// a lookup here would be timed as part of the apply.
template <typename Pick>
void apply_windows(benchmark::State& state, Pick pick) {
  size_t n = state.range(0);
  const std::vector<Vma> initial = layout(n);
  AddressSpace space;
  space.assign(initial);
  std::mt19937_64 rng(42);
  std::vector<Vma> split(2), merged(1);
  for (auto _ : state) {
    const Vma& whole = initial[pick(rng, n)];
    uint64_t start = whole.start;
    split[0] = whole;
    split[0].end = start + kPage;
    split[1] = whole;
    split[1].start = start + kPage;
    split[1].perms = 1;
    space.replace_window(start + kPage, start + 2 * kPage, split);
    merged[0] = whole;
    space.replace_window(start + kPage, start + 2 * kPage, merged);
  }
  state.SetItemsProcessed(state.iterations() * 2);  // two windows per iteration
  state.counters["vmas"] = double(space.size());
}

// Anywhere in the space: a cache miss at most levels of the tree, the worst case.
void BM_ApplyWindow(benchmark::State& state) {
  apply_windows(state, [](std::mt19937_64& rng, size_t n) { return rng() % n; });
}
BENCHMARK(BM_ApplyWindow)->Arg(1000)->Arg(10000)->Arg(65530)->Arg(1000000);

// Within 64 neighbouring VMAs of the big space: a program's calls mostly change the same
// few regions (its heap, its arenas, a storm's one mapping), and the tree path stays in
// the cache.
void BM_ApplyWindowLocal(benchmark::State& state) {
  apply_windows(state, [](std::mt19937_64& rng, size_t n) { return n / 2 + rng() % 64; });
}
BENCHMARK(BM_ApplyWindowLocal)->Arg(65530)->Arg(1000000);

void BM_Find(benchmark::State& state) {
  size_t n = state.range(0);
  AddressSpace space;
  space.assign(layout(n));
  std::mt19937_64 rng(7);
  for (auto _ : state) {
    uint64_t addr = kBase + (rng() % (n * 3)) * kPage;
    benchmark::DoNotOptimize(space.find(addr));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Find)->Arg(65530)->Arg(1000000);

// Heap bytes per VMA held by the model (malloc's own accounting, names included).
void BM_MemoryPerVma(benchmark::State& state) {
  size_t n = state.range(0);
  for (auto _ : state) {
    size_t before = mallinfo2().uordblks;
    AddressSpace space;
    space.assign(layout(n));  // the input vector is freed again when assign returns
    size_t after = mallinfo2().uordblks;
    state.counters["bytes_per_vma"] = double(after - before) / double(n);
    benchmark::DoNotOptimize(space);
  }
}
BENCHMARK(BM_MemoryPerVma)->Arg(65530)->Iterations(1);

// Heap bytes per history entry: a change as the engine records it (a 64 KiB mmap with its
// window range), its 12-frame stack shared with the other changes from the same place
// (CallSiteCache), 16 distinct call sites in all.
void BM_MemoryPerHistoryEntry(benchmark::State& state) {
  size_t n = state.range(0);
  std::vector<std::shared_ptr<const maptrail::model::CallSite>> sites;
  for (int s = 0; s < 16; s++) {
    auto site = std::make_shared<maptrail::model::CallSite>();
    for (int f = 0; f < 12; f++) {
      site->frames.push_back("function_" + std::to_string(s) + "_" + std::to_string(f) +
                             "+0x1c (libexample.so.1)");
      site->functions.push_back("function_" + std::to_string(s) + "_" + std::to_string(f) +
                                " (libexample.so.1)");
      site->modules.push_back("libexample.so.1");
    }
    site->caller = 3;
    sites.push_back(site);
  }
  for (auto _ : state) {
    size_t before = mallinfo2().uordblks;
    maptrail::model::History history(n);
    for (size_t i = 0; i < n; i++) {
      maptrail::model::Change c;
      c.time_ns = i;
      c.pid = c.tid = 4242;
      c.comm = "workload";
      c.call = "mmap";
      c.args = {0, 65536, 3, 0x22, uint64_t(-1), 0};
      c.ret = int64_t(kBase + i * kPage);
      c.ranges = {{kBase + i * kPage, kBase + i * kPage + 65536}};
      c.site = sites[i % sites.size()];
      history.add(std::move(c));
    }
    size_t after = mallinfo2().uordblks;
    state.counters["bytes_per_entry"] = double(after - before) / double(n);
    benchmark::DoNotOptimize(history);
  }
}
BENCHMARK(BM_MemoryPerHistoryEntry)->Arg(10000)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
