#pragma once
// A character-level tokenizer, as in nanoGPT's shakespeare_char: the vocabulary
// is the sorted set of Unicode code points of a training text (65 for
// tinyshakespeare), and each code point is one token. A character outside the
// vocabulary is a tern::Error. Special tokens (Tokenizer) get ids after it.
//
// Saved as JSON:
//   {"type": "char", "version": 1,
//    "vocab": ["\n", " ", "!", ...],                 // id = index
//    "special_tokens": [{"text": "<think>", "id": 65}, ...]}

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tern/models/tokenizer/tokenizer.h>

namespace tern {

class CharTokenizer final : public Tokenizer {
 public:
  // Each entry one code point (valid UTF-8), all distinct; id = index.
  explicit CharTokenizer(std::vector<std::string> chars);
  // Vocabulary = the sorted unique code points of `text` (valid UTF-8, non-empty).
  static CharTokenizer from_text(std::string_view text);
  static CharTokenizer from_file(const std::string& text_path);

  std::string to_json() const;
  static CharTokenizer from_json(std::string_view json, const std::string& origin = "char tokenizer");
  // Atomic write (temp file + fsync + rename).
  void save(const std::string& path) const;
  static CharTokenizer load(const std::string& path);

  std::string kind() const override { return "char"; }
  int64_t base_vocab_size() const override { return static_cast<int64_t>(chars_.size()); }
  const std::vector<std::string>& chars() const { return chars_; }

 protected:
  void encode_piece(std::string_view text, std::vector<TokenId>& out) const override;
  void append_base_bytes(TokenId id, std::string& out) const override;
  std::optional<TokenId> base_token_id(std::string_view text) const override;
  uint64_t base_fingerprint() const override { return fingerprint_; }
  const char* where() const override { return "char tokenizer"; }

 private:
  std::vector<std::string> chars_;
  std::vector<int32_t> ascii_;  // id of each ASCII code point, -1 if absent
  std::unordered_map<char32_t, int32_t> other_;
  uint64_t fingerprint_ = 0;
};

}  // namespace tern
