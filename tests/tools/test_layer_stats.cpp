// layer_stats.json, the per-layer ternarization record that `tern quantize` writes for tools/plot.py: its counts
// agree with the ternary weights, and its cut separates the weights that became 0 from the rest.

#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <tern/core/ops.h>
#include <tern/models/gpt2/model.h>
#include <tern/quant/bitlinear.h>
#include <tern/quant/convert.h>

#include "layer_stats.h"

using namespace tern;
using nlohmann::json;

namespace {

std::shared_ptr<gpt2::GPT2> tiny_model(std::optional<double> tau) {
  Generator gen(5);
  gpt2::Config c = gpt2::Config::tiny();
  c.vocab_size = 32;
  c.n_layer = 2;
  auto model = std::make_shared<gpt2::GPT2>(c, &gen);
  quant::replace_linear_with_bitlinear(*model, tau);
  return model;
}

void check_layers(const nn::Module& model, const json& doc, std::optional<double> tau) {
  ASSERT_EQ(doc.at("format"), "tern-layer-stats");
  ASSERT_EQ(doc.at("format_version"), 1);
  size_t i = 0;
  for (const auto& [name, m] : model.named_modules()) {
    const auto* b = dynamic_cast<const quant::BitLinear*>(m);
    if (!b) continue;
    ASSERT_LT(i, doc.at("layers").size());
    const json& l = doc.at("layers")[i++];
    SCOPED_TRACE(name);
    EXPECT_EQ(l.at("name"), name);
    const Tensor w = b->weight.detach().contiguous();
    const quant::TernaryWeight t = b->ternary_weight();
    const int64_t n = w.numel();
    EXPECT_EQ(l.at("shape"), json(w.shape()));
    if (tau) EXPECT_DOUBLE_EQ(l.at("weight_sparsity_threshold").get<double>(), *tau);
    else EXPECT_TRUE(l.at("weight_sparsity_threshold").is_null());
    EXPECT_FLOAT_EQ(l.at("scale").get<float>(), t.scale);

    int64_t zeros = 0, neg = 0, pos = 0;
    double max_zeroed = 0, min_kept = INFINITY;
    const float* wp = w.data_ptr<float>();
    const int8_t* qp = t.values.contiguous().data_ptr<int8_t>();
    for (int64_t k = 0; k < n; ++k) {
      const double a = std::fabs(wp[k]);
      if (qp[k] == 0) {
        ++zeros;
        max_zeroed = std::max(max_zeroed, a);
      } else {
        (qp[k] < 0 ? neg : pos) += 1;
        min_kept = std::min(min_kept, a);
      }
    }
    EXPECT_EQ(l.at("zero"), zeros);
    EXPECT_EQ(l.at("negative"), neg);
    EXPECT_EQ(l.at("positive"), pos);
    EXPECT_DOUBLE_EQ(l.at("sparsity").get<double>(), static_cast<double>(zeros) / static_cast<double>(n));
    if (tau) EXPECT_EQ(zeros, std::llround(*tau * static_cast<double>(n)));
    const double cut = l.at("cut");
    EXPECT_GE(cut, max_zeroed);
    EXPECT_LE(cut, min_kept);

    const json& h = l.at("histogram");
    int64_t total = h.at("below").get<int64_t>() + h.at("above").get<int64_t>();
    for (const auto& c : h.at("counts")) total += c.get<int64_t>();
    EXPECT_EQ(total, n);
    EXPECT_DOUBLE_EQ(h.at("lo").get<double>(), -h.at("hi").get<double>());
    EXPECT_GT(h.at("hi").get<double>(), cut);
  }
  EXPECT_EQ(i, doc.at("layers").size());
  EXPECT_EQ(i, 8u);  // 2 layers x (c_attn, attn.c_proj, c_fc, mlp.c_proj)
}

}  // namespace

TEST(LayerStats, SparsityModeCountsAndCut) {
  auto model = tiny_model(0.1);
  check_layers(*model, json::parse(cli::layer_stats_json(*model)), 0.1);
}

TEST(LayerStats, AbsmeanModeCountsAndCut) {
  auto model = tiny_model(std::nullopt);
  const json doc = json::parse(cli::layer_stats_json(*model));
  check_layers(*model, doc, std::nullopt);
  // Absmean rounding zeroes |w| < mean|w| / 2, so the cut sits at half the mean |w|, to within the gap between
  // neighbouring weights.
  for (const auto& l : doc.at("layers"))
    EXPECT_NEAR(l.at("cut").get<double>(), 0.5 * l.at("mean_abs").get<double>(), 0.02 * l.at("mean_abs").get<double>());
}

TEST(LayerStats, NoBitLinearGivesNoLayers) {
  Generator gen(5);
  gpt2::Config c = gpt2::Config::tiny();
  c.vocab_size = 32;
  gpt2::GPT2 model(c, &gen);
  EXPECT_TRUE(json::parse(cli::layer_stats_json(model)).at("layers").empty());
}
