// The W2A8 kernel of packed BitNet layers on a GPU (Backend::ternary_linear: int8 activations
// quantized from f32 per call, 2-bit ternary weights) against its ceiling, cuBLAS fp16 GEMV
// (cublasGemmEx, fp16 weights and input, fp32 accumulation) on the same GPU, batch 1.
// Each side queues 200 calls and waits for the device; the two alternate call by call
// (bench_common.h), so the ratio is time(cuBLAS) / time(W2A8). Host launch cost is included
// on both sides, as a decoding loop pays it.
//
//   build/bench/bench_w2a8_cuda        (needs a GPU; without one it says so and exits)

#include <cstdio>
#include <random>
#include <vector>

#include <tern/backends/backend.h>
#include <tern/backends/cpu/ternary/ternary.h>
#include <tern/backends/cuda.h>
#include <tern/tern.h>

#include "bench_common.h"

namespace {

using namespace tern;

constexpr int kCalls = 200;

struct Shape2 {
  int64_t n, k;
};

void BM_W2A8(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1);
  Backend& be = backend_for(cuda(), "bench");
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> t(-1, 1);
  std::vector<int8_t> w(static_cast<size_t>(n * k));
  for (auto& v : w) v = static_cast<int8_t>(t(rng));
  Tensor packed = from_vector(cpu::ternary::pack_i2(w.data(), n, k)).to(cuda());
  Generator g(2);
  Tensor x = randn({1, k}, &g).to(cuda());
  Tensor scale = from_vector<float>({0.02f}).to(cuda());
  Tensor y = empty({1, n}, {.device = cuda()});
  // The fp16 ceiling: the same product with fp16 weights [n, k] and input.
  Tensor w16 = randn({n, k}, &g).to(kFloat16).to(cuda());
  Tensor x16 = x.to(kFloat16);
  Tensor y16 = empty({1, n}, {.dtype = kFloat16, .device = cuda()});
  const GemmTypes fp16{kFloat16, kFloat16, kFloat32};
  auto ternary = [&] {
    for (int i = 0; i < kCalls; ++i)
      be.ternary_linear(x.data_ptr<float>(), 1, k, packed.data_ptr<uint8_t>(), n, scale.data_ptr<float>(), nullptr,
                        false, 0.0, y.data_ptr<float>(), nullptr);
    cuda_synchronize();
  };
  auto cublas = [&] {
    for (int i = 0; i < kCalls; ++i)
      be.gemm_batched(fp16, false, true, 1, n, k, 1.0, x16.raw_data(), k, w16.raw_data(), k, 0.0, y16.raw_data(), n,
                      GemmBatch{});
    cuda_synchronize();
  };
  ternary();  // warm-up: first launches, cuBLAS handle and heuristics
  cublas();
  // Work = calls, so each throughput is calls/s and the ratio is time(cuBLAS) / time(W2A8).
  tern_bench::run_paired(state, ternary, cublas, kCalls, kCalls, 1e-3);
  state.SetLabel(std::to_string(k) + " -> " + std::to_string(n));
}

}  // namespace

int main(int argc, char** argv) {
  if (!tern::cuda_available()) {
    std::printf("bench_w2a8_cuda: no CUDA device on this machine; nothing measured\n");
    return 0;
  }
  const std::vector<Shape2> shapes = {{4096, 4096}, {2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};
  std::vector<tern_bench::Row> rows;
  for (const auto& s : shapes) {
    const std::string name = "W2A8_" + std::to_string(s.k) + "_to_" + std::to_string(s.n);
    benchmark::RegisterBenchmark(name.c_str(), BM_W2A8)->Args({s.n, s.k})->Unit(benchmark::kMicrosecond)->UseRealTime();
    rows.push_back({std::to_string(s.k) + " -> " + std::to_string(s.n) + " batch 1", name, 3.0});
  }
  return tern_bench::run_and_summarise(
      argc, argv, "W2A8 ternary GEMV against cuBLAS fp16 GEMV (ratio = cuBLAS time / W2A8 time)",
      {"shape", "W2A8_kcalls/s", "cublas_kcalls/s"}, rows, {"--benchmark_repetitions=5", "--benchmark_min_time=0.5"});
}
