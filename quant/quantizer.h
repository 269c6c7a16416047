#pragma once
// BitNetQuantizer: the per-tensor math of Phase 4 (ternarize, pack, unpack, per-layer stats)
// under one Phase4Config.

#include <tern/quant/config.h>
#include <tern/quant/packing.h>
#include <tern/quant/quant_ops.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tern::quant {

struct LayerStats {
  std::string name;
  bool quantized = false;
  Shape shape;
  int64_t num_weights = 0;
  int64_t original_bytes = 0;  // weight + bias at fp32
  int64_t packed_bytes = 0;    // quantized: packed weight + fp32 scale + fp32 bias; else original_bytes
  double ratio = 1.0;          // original_bytes / packed_bytes
  double sparsity = 0.0;       // fraction of zero ternary values (of zero weights when not quantized)
  double rel_error = 0.0;      // ||W - W_q|| / ||W|| (0 when not quantized)
  float scale = 0.0f;
};

class BitNetQuantizer {
 public:
  explicit BitNetQuantizer(Phase4Config config = {});
  const Phase4Config& config() const { return config_; }

  TernaryWeight quantize(const Tensor& w) const;
  std::vector<uint8_t> pack(const TernaryWeight& t) const;
  TernaryWeight unpack(const uint8_t* data, size_t nbytes, const Shape& shape, float scale) const;
  // Stats of quantizing w (bias may be undefined).
  LayerStats layer_stats(const std::string& name, const Tensor& w, const Tensor& bias) const;
  // Stats of an already ternarized weight (t) against its latent weight w.
  LayerStats layer_stats(const std::string& name, const Tensor& w, const Tensor& bias, const TernaryWeight& t) const;
  // Stats of a layer kept at full precision.
  static LayerStats unquantized_stats(const std::string& name, const Tensor& w, const Tensor& bias);

 private:
  Phase4Config config_;
};

}  // namespace tern::quant
