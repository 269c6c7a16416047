#pragma once
// A tokenized text data set with nanoGPT's batching.
//
//   GPT2Tokenizer tok;
//   auto ds = data::TextDataset::load(default_data_dir() + "/tinyshakespeare/input.txt", tok);
//   Generator gen(1337);
//   auto [x, y] = ds.get_batch(data::Split::train, 12, 64, gen);  // i64 [12, 64] each
//
// load() tokenizes the file once and keeps the tokens in a cache file (format in
// token_file.h) next to it; later loads map that file instead, unless the text or
// the tokenizer changed. The first floor(0.9·N) tokens are the train split, the
// rest val. get_batch draws `batch` offsets uniformly from [0, len - block - 1]
// (like nanoGPT's torch.randint(len(data) - block_size, ...)); x = data[i : i+block],
// y = data[i+1 : i+1+block]. The same generator state gives the same batch.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tern/core/generator.h>
#include <tern/core/tensor.h>
#include <tern/models/tokenizer/tokenizer.h>

namespace tern::data {

enum class Split { train, val };
const char* split_name(Split s);

struct Batch {
  Tensor x;  // i64 [B, T]
  Tensor y;  // i64 [B, T], x shifted left by one
};

struct TextDatasetOptions {
  double train_fraction = 0.9;  // in (0, 1]
  // Where the token cache lives. Empty: "<text path>.<tokenizer.tag()>.tokens".
  std::string cache_path;
  // false: tokenize in memory and neither read nor write a cache.
  bool use_cache = true;
  // true: text that spells a special token (<|endoftext|>, an added <think>) becomes that token, as Hugging
  // Face's tokenizer does; false: it is ordinary text (tiktoken's encode_ordinary), for data that merely
  // contains the string. The two keep separate caches.
  bool special_tokens = true;
};

// How load() got its tokens.
enum class CacheStatus {
  hit,          // a fresh cache file was mapped
  built,        // tokenized; the cache file was (re)written
  unwritable,   // tokenized; the cache file could not be written (see cache_message())
  disabled,     // tokenized; use_cache was false
  in_memory,    // from_tokens()
};

// Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method).
uint64_t random_below(Generator& gen, uint64_t n);

// A cheap, shared handle.
class TextDataset {
 public:
  static TextDataset load(const std::string& text_path, const Tokenizer& tokenizer, TextDatasetOptions opts = {});
  static TextDataset from_tokens(std::vector<TokenId> tokens, int64_t vocab_size, double train_fraction = 0.9);

  int64_t size() const;  // all tokens
  int64_t size(Split split) const;
  int64_t vocab_size() const;
  TokenId token(Split split, int64_t i) const;
  // The split's tokens as an i64 1-D tensor (a copy).
  Tensor tokens(Split split) const;

  // x, y: i64 [batch, block] on `device`. Needs size(split) >= block + 1.
  Batch get_batch(Split split, int64_t batch, int64_t block, Generator& gen, Device device = kCPU) const;

  // Special tokens in the data (0 when loaded with special_tokens = false).
  int64_t special_count() const;

  CacheStatus cache_status() const;
  const std::string& cache_path() const;
  // Why the cache was rebuilt or not written ("" when it was a hit).
  const std::string& cache_message() const;

  struct Impl;

 private:
  explicit TextDataset(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Random batches from one split with their own generator, so that a training run
// can checkpoint and resume the exact batch sequence:
//   BatchSampler s(ds, Split::train, 12, 64, /*seed=*/1337);
//   auto b = s.next();  ...  std::string st = s.state();
//   BatchSampler r(ds, Split::train, 12, 64, 0); r.set_state(st);  // r.next() == s.next()
class BatchSampler {
 public:
  BatchSampler(TextDataset dataset, Split split, int64_t batch, int64_t block, uint64_t seed);
  Batch next(Device device = kCPU);
  int64_t step() const { return step_; }  // batches drawn so far
  Generator& generator() { return gen_; }
  // One line of text: format version, split, batch, block, step and the generator state.
  std::string state() const;
  // Throws tern::Error when `state` is malformed or was saved for another split,
  // batch or block size.
  void set_state(const std::string& state);

 private:
  TextDataset dataset_;
  Split split_;
  int64_t batch_, block_;
  Generator gen_;
  int64_t step_ = 0;
};

}  // namespace tern::data
