// The optimizer step alone at GPT-2 124M's parameter shapes, for Muon (+ AdamW on the
// embeddings, biases and norms) and MuGrokfast, each against the AdamW step on every
// parameter, measured call by call in the same iterations (run_paired, ABBA order).
// Gradients are fixed random tensors; no forward or backward runs.
//
//   build/bench/bench_optimizer
//
// Summary: ms per step and the step's time over the AdamW step's time (medians over the
// repetitions). Muon's Newton–Schulz iteration does 5 x 3 matmuls per hidden matrix, so its
// cost is FLOPs, where AdamW's is one streaming pass over memory.

#include <cstdio>
#include <memory>
#include <vector>

#include <tern/models/gpt2/model.h>
#include <tern/tern.h>

#include "bench_common.h"

namespace {

using namespace tern;
namespace optim = tern::nn::optim;

struct Setup {
  Generator gen{1};
  gpt2::GPT2 model{gpt2::Config::gpt2(), &gen};
  std::vector<Tensor> params = model.parameters();
  std::vector<Tensor> grads;
  // Small rates: the parameters drift little over the iterations, the work is the same.
  optim::AdamW adamw{optim::weight_decay_groups(model.named_parameters(), 0.1),
                     {.lr = 1e-6, .beta1 = 0.9, .beta2 = 0.95}};
  optim::MuGrokfast muon{model, {.muon = {.lr = 1e-5}, .adamw = {.lr = 1e-6}, .grokfast = std::nullopt}};
  optim::MuGrokfast mugrokfast{model, {.muon = {.lr = 1e-5}, .adamw = {.lr = 1e-6}}};
  Setup() {
    Generator d(2);
    for (auto& p : params) grads.push_back(mul(randn(p.shape(), &d), 1e-3));
  }
  // Grokfast replaces each gradient with a new tensor; putting the originals back keeps
  // every step's input the same.
  void reset_grads() {
    for (size_t i = 0; i < params.size(); ++i) params[i].set_grad(grads[i]);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void paired(benchmark::State& state, optim::Optimizer& opt) {
  Setup& s = setup();
  tern_bench::run_paired(
      state,
      [&] {
        s.reset_grads();
        opt.step();
      },
      [&] {
        s.reset_grads();
        s.adamw.step();
      },
      1.0, 1.0, 1.0);  // steps per second
}

void BM_MuonStep(benchmark::State& state) { paired(state, setup().muon); }
void BM_MuGrokfastStep(benchmark::State& state) { paired(state, setup().mugrokfast); }

// A step takes seconds on a small CPU: few fixed iterations instead of a minimum time.
BENCHMARK(BM_MuonStep)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(BM_MuGrokfastStep)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace

int main(int argc, char** argv) {
  tern_bench::Harness harness(argc, argv, {"--benchmark_repetitions=3", "--benchmark_enable_random_interleaving=true"});
  if (harness.bad_args()) return 1;
  const auto& rec = harness.run();
  const auto& s = setup();
  int64_t n_muon = 0;
  for (const auto& r : s.muon.routing()) n_muon += r.muon ? numel_of(r.shape) : 0;
  std::printf("\nOptimizer step at GPT-2 124M shapes (%lld parameters, %lld of them in Muon's matrices); medians\n",
              static_cast<long long>(s.model.num_parameters()), static_cast<long long>(n_muon));
  std::printf("%-12s %12s %12s %18s\n", "optimizer", "step_ms", "adamw_ms", "time / AdamW's");
  for (auto [label, bench] : {std::pair{"Muon", "BM_MuonStep"}, std::pair{"MuGrokfast", "BM_MuGrokfastStep"}}) {
    if (rec.repetitions(bench, "ratio") == 0) continue;  // filtered out
    std::printf("%-12s %12.1f %12.1f %18.2f\n", label, 1e3 / rec.median(bench, "tern"),
                1e3 / rec.median(bench, "ceiling"), 1.0 / rec.median(bench, "ratio"));
  }
  return 0;
}
