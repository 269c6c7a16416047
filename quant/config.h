#pragma once
// Phase4Config: every knob of BitNet b1.58 conversion, quantization-aware training and
// packing, with a JSON form (stored in compressed checkpoints and read by `tern quantize`).
//
// weight_sparsity_threshold defaults to 0.1 (sparsity mode, see quant_ops.h) because that is
// what the knob's name promises ("0.1 → 10% zeros"), honoured exactly: round(τ·numel) zeros per layer.
// It is also idempotent: re-quantizing the dequantized weights gives the same ternary values
// and the same scale, so a later phase that reloads the dequantized (FP16/FP32) weights and
// runs the quantized forward continues from exactly the Phase-4 forward. The paper's absmean
// mode (nullopt) is not idempotent: mean|W_q| = α·(1 − sparsity) ≠ α, so the scale shifts on
// every reload (tests/quant check both claims).

#include <tern/quant/convert.h>
#include <tern/quant/packing.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tern::quant {

struct Phase4Config {
  // ---- quantization
  std::optional<double> weight_sparsity_threshold = 0.1;  // null in JSON: absmean
  bool input_rmsnorm = false;
  std::vector<std::string> exclude_patterns = {"lm_head", "wte", "wpe"};
  PatternMode pattern_mode = PatternMode::substring;
  Packing packing = Packing::base4;
  // ---- quantization-aware training (0 steps: convert and pack only)
  int64_t qat_steps = 0;
  double qat_lr = 1e-4;
  double qat_min_lr = 1e-5;
  int64_t qat_warmup_steps = 10;
  int64_t qat_batch_size = 8;
  int64_t qat_block_size = 256;
  double qat_weight_decay = 0.0;
  double qat_grad_clip = 1.0;  // 0: no clipping
  uint64_t seed = 1234;
  // ---- evaluation
  std::vector<std::string> thinking_tokens = {"<think>", "</think>"};
  int64_t eval_iters = 20;

  // Throws "[Phase4Config] <key>: ..." when a value is out of range.
  void validate() const;
  BitLinearOptions bitlinear_options() const;

  // Every key, pretty-printed.
  std::string to_json() const;
  // Missing keys keep their defaults; unknown keys and wrong types are errors naming the key,
  // prefixed "[origin]" (a file name, say). The result is validated.
  static Phase4Config from_json(const std::string& json, const std::string& origin = "Phase4Config");
};

}  // namespace tern::quant
