// The packed inference kernels (backends/cpu/ternary) against OpenBLAS on the fp32 weights
// they replace, call by call in the same run (bench_common.h):
//   i2 gemv   batch 1: quantize x to int8, 2-bit ternary weights     vs cblas_sgemv
//   i2 gemm   batch 64 and 512                                        vs cblas_sgemm
//   i8 gemv   batch 1: GPT-2's tied lm_head (50257 x 768) as int8     vs cblas_sgemv
// Shapes: 4096 x 4096 and GPT-2 124M's four BitLinear layers (out x in). Both sides compute
// the same y [batch, out] from fp32 x; the ratio is tern's speed over BLAS's.
//
//   TERN_NUM_THREADS=1 build/bench/bench_ternary
//   TERN_NUM_THREADS=2 build/bench/bench_ternary
// The instruction set is the CPU's best unless TERN_ISA names another (scalar, avx2, avx512_vnni).

#include <cstdio>
#include <string>
#include <vector>

#include <cblas.h>

#include <tern/backends/cpu/ternary/ternary.h>
#include <tern/tern.h>

#include "bench_common.h"

namespace {

namespace tk = tern::cpu::ternary;

struct Case {
  const char* name;
  int64_t out, in, batch;
  bool int8 = false;
};

const std::vector<Case> kCases = {
    {"4096x4096", 4096, 4096, 1},        {"c_attn 2304x768", 2304, 768, 1},
    {"attn.c_proj 768x768", 768, 768, 1}, {"c_fc 3072x768", 3072, 768, 1},
    {"mlp.c_proj 768x3072", 768, 3072, 1}, {"lm_head 50257x768", 50257, 768, 1, true},
    {"4096x4096", 4096, 4096, 64},       {"c_fc 3072x768", 3072, 768, 64},
    {"mlp.c_proj 768x3072", 768, 3072, 64}, {"c_fc 3072x768", 3072, 768, 512},
    {"mlp.c_proj 768x3072", 768, 3072, 512},
};

std::string bench_name(const Case& c) {
  return std::string(c.int8 ? "i8/" : "i2/") + c.name + "/b" + std::to_string(c.batch);
}

void bm_pair(benchmark::State& state, const Case& c) {
  tern::Generator gen(7);
  const int64_t m = c.batch, n = c.out, k = c.in;
  tern::Tensor x = tern::randn({m, k}, &gen);
  tern::Tensor w = tern::randn({n, k}, &gen) * 0.02;
  tern::Tensor y = tern::empty({m, n}), yb = tern::empty({m, n});
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* ybp = yb.data_ptr<float>();

  // The same weight in the kernel's layout.
  std::vector<uint8_t> w2;
  std::vector<int8_t> w8;
  std::vector<int32_t> wsum;
  std::vector<float> wscale;
  float scale = 0;
  if (c.int8) {
    auto emb = tern::quant::Int8Embedding(w);
    const auto sd = emb.state_dict();
    const int64_t kp8 = tk::padded_k8(k);
    const int8_t* q = sd[0].second.data_ptr<int8_t>();
    w8.assign(q, q + n * kp8);
    const float* s = sd[1].second.data_ptr<float>();
    wscale.assign(s, s + n);
    wsum.assign(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) wsum[i] += w8[i * kp8 + j];
  } else {
    const tern::quant::TernaryWeight t = tern::quant::ternarize(w, 0.1);
    w2 = tk::pack_i2(t.values.data_ptr<int8_t>(), n, k);
    scale = t.scale;
  }
  auto tern_fn = [&] {
    if (c.int8)
      tk::linear_i8(xp, m, k, k, w8.data(), wsum.data(), wscale.data(), n, nullptr, yp, n);
    else
      tk::linear_i2(xp, m, k, k, w2.data(), n, scale, nullptr, false, 0.0, yp, n);
  };
  auto blas_fn = [&] {
    if (m == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n), static_cast<int>(k), 1.0f, wp,
                  static_cast<int>(k), xp, 1, 0.0f, ybp, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                  static_cast<int>(k), 1.0f, xp, static_cast<int>(k), wp, static_cast<int>(k), 0.0f, ybp,
                  static_cast<int>(n));
  };
  const double flops = 2.0 * static_cast<double>(m * n * k);
  tern_bench::run_paired(state, tern_fn, blas_fn, flops, flops, 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<tern_bench::Row> rows;
  for (const Case& c : kCases) {
    const std::string name = bench_name(c);
    benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& s) { bm_pair(s, c); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    rows.push_back({name, name, 0.0});
  }
  std::printf("instruction set: %s\n", tk::isa_name(tk::active_isa()));
  return tern_bench::run_and_summarise(
      argc, argv, "packed kernels vs OpenBLAS on the fp32 weights (GFLOP/s equivalent; ratio = speed-up)",
      {"case", "tern_GFLOPs", "blas_GFLOPs"}, rows,
      {"--benchmark_repetitions=5", "--benchmark_enable_random_interleaving=true", "--benchmark_min_time=0.2"});
}
