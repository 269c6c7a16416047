// The shared scalar formulas (backends/scalar_math.h) on the host, at their edge values: the
// CUDA kernels compute the same expressions, so these pin down what both devices return.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>

#include <tern/backends/scalar_math.h>

#include "../test_util.h"

using namespace tern;
using testutil::error_of;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr double kNanD = std::numeric_limits<double>::quiet_NaN();

uint32_t bits_of(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}

uint64_t bits_of(double d) {
  uint64_t x;
  std::memcpy(&x, &d, 8);
  return x;
}

float float_of(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace

// The device's conversions must be core/dtype.h's, bit for bit: every f16 and bf16 pattern to
// f32, and f32 to both over a sweep of all exponents plus the values at and beside each
// rounding tie.
TEST(ScalarMath, HalfAndBFloat16ConversionsMatchCoreDType) {
  for (uint32_t h = 0; h <= 0xffffu; ++h) {
    Half half;
    half.bits = static_cast<uint16_t>(h);
    ASSERT_EQ(bits_of(math::half_bits_to_float(half.bits)), bits_of(static_cast<float>(half))) << std::hex << h;
    BFloat16 bf;
    bf.bits = static_cast<uint16_t>(h);
    ASSERT_EQ(bits_of(math::bf16_bits_to_float(bf.bits)), bits_of(static_cast<float>(bf))) << std::hex << h;
  }
  auto same = [](uint32_t x) {
    const float f = float_of(x);
    return math::half_bits_from_float(f) == Half::from_float(f) &&
           math::bf16_bits_from_float(f) == BFloat16::from_float(f);
  };
  for (uint64_t x = 0; x <= 0xffffffffu; x += 4099) ASSERT_TRUE(same(static_cast<uint32_t>(x))) << std::hex << x;
  // f16 keeps 10 of f32's 23 mantissa bits (ties at 0x1000 of the low 13), bf16 keeps 7 (ties
  // at 0x8000 of the low 16); subnormal f16 results tie elsewhere, which the sweep covers.
  for (uint32_t hi = 0; hi < (1u << 19); ++hi)
    for (uint32_t lo : {0x0000u, 0x0fffu, 0x1000u, 0x1001u, 0x1fffu})
      ASSERT_TRUE(same(hi << 13 | lo)) << std::hex << (hi << 13 | lo);
  for (uint32_t hi = 0; hi < (1u << 16); ++hi)
    for (uint32_t lo : {0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu})
      ASSERT_TRUE(same(hi << 16 | lo)) << std::hex << (hi << 16 | lo);
}

TEST(ScalarMath, ConvertSaturatesAndSendsNanToZero) {
  EXPECT_EQ(math::convert<int8_t>(kNan), 0);
  EXPECT_EQ(math::convert<int8_t>(1e10f), 127);
  EXPECT_EQ(math::convert<int8_t>(-1e10f), -128);
  EXPECT_EQ(math::convert<uint8_t>(-0.7), 0);
  EXPECT_EQ(math::convert<int32_t>(-2.9), -2);  // towards zero
  EXPECT_EQ(math::convert<int64_t>(9.3e18), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(math::convert<int64_t>(-kInf), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(math::convert<int8_t>(int32_t{300}), 44);  // integers wrap, as in torch
  EXPECT_TRUE(math::convert<bool>(kNan));
  EXPECT_FALSE(math::convert<bool>(-0.0));
  EXPECT_TRUE(math::convert<bool>(math::from_float<BFloat16>(0.5f)));
  EXPECT_EQ(math::convert<double>(true), 1.0);
  EXPECT_EQ(math::convert<Half>(65520.0).bits, 0x7c00u);  // the first value rounding to inf
  EXPECT_EQ(math::convert<int8_t>(math::from_float<Half>(-200.0f)), -128);
  // i64 -> f32 rounds once, to nearest even: 2^24 + 1 is a tie.
  EXPECT_EQ(math::convert<float>(int64_t{16777217}), 16777216.0f);
}

TEST(ScalarMath, RoundIsHalfToEven) {
  const float in[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, 8388609.0f};
  const float want[] = {0.0f, 2.0f, 2.0f, -0.0f, -2.0f, -2.0f, 0.0f, 8388609.0f};
  for (size_t i = 0; i < std::size(in); ++i) {
    EXPECT_EQ(bits_of(math::round(in[i])), bits_of(want[i])) << in[i];
    EXPECT_EQ(bits_of(math::round(static_cast<double>(in[i]))), bits_of(static_cast<double>(want[i]))) << in[i];
  }
  EXPECT_TRUE(std::isnan(math::round(kNan)));
}

TEST(ScalarMath, SignAndReluKeepNegativeZeroAndNan) {
  EXPECT_EQ(bits_of(math::sign(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(bits_of(math::sign(-0.0)), bits_of(-0.0));
  EXPECT_EQ(math::sign(-3.5f), -1.0f);
  EXPECT_EQ(math::sign(1e-30), 1.0);
  EXPECT_TRUE(std::isnan(math::sign(kNan)));
  EXPECT_EQ(bits_of(math::relu(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(math::relu(-2.0f), 0.0f);
  EXPECT_TRUE(std::isnan(math::relu(kNan)));
  EXPECT_EQ(math::sign(int8_t{-7}), -1);
  EXPECT_EQ(math::sign(uint8_t{200}), 1);
  EXPECT_EQ(math::sign(int64_t{0}), 0);
  EXPECT_TRUE(math::sign(true));
}

TEST(ScalarMath, ClampIgnoresNanBounds) {
  const float lo = math::clamp_lo<float>(kNanD);
  const float hi = math::clamp_hi<float>(2.0);
  EXPECT_EQ(lo, -kInf);
  EXPECT_EQ(math::clamp(-1e30f, lo, hi), -1e30f);
  EXPECT_EQ(math::clamp(3.0f, lo, hi), 2.0f);
  EXPECT_EQ(math::clamp(1.0f, math::clamp_lo<float>(kNanD), math::clamp_hi<float>(kNanD)), 1.0f);
  EXPECT_TRUE(std::isnan(math::clamp(kNan, -1.0f, 1.0f)));
  EXPECT_EQ(math::clamp(-5.0, math::clamp_lo<double>(-1.0), math::clamp_hi<double>(kNanD)), -1.0);
  // Integers: a fractional bound rounds inwards, a NaN bound is none, an out-of-range one saturates.
  EXPECT_EQ(math::clamp_integer(int32_t{0}, 0.5, 2.5), 1);
  EXPECT_EQ(math::clamp_integer(int32_t{9}, 0.5, 2.5), 2);
  EXPECT_EQ(math::clamp_integer(int8_t{-100}, kNanD, kNanD), -100);
  EXPECT_EQ(math::clamp_integer(int8_t{-100}, -50.5, kNanD), -50);
  EXPECT_EQ(math::clamp_integer(int8_t{100}, -1e9, 1e9), 100);
  EXPECT_EQ(math::clamp_integer(uint8_t{3}, 7.0, 1e9), 7);
}

TEST(ScalarMath, GeluAtZeroAndFarOut) {
  EXPECT_EQ(math::gelu(0.0f), 0.0f);
  EXPECT_EQ(math::gelu_erf(0.0), 0.0);
  EXPECT_EQ(math::gelu(10.0f), 10.0f);
  EXPECT_EQ(math::gelu_erf(10.0), 10.0);
  EXPECT_EQ(math::gelu(-10.0f), 0.0f);
  EXPECT_NEAR(math::gelu_erf(-10.0), 0.0, 1e-20);
  EXPECT_NEAR(math::gelu(1.0), 0.8411919906082768, 1e-15);  // torch, approximate='tanh'
  EXPECT_NEAR(math::gelu_erf(1.0), 0.8413447460685429, 1e-15);
  // The derivative: 1/2 at 0, 1 far right, 0 far left, times the incoming gradient.
  EXPECT_EQ(math::gelu_backward(0.0f, 3.0f), 1.5f);
  EXPECT_EQ(math::gelu_erf_backward(0.0, 3.0), 1.5);
  EXPECT_EQ(math::gelu_backward(10.0, 2.0), 2.0);
  EXPECT_NEAR(math::gelu_erf_backward(10.0f, 2.0f), 2.0f, 1e-6f);
  EXPECT_EQ(math::gelu_backward(-10.0f, 2.0f), 0.0f);
  EXPECT_NEAR(math::gelu_erf_backward(-10.0, 2.0), 0.0, 1e-20);
  EXPECT_NEAR(math::gelu_backward(1.0, 1.0), 1.0829640838457826, 1e-14);
  EXPECT_NEAR(math::gelu_erf_backward(1.0, 1.0), 1.0833154705876864, 1e-14);
}

TEST(ScalarMath, PowTakesItsShortForms) {
  EXPECT_EQ(math::pow(3.0f, 2.0f), 9.0f);
  EXPECT_EQ(math::pow(-7.25, 1.0), -7.25);
  EXPECT_EQ(math::pow(2.25f, 0.5f), 1.5f);
  EXPECT_TRUE(std::isnan(math::pow(-4.0, 0.5)));
  EXPECT_EQ(bits_of(math::pow(-0.0f, 0.5f)), bits_of(-0.0f));  // sqrt, where powf gives +0
  EXPECT_EQ(math::pow(2.0, 10.0), 1024.0);
  EXPECT_EQ(math::rsqrt(4.0f), 0.5f);
  EXPECT_EQ(math::sigmoid(0.0), 0.5);
}

TEST(ScalarMath, IntegerArithmeticWraps) {
  EXPECT_EQ(math::add(int8_t{127}, int8_t{1}), -128);
  EXPECT_EQ(math::sub(uint8_t{0}, uint8_t{1}), 255);
  EXPECT_EQ(math::mul(int32_t{65536}, int32_t{65536}), 0);
  EXPECT_EQ(math::mul(int8_t{-128}, int8_t{-1}), -128);
  EXPECT_EQ(math::add(std::numeric_limits<int64_t>::max(), int64_t{1}), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(math::neg(std::numeric_limits<int64_t>::min()), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(math::neg(uint8_t{1}), 255);
  EXPECT_EQ(math::abs_integer(int8_t{-128}), -128);
  EXPECT_EQ(math::abs_integer(int32_t{-5}), 5);
  EXPECT_TRUE(math::logical_not(false));
  EXPECT_EQ(math::logical_not(int32_t{7}), 0);
}

TEST(ScalarMath, ComparisonsOnReducedTypesGoThroughFloat) {
  const Half nan = math::from_float<Half>(kNan);
  const Half one = math::from_float<Half>(1.0f);
  EXPECT_FALSE(math::compare(BinaryOp::eq, nan, nan));
  EXPECT_TRUE(math::compare(BinaryOp::ne, nan, nan));
  EXPECT_FALSE(math::compare(BinaryOp::lt, nan, one));
  EXPECT_TRUE(math::compare(BinaryOp::eq, math::from_float<BFloat16>(-0.0f), math::from_float<BFloat16>(0.0f)));
  EXPECT_TRUE(math::compare(BinaryOp::le, one, one));
  EXPECT_TRUE(math::compare(BinaryOp::gt, true, false));
  EXPECT_FALSE(math::compare(BinaryOp::add, 1, 1));  // not a comparison
  EXPECT_TRUE(math::is_comparison(BinaryOp::ge));
  EXPECT_FALSE(math::is_comparison(BinaryOp::gelu_backward));
}

// The CPU refuses an op its dtype lacks before its loops, whose OpenMP threads an exception
// cannot leave: a tensor large enough to be split raises as an empty one does (the CUDA
// launchers check the same tables).
TEST(ScalarMath, BackendRefusesAnOpItsDTypeLacksBeforeTheLoop) {
  EXPECT_TRUE(math::has_arith<int32_t>(BinaryOp::mul));
  EXPECT_FALSE(math::has_arith<int64_t>(BinaryOp::div));
  EXPECT_TRUE(math::has_arith<double>(BinaryOp::gelu_erf_backward));
  EXPECT_TRUE(math::has_integer_unary(UnaryOp::clamp));
  EXPECT_FALSE(math::has_integer_unary(UnaryOp::exp));

  const int saved = num_threads();
  set_num_threads(2);
  Backend& cpu = backend_for(kCPU, "test");
  for (const int64_t n : {int64_t{0}, int64_t{1} << 17}) {
    std::vector<int32_t> a(n + 1), out(n + 1);
    std::vector<float> f(n + 1);
    const Shape shape{n};
    const StridedArg ia{a.data(), kInt32, {1}}, io{out.data(), kInt32, {1}}, fa{f.data(), kFloat32, {1}};
    EXPECT_EQ(error_of([&] { cpu.binary(BinaryOp::div, shape, io, ia, ia); }), "[binary] unsupported op for i32");
    EXPECT_EQ(error_of([&] { cpu.unary(UnaryOp::exp, shape, io, ia, 0, 0); }), "[unary] op not supported for i32");
    EXPECT_EQ(error_of([&] { cpu.unary(UnaryOp::logical_not, shape, fa, fa, 0, 0); }),
              "[unary] op not supported for floating point");
  }
  set_num_threads(saved);
}
