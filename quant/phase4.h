#pragma once
// How a model's BitNet structure travels inside a checkpoint. A safetensors state dict
// only holds tensors, and a BitLinear has exactly a Linear's tensors, so the file's
// metadata says which layers are BitLinear and with what options. A loader builds the
// plain model, applies the layout, then loads the weights; this is how Phase 5 (and
// `tern train --init`, `tern generate`, `tern eval`) continue from a Phase 4 output.
//
//   auto layout = quant::bitnet_layout(model);                 // describe
//   meta[quant::kBitNetMetadataKey] = layout.to_json();        // save with the weights
//   ...
//   if (auto l = quant::bitnet_layout_from_metadata(ckpt.metadata, path))
//     quant::apply_bitnet_layout(model, *l, path);             // rebuild, then load_state_dict

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <tern/core/io/safetensors_format.h>
#include <tern/nn/module.h>

namespace tern::quant {

inline constexpr const char* kBitNetMetadataKey = "tern.bitnet";
inline constexpr int kBitNetFormatVersion = 1;

struct BitLinearLayer {
  std::string name;                                 // dotted path in the module tree
  std::optional<double> weight_sparsity_threshold;  // nullopt: the paper's absmean rounding
  bool input_rmsnorm = false;
  double rmsnorm_eps = 1e-6;
};

struct BitNetLayout {
  int format_version = kBitNetFormatVersion;
  std::vector<BitLinearLayer> bitlinear;
  std::vector<std::string> excluded;  // Linear layers kept at full precision
  // What the stored weights of the BitLinear layers are: "latent" (the full-precision
  // weights that QAT trains) or "dequantized" (ternary values times their scale).
  std::string weights = "latent";

  bool empty() const { return bitlinear.empty(); }
  std::string to_json() const;
  static BitNetLayout from_json(const std::string& text, const std::string& origin);
};

// The BitLinear layers of `model` (in tree order) and the plain Linear layers beside them.
BitNetLayout bitnet_layout(const nn::Module& model);

// Replaces exactly the layout's layers, which must be Linear layers of `model`, with
// BitLinear layers of the recorded options. `origin` names the file in errors.
void apply_bitnet_layout(nn::Module& model, const BitNetLayout& layout, const std::string& origin);

// The state dict with every BitLinear weight replaced by its dequantized ternary value and
// every floating-point tensor in `dtype`: the weights a Phase 4 directory's model.safetensors holds.
nn::StateDict dequantized_state(const nn::Module& model, DType dtype);

// The layout stored under kBitNetMetadataKey, or nullopt for a plain checkpoint.
std::optional<BitNetLayout> bitnet_layout_from_metadata(const io::Metadata& metadata,
                                                        const std::string& origin);

}  // namespace tern::quant
