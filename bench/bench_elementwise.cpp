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
// Each benchmark alternates the op and the memcpy ceiling call by call (see
// bench_common.h). Reference rows, without a goal:
//   memcpy_2t   the copy split over the OpenMP threads, against the one-thread memcpy
//   raw_add     tern::add against a hand-written OpenMP loop into a preallocated output:
//               the cost of for_each_strided, dispatch and the output allocation.
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

// Random inputs, made once (randn over 16M elements is slow) and shared by every
// benchmark and repetition. The ops never write them.
struct Inputs {
  tern::Tensor a = random_tensor({kN}, 1), b = random_tensor({kN}, 2);
  tern::Tensor w = random_tensor({1024}, 3), bias = random_tensor({1024}, 4);
  // memcpy's buffers, and raw_add's output: written here, so their pages are mapped.
  tern::Tensor src = random_tensor({kN}, 5), dst = random_tensor({kN}, 6), out = random_tensor({kN}, 7);
};
Inputs& inputs() {
  static Inputs in;
  return in;
}

// The ceiling: one std::memcpy of 64 MiB between two buffers whose pages are mapped.
struct Memcpy {
  void operator()() {
    std::memcpy(inputs().dst.raw_data(), inputs().src.raw_data(), kBytes);
    benchmark::DoNotOptimize(inputs().dst.raw_data());
  }
};

// One iteration runs `op` and the memcpy ceiling, alternately; op moves op_bytes.
template <typename Op>
void paired(benchmark::State& state, Op&& op, int64_t op_bytes) {
  Memcpy copy;
  tern_bench::run_paired(state, op, copy, static_cast<double>(op_bytes), 2.0 * kBytes, 1e-9);
}

void bm_add(benchmark::State& state) {
  const Inputs& in = inputs();
  paired(state, [&] { benchmark::DoNotOptimize(tern::add(in.a, in.b).raw_data()); }, 3 * kBytes);
}

void bm_mul(benchmark::State& state) {
  const Inputs& in = inputs();
  paired(state, [&] { benchmark::DoNotOptimize(tern::mul(in.a, in.b).raw_data()); }, 3 * kBytes);
}

void bm_gelu(benchmark::State& state) {
  const Inputs& in = inputs();
  paired(state, [&] { benchmark::DoNotOptimize(tern::gelu(in.a).raw_data()); }, 2 * kBytes);
}

void bm_softmax(benchmark::State& state) {
  const tern::Tensor x = inputs().a.view({4096, kN / 4096});
  paired(state, [&] { benchmark::DoNotOptimize(tern::softmax(x, -1).raw_data()); }, 2 * kBytes);
}

void bm_layer_norm(benchmark::State& state) {
  constexpr int64_t C = 1024;
  const Inputs& in = inputs();
  const tern::Tensor x = in.a.view({kN / C, C});
  paired(state, [&] { benchmark::DoNotOptimize(tern::layer_norm(x, {C}, in.w, in.bias).raw_data()); },
         2 * kBytes + 2 * C * static_cast<int64_t>(sizeof(float)));
}

// Reference: the same copy split over the OpenMP threads (what the cores can stream).
void bm_memcpy_2t(benchmark::State& state) {
  // Its own pair of buffers: the ceiling's are in use alternately.
  static tern::Tensor src = random_tensor({kN}, 8), dst = random_tensor({kN}, 9);
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const int nt = tern::num_threads();
  paired(
      state,
      [&] {
#pragma omp parallel num_threads(nt)
        {
          const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
          const int64_t chunk = (kBytes / n + 63) / 64 * 64;
          const int64_t b = std::min(kBytes, t * chunk), e = std::min(kBytes, b + chunk);
          if (b < e) std::memcpy(d + b, s + b, static_cast<size_t>(e - b));
        }
        benchmark::DoNotOptimize(d);
      },
      2 * kBytes);
}

// Reference: a hand-written OpenMP add into a preallocated output. tern::add's distance
// to it is what for_each_strided, dispatch and the output allocation cost.
void bm_raw_add(benchmark::State& state) {
  const Inputs& in = inputs();
  const float* x = in.a.data_ptr<float>();
  const float* y = in.b.data_ptr<float>();
  float* o = in.out.data_ptr<float>();
  const int nt = tern::num_threads();
  auto raw = [&] {
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < kN; ++i) o[i] = x[i] + y[i];
    benchmark::DoNotOptimize(o);
  };
  auto op = [&] { benchmark::DoNotOptimize(tern::add(in.a, in.b).raw_data()); };
  tern_bench::run_paired(state, op, raw, 3.0 * kBytes, 3.0 * kBytes, 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  tern::NoGradGuard no_grad;  // inputs need no grad anyway; no graph is recorded
  inputs();                   // made before any timing
  std::vector<tern_bench::Row> rows;
  auto add = [&](const char* label, const char* name, void (*fn)(benchmark::State&), double goal) {
    benchmark::RegisterBenchmark(name, fn)->UseRealTime();
    rows.push_back({label, name, goal});
  };
  add("add", "add_vs_memcpy", bm_add, 0.5);
  add("mul", "mul_vs_memcpy", bm_mul, 0.5);
  add("gelu", "gelu_vs_memcpy", bm_gelu, 0.5);
  add("softmax [4096,4096]", "softmax_vs_memcpy", bm_softmax, 0.5);
  add("layer_norm [16384,1024]", "layer_norm_vs_memcpy", bm_layer_norm, 0.5);
  add("(ref) memcpy on 2 threads", "memcpy_2t_vs_memcpy", bm_memcpy_2t, 0);
  add("(ref) add vs raw OpenMP", "add_vs_raw_add", bm_raw_add, 0);
  return tern_bench::run_and_summarise(
      argc, argv, "memory-bound ops on 16M f32 vs one-thread memcpy (GB/s: bytes read + written)",
      {"op", "tern_GBps", "memcpy_GBps"}, rows,
      {"--benchmark_repetitions=9", "--benchmark_enable_random_interleaving=true", "--benchmark_min_time=0.5"});
}
