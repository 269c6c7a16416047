#pragma once
// BitNet b1.58 quantization functions, as in the official training code:
//
//   activations, 8-bit per token:  s = 127 / max|x| (last dim, clamped at 1e-5);
//                                  x_q = clamp(round(x·s), -128, 127) / s
//   weights, ternary per tensor:   s = 1 / mean|W| (clamped at 1e-5);
//                                  W_q = clamp(round(W·s), -1, 1) / s
//
// The autograd versions (activation_quant, weight_quant, apply_ste) are straight-through
// estimators written with the custom Function API: the forward pass returns the quantized
// value and the backward pass hands the upstream gradient through unchanged. Kernels are
// fused (Backend::activation_quant, Backend::ternarize); f32 and f64 on the CPU.
//
// Sparsity mode: with a threshold τ in [0, 1), ternarization zeros exactly round(τ·numel)
// entries, those with the smallest |w| (ties broken by index, so the measured sparsity equals
// τ to within one element), and sets the rest to sign(w)·α, where α is the mean |w| of the
// kept entries (the least-squares scale for that ternary pattern). Unlike absmean, this mode
// is idempotent: ternarizing the dequantized weights gives the same values and scale.
// A kept entry that is exactly ±0 (only possible when more than k weights are zero)
// gets +1 or −1 by its sign bit, so the count of zeros is always exactly k. Large tensors
// (>= 65536 entries) are split by a sampled bracket and one counting pass; others, and any
// case the bracket misses, by an exact radix select on |w|'s bit pattern: O(n) either way.

#include <tern/core/tensor.h>

#include <optional>

namespace tern::quant {

inline constexpr double kQuantEps = 1e-5;  // clamp of max|x| and mean|W|

// Ternary weight: values (i8 in {-1, 0, 1}, shape of w); dequantized weight = values · scale.
struct TernaryWeight {
  Tensor values;
  float scale = 0.0f;
  // values · scale as f32 (or `dtype`).
  Tensor dequantize(DType dtype = kFloat32) const;
};

// 8-bit activation: values (i8, shape of x) and scale (x's dtype, [..., 1] = 127 / absmax);
// dequantized activation = values / scale.
struct Int8Activation {
  Tensor values;
  Tensor scale;
};

// Number of zeros that sparsity threshold τ asks for: round(τ·numel). Checks τ ∈ [0, 1).
int64_t sparsity_zero_count(int64_t numel, double tau, const char* where = "weight_quant");

// No autograd. With a threshold: sparsity mode (see above); without: the paper's absmean.
TernaryWeight ternarize(const Tensor& w, std::optional<double> sparsity_threshold = std::nullopt);
Int8Activation quantize_activation_int8(const Tensor& x);

// Dequantized ternary weight in w's dtype (no autograd); *info (optional) gets the ternary
// values and scale.
Tensor ternary_dequantized(const Tensor& w, std::optional<double> sparsity_threshold, TernaryWeight* info = nullptr);
// The same with the ternary values (i8) and the scale (0-d, w's dtype) left on w's device: nothing is
// read back, so a training step on a GPU need not wait for it.
Tensor ternary_dequantized(const Tensor& w, std::optional<double> sparsity_threshold, Tensor* values, Tensor* scale);

// Straight-through estimators (custom autograd Functions).
Tensor activation_quant(const Tensor& x);
Tensor weight_quant(const Tensor& w, std::optional<double> sparsity_threshold = std::nullopt);
// Forward returns q; backward gives x the upstream gradient unchanged (q gets none).
Tensor apply_ste(const Tensor& x, const Tensor& q);

// Parameter-free RMSNorm over the last dim, as BitNet's reference: x · rsqrt(mean(x²) + eps).
// Differentiable (built from ops).
Tensor rms_norm(const Tensor& x, double eps = 1e-6);

}  // namespace tern::quant
