#include "layer_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include <tern/autograd/grad_mode.h>
#include <tern/core/io/file.h>
#include <tern/quant/bitlinear.h>

namespace tern::cli {

namespace {

constexpr int kBins = 121;

nlohmann::ordered_json layer_json(const std::string& name, const quant::BitLinear& layer) {
  NoGradGuard no_grad;
  const Tensor w = layer.weight.detach().to(kCPU).to(kFloat32).contiguous();
  const quant::TernaryWeight t = layer.ternary_weight();
  const Tensor q = t.values.to(kCPU).contiguous();
  const float* wp = w.data_ptr<float>();
  const int8_t* qp = q.data_ptr<int8_t>();
  const int64_t n = w.numel();

  double sum_abs = 0, sum_sq = 0, max_abs = 0;
  double max_zeroed = -1, min_kept = INFINITY;
  int64_t neg = 0, zero = 0, pos = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = std::fabs(static_cast<double>(wp[i]));
    sum_abs += a;
    sum_sq += a * a;
    max_abs = std::max(max_abs, a);
    if (qp[i] == 0) {
      ++zero;
      max_zeroed = std::max(max_zeroed, a);
    } else {
      (qp[i] < 0 ? neg : pos) += 1;
      min_kept = std::min(min_kept, a);
    }
  }
  const double rms = n ? std::sqrt(sum_sq / static_cast<double>(n)) : 0.0;
  double cut = 0;
  if (zero > 0) cut = std::isfinite(min_kept) ? 0.5 * (max_zeroed + min_kept) : max_zeroed;

  const double hi = std::max(std::min(max_abs, 6.0 * rms), 1e-12);
  std::vector<int64_t> counts(kBins, 0);
  int64_t below = 0, above = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = wp[i];
    if (v < -hi) { ++below; continue; }
    if (v > hi) { ++above; continue; }
    const auto b = static_cast<int64_t>((v + hi) / (2 * hi) * kBins);
    ++counts[static_cast<size_t>(std::clamp<int64_t>(b, 0, kBins - 1))];
  }

  const auto tau = layer.weight_sparsity_threshold();
  return {{"name", name},
          {"shape", w.shape()},
          {"weight_sparsity_threshold", tau ? nlohmann::ordered_json(*tau) : nlohmann::ordered_json(nullptr)},
          {"mean_abs", n ? sum_abs / static_cast<double>(n) : 0.0},
          {"max_abs", max_abs},
          {"rms", rms},
          {"scale", t.scale},
          {"cut", cut},
          {"sparsity", n ? static_cast<double>(zero) / static_cast<double>(n) : 0.0},
          {"negative", neg},
          {"zero", zero},
          {"positive", pos},
          {"histogram", {{"lo", -hi}, {"hi", hi}, {"counts", counts}, {"below", below}, {"above", above}}}};
}

}  // namespace

std::string layer_stats_json(const nn::Module& model) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const auto& [name, m] : model.named_modules())
    if (const auto* b = dynamic_cast<const quant::BitLinear*>(m)) layers.push_back(layer_json(name, *b));
  const nlohmann::ordered_json doc = {{"format", "tern-layer-stats"}, {"format_version", 1}, {"layers", layers}};
  return doc.dump(1) + "\n";
}

void write_layer_stats(const std::string& path, const nn::Module& model) {
  io::write_file_atomic(path, layer_stats_json(model), "layer_stats.json");
}

}  // namespace tern::cli
