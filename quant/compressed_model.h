#pragma once
// CompressedModel: a model converted to BitNet b1.58 under a Phase4Config, with compression
// statistics and a compressed checkpoint format.
//
//   CompressedModel cm(model, BitNetQuantizer(cfg), cfg);   // Linear -> BitLinear (QAT-ready)
//   cm.forward(x); cm.compression_stats().table();
//   cm.save("model.tern.safetensors");                       // packed ternary weights
//
// use_bitlinear = false is post-training quantization: modules stay nn::Linear and each
// quantized layer's weight is replaced in place by its dequantized ternary value.
//
// File layout (one safetensors file):
//   <layer>.weight_packed   U8 [packed bytes]   pack_ternary(values, config.packing)
//   <layer>.weight_scale    F32 [1]             dequantized weight = values · scale
//   every other state-dict entry (biases of quantized layers included) as stored in memory,
//   or converted to save()'s other_dtype.
//   metadata: "format" = "tern.bitnet.b158", "format_version" = "1", "phase4_config" (JSON),
//   "mode" ("bitlinear" or "ptq"), "bitlinear_layers" (JSON array of layer names),
//   "layer_shapes" (JSON object: layer -> [out, in]).

#include <tern/core/io/safetensors_format.h>
#include <tern/nn/module.h>
#include <tern/quant/config.h>
#include <tern/quant/convert.h>
#include <tern/quant/quantizer.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tern::quant {

inline constexpr const char* kCompressedFormat = "tern.bitnet.b158";
inline constexpr const char* kCompressedFormatVersion = "1";

struct CompressionStats {
  std::vector<LayerStats> layers;  // quantized and excluded Linear layers, in tree order
  std::vector<std::string> quantized, excluded;
  int64_t original_bytes = 0;    // whole state dict at fp32
  int64_t compressed_bytes = 0;  // quantized layers packed (+ scale, bias fp32), everything else fp32
  double ratio = 1.0;            // original_bytes / compressed_bytes
  double mean_sparsity = 0.0;    // zero fraction over all quantized weights
  std::string to_json() const;
  std::string table() const;  // human-readable
};

class CompressedModel {
 public:
  CompressedModel(nn::ModulePtr base, BitNetQuantizer quantizer, Phase4Config config, bool use_bitlinear = true);

  Tensor forward(const Tensor& x);
  nn::Module& module() { return *base_; }
  const nn::Module& module() const { return *base_; }
  nn::ModulePtr module_ptr() const { return base_; }
  std::vector<Tensor> parameters() const;
  nn::NamedTensors named_parameters() const;
  const Phase4Config& config() const { return config_; }
  const BitNetQuantizer& quantizer() const { return quantizer_; }
  bool uses_bitlinear() const { return use_bitlinear_; }

  CompressionStats compression_stats() const;
  const ConversionResult& conversion() const { return conversion_; }

  // extra_metadata joins the keys above (which win on a clash); other_dtype, when given,
  // converts every floating-point tensor that is not a packed weight (FP16 halves them).
  void save(const std::string& path, const std::map<std::string, std::string>& extra_metadata = {},
            std::optional<DType> other_dtype = std::nullopt) const;
  // Loads a file written by save() for a model of the same architecture and conversion.
  void load(const std::string& path);

 private:
  struct PtqLayer {
    TernaryWeight ternary;
    LayerStats stats;                  // against the original (pre-quantization) weight
    std::shared_ptr<Storage> storage;  // the weight these describe, while unchanged
    uint64_t version = 0;
  };
  bool ptq_current(const std::string& name) const;
  nn::Linear& linear(const std::string& name) const;
  TernaryWeight current_ternary(const std::string& name) const;

  nn::ModulePtr base_;
  BitNetQuantizer quantizer_;
  Phase4Config config_;
  bool use_bitlinear_;
  ConversionResult conversion_;
  std::map<std::string, PtqLayer> ptq_;
};

// Reading a file that CompressedModel::save wrote, piece by piece (CompressedModel::load and
// quant::load_packed share these). Errors name `path` and the key or tensor.
struct CompressedFileHeader {
  std::string mode;                           // "bitlinear" or "ptq"
  Phase4Config config;                        // the packing, above all
  std::vector<std::string> layers;            // the quantized layers
  std::map<std::string, std::string> shapes;  // layer -> its weight's shape as JSON, "[out, in]"
};
// Checks the format and its version, and parses the rest of the metadata.
CompressedFileHeader read_compressed_header(const io::Metadata& metadata, const std::string& path);
// The ternary weight of `layer`, whose weight has `shape`, from "<layer>.weight_packed" and
// "<layer>.weight_scale": missing tensors, wrong dtypes, a byte count that does not fit the shape, an
// invalid code and an invalid scale are errors.
TernaryWeight read_packed_layer(const std::map<std::string, Tensor>& tensors, const std::string& layer,
                                const Shape& shape, Packing packing, const std::string& path);

}  // namespace tern::quant
