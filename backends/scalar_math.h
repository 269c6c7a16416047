#pragma once
// The scalar formulas of the elementwise ops, written once for both devices: the CPU loops
// (backends/cpu) and the CUDA kernels (backends/cuda) both call these, so that the two cannot
// drift and the parity suite compares like with like.
//
// On the host the transcendental functions call libm by its C names (::expf, ::tanh, ...),
// which backends/cpu/vmath.h declares SIMD-callable: a contiguous CPU loop over one of these
// formulas still vectorises through libmvec. Under nvcc the same names are CUDA's device
// functions. The devices therefore agree to a few ulp wherever exp, log, tanh, erf or pow
// enters a formula, and bit for bit elsewhere (arithmetic, sqrt, rounding, clamping,
// comparisons and every conversion).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include <tern/backends/backend.h>
#include <tern/core/host_device.h>
#include <tern/core/dtype.h>

namespace tern::math {

// A NaN test the compiler reads as one (x != x would do, but GCC predicts it taken and then
// lays out the code that follows as cold).
TERN_HD bool isnan(float x) {
#ifdef __CUDA_ARCH__
  return __isnanf(x) != 0;
#else
  return std::isnan(x);
#endif
}

TERN_HD bool isnan(double x) {
#ifdef __CUDA_ARCH__
  return __isnan(x) != 0;
#else
  return std::isnan(x);
#endif
}

// ---- f16 and bf16 <-> f32: core/dtype.h (math::half_bits_from_float and the others), shared
// with Half and BFloat16.

// Half and BFloat16 are used only as storage here: their float constructor and conversion
// are host functions, so device code goes through these (Half{x} would call the constructor).
TERN_HD float to_float(Half h) { return half_bits_to_float(h.bits); }
TERN_HD float to_float(BFloat16 b) { return bf16_bits_to_float(b.bits); }

template <typename T>
inline constexpr bool is_reduced_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <typename T>
TERN_HD T from_float(float f) {
  static_assert(is_reduced_v<T>);
  T r;
  if constexpr (std::is_same_v<T, Half>)
    r.bits = half_bits_from_float(f);
  else
    r.bits = bf16_bits_from_float(f);
  return r;
}

// ---- Conversion between any two element types, as copy() and fill() do it. Every input has
// a defined result: NaN -> 0 and saturation when a float goes to an integer type (a plain cast
// would be undefined), and != 0 for bool. f16 and bf16 go through f32, so f64 -> f16 rounds
// twice.
template <typename D, typename S>
TERN_HD D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    if constexpr (is_reduced_v<S>)
      return to_float(v) != 0.0f;
    else
      return v != S(0);
  } else if constexpr (is_reduced_v<S>) {
    return convert<D>(to_float(v));
  } else if constexpr (is_reduced_v<D>) {
    return from_float<D>(static_cast<float>(v));
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    if (isnan(v)) return D(0);
    constexpr double lo = static_cast<double>(std::numeric_limits<D>::min());
    constexpr double hi = static_cast<double>(std::numeric_limits<D>::max());
    const double d = static_cast<double>(v);
    if (d <= lo) return std::numeric_limits<D>::min();
    if (d >= hi) return std::numeric_limits<D>::max();
    return static_cast<D>(d);
  } else {
    return static_cast<D>(v);
  }
}

// ---- libm by its C names, for f32 and f64 (see the top of this file for why).

TERN_HD float exp(float x) { return ::expf(x); }
TERN_HD double exp(double x) { return ::exp(x); }
TERN_HD float log(float x) { return ::logf(x); }
TERN_HD double log(double x) { return ::log(x); }
TERN_HD float tanh(float x) { return ::tanhf(x); }
TERN_HD double tanh(double x) { return ::tanh(x); }
TERN_HD float erf(float x) { return ::erff(x); }
TERN_HD double erf(double x) { return ::erf(x); }
TERN_HD float sqrt(float x) { return ::sqrtf(x); }
TERN_HD double sqrt(double x) { return ::sqrt(x); }
TERN_HD float abs(float x) { return ::fabsf(x); }
TERN_HD double abs(double x) { return ::fabs(x); }
TERN_HD float ceil(float x) { return ::ceilf(x); }
TERN_HD double ceil(double x) { return ::ceil(x); }
TERN_HD float floor(float x) { return ::floorf(x); }
TERN_HD double floor(double x) { return ::floor(x); }
// x ** p for any p; pow below is the op.
TERN_HD float pow_any(float x, float p) { return ::powf(x, p); }
TERN_HD double pow_any(double x, double p) { return ::pow(x, p); }

// Half to even, like torch.round: nearbyint in the default rounding mode, which no part of
// tern changes.
TERN_HD float round(float x) { return ::nearbyintf(x); }
TERN_HD double round(double x) { return ::nearbyint(x); }

// ---- UnaryOp on f32 and f64 (T is float or double; neg and sign also take the integer types
// and bool). exp, log, sqrt, abs, tanh and round are the functions above.

namespace detail {
// Integer arithmetic goes through this type so that it wraps instead of overflowing: small
// types would otherwise be promoted to a signed int first (and bool has no make_unsigned).
template <typename T>
using wide_unsigned_t = typename std::conditional_t<(sizeof(T) < sizeof(unsigned)), std::type_identity<unsigned>,
                                                    std::make_unsigned<T>>::type;
}  // namespace detail

template <typename T>
TERN_HD T neg(T x) {
  if constexpr (std::is_integral_v<T>) {
    using W = detail::wide_unsigned_t<T>;  // the most negative value wraps to itself
    return static_cast<T>(W(0) - static_cast<W>(x));
  } else {
    return -x;
  }
}

template <typename T>
TERN_HD T rsqrt(T x) {
  return T(1) / sqrt(x);
}

// -0.0 and NaN come back unchanged.
template <typename T>
TERN_HD T sign(T x) {
  if constexpr (std::is_floating_point_v<T>)
    return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
  else if constexpr (std::is_signed_v<T>)
    return static_cast<T>((T(0) < x) - (x < T(0)));
  else
    return static_cast<T>(T(0) < x);
}

// NaN and -0.0 pass through.
template <typename T>
TERN_HD T relu(T x) {
  return x < T(0) ? T(0) : x;
}

// The tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <typename T>
TERN_HD T gelu(T x) {
  constexpr T k = T(0.7978845608028654);  // sqrt(2/pi)
  return T(0.5) * x * (T(1) + tanh(k * (x + T(0.044715) * x * x * x)));
}

// The exact GELU: x Phi(x).
template <typename T>
TERN_HD T gelu_erf(T x) {
  constexpr T r = T(0.7071067811865476);  // 1/sqrt(2)
  return T(0.5) * x * (T(1) + erf(x * r));
}

template <typename T>
TERN_HD T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}

// x ** p, taking the exact short forms for p = 2, 1 and 0.5. A loop over many x with one p that
// is none of these calls pow_any itself, so that its body has no branch and vectorises.
template <typename T>
TERN_HD T pow(T x, T p) {
  if (p == T(2)) return x * x;
  if (p == T(1)) return x;
  if (p == T(0.5)) return sqrt(x);
  return pow_any(x, p);
}

// The bounds of clamp on f32/f64: a NaN bound is no bound.
template <typename T>
TERN_HD T clamp_lo(double p0) {
  return isnan(p0) ? -std::numeric_limits<T>::infinity() : static_cast<T>(p0);
}
template <typename T>
TERN_HD T clamp_hi(double p1) {
  return isnan(p1) ? std::numeric_limits<T>::infinity() : static_cast<T>(p1);
}

// min(max(x, lo), hi) with bounds from clamp_lo/clamp_hi; NaN x stays NaN.
template <typename T>
TERN_HD T clamp(T x, T lo, T hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

// ---- UnaryOp on the integer types and bool. neg and sign are above.

template <typename T>
TERN_HD T abs_integer(T x) {
  if constexpr (std::is_signed_v<T>)
    return x < T(0) ? neg(x) : x;  // the most negative value stays itself
  else
    return x;
}

template <typename T>
TERN_HD T logical_not(T x) {
  return static_cast<T>(!x);
}

// clamp with double bounds, NaN bounds ignored: the values of T in [lo, hi], so a fractional
// bound rounds inwards (clamp(x, 0.5, 2.5) on integers is clamp(x, 1, 2)).
template <typename T>
TERN_HD T clamp_integer(T x, double lo, double hi) {
  T y = x;
  if (!isnan(lo) && static_cast<double>(y) < lo) y = convert<T>(ceil(lo));
  if (!isnan(hi) && static_cast<double>(y) > hi) y = convert<T>(floor(hi));
  return y;
}

// ---- BinaryOp. add, sub and mul wrap on integer types (two's complement) instead of
// overflowing into undefined behaviour; div and the GELU derivatives are f32/f64 only.

template <typename T>
TERN_HD T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using W = detail::wide_unsigned_t<T>;
    return static_cast<T>(static_cast<W>(a) + static_cast<W>(b));
  } else {
    return a + b;
  }
}

template <typename T>
TERN_HD T sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using W = detail::wide_unsigned_t<T>;
    return static_cast<T>(static_cast<W>(a) - static_cast<W>(b));
  } else {
    return a - b;
  }
}

template <typename T>
TERN_HD T mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using W = detail::wide_unsigned_t<T>;
    return static_cast<T>(static_cast<W>(a) * static_cast<W>(b));
  } else {
    return a * b;
  }
}

template <typename T>
TERN_HD T div(T a, T b) {
  static_assert(std::is_floating_point_v<T>);
  return a / b;
}

// d/dx of the tanh-approximated GELU at x, times the incoming gradient gy.
template <typename T>
TERN_HD T gelu_backward(T x, T gy) {
  constexpr T k = T(0.7978845608028654);  // sqrt(2/pi)
  constexpr T c = T(0.044715);
  const T x2 = x * x;
  const T th = tanh(k * (x + c * x2 * x));
  const T du = k * (T(1) + T(3) * c * x2);
  return gy * (T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * du);
}

// The same for the exact GELU: gy (Phi(x) + x phi(x)).
template <typename T>
TERN_HD T gelu_erf_backward(T x, T gy) {
  constexpr T r = T(0.7071067811865476);  // 1/sqrt(2)
  constexpr T c = T(0.3989422804014327);  // 1/sqrt(2 pi)
  const T cdf = T(0.5) * (T(1) + erf(x * r));
  const T pdf = c * exp(T(-0.5) * x * x);
  return gy * (cdf + x * pdf);
}

constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq && op <= BinaryOp::ge; }

// ---- Which ops each type has; both devices refuse the rest with the same error, before any
// element is touched.

// The UnaryOp of the integer types and bool (f32 and f64 have all but logical_not).
constexpr bool has_integer_unary(UnaryOp op) {
  return op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::sign || op == UnaryOp::logical_not ||
         op == UnaryOp::clamp;
}

// The arithmetic BinaryOp of T, one of f32, f64 and the integer types other than bool.
template <typename T>
constexpr bool has_arith(BinaryOp op) {
  if (op == BinaryOp::add || op == BinaryOp::sub || op == BinaryOp::mul) return true;
  return std::is_floating_point_v<T> &&
         (op == BinaryOp::div || op == BinaryOp::gelu_backward || op == BinaryOp::gelu_erf_backward);
}

// The comparisons, on every dtype (f16 and bf16 compare as f32); false for a non-comparison op.
template <typename T>
TERN_HD bool compare(BinaryOp op, T a, T b) {
  if constexpr (is_reduced_v<T>) {
    return compare(op, to_float(a), to_float(b));
  } else {
    switch (op) {
      case BinaryOp::eq:
        return a == b;
      case BinaryOp::ne:
        return a != b;
      case BinaryOp::lt:
        return a < b;
      case BinaryOp::le:
        return a <= b;
      case BinaryOp::gt:
        return a > b;
      case BinaryOp::ge:
        return a >= b;
      default:
        return false;
    }
  }
}

}  // namespace tern::math
