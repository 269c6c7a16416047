#pragma once
// GPT-2's byte-level BPE tokenizer (openai/gpt-2 encoder.py), read from
// encoder.json and vocab.bpe.
//
// encode: split on special tokens (see Tokenizer), then GPT-2's pre-tokenization
// regex
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (PCRE2 with UTF and Unicode properties, JIT-compiled where available; \s is
// spelled out as Unicode's White_Space set, as Python's `regex` module has it),
// then BPE on the UTF-8 bytes of each piece: merge the lowest-ranked adjacent pair
// of vocab.bpe, every occurrence left to right, until none applies. Results per
// piece are cached. The contractions are lowercase only: "'S" is not one.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <tern/models/tokenizer/tokenizer.h>

namespace tern {

class GPT2Tokenizer final : public Tokenizer {
 public:
  // From default_data_dir()/gpt2.
  GPT2Tokenizer();
  // A directory holding encoder.json and vocab.bpe (a Hugging Face vocab.json +
  // merges.txt pair is the same format; pass the files explicitly then).
  static GPT2Tokenizer from_dir(const std::string& dir);
  static GPT2Tokenizer from_files(const std::string& encoder_json, const std::string& vocab_bpe);

  std::string kind() const override { return "bpe"; }
  int64_t base_vocab_size() const override;
  // "<|endoftext|>", 50256 for GPT-2; registered as a special token on load.
  std::optional<TokenId> eot_id() const override { return eot_; }

  // The pieces GPT-2's regex splits `text` into (valid UTF-8, no special tokens).
  std::vector<std::string> pretokenize(std::string_view text) const;
  // BPE of one piece's bytes, without the cache.
  std::vector<TokenId> bpe(std::string_view piece) const;
  // The encoder.json key of a base-vocabulary id (bytes shown as GPT-2's
  // printable byte-to-unicode characters, e.g. "Ġthe").
  std::string token_string(TokenId id) const;
  // The id of an encoder.json key, if present.
  std::optional<TokenId> token_string_id(std::string_view s) const;

  // The piece -> ids cache. Each thread has its own (no locks), shared by copies
  // of this tokenizer; these two act on the calling thread's.
  size_t cache_size() const;
  void clear_cache() const;
  // Whether the heap-based O(n log n) merge loop is in use. It is exactly
  // equivalent to encoder.py's loop when every merge ranks after the merges that
  // create its two parts, which load() checks; otherwise the reference loop runs.
  bool uses_fast_bpe() const;
  // Test hook: force the reference O(n²) merge loop (true) or the fast one.
  void set_reference_bpe(bool on);

  struct Impl;

 protected:
  void encode_piece(std::string_view text, std::vector<TokenId>& out) const override;
  void append_base_bytes(TokenId id, std::string& out) const override;
  std::optional<TokenId> base_token_id(std::string_view text) const override;
  uint64_t base_fingerprint() const override;
  const char* where() const override { return "gpt2 tokenizer"; }

 private:
  explicit GPT2Tokenizer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
  std::optional<TokenId> eot_;
  bool reference_bpe_ = false;
};

}  // namespace tern
