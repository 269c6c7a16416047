// One GPT-2 124M training step (B=4, T=64: forward, backward, grad clipping, AdamW)
// against its ceiling: the same step's GEMMs run back to back through raw
// cblas_sgemm. The ratio is the step's model FLOP/s over that sgemm FLOP/s.
//
// On a machine with a GPU it also registers BM_GPT2StepCuda: the same step on cuda:0 at
// B=16, T=1024 (TERN_BENCH_BATCH, TERN_BENCH_SEQ), in fp32, TF32 or bf16 autocast
// (TERN_BENCH_PRECISION=fp32|tf32|bf16),
// reporting tokens/s; its ceiling is PyTorch eager on the same GPU, which
// bench/torch_gpt2_step.py --device cuda runs beside it.
//
//   ./run bench            (all benchmarks)
//   build/bench/bench_gpt2_step

#include <cblas.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <tern/models/gpt2/model.h>
#include <tern/tern.h>

#include "bench_common.h"

namespace {

using namespace tern;

constexpr int64_t kB = 4, kT = 64;

struct Gemm {
  int64_t m, n, k;
  bool ta, tb;
};

// The GEMMs of one step, as tern issues them (row-major, weight [out, in]).
std::vector<Gemm> step_gemms(const gpt2::Config& c) {
  const int64_t M = kB * kT, C = c.n_embd;
  std::vector<Gemm> g;
  auto linear = [&](int64_t in, int64_t out) {
    g.push_back({M, out, in, false, true});  // y = x W^T
    g.push_back({M, in, out, false, false});  // dx = dy W
    g.push_back({in, out, M, true, false});   // dW^T = x^T dy
  };
  for (int64_t l = 0; l < c.n_layer; ++l) {
    linear(C, 3 * C);
    linear(C, C);
    linear(C, 4 * C);
    linear(4 * C, C);
  }
  linear(C, c.vocab_size);  // lm_head, tied to wte
  return g;
}

double model_flops(const gpt2::GPT2& m) {
  // 6 FLOPs per parameter per token (forward 2, backward 4), plus attention's
  // 12·L·H·Q·T per token (nanoGPT's estimate, PaLM appendix B).
  const auto& c = m.config();
  const double n = static_cast<double>(m.num_parameters());
  const double attn = 12.0 * c.n_layer * c.n_head * (c.n_embd / c.n_head) * kT;
  return (6.0 * n + attn) * kB * kT;
}

struct Setup {
  Generator gen{1};
  gpt2::GPT2 model{gpt2::Config::gpt2(), &gen};
  nn::optim::AdamW opt{nn::optim::weight_decay_groups(model.named_parameters(), 0.1),
                       {.lr = 6e-4, .beta1 = 0.9, .beta2 = 0.95}};
  Tensor x, y;
  Setup() {
    Generator d(2);
    NoGradGuard ng;
    x = mul(rand({kB, kT}, &d), 50257.0).to(kInt64);
    y = mul(rand({kB, kT}, &d), 50257.0).to(kInt64);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_GPT2Step(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    s.opt.zero_grad();
    Tensor loss = s.model.forward(s.x, s.y).loss;
    loss.backward();
    nn::optim::clip_grad_norm(s.model.parameters(), 1.0);
    s.opt.step();
    benchmark::DoNotOptimize(loss.item<double>());
  }
  state.counters["flops"] = benchmark::Counter(model_flops(s.model), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SgemmStep(benchmark::State& state) {
  const auto gemms = step_gemms(gpt2::Config::gpt2());
  size_t a_max = 0, b_max = 0, c_max = 0;
  double flops = 0;
  for (auto& g : gemms) {
    a_max = std::max<size_t>(a_max, g.m * g.k);
    b_max = std::max<size_t>(b_max, g.k * g.n);
    c_max = std::max<size_t>(c_max, g.m * g.n);
    flops += 2.0 * g.m * g.n * g.k;
  }
  Generator d(3);
  Tensor a = randn({static_cast<int64_t>(a_max)}, &d), b = randn({static_cast<int64_t>(b_max)}, &d);
  Tensor c = zeros({static_cast<int64_t>(c_max)});
  for (auto _ : state) {
    for (auto& g : gemms)
      cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans, g.m, g.n, g.k,
                  1.0f, a.data_ptr<float>(), g.ta ? g.m : g.k, b.data_ptr<float>(), g.tb ? g.k : g.n, 0.0f,
                  c.data_ptr<float>(), g.n);
    benchmark::ClobberMemory();
  }
  state.counters["flops"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

// The training step on cuda:0. The loss read at the end of each step waits for the device,
// so wall time per iteration is the step's time.
void BM_GPT2StepCuda(benchmark::State& state) {
  const int64_t B = env_int("TERN_BENCH_BATCH", 16), T = env_int("TERN_BENCH_SEQ", 1024);
  const char* env = std::getenv("TERN_BENCH_PRECISION");
  const std::string prec = env && *env ? env : "fp32";
  const bool tf32 = prec == "tf32", bf16 = prec == "bf16";
  set_matmul_precision(tf32 ? "high" : "highest");
  Generator gen(1);
  gpt2::GPT2 model(gpt2::Config::gpt2(), &gen);
  model.to(cuda());
  nn::optim::AdamW opt(nn::optim::weight_decay_groups(model.named_parameters(), 0.1),
                       {.lr = 6e-4, .beta1 = 0.9, .beta2 = 0.95});
  Generator d(2);
  Tensor x, y;
  {
    NoGradGuard ng;
    x = mul(rand({B, T}, &d), 50257.0).to(kInt64).to(cuda());
    y = mul(rand({B, T}, &d), 50257.0).to(kInt64).to(cuda());
  }
  for (auto _ : state) {
    opt.zero_grad();
    Tensor loss;
    {
      AutocastGuard autocast(bf16 ? std::optional<DType>(kBFloat16) : std::nullopt);
      loss = model.forward(x, y).loss;
    }
    loss.backward();
    nn::optim::clip_grad_norm(model.parameters(), 1.0);
    opt.step();
    benchmark::DoNotOptimize(loss.item<double>());
  }
  set_matmul_precision("highest");
  state.SetItemsProcessed(state.iterations() * B * T);
  state.SetLabel(prec + " B=" + std::to_string(B) + " T=" + std::to_string(T));
}

BENCHMARK(BM_GPT2Step)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SgemmStep)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (tern::cuda_available())
    benchmark::RegisterBenchmark("BM_GPT2StepCuda", BM_GPT2StepCuda)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinWarmUpTime(2.0);
  return tern_bench::run_and_summarise(
      argc, argv, "GPT-2 124M training step, B=4 T=64 (model FLOP/s vs the step's GEMMs in raw cblas_sgemm)", "flops",
      "GFLOP/s", 1e-9, {{"gpt2-124M step", "BM_GPT2Step", "BM_SgemmStep", 0.5}},
      {"--benchmark_repetitions=3", "--benchmark_enable_random_interleaving=true", "--benchmark_min_time=1"});
}
