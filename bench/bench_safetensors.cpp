// safetensors reading speed.
//   open/1000      open + validate a file of 1,000 tensors (mmap, header parse, tiling)
//                  goal: < 1 ms
//   load_copy      read every tensor of a 1 GiB file into memory of its own
//                  (io::load(path, {.copy = true})), against memcpy of 1 GiB between two
//                  buffers that are already mapped: goal ratio >= 0.5
// Reference rows, without a goal:
//   load_view      io::load with zero-copy views (maps, validates, views; touches nothing)
//   view_touch     zero-copy views, then read every byte (page faults of the mapping)
//   save           write the 1 GiB file (atomic: temp file, fsync, rename)
// Bytes counted: the file's tensor bytes, once (both for tern and for memcpy).
// The files are written to /tmp (or $TMPDIR) before the runs and removed after.
//
//   TERN_NUM_THREADS=2 build-io/bench/bench_safetensors

#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <tern/tern.h>
#include <tern/core/io/safetensors.h>

#include "bench_common.h"

namespace {

constexpr int64_t kBigTensors = 256;
constexpr int64_t kBigElems = int64_t{1} << 20;  // 4 MiB of f32 each: 1 GiB in all
constexpr int64_t kBigBytes = kBigTensors * kBigElems * 4;

std::string g_dir, g_big, g_small;

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  std::string tmpl = std::string(t && *t ? t : "/tmp") + "/tern_bench_st_XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return tmpl;
}

void make_files() {
  g_dir = temp_dir();
  g_big = g_dir + "/big.safetensors";
  g_small = g_dir + "/1000.safetensors";
  {
    // 1,000 tensors with names and shapes like a real checkpoint's.
    std::map<std::string, tern::Tensor> m;
    for (int i = 0; i < 1000; ++i) {
      const int layer = i / 10, part = i % 10;
      static const char* parts[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                    "self_attn.o_proj.weight", "mlp.gate_proj.weight",    "mlp.up_proj.weight",
                                    "mlp.down_proj.weight",    "input_layernorm.weight",  "post_attention_layernorm.weight",
                                    "self_attn.rotary_emb.inv_freq"};
      m.emplace("model.layers." + std::to_string(layer) + "." + parts[part], tern::zeros({16, 16}));
    }
    tern::io::save(g_small, m, {{"format", "pt"}});
  }
  {
    tern::Generator gen(7);
    std::vector<std::pair<std::string, tern::Tensor>> list;
    tern::Tensor block = tern::rand({kBigElems}, &gen);  // not zeros: nothing is flattered
    for (int64_t i = 0; i < kBigTensors; ++i) list.emplace_back("layer." + std::to_string(i) + ".weight", block);
    tern::io::save(g_big, list);
  }
}

void remove_files() {
  std::error_code ec;
  if (!g_dir.empty()) std::filesystem::remove_all(g_dir, ec);
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

void bm_open_1000(benchmark::State& state) {
  const double cpu0 = thread_cpu_seconds();
  for (auto _ : state) {
    auto f = tern::io::SafetensorsFile::open(g_small);
    benchmark::DoNotOptimize(f.size());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["us_per_open"] =
      benchmark::Counter(iters * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  // The same in CPU time of this thread: on an oversubscribed machine wall-clock time
  // measures the scheduler more than the reader.
  state.counters["cpu_us_per_open"] = (thread_cpu_seconds() - cpu0) * 1e6 / iters;
}

void bm_memcpy_1g(benchmark::State& state) {
  std::vector<char> src(kBigBytes), dst(kBigBytes);
  std::memset(src.data(), 3, src.size());
  std::memset(dst.data(), 1, dst.size());  // both written: every page is mapped before timing
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kBigBytes);
}

void bm_load_copy(benchmark::State& state) {
  tern::io::LoadOptions copy;
  copy.copy = true;
  for (auto _ : state) {
    auto ck = tern::io::load(g_big, copy);
    benchmark::DoNotOptimize(ck.tensors.begin()->second.raw_data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kBigBytes);
}

void bm_load_view(benchmark::State& state) {
  for (auto _ : state) {
    auto ck = tern::io::load(g_big);
    benchmark::DoNotOptimize(ck.tensors.begin()->second.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * kBigBytes);
}

void bm_view_touch(benchmark::State& state) {
  for (auto _ : state) {
    auto ck = tern::io::load(g_big);
    uint64_t acc = 0;
    for (const auto& [name, t] : ck.tensors) {
      const auto* p = static_cast<const uint64_t*>(t.raw_data());
      const size_t n = t.nbytes() / 8;
      for (size_t i = 0; i < n; ++i) acc += p[i];
    }
    benchmark::DoNotOptimize(acc);
  }
  state.SetBytesProcessed(state.iterations() * kBigBytes);
}

void bm_save(benchmark::State& state) {
  tern::Generator gen(9);
  tern::Tensor block = tern::rand({kBigElems}, &gen);
  std::vector<std::pair<std::string, tern::Tensor>> list;
  for (int64_t i = 0; i < kBigTensors; ++i) list.emplace_back("w." + std::to_string(i), block);
  const std::string out = g_dir + "/save.safetensors";
  for (auto _ : state) tern::io::save(out, list);
  state.SetBytesProcessed(state.iterations() * kBigBytes);
  std::remove(out.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  tern::NoGradGuard no_grad;
  std::vector<char*> args{argv[0]};
  std::vector<std::string> defaults{"--benchmark_repetitions=5", "--benchmark_enable_random_interleaving=true",
                                    "--benchmark_min_time=0.5"};
  for (auto& d : defaults) args.push_back(d.data());
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--tern_strict") != 0) args.push_back(argv[i]);
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  std::printf("writing the benchmark files (1 GiB + a 1,000-tensor file) to a temporary directory...\n");
  std::fflush(stdout);
  make_files();
  std::atexit(remove_files);

  benchmark::RegisterBenchmark("open/1000", bm_open_1000)->UseRealTime();
  benchmark::RegisterBenchmark("memcpy_1GiB", bm_memcpy_1g)->UseRealTime();
  benchmark::RegisterBenchmark("load_copy_1GiB", bm_load_copy)->UseRealTime();
  benchmark::RegisterBenchmark("load_view_1GiB", bm_load_view)->UseRealTime();
  benchmark::RegisterBenchmark("view_touch_1GiB", bm_view_touch)->UseRealTime();
  benchmark::RegisterBenchmark("save_1GiB", bm_save)->UseRealTime()->Iterations(1);

  std::printf("tern threads: %d (TERN_NUM_THREADS)\n", tern::num_threads());
  std::unique_ptr<benchmark::BenchmarkReporter> display(benchmark::CreateDefaultDisplayReporter());
  tern_bench::RecordingReporter rec(display.get());
  benchmark::RunSpecifiedBenchmarks(&rec);
  benchmark::Shutdown();

  bool ok = true;
  std::printf("\nsafetensors reading (medians)\n");
  const double open_us = rec.median("open/1000", "us_per_open");
  const double open_cpu_us = rec.median("open/1000", "cpu_us_per_open");
  // A time against the goal of < 1000 us, and by how much it is over when it is.
  auto over = [](double us) { return us < 1000.0 ? std::string() : ", " + std::to_string(us - 1000.0) + " us over"; };
  if (open_us > 0) {
    ok = ok && open_us < 1000.0;
    std::printf("%-34s %10.1f us   goal < 1000 us%s\n", "open+validate, 1,000 tensors", open_us, over(open_us).c_str());
    std::printf("%-34s %10.1f us   goal < 1000 us%s\n", "  the same, thread CPU time", open_cpu_us,
                over(open_cpu_us).c_str());
  }
  const double mc = rec.median("memcpy_1GiB", "bytes_per_second");
  auto row = [&](const char* label, const char* name, double goal) {
    const double v = rec.median(name, "bytes_per_second");
    if (v == 0 || mc == 0) return;
    const double ratio = v / mc;
    if (goal > 0) ok = ok && ratio >= goal;
    std::printf("%-34s %8.2f GB/s  memcpy %6.2f GB/s  ratio %6.3f  %s\n", label, v * 1e-9, mc * 1e-9, ratio,
                tern_bench::goal_note(ratio, goal, "(ref)").c_str());
  };
  row("read 1 GiB into memory (copy)", "load_copy_1GiB", 0.5);
  row("load 1 GiB as views (no copy)", "load_view_1GiB", 0);
  row("views + read every byte", "view_touch_1GiB", 0);
  row("save 1 GiB (atomic, fsync)", "save_1GiB", 0);
  std::fflush(stdout);
  bool strict = false;
  for (int i = 1; i < argc; ++i) strict = strict || std::strcmp(argv[i], "--tern_strict") == 0;
  return strict && !ok ? 1 : 0;
}
