// The replacement pass, Phase4Config, BitNetQuantizer and CompressedModel.

#include <gtest/gtest.h>
#include <tern/models/gpt2/model.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "../test_util.h"
#include "quant_test_util.h"

using namespace tern;
using namespace tern::quant;
using namespace quant_test;

namespace {

class Block : public nn::Module {
 public:
  explicit Block(Generator* g) : nn::Module("Block") {
    register_module("proj", std::make_shared<nn::Linear>(16, 16, nn::LinearOptions{.gen = g}));
    register_module("act", std::make_shared<nn::GELU>());
  }
  Tensor forward(const Tensor& x) override { return child("act")->forward(child("proj")->forward(x)); }
};

// Names: "0" Linear, "1" GELU, "2" Sequential {"2.0" Linear, "2.1" Block {"2.1.proj"}}, "3" Linear.
std::shared_ptr<nn::Sequential> small_tree(uint64_t seed) {
  Generator g(seed);
  auto inner = std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      std::make_shared<nn::Linear>(16, 16, nn::LinearOptions{.gen = &g}), std::make_shared<Block>(&g)});
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 16, nn::LinearOptions{.gen = &g}), std::make_shared<nn::GELU>(), inner,
      std::make_shared<nn::Linear>(16, 4, nn::LinearOptions{.bias = false, .gen = &g})});
}

gpt2::Config tiny_config() {
  gpt2::Config c;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  c.n_positions = 16;
  c.vocab_size = 50;
  return c;
}

std::vector<std::pair<std::string, Shape>> name_shapes(const nn::Module& m) {
  std::vector<std::pair<std::string, Shape>> r;
  for (const auto& [n, t] : m.state_dict()) r.emplace_back(n, t.shape());
  return r;
}

using tern::testutil::expect_error;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tern_quant_test_" + name)).string();
}

Tensor tokens(uint64_t seed) {
  Generator g(seed);
  return round(mul(rand({2, 12}, &g), 49.0)).to(kInt64);
}

}  // namespace

TEST(QuantConvert, SmallTreeSubstringAndGlob) {
  auto m = small_tree(1);
  const auto before = name_shapes(*m);
  Generator g(2);
  Tensor x = randn({3, 8}, &g);
  ConversionResult r = replace_linear_with_bitlinear(*m, 0.1, {"2.1"});
  EXPECT_EQ(r.replaced, (std::vector<std::string>{"0", "2.0", "3"}));
  EXPECT_EQ(r.excluded, (std::vector<std::string>{"2.1.proj"}));
  EXPECT_EQ(name_shapes(*m), before);
  std::map<std::string, std::string> types;
  for (const auto& [n, mod] : m->named_modules()) types[n] = mod->type_name();
  EXPECT_EQ(types["0"], "BitLinear");
  EXPECT_EQ(types["2.0"], "BitLinear");
  EXPECT_EQ(types["2.1.proj"], "Linear");
  EXPECT_EQ(types["3"], "BitLinear");
  EXPECT_EQ(m->forward(x).shape(), (Shape{3, 4}));
  // A state dict of the unconverted model loads into the converted one.
  m->load_state_dict(small_tree(3)->state_dict());

  auto gm = small_tree(1);
  ConversionResult rg = replace_linear_with_bitlinear(*gm, std::nullopt, {"2.*"}, PatternMode::glob);
  EXPECT_EQ(rg.replaced, (std::vector<std::string>{"0", "3"}));
  EXPECT_EQ(rg.excluded, (std::vector<std::string>{"2.0", "2.1.proj"}));
  auto q = small_tree(1);
  ConversionResult rq =
      replace_linear_with_bitlinear(*q, BitLinearOptions{.input_rmsnorm = true}, {"?"}, PatternMode::glob);
  EXPECT_EQ(rq.replaced, (std::vector<std::string>{"2.0", "2.1.proj"}));
  EXPECT_EQ(rq.excluded, (std::vector<std::string>{"0", "3"}));
  auto* bl = dynamic_cast<BitLinear*>(q->named_modules()[4].second);  // "2.0"
  ASSERT_NE(bl, nullptr);
  EXPECT_TRUE(bl->input_rmsnorm());
}

TEST(QuantConvert, Errors) {
  nn::Sequential no_linear(std::vector<nn::ModulePtr>{std::make_shared<nn::GELU>()});
  expect_error([&] { replace_linear_with_bitlinear(no_linear); }, "[replace_linear_with_bitlinear]");
  auto m = small_tree(1);
  expect_error([&] { replace_linear_with_bitlinear(*m, 0.1, {"*"}, PatternMode::glob); },
               "[replace_linear_with_bitlinear]");
  expect_error([&] { replace_linear_with_bitlinear(*m, 0.1, {"0", "2", "3"}); }, "exclude all 4");
  replace_linear_with_bitlinear(*m);
  expect_error([&] { replace_linear_with_bitlinear(*m); }, "BitLinear already");
  expect_error([&] { replace_linear_with_bitlinear(*small_tree(1), 1.5); }, "[0, 1)");
}

TEST(QuantConvert, Gpt2LeavesEmbeddingsAndHeadAlone) {
  Generator g(4);
  auto model = std::make_shared<gpt2::GPT2>(tiny_config(), &g);
  const auto before = name_shapes(*model);
  Tensor idx = tokens(5);
  ConversionResult r = replace_linear_with_bitlinear(*model, 0.1, {"lm_head", "wte", "wpe"});
  EXPECT_EQ(r.replaced.size(), 8u);
  EXPECT_TRUE(r.excluded.empty());
  EXPECT_EQ(r.replaced.front(), "h.0.attn.c_attn");
  EXPECT_EQ(model->child("wte")->type_name(), "Embedding");
  EXPECT_EQ(model->child("wpe")->type_name(), "Embedding");
  EXPECT_EQ(name_shapes(*model), before);
  Tensor logits = model->forward(idx);
  EXPECT_EQ(logits.shape(), (Shape{2, 12, 50}));
  EXPECT_TRUE(std::isfinite(sum(logits).item<double>()));
  // lm_head is still tied to wte: the logits are h @ wte^T.
  gpt2::Output out = model->forward(idx, idx);
  out.loss.backward();
  EXPECT_TRUE(model->wte().grad().defined());
  // State dicts load across both ways.
  Generator g2(6);
  gpt2::GPT2 plain(tiny_config(), &g2);
  model->load_state_dict(plain.state_dict());
  plain.load_state_dict(model->state_dict());

  Generator g3(7);
  gpt2::GPT2 m2(tiny_config(), &g3);
  ConversionResult rg = replace_linear_with_bitlinear(m2, 0.1, {"h.0.*"}, PatternMode::glob);
  EXPECT_EQ(rg.replaced.size(), 4u);
  EXPECT_EQ(rg.excluded.size(), 4u);
  gpt2::GPT2 m3(tiny_config(), &g3);
  ConversionResult rs = replace_linear_with_bitlinear(m3, 0.1, {"c_fc"});
  EXPECT_EQ(rs.excluded, (std::vector<std::string>{"h.0.mlp.c_fc", "h.1.mlp.c_fc"}));
  EXPECT_EQ(rs.replaced.size(), 6u);
}

TEST(QuantConfig, JsonRoundTripAndErrors) {
  Phase4Config c;
  EXPECT_EQ(Phase4Config::from_json(c.to_json()).to_json(), c.to_json());
  c.weight_sparsity_threshold.reset();
  c.input_rmsnorm = true;
  c.exclude_patterns = {"h.0.*", "lm_head"};
  c.pattern_mode = PatternMode::glob;
  c.packing = Packing::base3;
  c.qat_steps = 200;
  c.qat_lr = 3e-4;
  c.qat_min_lr = 1.5e-5;
  c.qat_warmup_steps = 7;
  c.qat_batch_size = 4;
  c.qat_block_size = 128;
  c.qat_weight_decay = 0.01;
  c.qat_grad_clip = 0.5;
  c.seed = 99;
  c.thinking_tokens = {"<t>"};
  c.eval_iters = 3;
  Phase4Config d = Phase4Config::from_json(c.to_json(), "cfg.json");
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_FALSE(d.weight_sparsity_threshold.has_value());
  EXPECT_EQ(d.pattern_mode, PatternMode::glob);
  EXPECT_EQ(d.packing, Packing::base3);
  EXPECT_EQ(d.exclude_patterns, c.exclude_patterns);
  EXPECT_DOUBLE_EQ(d.qat_min_lr, 1.5e-5);
  EXPECT_EQ(Phase4Config::from_json("{\"weight_sparsity_threshold\": 0.25}").weight_sparsity_threshold, 0.25);
  expect_error([] { Phase4Config::from_json("{\"qat_lr\": \"fast\"}", "cfg.json"); }, "[cfg.json] key 'qat_lr'");
  expect_error([] { Phase4Config::from_json("{\"qat_steps\": 1.5}", "cfg.json"); }, "qat_steps");
  expect_error([] { Phase4Config::from_json("{\"exclude_patterns\": [1]}", "cfg.json"); }, "exclude_patterns");
  expect_error([] { Phase4Config::from_json("{\"packing\": \"base5\"}", "cfg.json"); }, "packing");
  expect_error([] { Phase4Config::from_json("{\"bogus\": 1}", "cfg.json"); }, "unknown key 'bogus'");
  expect_error([] { Phase4Config::from_json("{\"weight_sparsity_threshold\": 1.5}", "cfg.json"); },
               "weight_sparsity_threshold");
  expect_error([] { Phase4Config::from_json("{\"weight_sparsity_threshold\": \"x\"}", "cfg.json"); },
               "weight_sparsity_threshold");
  expect_error([] { Phase4Config::from_json("[1, 2", "cfg.json"); }, "[cfg.json] invalid JSON");
  expect_error([] { Phase4Config::from_json("[]", "cfg.json"); }, "[cfg.json]");
}

TEST(QuantCompressed, StatsSanity) {
  Generator g(8);
  auto model = std::make_shared<gpt2::GPT2>(tiny_config(), &g);
  const int64_t fp32 = 4 * model->num_parameters();
  Phase4Config cfg;
  cfg.exclude_patterns = {"c_fc"};
  CompressedModel cm(model, BitNetQuantizer(cfg), cfg);
  CompressionStats s = cm.compression_stats();
  EXPECT_EQ(s.quantized.size(), 6u);
  EXPECT_EQ(s.excluded.size(), 2u);
  EXPECT_EQ(s.layers.size(), 8u);
  EXPECT_EQ(s.original_bytes, fp32);
  EXPECT_LT(s.compressed_bytes, s.original_bytes);
  EXPECT_NEAR(s.ratio, static_cast<double>(s.original_bytes) / static_cast<double>(s.compressed_bytes), 1e-12);
  EXPECT_NEAR(s.mean_sparsity, 0.1, 1e-3);
  for (const auto& l : s.layers) {
    if (!l.quantized) {
      EXPECT_EQ(l.packed_bytes, l.original_bytes);
      continue;
    }
    EXPECT_NEAR(l.sparsity * static_cast<double>(l.num_weights), 0.1 * static_cast<double>(l.num_weights), 1.0);
    EXPECT_GT(l.ratio, 1.0);
    EXPECT_GT(l.rel_error, 0.0);
    EXPECT_LT(l.rel_error, 1.0);
    EXPECT_GT(l.scale, 0.0f);
  }
  auto j = nlohmann::json::parse(s.to_json());
  EXPECT_EQ(j["layers"].size(), 8u);
  EXPECT_NE(s.table().find("h.0.attn.c_attn"), std::string::npos);
  EXPECT_EQ(cm.conversion().replaced, s.quantized);
  EXPECT_EQ(cm.parameters().size(), model->parameters().size());
  expect_error(
      [&] {
        Phase4Config other = cfg;
        other.packing = Packing::base3;
        CompressedModel bad(std::make_shared<gpt2::GPT2>(tiny_config(), &g), BitNetQuantizer(cfg), other);
      },
      "[CompressedModel]");
}

TEST(QuantCompressed, SaveLoadRoundTripIsExact) {
  for (bool use_bitlinear : {true, false}) {
    for (std::optional<double> tau : {std::optional<double>{0.1}, std::optional<double>{}}) {
      Phase4Config cfg;
      cfg.weight_sparsity_threshold = tau;
      cfg.packing = tau ? Packing::base4 : Packing::base3;
      Generator g(9);
      CompressedModel a(std::make_shared<gpt2::GPT2>(tiny_config(), &g), BitNetQuantizer(cfg), cfg, use_bitlinear);
      Tensor idx = tokens(10);
      Tensor ya;
      {
        NoGradGuard ng;
        ya = a.forward(idx);
      }
      const std::string path = temp_path(std::string(use_bitlinear ? "bl" : "ptq") + (tau ? "_tau" : "_absmean"));
      a.save(path);
      auto file = io::SafetensorsFile::open(path);
      EXPECT_TRUE(file.contains("h.0.mlp.c_fc.weight_packed"));
      EXPECT_FALSE(file.contains("h.0.mlp.c_fc.weight"));
      EXPECT_TRUE(file.contains("h.0.mlp.c_fc.bias"));
      EXPECT_EQ(file.metadata().at("format"), kCompressedFormat);

      Generator g2(77);
      CompressedModel b(std::make_shared<gpt2::GPT2>(tiny_config(), &g2), BitNetQuantizer(cfg), cfg, use_bitlinear);
      b.load(path);
      NoGradGuard ng;
      EXPECT_TRUE(same_values(b.forward(idx), ya)) << use_bitlinear << " " << tau.has_value();
      for (const auto& [n, t] : a.module().state_dict()) {
        const auto sb = b.module().state_dict();
        auto it = std::find_if(sb.begin(), sb.end(), [&](const auto& p) { return p.first == n; });
        ASSERT_NE(it, sb.end());
        if (use_bitlinear && n.ends_with(".weight") && n.find("c_") != std::string::npos) continue;  // latent
        EXPECT_TRUE(same_values(t, it->second)) << n;
      }
      // Saving the loaded model again gives the same tensors.
      const std::string path2 = path + ".again";
      b.save(path2);
      auto f1 = io::load(path, {.copy = true}), f2 = io::load(path2, {.copy = true});
      ASSERT_EQ(f1.tensors.size(), f2.tensors.size());
      for (const auto& [n, t] : f1.tensors) EXPECT_TRUE(same_values(t, f2.tensors.at(n))) << n;

      // A model converted differently refuses the file.
      Phase4Config other = cfg;
      other.exclude_patterns = {"c_fc"};
      CompressedModel c(std::make_shared<gpt2::GPT2>(tiny_config(), &g2), BitNetQuantizer(other), other, use_bitlinear);
      EXPECT_THROW(c.load(path), Error);
      CompressedModel d(std::make_shared<gpt2::GPT2>(tiny_config(), &g2), BitNetQuantizer(cfg), cfg, !use_bitlinear);
      expect_error([&] { d.load(path); }, "mode");
      std::filesystem::remove(path);
      std::filesystem::remove(path2);
    }
  }
}

TEST(QuantCompressed, PostTrainingQuantizationKeepsLinear) {
  Generator g(12);
  auto model = std::make_shared<gpt2::GPT2>(tiny_config(), &g);
  Phase4Config cfg;
  CompressedModel cm(model, BitNetQuantizer(cfg), cfg, /*use_bitlinear=*/false);
  int64_t linears = 0;
  for (const auto& [n, m] : model->named_modules())
    if (m->type_name() == "Linear") {
      ++linears;
      auto* l = dynamic_cast<nn::Linear*>(m);
      // The weight holds exactly three values: 0 and ±scale, with 10% zeros.
      TernaryWeight t = ternarize(l->weight, 0.1);
      EXPECT_TRUE(same_values(t.dequantize(), l->weight)) << n;
      EXPECT_NEAR(static_cast<double>(count_zeros(l->weight)), 0.1 * static_cast<double>(l->weight.numel()), 1.0);
    }
  EXPECT_EQ(linears, 8);
  CompressionStats s = cm.compression_stats();
  for (const auto& l : s.layers) EXPECT_GT(l.rel_error, 0.0);  // against the original weights
}

TEST(QuantQuantizer, QuantizePackUnpack) {
  Phase4Config cfg;
  cfg.packing = Packing::base3;
  BitNetQuantizer q(cfg);
  Generator g(13);
  Tensor w = randn({33, 17}, &g);
  TernaryWeight t = q.quantize(w);
  EXPECT_EQ(count_zeros(t.values), std::llround(0.1 * 33 * 17));
  std::vector<uint8_t> bytes = q.pack(t);
  EXPECT_EQ(bytes.size(), (33u * 17u + 4u) / 5u);
  TernaryWeight u = q.unpack(bytes.data(), bytes.size(), {33, 17}, t.scale);
  EXPECT_EQ(to_i8(u.values), to_i8(t.values));
  LayerStats s = q.layer_stats("x", w, Tensor());
  EXPECT_TRUE(s.quantized);
  EXPECT_EQ(s.original_bytes, 4 * 33 * 17);
  EXPECT_EQ(s.packed_bytes, static_cast<int64_t>(bytes.size()) + 4);
  const double err =
      std::sqrt(sum(pow(sub(w, t.dequantize()), 2.0)).item<double>()) / std::sqrt(sum(pow(w, 2.0)).item<double>());
  EXPECT_NEAR(s.rel_error, err, 1e-6);
  EXPECT_NEAR(s.sparsity, 0.1, 1.0 / (33 * 17));
}

TEST(QuantCompressed, CorruptFilesGiveClearErrors) {
  Phase4Config cfg;
  Generator g(14);
  CompressedModel a(std::make_shared<gpt2::GPT2>(tiny_config(), &g), BitNetQuantizer(cfg), cfg);
  const std::string path = temp_path("corrupt");
  a.save(path);
  io::Checkpoint ck = io::load(path, {.copy = true});
  auto rewrite = [&](const std::function<void(io::Checkpoint&)>& edit) {
    io::Checkpoint c = ck;
    c.tensors = {};
    for (const auto& [k, t] : ck.tensors) c.tensors[k] = t.clone();
    edit(c);
    io::save(path, c.tensors, c.metadata);
  };
  CompressedModel b(std::make_shared<gpt2::GPT2>(tiny_config(), &g), BitNetQuantizer(cfg), cfg);
  // A packed weight one byte short.
  rewrite([](io::Checkpoint& c) {
    Tensor& p = c.tensors.at("h.0.mlp.c_fc.weight_packed");
    p = p.narrow(0, 0, p.numel() - 1).clone();
  });
  expect_error([&] { b.load(path); }, "[unpack_ternary]");
  // An invalid code (3) in a base4 byte.
  rewrite([](io::Checkpoint& c) { c.tensors.at("h.0.mlp.c_fc.weight_packed").narrow(0, 0, 1).fill_(255); });
  expect_error([&] { b.load(path); }, "[unpack_ternary]");
  // A missing scale, a foreign format, a broken config.
  rewrite([](io::Checkpoint& c) { c.tensors.erase("h.1.attn.c_proj.weight_scale"); });
  expect_error([&] { b.load(path); }, "h.1.attn.c_proj");
  rewrite([](io::Checkpoint& c) { c.metadata["format"] = "other"; });
  expect_error([&] { b.load(path); }, "format");
  rewrite([](io::Checkpoint& c) { c.metadata["phase4_config"] = "{\"qat_lr\": \"x\"}"; });
  expect_error([&] { b.load(path); }, "qat_lr");
  rewrite([](io::Checkpoint& c) { c.metadata["layer_shapes"] = "[1]"; });
  expect_error([&] { b.load(path); }, "shape");
  std::filesystem::remove(path);
}
