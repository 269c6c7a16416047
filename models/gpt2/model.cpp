#include <tern/models/gpt2/model.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>
#include <tern/nn/init.h>

namespace tern::gpt2 {

GPT2::GPT2(const Config& config, Generator* gen) : Module("GPT2"), config_(config) {
  config.validate();
  nn::TransformerOptions o{.n_embd = config.n_embd,
                           .n_head = config.n_head,
                           .dropout = config.dropout,
                           .layer_norm_epsilon = config.layer_norm_epsilon,
                           .bias = config.bias,
                           .gelu = config.exact_gelu() ? GeluApproximation::none : GeluApproximation::tanh,
                           .gen = gen};
  register_module("wte", std::make_shared<nn::Embedding>(config.vocab_size, config.n_embd, gen));
  register_module("wpe", std::make_shared<nn::Embedding>(config.n_positions, config.n_embd, gen));
  register_module("drop", std::make_shared<nn::Dropout>(config.dropout, gen));
  auto h = register_module("h", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < config.n_layer; ++i) h->push_back(std::make_shared<nn::Block>(o));
  register_module("ln_f", std::make_shared<nn::LayerNorm>(config.n_embd, config.layer_norm_epsilon, true, config.bias));

  const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config.n_layer));
  for (auto& [name, p] : named_parameters()) {
    Tensor t = p;
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    const bool is_ln = name.find("ln_") != std::string::npos;
    if (is_ln) continue;  // LayerNorm keeps ones/zeros
    if (is_bias)
      nn::init::zeros_(t);
    else if (name.find("c_proj.weight") != std::string::npos)
      nn::init::normal_(t, 0.0, proj_std, gen);
    else
      nn::init::normal_(t, 0.0, 0.02, gen);
  }
}

Tensor GPT2::embed(const Tensor& idx, int64_t start_pos) {
  TERN_CHECK(idx.dim() == 2, "gpt2", "idx must be [B, T], got ", shape_str(idx.shape()));
  TERN_CHECK(idx.dtype() == kInt64 || idx.dtype() == kInt32, "gpt2", "idx must be i64 or i32, got ", idx.dtype());
  const int64_t T = idx.size(1);
  TERN_CHECK(start_pos + T <= config_.n_positions, "gpt2", "sequence of length ", start_pos + T,
             " exceeds n_positions ", config_.n_positions);
  Tensor pos = arange(static_cast<double>(start_pos), static_cast<double>(start_pos + T), 1.0,
                      {.dtype = kInt64, .device = idx.device()});
  Tensor x = add(child("wte")->forward(idx), child("wpe")->forward(pos));
  return child("drop")->forward(x);
}

Tensor GPT2::head(const Tensor& x) {
  auto* tied = dynamic_cast<nn::TiedEmbedding*>(child("wte").get());
  TERN_CHECK(tied, "gpt2", "wte (", child("wte")->type_name(), ") cannot serve as the tied lm_head");
  return tied->project(child("ln_f")->forward(x));
}

Output GPT2::forward(const Tensor& idx, const Tensor& targets) {
  Tensor x = embed(idx, 0);
  auto& h = child_as<nn::ModuleList>("h");
  for (size_t i = 0; i < h.size(); ++i) x = h[i]->forward(x);
  Output out{head(x), Tensor()};
  if (targets.defined()) {
    TERN_CHECK(targets.shape() == idx.shape(), "gpt2", "targets of shape ", shape_str(targets.shape()),
               " do not match idx of shape ", shape_str(idx.shape()));
    const int64_t V = out.logits.size(-1);
    out.loss = cross_entropy(out.logits.view({-1, V}), targets.reshape({-1}), -100);
  }
  return out;
}

Tensor GPT2::forward_cached(const Tensor& idx, std::vector<nn::KVCache>& caches) {
  auto& h = child_as<nn::ModuleList>("h");
  if (caches.size() != h.size()) caches.assign(h.size(), {});
  Tensor x = embed(idx, caches[0].length());
  for (size_t i = 0; i < h.size(); ++i) x = h.at<nn::Block>(i).forward(x, &caches[i]);
  return head(x);
}

int64_t sample_next(const float* logits, int64_t vocab, const GenerateOptions& opts, Generator& gen) {
  if (opts.temperature <= 0.0) return std::max_element(logits, logits + vocab) - logits;
  std::vector<int64_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  // Stable sort: ties keep the lower id first, so sampling is reproducible.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  int64_t keep = vocab;
  if (opts.top_k > 0) keep = std::min(keep, opts.top_k);
  std::vector<double> probs(keep);
  const double top = logits[order[0]] / opts.temperature;
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) total += probs[i] = std::exp(logits[order[i]] / opts.temperature - top);
  if (opts.top_p < 1.0) {
    double cum = 0;
    int64_t n = 0;
    while (n < keep) {
      cum += probs[n] / total;
      ++n;
      if (cum >= opts.top_p) break;
    }
    keep = std::max<int64_t>(n, 1);
    total = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  }
  double u = gen.uniform() * total;
  for (int64_t i = 0; i < keep; ++i) {
    u -= probs[i];
    if (u < 0) return order[i];
  }
  return order[keep - 1];
}

std::vector<int64_t> GPT2::generate(const std::vector<int64_t>& prompt, const GenerateOptions& opts,
                                    const std::function<void(int64_t)>& on_token) {
  TERN_CHECK(!prompt.empty(), "generate", "the prompt is empty");
  TERN_CHECK(opts.max_new_tokens >= 0, "generate", "max_new_tokens must be >= 0");
  TERN_CHECK(opts.temperature >= 0, "generate", "temperature must be >= 0, got ", opts.temperature);
  TERN_CHECK(opts.top_k >= 0, "generate", "top_k must be >= 0, got ", opts.top_k);
  TERN_CHECK(opts.top_p > 0 && opts.top_p <= 1, "generate", "top_p must be in (0, 1], got ", opts.top_p);
  for (auto t : prompt)
    TERN_CHECK(t >= 0 && t < config_.vocab_size, "generate", "prompt token ", t, " is outside the vocabulary of ",
               config_.vocab_size);
  NoGradGuard ng;
  const bool was_training = is_training();
  eval();
  Generator gen(opts.seed);
  std::vector<int64_t> seq = prompt;
  std::vector<nn::KVCache> caches;
  const int64_t block = config_.n_positions;
  // The prompt goes where the weights are (wte may be a packed table, so ask the parameters).
  const auto params = parameters();
  const Device device = params.empty() ? kCPU : params.front().device();
  auto ids = [device](const int64_t* p, int64_t n) {
    return from_vector(std::vector<int64_t>(p, p + n), {1, n}).to(device);
  };
  // Prefill with (the last block of) the prompt.
  int64_t ctx = std::min<int64_t>(static_cast<int64_t>(seq.size()), block);
  Tensor logits = forward_cached(ids(seq.data() + seq.size() - ctx, ctx), caches);
  for (int64_t step = 0; step < opts.max_new_tokens; ++step) {
    Tensor last = logits.select(1, logits.size(1) - 1).contiguous().to(kCPU).to(kFloat32);
    const int64_t next = sample_next(last.data_ptr<float>(), last.size(-1), opts, gen);
    seq.push_back(next);
    if (on_token) on_token(next);
    if (next == opts.stop_token || step + 1 == opts.max_new_tokens) break;
    if (caches[0].length() < block) {
      logits = forward_cached(ids(&seq.back(), 1), caches);
    } else {  // the window is full: slide it and recompute (nanoGPT crops the same way)
      caches.clear();
      logits = forward_cached(ids(seq.data() + seq.size() - block, block), caches);
    }
  }
  train(was_training);
  return seq;
}

void GPT2::resize_token_embeddings(int64_t n, Generator* gen) {
  TERN_CHECK(n > 0, "resize_token_embeddings", "vocabulary size must be positive, got ", n);
  NoGradGuard ng;
  Tensor w = wte();
  const int64_t old = w.size(0), keep = std::min(old, n);
  Tensor fresh = empty({n, config_.n_embd}, {.dtype = w.dtype(), .device = w.device()});
  nn::init::normal_(fresh, 0.0, 0.02, gen);
  fresh.narrow(0, 0, keep).copy_(w.narrow(0, 0, keep));
  w.set_data(fresh);
  config_.vocab_size = n;
}

}  // namespace tern::gpt2
