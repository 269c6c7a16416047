#pragma once
// Hugging Face GPT-2 checkpoints (config.json + model.safetensors), both ways.
// HF stores attention/MLP weights as Conv1D [in, out] where a Linear is [out, in],
// may prefix keys with "transformer.", and keeps mask buffers (attn.bias,
// attn.masked_bias) that are not parameters; lm_head.weight is tied to wte.

#include <map>
#include <memory>
#include <string>

#include <tern/models/gpt2/model.h>
#include <tern/nn/module.h>

namespace tern::gpt2 {

// HF tensors (either key style) -> tern state dict: prefix stripped, Conv1D weights
// transposed, mask buffers and a tied lm_head dropped. `source` names the file in errors.
nn::StateDict from_hf_state(const std::map<std::string, Tensor>& hf, const std::string& source);
// tern state dict -> HF layout ("transformer." keys, Conv1D weights [in, out], contiguous).
std::map<std::string, Tensor> to_hf_state(const nn::StateDict& state);

// Loads dir/config.json and dir/model.safetensors.
std::shared_ptr<GPT2> load_hf(const std::string& dir);
// Writes dir/config.json and dir/model.safetensors (each atomically), creating dir.
void save_hf(const GPT2& model, const std::string& dir, const std::map<std::string, std::string>& metadata = {});

}  // namespace tern::gpt2
