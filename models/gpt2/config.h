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

  static Config tiny();    // 4 layers, 4 heads, 128 wide, 64 positions (nanoGPT's CPU config)
  static Config gpt2();    // 124M
  static Config medium();  // 350M
  static Config large();   // 774M
  static Config xl();      // 1558M
  static Config preset(const std::string& name);  // one of the above by name

  void validate() const;  // throws naming the bad field

  // Hugging Face config.json (GPT2Config) text, and back. Unknown keys are ignored;
  // dropout comes from resid_pdrop.
  static Config from_json(const std::string& json_text, const std::string& source = "config.json");
  std::string to_json() const;
};

}  // namespace tern::gpt2
