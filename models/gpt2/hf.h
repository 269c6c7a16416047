#pragma once
// Hugging Face GPT-2 checkpoints (config.json + model.safetensors), both ways.
// HF stores attention/MLP weights as Conv1D [in, out] where a Linear is [out, in],
// may prefix keys with "transformer.", and keeps mask buffers (attn.bias,
// attn.masked_bias) that are not parameters; lm_head.weight is tied to wte.

#include <map>
#include <memory>
#include <string>

#include <tern/core/io/safetensors.h>
#include <tern/models/gpt2/model.h>
#include <tern/nn/module.h>

namespace tern::gpt2 {

// The Hugging Face name of a tern parameter or buffer name: "h.0.attn.c_attn.weight" ->
// "transformer.h.0.attn.c_attn.weight".
std::string hf_name(const std::string& name);
// A tensor of that name in HF layout: Conv1D weights (c_attn, c_proj, c_fc) transposed to
// [in, out] (a view); anything else as it is.
Tensor to_hf_layout(const std::string& name, const Tensor& t);
// Any named tensors (parameters, their gradients, optimizer moments) in HF names and layout,
// nothing added: unlike to_hf_state, a bias = false model gets no zero biases.
//   for (auto& [n, p] : model.named_parameters()) grads.emplace_back(n, p.grad());
//   auto hf_grads = gpt2::to_hf_names(grads);   // compare with transformers' param.grad
std::map<std::string, Tensor> to_hf_names(const nn::NamedTensors& tensors);

// HF tensors (either key style) -> tern state dict: prefix stripped, Conv1D weights
// transposed, mask buffers and a tied lm_head dropped. `source` names the file in errors.
// bias = false (Config::bias) drops the linear and LayerNorm biases, which must be zero.
nn::StateDict from_hf_state(const std::map<std::string, Tensor>& hf, const std::string& source, bool bias = true);
// tern state dict -> HF layout ("transformer." keys, Conv1D weights [in, out], contiguous),
// with zero biases where the model has none (Config::bias = false).
std::map<std::string, Tensor> to_hf_state(const nn::StateDict& state);
// A bias = false config whose checkpoint holds a non-zero bias (trained further in
// transformers, say) is switched to bias = true, so that loading drops no value.
void match_bias_to_state(Config& config, const std::map<std::string, Tensor>& hf);

struct HfLoadOptions {
  // For inference: every parameter whose dtype matches the file's (and whose data is
  // aligned) is a view of the file's mapping instead of a copy, so the weights are held
  // once, as page-cache memory shared with other processes reading the same file. Conv1D
  // weights are then transposed views, which matmul takes without a copy. The mapping
  // is private: a write to such a weight stays in this process and never reaches the
  // file. Training writes every weight, so it loads copies (the default).
  bool inference = false;
};

// Fills `model`, built for this checkpoint, from `hf` = file.views(), strictly. A tensor
// converted to the model's dtype is copied and its pages in the mapping given back at
// once, so the file and its converted copy are never both held whole.
void load_hf_state(GPT2& model, const std::map<std::string, Tensor>& hf, const io::SafetensorsFile& file,
                   const HfLoadOptions& options = {});

// Loads dir/config.json and dir/model.safetensors. The model is built without running
// its initialisers: the strict load fills every tensor, and a missing one is an error.
std::shared_ptr<GPT2> load_hf(const std::string& dir, const HfLoadOptions& options = {});
// Writes dir/config.json and dir/model.safetensors (each atomically), creating dir.
void save_hf(const GPT2& model, const std::string& dir, const std::map<std::string, std::string>& metadata = {});

}  // namespace tern::gpt2
