#pragma once
// BitLinear: a drop-in nn::Linear that trains with BitNet b1.58 quantization.
//
//   y = linear(activation_quant(rmsnorm?(x)), weight_quant(W, τ), bias)
//
// The latent weight W [out, in] and bias keep their Linear names and shapes, so state dicts
// load across. Gradients flow to W, x and bias through straight-through estimators.
// The quantized weight is cached, keyed on W's storage and version counter (every in-place
// write, optimizer steps included, bumps it), so evaluation and generation quantize once.

#include <tern/core/generator.h>
#include <tern/nn/layers.h>
#include <tern/quant/packing.h>
#include <tern/quant/quant_ops.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace tern::quant {

struct BitLinearOptions {
  bool bias = true;
  // τ: sparsity mode (exactly round(τ·numel) zeros, least-squares scale); nullopt: the paper's
  // absmean ternarization.
  std::optional<double> weight_sparsity_threshold = 0.1;
  bool input_rmsnorm = false;  // parameter-free RMSNorm before the activation quantizer
  double rmsnorm_eps = 1e-6;
  Generator* gen = nullptr;  // initialisation, as nn::Linear
  bool cache_quantized_weight = true;
};

// Storage accounting for one layer. Ratios are fp32_bytes / x. The weight-only ceiling is
// 32 / log2(3) ≈ 20.2× (an "8.2× theoretical" figure is not a property of ternary weights); the bias and
// scale at fp32 pull every ratio below it.
struct MemoryFootprint {
  int64_t num_weights = 0;
  int64_t fp32_bytes = 0;         // weights + bias at fp32
  int64_t theoretical_bytes = 0;  // weights at log2(3) bits (rounded up to bytes) + scale + bias fp32
  int64_t int8_bytes = 0;         // one byte per weight + scale + bias fp32
  int64_t packed_bytes = 0;       // what quantized_state stores: packed weights + scale + bias fp32
  double theoretical_ratio = 0, int8_ratio = 0, packed_ratio = 0;
};

struct QuantizedState {
  Packing packing = Packing::base4;
  Shape shape;                  // [out, in]
  std::vector<uint8_t> packed;  // pack_ternary of the ternary values
  float scale = 0.0f;           // dequantized weight = values · scale
  Tensor bias;                  // f32, or undefined
  std::optional<double> weight_sparsity_threshold;
};

class BitLinear : public nn::Linear {
 public:
  BitLinear(int64_t in_features, int64_t out_features, BitLinearOptions opts = {});
  // Keeps the trained weights: the new module shares linear's weight and bias tensors
  // (same handles, so an optimizer built over them keeps working). opts.bias is ignored
  // (the bias follows linear's).
  static std::shared_ptr<BitLinear> from_linear(const nn::Linear& linear, BitLinearOptions opts = {});

  Tensor forward(const Tensor& x) override;

  const BitLinearOptions& options() const { return opts_; }
  std::optional<double> weight_sparsity_threshold() const { return opts_.weight_sparsity_threshold; }
  bool input_rmsnorm() const { return opts_.input_rmsnorm; }

  // Ternary values and scale of the current weight (no autograd).
  TernaryWeight ternary_weight() const;
  // ternary · scale in the weight's dtype (no autograd).
  Tensor dequantized_weight() const;

  MemoryFootprint memory_footprint(Packing packing = Packing::base4) const;
  QuantizedState quantized_state(Packing packing = Packing::base4) const;
  // Sets weight = unpacked · scale (and the bias, when the state has one). Until the weight
  // is written again, quantized_state() returns exactly these values and scale and forward
  // uses exactly this dequantized weight (in absmean mode re-quantizing would rescale).
  void load_quantized_state(const QuantizedState& state);
  // The same from unpacked ternary values (shape of the weight); the bias is left alone.
  void load_ternary(const TernaryWeight& t);

 private:
  BitLinear(int64_t in_features, int64_t out_features, BitLinearOptions opts, Generator* init_gen);
  struct Cache {
    std::shared_ptr<Storage> storage;
    uint64_t version = 0;
    int64_t offset = 0;
    Shape shape;
    DType dtype = kFloat32;
    Tensor dequantized;
    // The ternary values and their scale (0-d, f32 or the weight's dtype) where the weight lives: the
    // forward pass never reads the scale back, ternary_weight() does when asked.
    Tensor values;
    Tensor scale;
  };
  bool cache_valid() const;
  // Fills (or reuses) the cache; returns the dequantized weight.
  const Cache& quantize_cached() const;
  // Caches these quantized values for the weight as it is now.
  void remember(Tensor dequantized, Tensor values, Tensor scale) const;

  BitLinearOptions opts_;
  mutable Cache cache_;
};

}  // namespace tern::quant
