// Ternary packing, BitLinear's quantized state, memory footprint and weight cache.

#include <gtest/gtest.h>

#include <cmath>

#include "../test_util.h"
#include "quant_test_util.h"

using namespace tern;
using namespace tern::quant;
using namespace quant_test;

namespace {

Tensor random_ternary(const Shape& shape, Generator& g) {
  return sub(round(mul(rand(shape, &g), 2.0)), 1.0).to(kInt8);  // {-1, 0, 1}
}

using tern::testutil::expect_error;

}  // namespace

TEST(QuantPacking, RoundTripOddSizes) {
  Generator g(11);
  for (Packing p : {Packing::base4, Packing::base3}) {
    for (Shape s : {Shape{1}, Shape{2}, Shape{3}, Shape{4}, Shape{5}, Shape{6}, Shape{7}, Shape{31}, Shape{1001},
                    Shape{3, 7, 11}, Shape{0}, Shape{257, 513}}) {
      Tensor v = random_ternary(s, g);
      std::vector<uint8_t> bytes = pack_ternary(v, p);
      EXPECT_EQ(bytes.size(), packed_size(v.numel(), p));
      Tensor u = unpack_ternary(bytes.data(), bytes.size(), s, p);
      EXPECT_EQ(u.shape(), s);
      EXPECT_EQ(to_i8(u), to_i8(v)) << packing_name(p) << " " << shape_str(s);
    }
  }
  EXPECT_EQ(packed_size(5, Packing::base4), 2u);
  EXPECT_EQ(packed_size(5, Packing::base3), 1u);
  EXPECT_EQ(packed_size(6, Packing::base3), 2u);
}

TEST(QuantPacking, DocumentedLayout) {
  Tensor v = from_vector<int8_t>({-1, 0, 1, 1, -1}, {5});
  // base4: codes 0,1,2,2 in bits 0-1, 2-3, 4-5, 6-7; then code 0 alone.
  EXPECT_EQ(pack_ternary(v, Packing::base4), (std::vector<uint8_t>{0b10100100, 0}));
  // base3: 0 + 3·1 + 9·2 + 27·2 + 81·0 = 75
  EXPECT_EQ(pack_ternary(v, Packing::base3), (std::vector<uint8_t>{75}));
}

TEST(QuantPacking, CorruptInputErrors) {
  std::vector<uint8_t> four = {0xFF};
  expect_error([&] { unpack_ternary(four.data(), four.size(), {4}, Packing::base4); }, "[unpack_ternary]");
  std::vector<uint8_t> pad = {0b01000000};  // 4th slot used but only 3 values
  expect_error([&] { unpack_ternary(pad.data(), pad.size(), {3}, Packing::base4); }, "[unpack_ternary]");
  std::vector<uint8_t> b3 = {243};
  expect_error([&] { unpack_ternary(b3.data(), b3.size(), {5}, Packing::base3); }, "[unpack_ternary]");
  std::vector<uint8_t> b3short = {9};  // digit beyond the 2 values of a short group
  expect_error([&] { unpack_ternary(b3short.data(), b3short.size(), {2}, Packing::base3); }, "[unpack_ternary]");
  std::vector<uint8_t> ok = {0, 0};
  expect_error([&] { unpack_ternary(ok.data(), ok.size(), {12}, Packing::base4); }, "expected 3 bytes");
  expect_error([&] { unpack_ternary(ok.data(), 1, {2, 5}, Packing::base3); }, "expected 2 bytes");
  expect_error([&] { unpack_ternary(nullptr, 0, {1}, Packing::base3); }, "[unpack_ternary]");
  expect_error([&] { pack_ternary(from_vector<int8_t>({0, 2}, {2}), Packing::base4); }, "[pack_ternary]");
  expect_error([&] { pack_ternary(zeros({3}), Packing::base4); }, "[pack_ternary]");
  expect_error([] { packing_from_name("base5"); }, "[packing]");
  // Fuzz: every single byte value never crashes (it either decodes or throws tern::Error).
  for (int b = 0; b < 256; ++b)
    for (Packing p : {Packing::base4, Packing::base3})
      for (int64_t n : {1, 2, 4, 5}) {
        uint8_t byte = static_cast<uint8_t>(b);
        if (packed_size(n, p) != 1) continue;
        try {
          Tensor u = unpack_ternary(&byte, 1, {n}, p);
          EXPECT_EQ(pack_ternary(u, p), std::vector<uint8_t>{byte});
        } catch (const Error&) {
        }
      }
}

TEST(BitLinear, QuantizedStateRoundTripIsExact) {
  Generator g(12);
  for (std::optional<double> tau : {std::optional<double>{0.1}, std::optional<double>{}}) {
    for (Packing p : {Packing::base4, Packing::base3}) {
      BitLinear a(40, 24, {.weight_sparsity_threshold = tau, .gen = &g});
      QuantizedState s1 = a.quantized_state(p);
      EXPECT_EQ(s1.shape, (Shape{24, 40}));
      EXPECT_EQ(s1.weight_sparsity_threshold, tau);
      BitLinear b(40, 24, {.weight_sparsity_threshold = tau, .gen = &g});
      b.load_quantized_state(s1);
      QuantizedState s2 = b.quantized_state(p);
      EXPECT_EQ(s1.packed, s2.packed);
      EXPECT_EQ(s1.scale, s2.scale);
      EXPECT_TRUE(same_values(s1.bias, s2.bias));
      EXPECT_TRUE(same_values(b.weight, a.dequantized_weight()));
      // The loaded layer computes exactly what the original did.
      Tensor x = randn({3, 40}, &g);
      NoGradGuard ng;
      EXPECT_TRUE(same_values(a.forward(x), b.forward(x)));
    }
  }
  BitLinear c(8, 4);
  QuantizedState bad = c.quantized_state();
  bad.shape = {4, 9};
  EXPECT_THROW(BitLinear(8, 4).load_quantized_state(bad), Error);
  bad = c.quantized_state();
  bad.packed.pop_back();
  EXPECT_THROW(BitLinear(8, 4).load_quantized_state(bad), Error);
}

TEST(BitLinear, MemoryFootprintGpt2Mlp) {
  BitLinear l(768, 3072);  // c_fc: weight [3072, 768], bias [3072]
  MemoryFootprint f = l.memory_footprint();
  EXPECT_EQ(f.num_weights, 2359296);
  EXPECT_EQ(f.fp32_bytes, 4 * (2359296 + 3072));          // 9449472
  EXPECT_EQ(f.theoretical_bytes, 467425 + 4 + 4 * 3072);  // ceil(n·log2(3)/8) + scale + bias
  EXPECT_EQ(f.int8_bytes, 2359296 + 4 + 4 * 3072);
  EXPECT_EQ(f.packed_bytes, 2359296 / 4 + 4 + 4 * 3072);          // 602116
  EXPECT_NEAR(f.packed_ratio, 9449472.0 / 602116.0, 1e-12);       // ≈ 15.69
  EXPECT_NEAR(f.theoretical_ratio, 9449472.0 / 479717.0, 1e-12);  // ≈ 19.70 (< 20.2 weight-only ceiling)
  EXPECT_NEAR(f.int8_ratio, 9449472.0 / 2371588.0, 1e-12);        // ≈ 3.98
  MemoryFootprint f3 = l.memory_footprint(Packing::base3);
  EXPECT_EQ(f3.packed_bytes, 471860 + 4 + 4 * 3072);
  EXPECT_EQ(static_cast<int64_t>(l.quantized_state().packed.size()) + 4 + 4 * 3072, f.packed_bytes);
}

TEST(BitLinear, WeightCacheFollowsInPlaceWrites) {
  Generator g(13);
  BitLinear l(16, 8, {.gen = &g});
  Tensor x = randn({4, 16}, &g);
  NoGradGuard ng;
  Tensor y1 = l.forward(x);
  EXPECT_TRUE(same_values(l.forward(x), y1));
  l.weight.copy_(mul(l.weight, -1.0));
  Tensor y2 = l.forward(x);
  EXPECT_FALSE(same_values(y1, y2));
  BitLinear fresh(16, 8, {.cache_quantized_weight = false});
  fresh.load_state_dict(l.state_dict());
  EXPECT_TRUE(same_values(fresh.forward(x), y2));
}

TEST(BitLinear, FromLinearSharesParametersAndTrains) {
  Generator g(14);
  auto lin = std::make_shared<nn::Linear>(12, 6, nn::LinearOptions{.gen = &g});
  auto bl = BitLinear::from_linear(*lin, {.weight_sparsity_threshold = 0.1});
  EXPECT_EQ(bl->type_name(), "BitLinear");
  EXPECT_TRUE(bl->weight.is_same(lin->weight));
  EXPECT_TRUE(bl->bias.is_same(lin->bias));
  auto names = bl->named_parameters();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].first, "weight");
  EXPECT_TRUE(names[0].second.is_same(lin->weight));
  Tensor x = randn({5, 12}, &g);
  Tensor loss = sum(mul(bl->forward(x), bl->forward(x)));
  loss.backward();
  ASSERT_TRUE(lin->weight.grad().defined());
  EXPECT_GT(amax(abs(lin->weight.grad())).item<double>(), 0.0);
  // No bias follows the source.
  auto nb = BitLinear::from_linear(nn::Linear(4, 3, {.bias = false}));
  EXPECT_FALSE(nb->bias.defined());
  EXPECT_EQ(nb->named_parameters().size(), 1u);
}
