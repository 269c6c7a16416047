#pragma once
// GPT-2: token + position embeddings, n_layer pre-norm blocks, a final LayerNorm
// and an lm_head tied to the token embedding. Parameter names are Hugging Face's
// (without the "transformer." prefix): wte, wpe, h.<i>.*, ln_f.

#include <functional>
#include <vector>

#include <tern/core/generator.h>
#include <tern/models/gpt2/config.h>
#include <tern/nn/transformer.h>

namespace tern::gpt2 {

struct Output {
  Tensor logits;  // [B, T, vocab]
  Tensor loss;    // 0-d; undefined without targets
};

struct GenerateOptions {
  int64_t max_new_tokens = 100;
  double temperature = 1.0;  // 0 means greedy
  int64_t top_k = 0;         // 0: no top-k filtering
  double top_p = 1.0;        // 1: no nucleus filtering
  uint64_t seed = 0;
  int64_t stop_token = -1;   // generation ends after emitting it (-1: never)
};

class GPT2 : public nn::Module {
 public:
  // GPT-2's init: N(0, 0.02) weights, residual projections N(0, 0.02/sqrt(2·n_layer)), zero biases.
  explicit GPT2(const Config& config, Generator* gen = nullptr);

  const Config& config() const { return config_; }

  // idx: i64 [B, T] with T <= n_positions. targets (optional): i64 [B, T], -100 ignored;
  // the loss is the mean cross-entropy over the non-ignored targets.
  Output forward(const Tensor& idx, const Tensor& targets);
  Tensor forward(const Tensor& idx) override { return forward(idx, Tensor()).logits; }
  // Incremental forward for decoding: idx holds only the new positions.
  Tensor forward_cached(const Tensor& idx, std::vector<nn::KVCache>& caches);

  // Samples continuations of `prompt` with a KV cache. on_token (optional) sees each new
  // token as it is produced. Returns prompt + generated tokens.
  std::vector<int64_t> generate(const std::vector<int64_t>& prompt, const GenerateOptions& opts = {},
                                const std::function<void(int64_t)>& on_token = {});

  // Grows (or shrinks) the vocabulary, keeping existing rows; new rows are drawn N(0, 0.02).
  void resize_token_embeddings(int64_t new_vocab_size, Generator* gen = nullptr);

  Tensor wte() const { return child_as<nn::Embedding>("wte").weight; }

 private:
  Tensor embed(const Tensor& idx, int64_t start_pos);
  Tensor head(const Tensor& x);
  Config config_;
};

// Chooses the next token from a row of logits, as generate() does.
int64_t sample_next(const float* logits, int64_t vocab, const GenerateOptions& opts, Generator& gen);

}  // namespace tern::gpt2
