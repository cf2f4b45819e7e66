// User space's cost per --stack dwarf event: unwind a copied stack (registers + 8 KiB) and
// symbolize every frame, through the same resolve_stack the trace and the daemon call.
// The stacks are this program's own, captured the way the BPF program captures a traced
// thread's, at 32 different places and depths (built without frame pointers).
//   warm: one Symbolizer for the whole run (the steady state of a trace)
//   cold: a new Symbolizer per event (the first event of a process in a fresh maptrail:
//         every ELF opened, every rule and symbol looked up)
//   shown: only the frames the text log names (up to the caller and two after it), unwound
//          no further than those
//   evicted: warm tables, cold CPU caches; new process: warm tables, new addresses
//   first symbol: a big module opened and one address named (its symbol table read and
//     sorted), as on the first frame a new maptrail meets in libjvm.so
// docs/BENCHMARKS.md has the figures and the command.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "event/event.h"
#include "own_stack.h"
#include "procfs/maps.h"
#include "render/log_text.h"
#include "symbolize/elf_module.h"
#include "symbolize/stack.h"

namespace {

using maptrail::testing::OwnStack;

volatile int sink = 0;

template <int Depth>
__attribute__((noinline)) void descend(std::vector<OwnStack>& out) {
  if constexpr (Depth == 0) {
    out.push_back(maptrail::testing::capture_own_stack(8192));
  } else {
    descend<Depth - 1>(out);
  }
  sink = sink + Depth;  // not a tail call: every level keeps its frame
}

template <int... Depths>
void capture_all(std::vector<OwnStack>& out, std::integer_sequence<int, Depths...>) {
  (descend<Depths>(out), ...);
}

struct Recorded {
  maptrail::model::AddressSpace layout;
  std::vector<maptrail::event::Event> events;
};

const Recorded& recorded() {
  static Recorded r = [] {
    Recorded r;
    std::vector<OwnStack> stacks;
    capture_all(stacks, std::make_integer_sequence<int, 32>{});
    r.layout.assign(*maptrail::procfs::read_maps(getpid()));
    for (auto& s : stacks) {
      maptrail::event::Event e;
      // Cut at the thread's stack top, as a traced thread's copies are once it is known.
      e.flags = MT_F_STACK_COPY | MT_F_STACK_TRIMMED;
      e.user_regs = s.regs;
      e.user_stack = std::move(s.stack);
      r.events.push_back(std::move(e));
    }
    return r;
  }();
  return r;
}

// Every recorded stack resolved once: the tables of a trace that has run a while.
void warm_up(maptrail::symbolize::Symbolizer& symbols,
             const maptrail::model::AddressSpace& layout) {
  maptrail::symbolize::Stack stack;
  for (const auto& e : recorded().events)
    maptrail::symbolize::resolve_stack(e, &layout, symbols, stack);
}

void report(benchmark::State& state, size_t frames) {
  state.SetItemsProcessed(state.iterations());
  state.counters["frames/event"] = benchmark::Counter(double(frames) / double(state.iterations()));
}

void BM_UnwindSymbolizeWarm(benchmark::State& state) {
  const auto& r = recorded();
  maptrail::symbolize::Symbolizer symbols;
  size_t i = 0, frames = 0;
  for (auto _ : state) {
    auto stack =
        maptrail::symbolize::resolve_stack(r.events[i++ % r.events.size()], &r.layout, symbols);
    frames += stack.frames.size();
    benchmark::DoNotOptimize(stack);
  }
  report(state, frames);
}
BENCHMARK(BM_UnwindSymbolizeWarm);

// Into a Stack reused from event to event, as trace and the daemon do: every frame named
// (the daemon, trace --json/--report), or only up to the caller and the two after it (trace's
// text log; frames/event counts the named ones).
void unwind_symbolize_reused(benchmark::State& state, size_t frames_from_caller) {
  const auto& r = recorded();
  maptrail::symbolize::Symbolizer symbols;
  maptrail::symbolize::Stack stack;
  size_t i = 0, frames = 0;
  for (auto _ : state) {
    maptrail::symbolize::resolve_stack(r.events[i++ % r.events.size()], &r.layout, symbols, stack,
                                       frames_from_caller);
    frames += stack.frames.size();
    benchmark::DoNotOptimize(stack);
  }
  report(state, frames);
}
void BM_UnwindSymbolizeReusedWarm(benchmark::State& state) {
  unwind_symbolize_reused(state, maptrail::symbolize::kAllFrames);
}
BENCHMARK(BM_UnwindSymbolizeReusedWarm);
void BM_UnwindSymbolizeShownWarm(benchmark::State& state) {
  unwind_symbolize_reused(state, maptrail::render::TextStyle{}.caller_frames);
}
BENCHMARK(BM_UnwindSymbolizeShownWarm);

// The caches of maptrail warm, the CPU's not: between two events the workload ran and
// evicted maptrail's tables from the CPU caches and TLB (a reader waking every 20 ms during
// a JVM start). The eviction (writing 64 MiB, more than the last-level cache) is not timed,
// but it leaves the timer's own code and data cold too: BM_EvictedNothing times that alone,
// to be subtracted.
void evict_between(benchmark::State& state, std::vector<uint8_t>& evict, size_t round) {
  state.PauseTiming();
  for (size_t at = 0; at < evict.size(); at += 64) evict[at] = uint8_t(at + round);
  benchmark::ClobberMemory();
  state.ResumeTiming();
}
void BM_UnwindSymbolizeShownEvicted(benchmark::State& state) {
  const auto& r = recorded();
  maptrail::symbolize::Symbolizer symbols;
  maptrail::symbolize::Stack stack;
  std::vector<uint8_t> evict(64 << 20);
  warm_up(symbols, r.layout);
  size_t i = 0, frames = 0;
  for (auto _ : state) {
    evict_between(state, evict, i);
    maptrail::symbolize::resolve_stack(r.events[i++ % r.events.size()], &r.layout, symbols, stack,
                                       maptrail::render::TextStyle{}.caller_frames);
    frames += stack.frames.size();
    benchmark::DoNotOptimize(stack);
  }
  report(state, frames);
}
BENCHMARK(BM_UnwindSymbolizeShownEvicted)->MinTime(0.01);
void BM_EvictedNothing(benchmark::State& state) {
  std::vector<uint8_t> evict(64 << 20);
  size_t i = 0;
  for (auto _ : state) {
    evict_between(state, evict, i);
    benchmark::DoNotOptimize(++i);
  }
}
BENCHMARK(BM_EvictedNothing)->MinTime(0.01);

// The tables warm, the process new: every return address is met for the first time at its
// address (a JVM start maps the same libraries as the one before, elsewhere), so each frame
// is looked up in the model and the module's caches instead of the per-address cache.
// Layouts are rebuilt, untimed, once per 1024 events: each is a new exec epoch.
void BM_UnwindSymbolizeShownNewProcess(benchmark::State& state) {
  const auto& r = recorded();
  maptrail::symbolize::Symbolizer symbols;
  maptrail::symbolize::Stack stack;
  const auto vmas = r.layout.vmas();
  std::vector<maptrail::model::AddressSpace> layouts(1024);
  warm_up(symbols, r.layout);
  size_t i = 0, frames = 0;
  for (auto _ : state) {
    if (i % layouts.size() == 0) {
      state.PauseTiming();
      for (auto& layout : layouts) layout.assign(vmas);
      state.ResumeTiming();
    }
    maptrail::symbolize::resolve_stack(r.events[i % r.events.size()], &layouts[i % layouts.size()],
                                       symbols, stack, maptrail::render::TextStyle{}.caller_frames);
    i++;
    frames += stack.frames.size();
    benchmark::DoNotOptimize(stack);
  }
  report(state, frames);
}
BENCHMARK(BM_UnwindSymbolizeShownNewProcess);

void BM_UnwindSymbolizeCold(benchmark::State& state) {
  const auto& r = recorded();
  size_t i = 0, frames = 0;
  for (auto _ : state) {
    maptrail::symbolize::Symbolizer symbols;
    auto stack =
        maptrail::symbolize::resolve_stack(r.events[i++ % r.events.size()], &r.layout, symbols);
    frames += stack.frames.size();
    benchmark::DoNotOptimize(stack);
  }
  report(state, frames);
}
BENCHMARK(BM_UnwindSymbolizeCold)->Unit(benchmark::kMillisecond);

void BM_UnwindOnlyWarm(benchmark::State& state) {
  const auto& r = recorded();
  maptrail::symbolize::Symbolizer symbols;
  size_t i = 0, frames = 0;
  for (auto _ : state) {
    const auto& e = r.events[i++ % r.events.size()];
    auto unwound = symbols.unwinder().unwind(&r.layout, e.user_regs, e.user_stack);
    frames += unwound.pcs.size();
    benchmark::DoNotOptimize(unwound);
  }
  report(state, frames);
}
BENCHMARK(BM_UnwindOnlyWarm);

// Big modules with a .symtab: this program, and a JVM's libjvm.so when one is installed.
std::vector<std::string> big_modules() {
  std::vector<std::string> paths{std::filesystem::read_symlink("/proc/self/exe")};
  std::error_code ignored;
  for (const auto& jvm : std::filesystem::directory_iterator("/usr/lib/jvm", ignored)) {
    auto lib = jvm.path() / "lib/server/libjvm.so";
    if (!jvm.is_symlink() && std::filesystem::exists(lib, ignored)) paths.push_back(lib);
  }
  return paths;
}

void BM_FirstSymbol(benchmark::State& state, const std::string& path,
                    maptrail::symbolize::ElfModule::SymbolSource source) {
  for (auto _ : state) {
    auto module = maptrail::symbolize::ElfModule::open(path, source);
    if (!module) {
      state.SkipWithError(("cannot open " + path).c_str());
      return;
    }
    benchmark::DoNotOptimize(module->symbol_at(0x1000));
  }
}

const bool registered = [] {
  using Source = maptrail::symbolize::ElfModule::SymbolSource;
  for (const auto& path : big_modules()) {
    std::filesystem::path file(path);
    auto name = file.filename().string();
    if (name == "libjvm.so")  // one per JVM installed: named by the JVM's directory
      name = file.parent_path().parent_path().parent_path().filename().string() + "/" + name;
    benchmark::RegisterBenchmark(("BM_FirstSymbol/" + name).c_str(), BM_FirstSymbol, path,
                                 Source::kAuto)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_FirstSymbolThroughLibdwfl/" + name).c_str(), BM_FirstSymbol,
                                 path, Source::kLibdwfl)
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
