// The integer inference kernels (backends/cpu/ternary): layouts, activation quantization, and
// the integer dot products of every instruction-set path this CPU runs, bit for bit against a
// plain loop over the unpacked values.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <tern/backends/cpu/ternary/ternary.h>
#include <tern/quant/quant_ops.h>
#include <tern/tern.h>

using namespace tern;
namespace tk = tern::cpu::ternary;

namespace {

std::vector<tk::Isa> supported_isas() {
  std::vector<tk::Isa> out;
  for (tk::Isa i : {tk::Isa::scalar, tk::Isa::avx2, tk::Isa::avx512_vnni})
    if (tk::isa_supported(i)) out.push_back(i);
  return out;
}

std::vector<int8_t> random_ternary(int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-1, 1);
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

std::vector<float> random_floats(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// Σ_c w[i, c] · q[r, c] over the real columns, in 64-bit.
std::vector<int64_t> reference_dots(const tk::QuantizedRows& a, const std::vector<int8_t>& w, int64_t n, int64_t k) {
  std::vector<int64_t> out(static_cast<size_t>(a.m * n));
  for (int64_t r = 0; r < a.m; ++r)
    for (int64_t i = 0; i < n; ++i) {
      int64_t s = 0;
      for (int64_t c = 0; c < k; ++c) s += int64_t{w[i * k + c]} * a.q[r * a.kp + c];
      out[r * n + i] = s;
    }
  return out;
}

struct Shape3 {
  int64_t m, n, k;
};
const std::vector<Shape3> kShapes = {{1, 1, 1},     {1, 4, 256},  {1, 7, 257},   {2, 5, 31},  {3, 9, 512},
                                     {4, 8, 768},   {5, 13, 1000}, {8, 4, 3072}, {1, 33, 771}, {6, 3, 64},
                                     {9, 17, 129}};

}  // namespace

TEST(TernaryKernels, PackI2RoundTripsAndValidates) {
  std::mt19937 rng(1);
  for (int64_t k : {1, 3, 64, 255, 256, 257, 1000}) {
    const int64_t n = 3;
    auto v = random_ternary(n * k, rng);
    auto packed = tk::pack_i2(v.data(), n, k);
    ASSERT_EQ(static_cast<int64_t>(packed.size()), n * tk::i2_row_bytes(k));
    std::vector<int8_t> back(v.size());
    tk::unpack_i2(packed.data(), n, k, back.data());
    EXPECT_EQ(back, v) << "k=" << k;
  }
  std::vector<int8_t> v = {1, 0, -1, 2};
  EXPECT_THROW(tk::pack_i2(v.data(), 1, 4), Error);
  auto packed = tk::pack_i2(v.data(), 1, 3);
  std::vector<int8_t> back(3);
  auto bad = packed;
  bad[0] |= 3;  // code 3 at column 0
  EXPECT_THROW(tk::unpack_i2(bad.data(), 1, 3, back.data()), Error);
  bad = packed;
  bad[10] = 0;  // column 10 is padding: its code must stay 1
  EXPECT_THROW(tk::unpack_i2(bad.data(), 1, 3, back.data()), Error);
}

TEST(TernaryKernels, LayoutPlacesColumnsAsDocumented) {
  // Column 256·b + 64·s + j lives in byte 64·b + j at bits 2s.
  const int64_t k = 512;
  std::vector<int8_t> v(k, 0);
  v[256 + 128 + 5] = 1;  // b = 1, s = 2, j = 5
  auto packed = tk::pack_i2(v.data(), 1, k);
  EXPECT_EQ((packed[64 + 5] >> 4) & 3, 2);
  EXPECT_EQ(packed[64 + 5] & ~(3 << 4), 0x55 & ~(3 << 4));
}

TEST(TernaryKernels, ActivationQuantizationMatchesTheTrainingKernel) {
  std::mt19937 rng(2);
  for (int64_t k : {1, 5, 256, 300}) {
    const int64_t m = 3;
    auto x = random_floats(m * k, rng, 3.0f);
    x[0] = 0;  // exact zero row entries and ties stay as the training kernel rounds them
    tk::QuantizedRows a;
    tk::quantize_rows(x.data(), m, k, k, false, 0.0, true, a);
    Tensor xt = from_vector(x, {m, k});
    auto ref = quant::quantize_activation_int8(xt);
    for (int64_t r = 0; r < m; ++r) {
      EXPECT_EQ(a.scale[r], ref.scale.contiguous().data_ptr<float>()[r]);
      int32_t sum = 0;
      for (int64_t c = 0; c < k; ++c) {
        ASSERT_EQ(a.q[r * a.kp + c], ref.values.data_ptr<int8_t>()[r * k + c]) << "k=" << k << " r=" << r;
        ASSERT_EQ(a.u[r * a.kp + c], static_cast<uint8_t>(a.q[r * a.kp + c] + 128));
        sum += a.q[r * a.kp + c];
      }
      for (int64_t c = k; c < a.kp; ++c) ASSERT_EQ(a.q[r * a.kp + c], 0);
      EXPECT_EQ(a.sum[r], sum);
    }
  }
}

TEST(TernaryKernels, RmsNormInputMatchesTheComposedOps) {
  std::mt19937 rng(3);
  const int64_t m = 4, k = 384;
  auto x = random_floats(m * k, rng, 2.0f);
  tk::QuantizedRows a;
  tk::quantize_rows(x.data(), m, k, k, true, 1e-6, false, a);
  auto ref = quant::quantize_activation_int8(quant::rms_norm(from_vector(x, {m, k}), 1e-6));
  int64_t differ = 0;
  for (int64_t r = 0; r < m; ++r) {
    EXPECT_NEAR(a.scale[r], ref.scale.contiguous().data_ptr<float>()[r], 1e-5 * a.scale[r]);
    for (int64_t c = 0; c < k; ++c) {
      const int d = a.q[r * a.kp + c] - ref.values.data_ptr<int8_t>()[r * k + c];
      ASSERT_LE(std::abs(d), 1);
      differ += d != 0;
    }
  }
  // Only values on a rounding boundary may land on the other side.
  EXPECT_LE(differ, 2);
}

TEST(TernaryKernels, I2DotsAreExactOnEveryPath) {
  std::mt19937 rng(4);
  for (const auto& s : kShapes) {
    auto w = random_ternary(s.n * s.k, rng);
    auto x = random_floats(s.m * s.k, rng);
    tk::QuantizedRows a;
    tk::quantize_rows(x.data(), s.m, s.k, s.k, false, 0.0, false, a);
    // Saturated activations (±127 everywhere) are the worst case for 16-bit partial sums.
    if (s.m > 1)
      for (int64_t c = 0; c < s.k; ++c) a.q[c] = 127, a.q[a.kp + c] = -127;
    a.sum.assign(a.sum.size(), 0);
    for (int64_t r = 0; r < s.m; ++r)
      for (int64_t c = 0; c < s.k; ++c) a.sum[r] += a.q[r * a.kp + c];
    const auto ref = reference_dots(a, w, s.n, s.k);
    const auto packed = tk::pack_i2(w.data(), s.n, s.k);
    for (tk::Isa isa : supported_isas()) {
      std::vector<int32_t> out(static_cast<size_t>(s.m * s.n), -7);
      tk::dots_i2(isa, a, packed.data(), s.k, 0, s.n, out.data(), s.n);
      for (size_t i = 0; i < out.size(); ++i)
        ASSERT_EQ(out[i], ref[i]) << tk::isa_name(isa) << " m=" << s.m << " n=" << s.n << " k=" << s.k << " at " << i;
      // A sub-range of rows writes only its own columns.
      if (s.n > 2) {
        std::vector<int32_t> part(static_cast<size_t>(s.m * (s.n - 2)));
        tk::dots_i2(isa, a, packed.data(), s.k, 1, s.n - 1, part.data(), s.n - 2);
        for (int64_t r = 0; r < s.m; ++r)
          for (int64_t i = 1; i < s.n - 1; ++i) ASSERT_EQ(part[r * (s.n - 2) + i - 1], ref[r * s.n + i]);
      }
    }
  }
}

TEST(TernaryKernels, I8DotsAreExactOnEveryPath) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> d(-127, 127);
  for (const auto& s : kShapes) {
    const int64_t kp8 = tk::padded_k8(s.k);
    std::vector<int8_t> w(static_cast<size_t>(s.n * s.k));
    for (auto& v : w) v = static_cast<int8_t>(d(rng));
    if (s.n > 1)
      for (int64_t c = 0; c < s.k; ++c) w[c] = 127, w[s.k + c] = -127;  // extremes
    std::vector<int8_t> w8(static_cast<size_t>(s.n * kp8), 0);
    std::vector<int32_t> wsum(static_cast<size_t>(s.n), 0);
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t c = 0; c < s.k; ++c) w8[i * kp8 + c] = w[i * s.k + c], wsum[i] += w[i * s.k + c];
    auto x = random_floats(s.m * s.k, rng);
    tk::QuantizedRows a;
    tk::quantize_rows(x.data(), s.m, s.k, s.k, false, 0.0, true, a);
    const auto ref = reference_dots(a, w, s.n, s.k);
    for (tk::Isa isa : supported_isas()) {
      std::vector<int32_t> out(static_cast<size_t>(s.m * s.n), -7);
      tk::dots_i8(isa, a, w8.data(), wsum.data(), s.k, 0, s.n, out.data(), s.n);
      for (size_t i = 0; i < out.size(); ++i)
        ASSERT_EQ(out[i], ref[i]) << tk::isa_name(isa) << " m=" << s.m << " n=" << s.n << " k=" << s.k << " at " << i;
    }
  }
}

TEST(TernaryKernels, LinearI2MatchesTheDequantizedProduct) {
  std::mt19937 rng(6);
  const int64_t m = 5, n = 37, k = 300;
  auto w = random_ternary(n * k, rng);
  auto x = random_floats(m * k, rng);
  auto bias = random_floats(n, rng);
  const float w_scale = 0.037f;
  const auto packed = tk::pack_i2(w.data(), n, k);
  std::vector<float> y(static_cast<size_t>(m * n));
  tk::linear_i2(x.data(), m, k, k, packed.data(), n, w_scale, bias.data(), false, 0.0, y.data(), n);
  // The dequantized path: (q / s) @ (w · scale)ᵀ + bias in double.
  tk::QuantizedRows a;
  tk::quantize_rows(x.data(), m, k, k, false, 0.0, false, a);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t c = 0; c < k; ++c)
        s += (static_cast<double>(a.q[r * a.kp + c]) / a.scale[r]) * (w[i * k + c] * static_cast<double>(w_scale));
      EXPECT_NEAR(y[r * n + i], s + bias[i], 1e-5 * (std::abs(s) + 1)) << r << "," << i;
    }
}

TEST(TernaryKernels, ActiveIsaIsSupported) { EXPECT_TRUE(tk::isa_supported(tk::active_isa())); }
