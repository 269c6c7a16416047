// Memory-bound tern ops on 16M f32 elements (64 MiB per tensor) against this machine's
// memcpy bandwidth, measured in the same binary. Bytes counted are the bytes an op
// must move at least: every input read once, the output written once.
//   memcpy      64 MiB -> 64 MiB                  2 x 64 MiB
//   add, mul    out = a op b                      3 x 64 MiB
//   gelu        out = gelu(x)                     2 x 64 MiB
//   softmax     [4096, 4096] over the last dim    2 x 64 MiB
//   layer_norm  [16384, 1024], weight and bias    2 x 64 MiB (+ 8 KiB of parameters)
// Inputs are random (never time zeros) and every buffer is written before timing, so
// no run is flattered by the shared zero page. tern ops allocate their output each
// call, as they do in a training step.
//
// Reference rows, not part of the pass/fail table:
//   memcpy_2t   the copy split over 2 OpenMP threads (what two cores can stream)
//   raw_add     a hand-written OpenMP loop into a preallocated output: tern/add's
//               distance to it is the cost of for_each_strided, dispatch and allocation.
//
//   TERN_NUM_THREADS=2 build-bench/bench/bench_elementwise

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <tern/tern.h>

#include "bench_common.h"

namespace {

constexpr int64_t kN = int64_t{1} << 24;  // 16M floats
constexpr int64_t kBytes = kN * static_cast<int64_t>(sizeof(float));

tern::Tensor random_tensor(const tern::Shape& shape, uint64_t seed) {
  tern::Generator gen(seed);
  return tern::randn(shape, &gen);
}

void finish(benchmark::State& state, int64_t bytes_per_iter) {
  state.SetBytesProcessed(state.iterations() * bytes_per_iter);
}

void bm_memcpy(benchmark::State& state) {
  tern::Tensor src = random_tensor({kN}, 1);
  tern::Tensor dst = random_tensor({kN}, 2);  // written, so its pages are mapped
  for (auto _ : state) {
    std::memcpy(dst.raw_data(), src.raw_data(), kBytes);
    benchmark::ClobberMemory();
  }
  finish(state, 2 * kBytes);
}

void bm_memcpy_2t(benchmark::State& state) {
  tern::Tensor src = random_tensor({kN}, 1);
  tern::Tensor dst = random_tensor({kN}, 2);
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const int nt = tern::num_threads();
  for (auto _ : state) {
#pragma omp parallel num_threads(nt)
    {
      const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t chunk = (kBytes / n + 63) / 64 * 64;
      const int64_t b = std::min(kBytes, t * chunk), e = std::min(kBytes, b + chunk);
      if (b < e) std::memcpy(d + b, s + b, static_cast<size_t>(e - b));
    }
    benchmark::ClobberMemory();
  }
  finish(state, 2 * kBytes);
}

void bm_raw_add(benchmark::State& state) {
  tern::Tensor a = random_tensor({kN}, 1), b = random_tensor({kN}, 2), out = random_tensor({kN}, 3);
  const float* x = a.data_ptr<float>();
  const float* y = b.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int nt = tern::num_threads();
  for (auto _ : state) {
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < kN; ++i) o[i] = x[i] + y[i];
    benchmark::ClobberMemory();
  }
  finish(state, 3 * kBytes);
}

void bm_add(benchmark::State& state) {
  tern::Tensor a = random_tensor({kN}, 1), b = random_tensor({kN}, 2);
  for (auto _ : state) {
    tern::Tensor y = tern::add(a, b);
    benchmark::DoNotOptimize(y.raw_data());
    benchmark::ClobberMemory();
  }
  finish(state, 3 * kBytes);
}

void bm_mul(benchmark::State& state) {
  tern::Tensor a = random_tensor({kN}, 1), b = random_tensor({kN}, 2);
  for (auto _ : state) {
    tern::Tensor y = tern::mul(a, b);
    benchmark::DoNotOptimize(y.raw_data());
    benchmark::ClobberMemory();
  }
  finish(state, 3 * kBytes);
}

void bm_gelu(benchmark::State& state) {
  tern::Tensor x = random_tensor({kN}, 1);
  for (auto _ : state) {
    tern::Tensor y = tern::gelu(x);
    benchmark::DoNotOptimize(y.raw_data());
    benchmark::ClobberMemory();
  }
  finish(state, 2 * kBytes);
}

void bm_softmax(benchmark::State& state) {
  tern::Tensor x = random_tensor({4096, kN / 4096}, 1);
  for (auto _ : state) {
    tern::Tensor y = tern::softmax(x, -1);
    benchmark::DoNotOptimize(y.raw_data());
    benchmark::ClobberMemory();
  }
  finish(state, 2 * kBytes);
}

void bm_layer_norm(benchmark::State& state) {
  constexpr int64_t C = 1024;
  tern::Tensor x = random_tensor({kN / C, C}, 1);
  tern::Tensor w = random_tensor({C}, 2), b = random_tensor({C}, 3);
  for (auto _ : state) {
    tern::Tensor y = tern::layer_norm(x, {C}, w, b);
    benchmark::DoNotOptimize(y.raw_data());
    benchmark::ClobberMemory();
  }
  finish(state, 2 * kBytes + 2 * C * static_cast<int64_t>(sizeof(float)));
}

}  // namespace

int main(int argc, char** argv) {
  tern::NoGradGuard no_grad;  // inputs need no grad anyway; no graph is recorded
  benchmark::RegisterBenchmark("memcpy", bm_memcpy)->UseRealTime();
  benchmark::RegisterBenchmark("memcpy_2t", bm_memcpy_2t)->UseRealTime();
  benchmark::RegisterBenchmark("raw_add", bm_raw_add)->UseRealTime();
  benchmark::RegisterBenchmark("tern/add", bm_add)->UseRealTime();
  benchmark::RegisterBenchmark("tern/mul", bm_mul)->UseRealTime();
  benchmark::RegisterBenchmark("tern/gelu", bm_gelu)->UseRealTime();
  benchmark::RegisterBenchmark("tern/softmax", bm_softmax)->UseRealTime();
  benchmark::RegisterBenchmark("tern/layer_norm", bm_layer_norm)->UseRealTime();
  std::vector<tern_bench::Pair> pairs;
  for (const char* op : {"add", "mul", "gelu", "softmax", "layer_norm"})
    pairs.push_back({op, std::string("tern/") + op, "memcpy", 0.5});
  // Reference rows (target 0: informational).
  pairs.push_back({"(ref) memcpy_2t", "memcpy_2t", "memcpy", 0.0});
  pairs.push_back({"(ref) tern add / raw_add", "tern/add", "raw_add", 0.0});
  return tern_bench::run_and_summarise(
      argc, argv, "memory-bound ops vs memcpy, 16M f32", "bytes_per_second", "GB/s", 1e-9, pairs,
      {"--benchmark_repetitions=9", "--benchmark_enable_random_interleaving=true",
       "--benchmark_min_time=0.2"});
}
