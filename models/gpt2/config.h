#pragma once
// GPT-2 hyper-parameters, with the published presets and Hugging Face config.json I/O.

#include <string>

namespace tern::gpt2 {

struct Config {
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_embd = 768;
  int64_t n_positions = 1024;  // the block size
  int64_t vocab_size = 50257;
  double layer_norm_epsilon = 1e-5;
  double dropout = 0.0;  // embedding, attention and residual dropout alike
  // HF's activation_function: "gelu_new" (GPT-2's tanh GELU; "gelu_pytorch_tanh" is
  // the same) or "gelu" (exact, erf; nanoGPT's nn.GELU()).
  std::string activation_function = "gelu_new";
  // Biases in the linear layers and LayerNorms. false is nanoGPT's bias=False; HF's
  // GPT-2 has no such switch, so config.json carries "bias": false (transformers keeps
  // unknown keys) and model.safetensors holds the biases as zeros.
  bool bias = true;

  static Config tiny();    // 4 layers, 4 heads, 128 wide, 64 positions (nanoGPT's CPU config)
  static Config gpt2();    // 124M
  static Config medium();  // 350M
  static Config large();   // 774M
  static Config xl();      // 1558M
  static Config preset(const std::string& name);  // one of the above by name

  void validate() const;  // throws naming the bad field
  bool exact_gelu() const { return activation_function == "gelu"; }

  // Hugging Face config.json (GPT2Config) text, and back. Unknown keys are ignored;
  // dropout comes from resid_pdrop.
  static Config from_json(const std::string& json_text, const std::string& source = "config.json");
  std::string to_json() const;
};

}  // namespace tern::gpt2
