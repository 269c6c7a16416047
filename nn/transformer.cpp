#include <tern/nn/transformer.h>

#include <cmath>
#include <limits>

#include <tern/core/ops.h>

namespace tern::nn {

CausalSelfAttention::CausalSelfAttention(const TransformerOptions& o)
    : Module("CausalSelfAttention"), n_embd_(o.n_embd), n_head_(o.n_head), dropout_(o.dropout), gen_(o.gen) {
  TERN_CHECK(o.n_head > 0 && o.n_embd % o.n_head == 0, "CausalSelfAttention", "n_embd ", o.n_embd,
             " is not divisible by n_head ", o.n_head);
  register_module("c_attn", std::make_shared<Linear>(o.n_embd, 3 * o.n_embd, LinearOptions{.bias = o.bias}));
  register_module("c_proj", std::make_shared<Linear>(o.n_embd, o.n_embd, LinearOptions{.bias = o.bias}));
  register_module("attn_dropout", std::make_shared<Dropout>(o.dropout, o.gen));
  register_module("resid_dropout", std::make_shared<Dropout>(o.dropout, o.gen));
}

Tensor CausalSelfAttention::forward(const Tensor& x, KVCache* cache) {
  TERN_CHECK(x.dim() == 3 && x.size(2) == n_embd_, "CausalSelfAttention", "expected input [B, T, ", n_embd_,
             "], got ", shape_str(x.shape()));
  const int64_t B = x.size(0), T = x.size(1), hd = n_embd_ / n_head_;
  Tensor qkv = child("c_attn")->forward(x);
  auto parts = split(qkv, n_embd_, 2);
  auto heads = [&](const Tensor& t) { return t.view({B, T, n_head_, hd}).transpose(1, 2); };
  Tensor q = heads(parts[0]), k = heads(parts[1]), v = heads(parts[2]);
  const int64_t past = cache ? cache->length() : 0;
  if (cache) {
    if (past) {
      k = cat({cache->k, k}, 2);
      v = cat({cache->v, v}, 2);
    }
    cache->k = k.detach();
    cache->v = v.detach();
  }
  const double p = is_training() ? dropout_ : 0.0;
  Tensor y;
  if (past == 0) {
    y = scaled_dot_product_attention(q, k, v, /*is_causal=*/true, {}, p, gen_);
  } else {
    // New query i sits at absolute position past + i; it may see keys 0..past + i.
    const int64_t S = k.size(2);
    Tensor rows = arange(static_cast<double>(past), static_cast<double>(past + T)).reshape({T, 1});
    Tensor cols = arange(0.0, static_cast<double>(S)).reshape({1, S});
    Tensor scores = mul(matmul(q, k.transpose(-2, -1)), 1.0 / std::sqrt(static_cast<double>(hd)));
    scores = masked_fill(scores, gt(cols, rows).to(x.device()), -std::numeric_limits<double>::infinity());
    y = matmul(dropout(softmax(scores, -1), p, true, gen_), v);
  }
  y = y.transpose(1, 2).reshape({B, T, n_embd_});
  return child("resid_dropout")->forward(child("c_proj")->forward(y));
}

MLP::MLP(const TransformerOptions& o) : Module("MLP") {
  register_module("c_fc", std::make_shared<Linear>(o.n_embd, 4 * o.n_embd, LinearOptions{.bias = o.bias}));
  register_module("gelu", std::make_shared<GELU>(o.gelu));
  register_module("c_proj", std::make_shared<Linear>(4 * o.n_embd, o.n_embd, LinearOptions{.bias = o.bias}));
  register_module("dropout", std::make_shared<Dropout>(o.dropout, o.gen));
}

Tensor MLP::forward(const Tensor& x) {
  Tensor h = child("gelu")->forward(child("c_fc")->forward(x));
  return child("dropout")->forward(child("c_proj")->forward(h));
}

Block::Block(const TransformerOptions& o) : Module("Block") {
  register_module("ln_1", std::make_shared<LayerNorm>(o.n_embd, o.layer_norm_epsilon, true, o.bias));
  register_module("attn", std::make_shared<CausalSelfAttention>(o));
  register_module("ln_2", std::make_shared<LayerNorm>(o.n_embd, o.layer_norm_epsilon, true, o.bias));
  register_module("mlp", std::make_shared<MLP>(o));
}

Tensor Block::forward(const Tensor& x, KVCache* cache) {
  Tensor h = add(x, child_as<CausalSelfAttention>("attn").forward(child("ln_1")->forward(x), cache));
  return add(h, child("mlp")->forward(child("ln_2")->forward(h)));
}

}  // namespace tern::nn
