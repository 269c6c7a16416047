// BitNet b1.58 quantization functions: parity with the official BitLinear (PyTorch fixture),
// straight-through gradients, exact sparsity targets, idempotence.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant_test_util.h"

using namespace tern;
using namespace tern::quant;
using namespace quant_test;

namespace {

void fixture_parity(const std::string& tag, bool use_norm) {
  io::Checkpoint ref = io::load(fixture_path("bitlinear_ref.safetensors"), {.copy = true});
  auto get = [&](const std::string& k) { return ref.tensors.at(tag + "." + k); };
  Tensor x = get("x"), w = get("w"), b = get("b");
  BitLinear bl(w.size(1), w.size(0), {.weight_sparsity_threshold = std::nullopt, .input_rmsnorm = use_norm});
  bl.load_state_dict({{"weight", w}, {"bias", b}});

  // The integer codes are identical to torch's.
  EXPECT_EQ(to_i8(ternarize(w).values), to_i8(get("w_ternary")));
  EXPECT_EQ(to_i8(bl.ternary_weight().values), to_i8(get("w_ternary")));
  Tensor xn = use_norm ? rms_norm(x, 1e-6) : x;
  EXPECT_EQ(to_i8(quantize_activation_int8(xn).values), to_i8(get("x_int8")));

  Tensor xg = x.clone().requires_grad_();
  Tensor y = bl.forward(xg);
  auto tol = [](const Tensor& r) { return 1e-5 * std::max(1.0, amax(abs(r)).item<double>()); };
  EXPECT_LE(max_abs_diff(y, get("y")), tol(get("y")));
  sum(mul(y, get("gy"))).backward();
  EXPECT_LE(max_abs_diff(xg.grad(), get("gx")), tol(get("gx")));
  EXPECT_LE(max_abs_diff(bl.weight.grad(), get("gw")), tol(get("gw")));
  EXPECT_LE(max_abs_diff(bl.bias.grad(), get("gb")), tol(get("gb")));
}

// Reference activation quantization in f32, written out.
std::vector<float> act_ref(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    float m = 0;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, std::abs(x[r * cols + c]));
    const float s = 127.0f / std::max(m, 1e-5f);
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = std::clamp(std::nearbyint(x[r * cols + c] * s), -128.0f, 127.0f) / s;
  }
  return out;
}

std::vector<float> to_f32(const Tensor& t) {
  Tensor c = t.contiguous().to(kFloat32);
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + c.numel());
}

}  // namespace

TEST(BitLinearParity, PlainMatchesOfficialBitLinear) { fixture_parity("plain", false); }
TEST(BitLinearParity, RmsNormMatchesOfficialBitLinear) { fixture_parity("rmsnorm", true); }

TEST(QuantOps, ActivationQuantValues) {
  Generator g(1);
  Tensor x = randn({6, 33}, &g);
  x.narrow(0, 5, 1).fill_(0.0);  // an all-zero row: scale clamps at 1e-5
  EXPECT_EQ(to_f32(activation_quant(x)), act_ref(to_f32(x), 6, 33));
  Int8Activation a = quantize_activation_int8(x);
  EXPECT_EQ(a.scale.shape(), (Shape{6, 1}));
  EXPECT_FLOAT_EQ(a.scale.select(0, 5).item<float>(), 127.0f / 1e-5f);
  // dequantized = values / scale
  EXPECT_TRUE(same_values(div(a.values.to(kFloat32), a.scale), activation_quant(x)));
  // 3-D input and a non-contiguous one
  Tensor x3 = randn({2, 3, 16}, &g);
  EXPECT_EQ(to_f32(activation_quant(x3)), act_ref(to_f32(x3), 6, 16));
  Tensor xt = randn({16, 5}, &g).t();
  EXPECT_EQ(to_f32(activation_quant(xt)), act_ref(to_f32(xt.contiguous()), 5, 16));
}

TEST(QuantOps, WeightQuantAbsmeanValues) {
  Generator g(2);
  Tensor w = mul(randn({24, 40}, &g), 0.05);
  std::vector<float> v = to_f32(w);
  double acc = 0;
  for (float f : v) acc += std::abs(f);
  const float mean = static_cast<float>(acc) / static_cast<float>(v.size());
  const float s = 1.0f / std::max(mean, 1e-5f);
  std::vector<float> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = std::clamp(std::nearbyint(v[i] * s), -1.0f, 1.0f) / s;
  EXPECT_EQ(to_f32(weight_quant(w)), want);
  TernaryWeight t = ternarize(w);
  EXPECT_FLOAT_EQ(t.scale, 1.0f / s);
  EXPECT_EQ(to_f32(t.dequantize()), want);
}

TEST(QuantOps, StraightThroughGradients) {
  Generator g(3);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({5, 9}, &g, {.dtype = dt}).requires_grad_();
    Tensor up = randn({5, 9}, &g, {.dtype = dt});
    sum(mul(activation_quant(x), up)).backward();
    EXPECT_TRUE(same_values(x.grad(), up));

    for (std::optional<double> tau : {std::optional<double>{}, std::optional<double>{0.3}}) {
      Tensor w = randn({5, 9}, &g, {.dtype = dt}).requires_grad_();
      sum(mul(weight_quant(w, tau), up)).backward();
      EXPECT_TRUE(same_values(w.grad(), up));
    }

    Tensor a = randn({5, 9}, &g, {.dtype = dt}).requires_grad_();
    Tensor q = round(a.detach());
    Tensor y = apply_ste(a, q);
    EXPECT_TRUE(same_values(y, q));
    sum(mul(y, up)).backward();
    EXPECT_TRUE(same_values(a.grad(), up));
  }
  EXPECT_THROW(apply_ste(zeros({2, 3}), zeros({3, 2})), Error);
  EXPECT_THROW(activation_quant(zeros({2}, {.dtype = kInt32})), Error);
}

TEST(QuantOps, SparsityThresholdIsExact) {
  Generator g(4);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor w = randn({37, 53}, &g, {.dtype = dt});
    const int64_t n = w.numel();
    std::vector<double> aw;
    for (float f : to_f32(w)) aw.push_back(std::abs(static_cast<double>(f)));
    for (double tau : {0.0, 0.05, 0.1, 0.3, 0.9}) {
      TernaryWeight t = ternarize(w, tau);
      const int64_t k = std::llround(tau * static_cast<double>(n));
      EXPECT_EQ(count_zeros(t.values), k) << "tau " << tau;
      // The zeros are the smallest |w|; the scale is the kept entries' mean |w|.
      std::vector<int8_t> q = to_i8(t.values);
      double max_zero = 0, min_kept = INFINITY, kept_sum = 0;
      std::vector<float> wf = to_f32(w);
      for (int64_t i = 0; i < n; ++i) {
        if (q[i] == 0) {
          max_zero = std::max(max_zero, aw[i]);
        } else {
          min_kept = std::min(min_kept, aw[i]);
          kept_sum += aw[i];
          EXPECT_EQ(q[i], wf[i] < 0 ? -1 : 1);
        }
      }
      EXPECT_LE(max_zero, min_kept);
      EXPECT_FLOAT_EQ(t.scale, static_cast<float>(kept_sum / static_cast<double>(n - k)));
      // weight_quant agrees with ternarize
      EXPECT_TRUE(same_values(weight_quant(w, tau).to(kFloat32), t.dequantize()));
    }
  }
  EXPECT_THROW(ternarize(randn({3, 3}, &g), 1.0), Error);
  EXPECT_THROW(ternarize(randn({3, 3}, &g), -0.1), Error);
}

TEST(QuantOps, SparsityWithTiesAndEqualWeights) {
  Generator g(5);
  // Weights from a small integer set: many ties at the threshold.
  Tensor w = round(sub(mul(rand({64, 50}, &g), 4.0), 2.0));  // {-2, ..., 2}
  const int64_t n = w.numel();
  for (double tau : {0.05, 0.1, 0.3, 0.5}) {
    TernaryWeight t = ternarize(w, tau);
    const int64_t k = std::llround(tau * static_cast<double>(n));
    EXPECT_EQ(count_zeros(t.values), k) << "tau " << tau;
    // Ties are broken by index: along |w| == threshold, zeroed entries come first.
    std::vector<int8_t> q = to_i8(t.values);
    std::vector<float> wf = to_f32(w);
    float thr = 0;
    for (int64_t i = 0; i < n; ++i)
      if (q[i] == 0) thr = std::max(thr, std::abs(wf[i]));
    bool seen_kept = false;
    for (int64_t i = 0; i < n; ++i) {
      if (std::abs(wf[i]) != thr) continue;
      if (q[i] != 0)
        seen_kept = true;
      else
        EXPECT_FALSE(seen_kept) << "tie at " << i << " zeroed after a kept tie";
    }
  }
  // All-equal weights: the first k entries become zero.
  Tensor e = full({10, 10}, 0.5);
  TernaryWeight t = ternarize(e, 0.3);
  std::vector<int8_t> q = to_i8(t.values);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(q[i], i < 30 ? 0 : 1);
  EXPECT_FLOAT_EQ(t.scale, 0.5f);
  // All-zero weights: zeros everywhere the threshold asks, scale 0, no NaN.
  TernaryWeight z = ternarize(zeros({4, 5}), 0.1);
  EXPECT_EQ(z.scale, 0.0f);
  EXPECT_EQ(count_zeros(z.dequantize()), 20);
}

TEST(QuantOps, SparsityLargeTensorMatchesSort) {
  Generator g(6);
  Tensor w = mul(randn({768, 3072}, &g), 0.02);
  const int64_t n = w.numel();
  TernaryWeight t = ternarize(w, 0.1);
  const int64_t k = std::llround(0.1 * static_cast<double>(n));
  EXPECT_EQ(count_zeros(t.values), k);
  std::vector<float> a = to_f32(abs(w));
  std::vector<float> sorted = a;
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end());
  const float kth = sorted[static_cast<size_t>(k - 1)];
  std::vector<int8_t> q = to_i8(t.values);
  for (int64_t i = 0; i < n; ++i) {
    if (a[i] < kth) ASSERT_EQ(q[i], 0) << i;
    if (a[i] > kth) ASSERT_NE(q[i], 0) << i;
  }
}

// Tensors of >= 65536 entries take the sampled path (with a radix-select fallback): check
// exact counts, ordering, index tie-breaks and the scale over several distributions.
TEST(QuantOps, SparsityLargeTensorsExactAcrossDistributions) {
  Generator g(21);
  std::vector<std::pair<std::string, Tensor>> cases = {
      {"normal", randn({512, 256}, &g)},
      {"fp16-grid", randn({512, 256}, &g).to(kFloat16).to(kFloat32)},  // moderate ties
      {"integers", round(mul(randn({512, 256}, &g), 3.0))},            // massive ties
      {"equal", full({300, 300}, -0.25)},
      {"f64", randn({256, 300}, &g, {.dtype = kFloat64})},
  };
  for (const auto& [label, w] : cases) {
    const int64_t n = w.numel();
    std::vector<double> a;
    {
      Tensor c = w.to(kFloat64).contiguous();
      const double* p = c.data_ptr<double>();
      for (int64_t i = 0; i < n; ++i) a.push_back(std::abs(p[i]));
    }
    for (double tau : {0.0001, 0.05, 0.1, 0.3, 0.9, 0.9999}) {
      TernaryWeight t = ternarize(w, tau);
      const int64_t k = std::llround(tau * static_cast<double>(n));
      std::vector<int8_t> q = to_i8(t.values);
      int64_t zeros = 0;
      double max_zero = -1, min_kept = INFINITY, kept_sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (q[i] == 0) {
          ++zeros;
          max_zero = std::max(max_zero, a[i]);
        } else {
          min_kept = std::min(min_kept, a[i]);
          kept_sum += a[i];
        }
      }
      ASSERT_EQ(zeros, k) << label << " tau " << tau;
      ASSERT_LE(max_zero, min_kept) << label << " tau " << tau;
      if (max_zero == min_kept) {  // ties at the threshold: zeroed ones come first
        bool seen_kept = false;
        for (int64_t i = 0; i < n; ++i) {
          if (a[i] != max_zero) continue;
          if (q[i] != 0)
            seen_kept = true;
          else
            ASSERT_FALSE(seen_kept) << label << " tau " << tau << " index " << i;
        }
      }
      EXPECT_NEAR(t.scale, kept_sum / static_cast<double>(n - k), 1e-6 * kept_sum / static_cast<double>(n - k))
          << label << " tau " << tau;
      // The dequantized output of weight_quant agrees with the codes.
      EXPECT_TRUE(same_values(weight_quant(w, tau).to(kFloat32), t.dequantize())) << label;
    }
  }
}

TEST(QuantOps, SparsityModeIsIdempotentAbsmeanIsNot) {
  Generator g(7);
  Tensor w = mul(randn({48, 64}, &g), 0.05);
  // τ mode: re-quantizing the dequantized weight gives the same values and scale ...
  TernaryWeight t1 = ternarize(w, 0.1);
  TernaryWeight t2 = ternarize(t1.dequantize(), 0.1);
  EXPECT_EQ(to_i8(t1.values), to_i8(t2.values));
  EXPECT_EQ(t1.scale, t2.scale);
  // ... also through an FP16 copy (the values survive, the scale is fp16's rounding).
  TernaryWeight t3 = ternarize(t1.dequantize().to(kFloat16).to(kFloat32), 0.1);
  EXPECT_EQ(to_i8(t1.values), to_i8(t3.values));
  EXPECT_EQ(t3.scale, scalar_tensor(t1.scale).to(kFloat16).to(kFloat32).item<float>());
  // Absmean: the codes survive but the scale shrinks by (1 - sparsity).
  TernaryWeight a1 = ternarize(w);
  TernaryWeight a2 = ternarize(a1.dequantize());
  EXPECT_EQ(to_i8(a1.values), to_i8(a2.values));
  EXPECT_NE(a1.scale, a2.scale);
  const double sparsity = static_cast<double>(count_zeros(a1.values)) / static_cast<double>(w.numel());
  EXPECT_GT(sparsity, 0.0);
  EXPECT_NEAR(a2.scale, a1.scale * (1.0 - sparsity), 1e-6);
}
