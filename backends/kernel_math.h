#pragma once
// Per-element formulas that the CPU loops and the CUDA kernels share, so that both devices
// compute the same bits: the AdamW update, BitNet's 8-bit activation quantizer and its ternary
// absmean rule.
//
// Where a product feeds a sum the formulas call fma explicitly. Compilers contract a * b + c
// into an fma by their own rules (GCC does with -march=native, nvcc does by default, and the
// CUDA files' host code gets no -march), so plain expressions would round differently on the
// two devices; with the fma written out there is nothing left to contract. Division and sqrt
// are correctly rounded on both (nvcc's defaults: -prec-div=true, -prec-sqrt=true).

#include <cmath>
#include <cstdint>
#include <cstring>

#include <tern/core/host_device.h>

namespace tern::kmath {

TERN_HD float fused_mul_add(float a, float b, float c) { return ::fmaf(a, b, c); }
TERN_HD double fused_mul_add(double a, double b, double c) { return ::fma(a, b, c); }
TERN_HD float square_root(float x) { return ::sqrtf(x); }
TERN_HD double square_root(double x) { return ::sqrt(x); }
TERN_HD float magnitude(float x) { return ::fabsf(x); }
TERN_HD double magnitude(double x) { return ::fabs(x); }
// Round half to even, in the default rounding mode (torch.round's rule).
TERN_HD float round_half_even(float x) { return ::rintf(x); }
TERN_HD double round_half_even(double x) { return ::rint(x); }

// std::max / std::min, NaN included: a NaN first argument is returned, a NaN second one is not.
template <typename T>
TERN_HD T max_of(T a, T b) {
  return a < b ? b : a;
}
template <typename T>
TERN_HD T min_of(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
TERN_HD T clamp_to(T x, T lo, T hi) {
  return min_of(max_of(x, lo), hi);
}

// ---- AdamW, in torch's arithmetic order (backends/backend.h).

// The step's scalars, rounded to T first as torch's kernels round Python scalars. Computed on
// the host for either device.
template <typename T>
struct AdamWCoeffs {
  T decay;        // 1 - lr * wd
  T w1;           // 1 - beta1, lerp's weight
  bool w1_small;  // lerp's branch: |w1| < 0.5
  T w1_rest;      // 1 - w1, in T, for the other branch
  T b2, w2;       // beta2, 1 - beta2
  T step_size;    // lr / (1 - beta1^step)
  T bc2_sqrt;     // sqrt(1 - beta2^step)
  T eps;
};

template <typename T>
inline AdamWCoeffs<T> adamw_coeffs(double lr, double beta1, double beta2, double eps, double weight_decay,
                                   int64_t step) {
  AdamWCoeffs<T> c;
  c.decay = static_cast<T>(std::fma(-lr, weight_decay, 1.0));
  c.w1 = static_cast<T>(1.0 - beta1);
  c.w1_small = std::fabs(static_cast<double>(c.w1)) < 0.5;
  c.w1_rest = static_cast<T>(1) - c.w1;
  c.b2 = static_cast<T>(beta2);
  c.w2 = static_cast<T>(1.0 - beta2);
  c.step_size = static_cast<T>(lr / (1.0 - std::pow(beta1, static_cast<double>(step))));
  c.bc2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(beta2, static_cast<double>(step))));
  c.eps = static_cast<T>(eps);
  return c;
}

// One element: p *= decay; m = lerp(m, g, w1); v = v * b2 + w2 * g * g (torch's mul_ then
// addcmul_); p -= step_size * (m / (sqrt(v) / bc2_sqrt + eps)). kSmallWeight is c.w1_small,
// lifted out so that the CPU's loop has no branch and vectorizes.
template <bool kSmallWeight, typename T>
TERN_HD void adamw_update(T& p, T g, T& m, T& v, const AdamWCoeffs<T>& c) {
  const T diff = g - m;
  // torch's lerp: self + w * (end - self) for a small weight, end - (end - self) * (1 - w) otherwise.
  const T m1 = kSmallWeight ? fused_mul_add(c.w1, diff, m) : fused_mul_add(-diff, c.w1_rest, g);
  const T v1 = fused_mul_add(c.w2 * g, g, v * c.b2);
  const T denom = square_root(v1) / c.bc2_sqrt + c.eps;
  p = fused_mul_add(-c.step_size, m1 / denom, p * c.decay);
  m = m1;
  v = v1;
}

// ---- BitNet b1.58 activations: 8 bits per row, absmax scaled.

// Running max of |x|; starts at 0, and a NaN never wins, so rows with NaNs keep a finite scale
// and the order of the steps does not matter.
template <typename T>
TERN_HD T absmax_step(T m, T x) {
  const T a = magnitude(x);
  return a > m ? a : m;
}

// s = 127 / max(absmax, 1e-5).
template <typename T>
TERN_HD T act_quant_scale(T absmax) {
  return static_cast<T>(127) / max_of(absmax, static_cast<T>(1e-5));
}

// clamp(round_half_even(x * s), -128, 127), as a value of T (NaN stays NaN).
template <typename T>
TERN_HD T act_quant_level(T x, T s) {
  return clamp_to(round_half_even(x * s), static_cast<T>(-128), static_cast<T>(127));
}

// A level (an integer value in [-128, 127], or NaN) as its i8 code; NaN becomes 0.
template <typename T>
TERN_HD int8_t quant_code(T level) {
  return level == level ? static_cast<int8_t>(static_cast<int>(level)) : int8_t{0};
}

// ---- BitNet b1.58 weights: ternary, per tensor.

// mean|w| from the sum of |w| (accumulated in double), in T as torch's w.abs().mean().
template <typename T>
TERN_HD T absmean_from_sum(double abs_sum, int64_t n) {
  return static_cast<T>(abs_sum) / static_cast<T>(n);
}

// s = 1 / max(mean|w|, 1e-5); the dequantization scale is 1 / s.
template <typename T>
TERN_HD T absmean_inv_scale(T mean) {
  return static_cast<T>(1) / max_of(mean, static_cast<T>(1e-5));
}

// clamp(round_half_even(w * s), -1, 1).
template <typename T>
TERN_HD T ternary_level(T w, T s) {
  return clamp_to(round_half_even(w * s), static_cast<T>(-1), static_cast<T>(1));
}

template <typename T>
struct KeyOf;
template <>
struct KeyOf<float> {
  using type = uint32_t;
};
template <>
struct KeyOf<double> {
  using type = uint64_t;
};
template <typename T>
using key_t = typename KeyOf<T>::type;

// |v| as an unsigned integer: for non-negative IEEE values (NaN above infinity) the bit
// patterns order as the values.
template <typename T>
TERN_HD key_t<T> abs_key(T v) {
  key_t<T> u;
  memcpy(&u, &v, sizeof u);
  return u & ~(key_t<T>{1} << (8 * sizeof u - 1));
}

template <typename T>
TERN_HD T from_key(key_t<T> key) {
  T v;
  memcpy(&v, &key, sizeof v);
  return v;
}

// +1 or -1 by the sign bit (so -0.0 and negative NaNs give -1).
template <typename T>
TERN_HD int8_t sign_code(T v) {
  key_t<T> u;
  memcpy(&u, &v, sizeof u);
  return (u >> (8 * sizeof u - 1)) ? int8_t{-1} : int8_t{1};
}

}  // namespace tern::kmath
