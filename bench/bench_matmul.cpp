// tern::matmul against raw cblas_sgemm (the ceiling) on GPT-2-small shapes, for the
// forward product and both backward products of a linear layer y = x @ W:
//   fwd    y  = x @ W      x [M,K], W [K,N]   sgemm(N, N)
//   bwd_x  gx = g @ W^T    g [M,N], W.t()     sgemm(N, T)  (W.t() is a view: BLAS gets the flag)
//   bwd_W  gW = x^T @ g    x.t(),  g [M,N]    sgemm(T, N)  (x.t() is a view)
// The ceiling calls cblas_sgemm with the same transpose flags into a preallocated C;
// tern allocates its output every call, as it does in training. Each benchmark
// alternates the two call by call (see bench_common.h).
//
//   TERN_NUM_THREADS=2 build-bench/bench/bench_matmul

#include <cstdio>
#include <string>
#include <vector>

#include <cblas.h>

#include <tern/tern.h>

#include "bench_common.h"

namespace {

struct Shape3 {
  int64_t m, k, n;
};

enum class Variant { fwd, bwd_x, bwd_W };
const char* variant_name(Variant v) {
  switch (v) {
    case Variant::fwd: return "fwd";
    case Variant::bwd_x: return "bwd_x";
    case Variant::bwd_W: return "bwd_W";
  }
  return "?";
}

std::string shape_name(Shape3 s) {
  return std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
}

// Random operands for one shape: x [M,K], W [K,N], g [M,N].
struct Operands {
  tern::Tensor x, w, g;
  explicit Operands(Shape3 s) {
    tern::Generator gen(1234);
    x = tern::randn({s.m, s.k}, &gen);
    w = tern::randn({s.k, s.n}, &gen) * 0.02;
    g = tern::randn({s.m, s.n}, &gen);
  }
};

// One iteration calls raw cblas_sgemm (same transpose flags, preallocated C) and
// tern::matmul (which allocates its output, as in training), alternately.
void bm_pair(benchmark::State& state, Shape3 s, Variant v) {
  const Operands op(s);
  tern::NoGradGuard no_grad;
  const float* x = op.x.data_ptr<float>();
  const float* w = op.w.data_ptr<float>();
  const float* g = op.g.data_ptr<float>();
  const int M = static_cast<int>(s.m), K = static_cast<int>(s.k), N = static_cast<int>(s.n);
  std::vector<float> c(static_cast<size_t>(std::max({s.m * s.n, s.m * s.k, s.k * s.n})), 1.0f);
  // The transposed operands are views (no copy); matmul hands BLAS the flag.
  const tern::Tensor wt = op.w.t(), xt = op.x.t();

  auto blas = [&] {
    switch (v) {
      case Variant::fwd:  // [M,K] @ [K,N]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, w, N, 0.0f, c.data(), N);
        break;
      case Variant::bwd_x:  // [M,N] @ ([K,N])^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, g, N, w, N, 0.0f, c.data(), K);
        break;
      case Variant::bwd_W:  // ([M,K])^T @ [M,N]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, x, K, g, N, 0.0f, c.data(), N);
        break;
    }
    benchmark::DoNotOptimize(c.data());
  };
  auto tern_mm = [&] {
    tern::Tensor y;
    switch (v) {
      case Variant::fwd: y = tern::matmul(op.x, op.w); break;
      case Variant::bwd_x: y = tern::matmul(op.g, wt); break;
      case Variant::bwd_W: y = tern::matmul(xt, op.g); break;
    }
    benchmark::DoNotOptimize(y.raw_data());
  };
  const double flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  tern_bench::run_paired(state, tern_mm, blas, flops, flops, 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  // GPT-2 small, 256 tokens: attn c_attn, attn c_proj, mlp c_fc, mlp c_proj.
  const std::vector<Shape3> shapes = {{256, 768, 2304}, {256, 768, 768}, {256, 768, 3072}, {256, 3072, 768}};
  std::vector<tern_bench::Row> rows;
  for (Shape3 s : shapes) {
    for (Variant v : {Variant::fwd, Variant::bwd_x, Variant::bwd_W}) {
      const std::string name = std::string("matmul/") + variant_name(v) + "/" + shape_name(s);
      benchmark::RegisterBenchmark(name.c_str(), bm_pair, s, v)->UseRealTime();
      rows.push_back({shape_name(s) + " " + variant_name(v), name, 0.95});
    }
  }
  return tern_bench::run_and_summarise(
      argc, argv, "tern::matmul vs cblas_sgemm with the same transpose flags; shape is MxKxN",
      {"shape variant", "tern_GFLOPs", "blas_GFLOPs"}, rows,
      {"--benchmark_repetitions=9", "--benchmark_enable_random_interleaving=true",
       "--benchmark_min_time=0.4"});
}
