#pragma once
// Inference with the weights kept packed: a BitNet model as small in memory as on disk.
//
//   PackedBitLinear  a BitLinear for inference only. It holds the ternary weight in the i2
//                    layout (2 bits per weight, backends/cpu/ternary/ternary.h), one scale and
//                    the bias, and no fp32 weight. forward() quantizes the input to int8 per
//                    token (with the BitLinear's optional RMSNorm) and multiplies it with
//                    integer kernels: y = dot(x_int8, w_ternary) / s_x · scale + bias.
//   Int8Embedding    an embedding table held as int8 per row (scale = max|row| / 127), which
//                    also serves as the tied lm_head (nn::TiedEmbedding): GPT-2's wte is a
//                    third of GPT-2 124M, so packing only the BitLinear layers leaves it
//                    dominant. Lossy: measure what it costs (`tern eval --lm-head int8`).
//
// Both are CPU modules without parameters (buffers only), so no optimizer trains them; train
// and fine-tune with BitLinear (QAT) and pack the result. Their state_dict entries are the
// packed forms ("weight_i2", "weight_i8", "weight_scale", "bias"), which never collide with a
// Linear's "weight".
//
//   quant::pack_for_inference(model, {.int8_embeddings = {"wte"}});   // in memory
//   quant::load_packed(model, "phase4/model.ternary.safetensors");      // from a Phase 4 file

#include <tern/nn/layers.h>
#include <tern/quant/bitlinear.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tern::quant {

struct PackedBitLinearOptions {
  bool input_rmsnorm = false;  // as BitLinearOptions
  double rmsnorm_eps = 1e-6;
};

class PackedBitLinear : public nn::Module {
 public:
  // t.values: i8 in {-1, 0, 1}, [out, in]; bias: [out] (any float dtype) or undefined.
  PackedBitLinear(const TernaryWeight& t, const Tensor& bias, PackedBitLinearOptions opts = {});
  // The layer's current ternary weight (what its forward uses), bias and options.
  static std::shared_ptr<PackedBitLinear> from_bitlinear(const BitLinear& layer);

  // x: f32 [..., in] on the CPU; no autograd (inference only).
  Tensor forward(const Tensor& x) override;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  float weight_scale() const;
  const PackedBitLinearOptions& options() const { return opts_; }
  TernaryWeight ternary_weight() const;  // unpacked copy
  int64_t bytes() const;                 // held: packed weight + scale + bias

 private:
  int64_t in_, out_;
  PackedBitLinearOptions opts_;
  Tensor packed_, scale_, bias_;  // u8 [out, i2_row_bytes(in)], f32 [1], f32 [out] or undefined
};

class Int8Embedding : public nn::Module, public nn::TiedEmbedding {
 public:
  // table: [num, dim], any float dtype. Row r becomes round(row / s_r) in [-127, 127] with
  // s_r = max|row| / 127 (rows of zeros get s_r = 0).
  // `consumed`, when given, is called with each block of the table's rows once it is
  // quantized (a loader gives that part of its file mapping back).
  explicit Int8Embedding(const Tensor& table, const std::function<void(const Tensor& rows)>& consumed = {});

  Tensor forward(const Tensor& indices) override;  // f32 rows q · s
  Tensor project(const Tensor& x) override;        // f32 logits [..., num], int8 × int8
  Tensor dequantized() const;                      // f32 [num, dim]
  int64_t num_embeddings() const { return num_; }
  int64_t dim() const { return dim_; }
  int64_t bytes() const;

 private:
  Tensor rows(const Tensor& indices) const;  // q[indices] · s[indices]
  int64_t num_, dim_;
  Tensor q_, scale_, sum_;  // i8 [num, padded], f32 [num], i32 [num] (Σ q per row)
};

struct PackOptions {
  bool pack_bitlinear = true;  // BitLinear -> PackedBitLinear (pack_for_inference)
  // Embedding modules (dotted names) to hold as Int8Embedding; for GPT-2, "wte" (tied lm_head).
  std::vector<std::string> int8_embeddings;
};

struct PackReport {
  std::vector<std::string> packed;  // BitLinear layers now PackedBitLinear
  std::vector<std::string> int8;    // embeddings now Int8Embedding
};

// Replaces every BitLinear of `model` by the PackedBitLinear of its current ternary weight, and
// the named embeddings by Int8Embedding. The model must be on the CPU.
PackReport pack_for_inference(nn::Module& model, const PackOptions& opts = {});

// Loads a CompressedModel file (bitlinear mode; Phase 4's model.ternary.safetensors) into
// `model`, which must already have BitLinear layers where the file has packed ones (apply its
// BitNet layout first). Those become PackedBitLinear straight from the packed bytes, the named
// embeddings Int8Embedding, and every other tensor loads as a strict load_state_dict would.
// Errors name the file and the tensor: a wrong byte count, an invalid code, a missing scale or
// bias, a missing or unexpected tensor.
PackReport load_packed(nn::Module& model, const std::string& path, const PackOptions& opts = {});

}  // namespace tern::quant
