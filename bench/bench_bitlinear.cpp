// BitLinear forward + backward against nn::Linear forward + backward at GPT-2 124M's
// Linear shapes (256 tokens): the cost of BitNet b1.58 quantization-aware training.
//
//   c_fc       x [256, 768]  -> 3072
//   mlp.c_proj x [256, 3072] -> 768
//   c_attn     x [256, 768]  -> 2304
//
// Each call is a training-style step on one layer: clear grads, y = layer(x),
// y.backward(gy), with x and the layer's parameters requiring grad (gx, gW, gb are all
// computed). Both layers use the same x, W, b and gy. BitLinear re-quantizes its weight on
// every call, as in training (its version counter is bumped as an optimizer step would),
// so its weight cache never helps here. Modes: τ = 0.1 (sparsity mode, radix select) and
// absmean (the paper's).
//
// The two sides alternate call by call (ABBA, see bench_common.h). Reported per case:
// both sides' GFLOP/s (6·M·N·K flops per call: three GEMMs) and time_ratio, the median
// over repetitions of BitLinear time / Linear time. Goal: time_ratio <= 1.3.
//
//   TERN_NUM_THREADS=2 build-quant/bench/bench_bitlinear

#include <tern/tern.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

struct Case {
  const char* label;
  int64_t m, k, n;  // x [m, k] -> [m, n]
};

constexpr Case kCases[] = {
    {"c_fc 256x768->3072", 256, 768, 3072},
    {"mlp.c_proj 256x3072->768", 256, 3072, 768},
    {"c_attn 256x768->2304", 256, 768, 2304},
};

struct Layers {
  std::shared_ptr<tern::nn::Linear> linear;
  std::shared_ptr<tern::quant::BitLinear> bit;
  tern::Tensor x, gy;
};

Layers make_layers(const Case& c, std::optional<double> tau) {
  tern::Generator gen(42);
  Layers l;
  l.linear = std::make_shared<tern::nn::Linear>(c.k, c.n, tern::nn::LinearOptions{.gen = &gen});
  tern::quant::BitLinearOptions o;
  o.weight_sparsity_threshold = tau;
  o.gen = &gen;
  l.bit = std::make_shared<tern::quant::BitLinear>(c.k, c.n, o);
  l.bit->load_state_dict(l.linear->state_dict());
  l.x = tern::randn({c.m, c.k}, &gen).requires_grad_();
  l.gy = tern::randn({c.m, c.n}, &gen);
  return l;
}

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  benchmark::ClobberMemory();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bm_case(benchmark::State& state, Case c, std::optional<double> tau) {
  Layers l = make_layers(c, tau);
  auto step = [&](tern::nn::Module& m) {
    m.zero_grad();
    l.x.zero_grad();
    tern::Tensor y = m.forward(l.x);
    y.backward(l.gy);
    benchmark::DoNotOptimize(l.x.grad().raw_data());
  };
  auto run_linear = [&] { step(*l.linear); };
  auto run_bit = [&] {
    l.bit->weight.storage()->bump_version();  // a training step changed the weight
    step(*l.bit);
  };
  double t_lin = 0, t_bit = 0;
  int64_t k = 0;
  for (auto _ : state) {
    if (k++ & 1) {
      t_lin += seconds_of(run_linear);
      t_bit += seconds_of(run_bit);
    } else {
      t_bit += seconds_of(run_bit);
      t_lin += seconds_of(run_linear);
    }
  }
  if (k == 0) return;
  const double flops = 6.0 * static_cast<double>(c.m * c.k * c.n);
  state.counters["bitlinear_GFLOPs"] = flops * static_cast<double>(k) / t_bit * 1e-9;
  state.counters["linear_GFLOPs"] = flops * static_cast<double>(k) / t_lin * 1e-9;
  state.counters["time_ratio"] = t_bit / t_lin;
}

}  // namespace

int main(int argc, char** argv) {
  struct Row {
    std::string label, name;
  };
  std::vector<Row> rows;
  for (const Case& c : kCases) {
    for (std::optional<double> tau : {std::optional<double>{0.1}, std::optional<double>{}}) {
      const std::string mode = tau ? "tau=0.1" : "absmean";
      const std::string name = std::string("bitlinear_vs_linear/") + c.label + "/" + mode;
      benchmark::RegisterBenchmark(name.c_str(), [c, tau](benchmark::State& s) { bm_case(s, c, tau); })->UseRealTime();
      rows.push_back({std::string(c.label) + " " + mode, name});
    }
  }
  tern_bench::Harness harness(
      argc, argv,
      {"--benchmark_repetitions=7", "--benchmark_enable_random_interleaving=true", "--benchmark_min_time=0.5"});
  if (harness.bad_args()) return 1;
  const auto& rec = harness.run();
  std::printf(
      "\nBitLinear vs nn::Linear, forward + backward (f32, GFLOP/s = 6*M*N*K per call; medians over repetitions)\n");
  std::printf("%-34s %12s %12s %11s\n", "case", "BitLinear", "Linear", "time_ratio");
  constexpr double kGoal = 1.3;
  bool ok = true;
  for (const Row& r : rows) {
    if (rec.repetitions(r.name, "time_ratio") == 0) continue;
    const double ratio = rec.median(r.name, "time_ratio");
    ok = ok && ratio <= kGoal;
    std::printf("%-34s %12.2f %12.2f %11.3f  goal <= %.2f", r.label.c_str(), rec.median(r.name, "bitlinear_GFLOPs"),
                rec.median(r.name, "linear_GFLOPs"), ratio, kGoal);
    if (ratio > kGoal) std::printf(", %.3f above it", ratio - kGoal);
    std::printf("\n");
  }
  std::fflush(stdout);
  return harness.strict() && !ok ? 1 : 0;
}
