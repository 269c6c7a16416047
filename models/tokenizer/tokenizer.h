#pragma once
// The tokenizer interface shared by GPT-2's byte-level BPE and the char-level
// tokenizer, so that drivers can pick either at run time.
//
// Special tokens (GPT-2's "<|endoftext|>", or user additions such as "<think>"
// and "</think>") live in this base class. encode() first splits the text on them,
// leftmost match first and the longest one on a tie, so a special token is never
// split and never merged with its neighbours; the pieces between are handed to
// the concrete tokenizer. A special token that already is a single token of the
// base vocabulary keeps that id (GPT-2's "<|endoftext|>" is 50256); any other gets
// the next free id after the vocabulary (50257, 50258, ... for GPT-2).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tern {

// Token ids are i64, like the index tensors they feed.
using TokenId = int64_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Encodes valid UTF-8 (anything else is a tern::Error naming the byte offset),
  // recognising special tokens.
  std::vector<TokenId> encode(std::string_view text) const;
  // The same, but special-token text is encoded as ordinary text.
  std::vector<TokenId> encode_ordinary(std::string_view text) const;

  // The raw bytes of the tokens. A partial sequence (e.g. half of an emoji's
  // bytes, or a sampled run) may be invalid UTF-8; see utf8::replace_invalid
  // and utf8::incomplete_tail. An id outside [0, vocab_size()) is a tern::Error.
  std::string decode(std::span<const TokenId> ids) const;
  std::string decode(std::initializer_list<TokenId> ids) const {
    return decode(std::span<const TokenId>(ids.begin(), ids.size()));
  }
  // decode() that throws a tern::Error when the result is not valid UTF-8.
  std::string decode_utf8(std::span<const TokenId> ids) const;
  // The raw bytes of one token.
  std::string token_bytes(TokenId id) const;

  // Base vocabulary plus the added special tokens.
  int64_t vocab_size() const { return base_vocab_size() + static_cast<int64_t>(added_.size()); }
  virtual int64_t base_vocab_size() const = 0;

  // Registers special tokens (non-empty, valid UTF-8) and returns their ids;
  // adding a known special again returns its id.
  TokenId add_special_token(std::string_view text);
  std::vector<TokenId> add_special_tokens(const std::vector<std::string>& texts);
  std::optional<TokenId> special_token_id(std::string_view text) const;
  // All special tokens, in the order they were registered.
  struct Special {
    std::string text;
    TokenId id;
  };
  const std::vector<Special>& special_tokens() const { return specials_; }
  // The end-of-text token, where the tokenizer has one.
  virtual std::optional<TokenId> eot_id() const { return std::nullopt; }

  // "bpe" or "char".
  virtual std::string kind() const = 0;
  // A hash of everything that decides the ids: the kind, the vocabulary, the
  // merges and the special tokens. Token caches are keyed on it.
  uint64_t fingerprint() const;
  // A short filename-safe tag, e.g. "bpe-1a2b3c4d".
  std::string tag() const;

 protected:
  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = default;
  Tokenizer& operator=(const Tokenizer&) = default;

  // Encodes `text` (valid UTF-8, no special-token handling) and appends to `out`.
  virtual void encode_piece(std::string_view text, std::vector<TokenId>& out) const = 0;
  // Appends the bytes of base-vocabulary token `id` (already range-checked).
  virtual void append_base_bytes(TokenId id, std::string& out) const = 0;
  // The base-vocabulary id whose bytes are exactly `text`, if any.
  virtual std::optional<TokenId> base_token_id(std::string_view text) const = 0;
  // Hash of the base vocabulary (and merges), computed once at construction.
  virtual uint64_t base_fingerprint() const = 0;
  // For error messages, e.g. "gpt2 tokenizer".
  virtual const char* where() const = 0;

 private:
  void encode_impl(std::string_view text, bool special, std::vector<TokenId>& out) const;

  std::vector<Special> specials_;
  std::unordered_map<std::string, TokenId> special_ids_;
  std::vector<std::string> added_;  // texts of ids base_vocab_size() + i
  size_t max_special_len_ = 0;
};

// 64-bit FNV-1a, used for fingerprints and token-cache staleness checks.
uint64_t fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ull);

// The directory holding the tokenizer files and the default data set
// (gpt2/encoder.json, gpt2/vocab.bpe, tinyshakespeare/input.txt). In order:
// $TERN_DATA_DIR; the source tree's data/ when it exists; the installed
// <prefix>/share/tern/data.
std::string default_data_dir();

// A tokenizer by kind: "bpe" (GPT-2, from `path` = a directory with encoder.json
// and vocab.bpe, default default_data_dir()/gpt2) or "char" (from `path` = a vocab
// JSON saved by CharTokenizer::save, or a text file to build the vocabulary from;
// default: tinyshakespeare's input.txt).
std::unique_ptr<Tokenizer> make_tokenizer(std::string_view kind, const std::string& path = "");

}  // namespace tern
