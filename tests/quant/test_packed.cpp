// Packed inference: PackedBitLinear and Int8Embedding against the layers they replace,
// pack_for_inference / load_packed on GPT-2, the errors of a damaged packed file, and
// building a model without initialising it.

#include <gtest/gtest.h>

#include <cstring>

#include "../test_util.h"
#include "quant_test_util.h"

using namespace tern;
using namespace tern::quant;
using namespace quant_test;
using tern::testutil::expect_error;
using tern::testutil::TempDir;

namespace {

gpt2::Config tiny_config() {
  gpt2::Config c;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 48;
  c.n_positions = 16;
  c.vocab_size = 61;
  return c;
}

Tensor tokens(uint64_t seed, int64_t b = 2, int64_t t = 12) {
  Generator g(seed);
  return round(mul(rand({b, t}, &g), 60.0)).to(kInt64);
}

double rel_diff(const Tensor& a, const Tensor& b) {
  return max_abs_diff(a, b) / std::max(1e-12, amax(abs(b.to(kFloat64))).item<double>());
}

// A BitNet GPT-2 whose BitLinear layers have trained-looking (not freshly initialised) weights.
std::shared_ptr<gpt2::GPT2> bitnet_gpt2(uint64_t seed, bool rmsnorm = false) {
  Generator g(seed);
  auto m = std::make_shared<gpt2::GPT2>(tiny_config(), &g);
  replace_linear_with_bitlinear(*m, 0.1, {}, PatternMode::substring, rmsnorm);
  m->eval();
  return m;
}

Tensor logits(gpt2::GPT2& m, const Tensor& idx) {
  NoGradGuard ng;
  return m.forward(idx);
}

}  // namespace

TEST(PackedBitLinear, MatchesBitLinear) {
  for (bool rmsnorm : {false, true})
    for (bool bias : {true, false}) {
      Generator g(3);
      BitLinear bl(300, 37, BitLinearOptions{.bias = bias, .input_rmsnorm = rmsnorm, .gen = &g});
      auto packed = PackedBitLinear::from_bitlinear(bl);
      Tensor x = randn({2, 5, 300}, &g);
      NoGradGuard ng;
      Tensor want = bl.forward(x), got = packed->forward(x);
      ASSERT_EQ(got.shape(), want.shape());
      // Same int8 activations and ternary weights; only the fp32 summation order differs
      // (with RMSNorm an int8 value on a rounding boundary may also flip).
      EXPECT_LT(rel_diff(got, want), rmsnorm ? 1e-2 : 1e-5) << "rmsnorm " << rmsnorm << " bias " << bias;
      const TernaryWeight a = bl.ternary_weight(), b = packed->ternary_weight();
      EXPECT_TRUE(same_values(a.values, b.values));
      EXPECT_EQ(a.scale, b.scale);
    }
}

TEST(PackedBitLinear, HoldsOnlyPackedBuffers) {
  Generator g(4);
  BitLinear bl(256, 64, BitLinearOptions{.gen = &g});
  auto p = PackedBitLinear::from_bitlinear(bl);
  EXPECT_TRUE(p->parameters().empty());
  std::vector<std::string> names;
  for (const auto& [n, t] : p->state_dict()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"weight_i2", "weight_scale", "bias"}));
  EXPECT_EQ(p->state_dict()[0].second.dtype(), kUInt8);
  EXPECT_EQ(p->bytes(), 64 * 64 + 4 + 64 * 4);  // 2 bits per weight, the scale, the f32 bias
}

TEST(PackedBitLinear, RefusesWhatItCannotRun) {
  Generator g(5);
  BitLinear bl(16, 8, BitLinearOptions{.gen = &g});
  auto p = PackedBitLinear::from_bitlinear(bl);
  expect_error([&] { p->forward(randn({2, 15}, &g)); }, "expected input with last dim 16");
  expect_error([&] { p->forward(randn({2, 16}, &g).to(kFloat64)); }, "expected f32 input");
  Tensor x = randn({2, 16}, &g).requires_grad_();
  expect_error([&] { p->forward(x); }, "inference only");
  expect_error([] { PackedBitLinear(TernaryWeight{full({2, 2}, 2.0, {.dtype = kInt8}), 1.0f}, Tensor()); },
               "not ternary");
}

TEST(Int8Embedding, RowsAndProjectionFollowTheTable) {
  Generator g(6);
  Tensor table = randn({61, 48}, &g);
  Int8Embedding e(table);
  // Each row within half a quantization step of the original.
  Tensor deq = e.dequantized();
  Tensor step = div(amax(abs(table), {1}, true), 127.0);
  EXPECT_LE(amax(sub(abs(sub(deq, table)), mul(step, 0.5 + 1e-6))).item<double>(), 0.0);
  Tensor idx = tokens(7);
  EXPECT_TRUE(same_values(e.forward(idx), embedding(deq, idx)));
  // The projection: int8 activations times the int8 table, close to x · deqᵀ.
  Tensor x = randn({2, 3, 48}, &g);
  NoGradGuard ng;
  Tensor got = e.project(x), want = matmul(x, deq.t());
  ASSERT_EQ(got.shape(), (Shape{2, 3, 61}));
  EXPECT_LT(rel_diff(got, want), 2e-2);
  expect_error([&] { e.forward(full({1, 1}, 61.0, {.dtype = kInt64})); }, "out of range");
}

TEST(PackForInference, GreedyTokensAndLogitsMatchTheBitLinearModel) {
  for (bool rmsnorm : {false, true}) {
    auto model = bitnet_gpt2(11, rmsnorm);
    Tensor idx = tokens(12);
    Tensor want = logits(*model, idx);
    const auto greedy = model->generate({1, 2, 3}, {.max_new_tokens = 12, .temperature = 0});
    PackReport rep = pack_for_inference(*model);
    EXPECT_EQ(rep.packed.size(), 8u);  // c_attn, c_proj, c_fc, mlp.c_proj per block
    for (const auto& [n, m] : model->named_modules()) EXPECT_EQ(dynamic_cast<const BitLinear*>(m), nullptr) << n;
    EXPECT_LT(rel_diff(logits(*model, idx), want), rmsnorm ? 1e-2 : 1e-5);
    if (!rmsnorm) EXPECT_EQ(model->generate({1, 2, 3}, {.max_new_tokens = 12, .temperature = 0}), greedy);
  }
}

TEST(PackForInference, Int8LmHeadIsCloseAndSmall) {
  auto model = bitnet_gpt2(13);
  Tensor idx = tokens(14);
  Tensor want = logits(*model, idx);
  PackReport rep = pack_for_inference(*model, {.int8_embeddings = {"wte"}});
  EXPECT_EQ(rep.int8, (std::vector<std::string>{"wte"}));
  EXPECT_LT(rel_diff(logits(*model, idx), want), 3e-2);
  expect_error([&] { pack_for_inference(*model, {.int8_embeddings = {"nope"}}); }, "no nn::Embedding module named");
}

TEST(LoadPacked, FromACompressedFileEqualsPackingInMemory) {
  TempDir dir("load_packed");
  for (Packing packing : {Packing::base4, Packing::base3}) {
    Phase4Config cfg;
    cfg.packing = packing;
    Generator g(15);
    CompressedModel cm(std::make_shared<gpt2::GPT2>(tiny_config(), &g), BitNetQuantizer(cfg), cfg);
    const std::string path = dir / "m.safetensors";
    cm.save(path);
    auto& src = static_cast<gpt2::GPT2&>(cm.module());
    src.eval();
    pack_for_inference(src);
    Tensor idx = tokens(16);
    Tensor want = logits(src, idx);

    std::shared_ptr<gpt2::GPT2> fresh;
    {
      nn::init::SkipInitGuard skip;
      fresh = std::make_shared<gpt2::GPT2>(tiny_config(), nullptr);
      replace_linear_with_bitlinear(*fresh, 0.1);
    }
    fresh->eval();
    PackReport rep = load_packed(*fresh, path);
    EXPECT_EQ(rep.packed.size(), 8u);
    EXPECT_TRUE(same_values(logits(*fresh, idx), want)) << packing_name(packing);
  }
}

TEST(LoadPacked, DamagedFilesNameTheTensor) {
  TempDir dir("load_packed_bad");
  Phase4Config cfg;
  Generator g(17);
  CompressedModel cm(std::make_shared<gpt2::GPT2>(tiny_config(), &g), BitNetQuantizer(cfg), cfg);
  const std::string good = dir / "good.safetensors";
  cm.save(good);
  const auto ck = io::load(good);
  auto rewrite = [&](const std::function<void(std::map<std::string, Tensor>&)>& edit) {
    auto tensors = ck.tensors;
    edit(tensors);
    const std::string p = dir / "bad.safetensors";
    io::save(p, tensors, ck.metadata);
    return p;
  };
  auto load_into_fresh = [&](const std::string& p) {
    auto m = std::make_shared<gpt2::GPT2>(tiny_config(), &g);
    replace_linear_with_bitlinear(*m, 0.1);
    load_packed(*m, p);
  };
  const std::string key = "h.1.mlp.c_fc.weight_packed";
  expect_error([&] { load_into_fresh(rewrite([&](auto& t) { t[key] = t[key].narrow(0, 0, 10).clone(); })); },
               key);
  expect_error(
      [&] {
        load_into_fresh(rewrite([&](auto& t) {
          Tensor b = t[key].clone();
          b.data_ptr<uint8_t>()[3] = 0xFF;  // code 3
          t[key] = b;
        }));
      },
      "invalid");
  expect_error([&] { load_into_fresh(rewrite([&](auto& t) { t.erase("h.0.attn.c_proj.weight_scale"); })); },
               "h.0.attn.c_proj.weight_scale");
  expect_error([&] { load_into_fresh(rewrite([&](auto& t) { t.erase("ln_f.weight"); })); },
               "missing tensors: ln_f.weight");
  expect_error([&] { load_into_fresh(rewrite([&](auto& t) { t["extra"] = zeros({1}); })); },
               "unexpected tensors");
  // A model without the file's BitNet layout has no layer to take the packed weights.
  expect_error(
      [&] {
        auto m = std::make_shared<gpt2::GPT2>(tiny_config(), &g);
        load_packed(*m, good);
      },
      "missing tensors: h.0.attn.c_attn.weight");
}

TEST(SkipInit, BuildsWithoutDrawingAndLoadsExactly) {
  Generator a(21), b(21);
  {
    nn::init::SkipInitGuard skip;
    EXPECT_TRUE(nn::init::init_skipped());
    gpt2::GPT2 m(tiny_config(), &a);
  }
  EXPECT_FALSE(nn::init::init_skipped());
  EXPECT_EQ(a.uniform(), b.uniform());  // no random number was drawn

  Generator g(22);
  gpt2::GPT2 src(tiny_config(), &g);
  std::shared_ptr<gpt2::GPT2> dst;
  {
    nn::init::SkipInitGuard skip;
    dst = std::make_shared<gpt2::GPT2>(tiny_config(), nullptr);
  }
  dst->load_state_dict(src.state_dict());
  for (size_t i = 0; i < src.state_dict().size(); ++i)
    EXPECT_TRUE(same_values(src.state_dict()[i].second, dst->state_dict()[i].second)) << src.state_dict()[i].first;
  auto partial = src.state_dict();
  partial.pop_back();
  expect_error([&] { dst->load_state_dict(partial); }, "missing keys");
}
