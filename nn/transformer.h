#pragma once
// The pieces of a GPT-2 style decoder. Names match Hugging Face's GPT-2
// (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj, ln_1, ln_2) so checkpoints
// map without renaming.

#include <tern/nn/layers.h>

namespace tern::nn {

// Keys and values of the positions seen so far, [B, n_head, T, head_dim].
struct KVCache {
  Tensor k, v;
  int64_t length() const { return k.defined() ? k.size(2) : 0; }
};

struct TransformerOptions {
  int64_t n_embd = 768;
  int64_t n_head = 12;
  double dropout = 0.0;
  double layer_norm_epsilon = 1e-5;
  bool bias = true;  // in the linear layers and the LayerNorms
  GeluApproximation gelu = GeluApproximation::tanh;
  Generator* gen = nullptr;  // dropout masks
};

class CausalSelfAttention : public Module {
 public:
  explicit CausalSelfAttention(const TransformerOptions& o);
  Tensor forward(const Tensor& x) override { return forward(x, nullptr); }
  // With a cache, x holds only the new positions; the cache grows by x's length.
  Tensor forward(const Tensor& x, KVCache* cache);

 private:
  int64_t n_embd_, n_head_;
  double dropout_;
  Generator* gen_;
};

class MLP : public Module {
 public:
  explicit MLP(const TransformerOptions& o);
  Tensor forward(const Tensor& x) override;
};

// Pre-norm residual block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
class Block : public Module {
 public:
  explicit Block(const TransformerOptions& o);
  Tensor forward(const Tensor& x) override { return forward(x, nullptr); }
  Tensor forward(const Tensor& x, KVCache* cache);
};

}  // namespace tern::nn
