#include <tern/models/tokenizer/tokenizer.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <tern/core/error.h>
#include <tern/models/tokenizer/char_tokenizer.h>
#include <tern/models/tokenizer/gpt2_tokenizer.h>
#include <tern/core/utf8.h>

#ifndef TERN_SOURCE_DATA_DIR
#define TERN_SOURCE_DATA_DIR ""
#endif
#ifndef TERN_INSTALL_DATA_DIR
#define TERN_INSTALL_DATA_DIR ""
#endif

namespace tern {

uint64_t fnv1a64(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text) const {
  std::vector<TokenId> out;
  encode_impl(text, true, out);
  return out;
}

std::vector<TokenId> Tokenizer::encode_ordinary(std::string_view text) const {
  std::vector<TokenId> out;
  encode_impl(text, false, out);
  return out;
}

void Tokenizer::encode_impl(std::string_view text, bool special, std::vector<TokenId>& out) const {
  utf8::check_valid(text, where());
  out.reserve(out.size() + text.size() / 4 + 1);
  if (!special || specials_.empty()) {
    encode_piece(text, out);
    return;
  }
  // Next occurrence of each special token at or after `pos` (npos when none).
  // Both the text and the specials are valid UTF-8, so every match sits on code
  // point boundaries and the pieces between stay valid.
  const size_t k = specials_.size();
  std::vector<size_t> next(k);
  for (size_t s = 0; s < k; ++s) next[s] = text.find(specials_[s].text, 0);
  size_t pos = 0;
  while (true) {
    size_t best = std::string_view::npos;
    size_t best_len = 0;
    TokenId best_id = -1;
    for (size_t s = 0; s < k; ++s) {
      if (next[s] != std::string_view::npos && next[s] < pos) next[s] = text.find(specials_[s].text, pos);
      const size_t at = next[s];
      if (at == std::string_view::npos) continue;
      const size_t len = specials_[s].text.size();
      if (at < best || (at == best && len > best_len)) {
        best = at;
        best_len = len;
        best_id = specials_[s].id;
      }
    }
    if (best == std::string_view::npos) break;
    if (best > pos) encode_piece(text.substr(pos, best - pos), out);
    out.push_back(best_id);
    pos = best + best_len;
  }
  if (pos < text.size()) encode_piece(text.substr(pos), out);
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  const int64_t base = base_vocab_size();
  const int64_t total = vocab_size();
  for (size_t i = 0; i < ids.size(); ++i) {
    const TokenId id = ids[i];
    TERN_CHECK(id >= 0 && id < total, where(), "token id ", id, " at position ", i,
               " is outside the vocabulary [0, ", total, ")");
    if (id < base)
      append_base_bytes(id, out);
    else
      out += added_[static_cast<size_t>(id - base)];
  }
  return out;
}

std::string Tokenizer::decode_utf8(std::span<const TokenId> ids) const {
  std::string s = decode(ids);
  utf8::check_valid(s, where());
  return s;
}

std::string Tokenizer::token_bytes(TokenId id) const {
  const TokenId one[1] = {id};
  return decode(std::span<const TokenId>(one, 1));
}

TokenId Tokenizer::add_special_token(std::string_view text) {
  TERN_CHECK(!text.empty(), where(), "a special token cannot be empty");
  utf8::check_valid(text, where());
  if (auto it = special_ids_.find(std::string(text)); it != special_ids_.end()) return it->second;
  TokenId id;
  if (auto base = base_token_id(text)) {
    id = *base;
  } else {
    id = vocab_size();
    added_.emplace_back(text);
  }
  specials_.push_back({std::string(text), id});
  special_ids_.emplace(std::string(text), id);
  max_special_len_ = std::max(max_special_len_, text.size());
  return id;
}

std::vector<TokenId> Tokenizer::add_special_tokens(const std::vector<std::string>& texts) {
  std::vector<TokenId> ids;
  ids.reserve(texts.size());
  for (const auto& t : texts) ids.push_back(add_special_token(t));
  return ids;
}

std::optional<TokenId> Tokenizer::special_token_id(std::string_view text) const {
  auto it = special_ids_.find(std::string(text));
  if (it == special_ids_.end()) return std::nullopt;
  return it->second;
}

uint64_t Tokenizer::fingerprint() const {
  uint64_t h = fnv1a64(kind());
  const uint64_t b = base_fingerprint();
  h = fnv1a64(std::string_view(reinterpret_cast<const char*>(&b), sizeof b), h);
  for (const auto& s : specials_) {
    h = fnv1a64(s.text, h);
    h = fnv1a64(std::string_view(reinterpret_cast<const char*>(&s.id), sizeof s.id), h);
    h = fnv1a64(std::string_view("\0", 1), h);
  }
  return h;
}

std::string Tokenizer::tag() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%08x", static_cast<unsigned>(fingerprint() >> 32));
  return kind() + buf;
}

std::string default_data_dir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("TERN_DATA_DIR"); env && *env) return env;
  std::error_code ec;
  for (const char* dir : {TERN_SOURCE_DATA_DIR, TERN_INSTALL_DATA_DIR})
    if (*dir && fs::is_directory(dir, ec)) return dir;
  return *TERN_SOURCE_DATA_DIR ? TERN_SOURCE_DATA_DIR : "data";
}

std::unique_ptr<Tokenizer> make_tokenizer(std::string_view kind, const std::string& path) {
  if (kind == "bpe" || kind == "gpt2")
    return std::make_unique<GPT2Tokenizer>(
        path.empty() ? GPT2Tokenizer::from_dir(default_data_dir() + "/gpt2") : GPT2Tokenizer::from_dir(path));
  if (kind == "char") {
    const std::string p = path.empty() ? default_data_dir() + "/tinyshakespeare/input.txt" : path;
    if (p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0)
      return std::make_unique<CharTokenizer>(CharTokenizer::load(p));
    return std::make_unique<CharTokenizer>(CharTokenizer::from_file(p));
  }
  TERN_FAIL("tokenizer", "unknown tokenizer kind '", kind, "' (expected bpe or char)");
}

}  // namespace tern
