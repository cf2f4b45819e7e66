// `maptrail pmap`'s rendering cost for a process at the default vm.max_map_count (65,530
// VMAs): the default, -x (with smaps counters for every VMA) and -d formats. The smaps read
// itself is the kernel's cost and procps pmap pays it too; this measures what we add.
// docs/BENCHMARKS.md has the figures and the command.
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "synthetic_layout.h"

#include "render/pmap.h"

namespace {

using maptrail::model::Vma;
using maptrail::render::PmapOptions;

std::vector<Vma> layout(size_t n) {
  return maptrail::bench::synthetic_layout(n);
}

maptrail::procfs::SmapsData smaps_for(const std::vector<Vma>& vmas) {
  maptrail::procfs::SmapsData data;
  for (const auto& v : vmas) {
    maptrail::procfs::SmapsEntry e;
    e.vma = v;
    for (const char* key :
         {"Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Shared_Clean", "Shared_Dirty",
          "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "Swap", "Locked"})
      e.fields.push_back({key, "8", 8});
    e.vm_flags = "rd wr mr mw me ac ";
    data.entries.push_back(std::move(e));
  }
  return data;
}

void render(benchmark::State& state, PmapOptions::Mode mode) {
  auto vmas = layout(size_t(state.range(0)));
  auto smaps = smaps_for(vmas);
  maptrail::render::PmapProcess process;
  process.tgid = 4242;
  process.cmdline = std::string("/usr/bin/bench\0--flag", 21);
  process.comm = "bench";
  PmapOptions options;
  options.mode = mode;
  size_t bytes = 0;
  for (auto _ : state) {
    auto text = maptrail::render::render_pmap(process, vmas, &smaps, options);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["output_bytes"] = double(bytes);
}

void BM_PmapDefault(benchmark::State& state) {
  render(state, PmapOptions::kDefault);
}
void BM_PmapExtended(benchmark::State& state) {
  render(state, PmapOptions::kExtended);
}
void BM_PmapDevice(benchmark::State& state) {
  render(state, PmapOptions::kDevice);
}
BENCHMARK(BM_PmapDefault)->Arg(65530)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PmapExtended)->Arg(65530)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PmapDevice)->Arg(65530)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
