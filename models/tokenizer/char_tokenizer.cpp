#include <tern/models/tokenizer/char_tokenizer.h>

#include <algorithm>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/core/io/file.h>
#include <tern/core/utf8.h>

namespace tern {

namespace {
constexpr const char* kWhere = "char tokenizer";

}  // namespace

CharTokenizer::CharTokenizer(std::vector<std::string> chars) : chars_(std::move(chars)), ascii_(128, -1) {
  TERN_CHECK(!chars_.empty(), kWhere, "the vocabulary is empty");
  uint64_t h = fnv1a64("char");
  for (size_t id = 0; id < chars_.size(); ++id) {
    const std::string& c = chars_[id];
    TERN_CHECK(!c.empty() && utf8::sequence_length(c, 0) == c.size(), kWhere, "vocabulary entry ", id,
               " is not exactly one UTF-8 character");
    const char32_t cp = utf8::decode_at(c, 0, nullptr);
    const bool fresh = cp < 128 ? ascii_[cp] < 0 : !other_.contains(cp);
    TERN_CHECK(fresh, kWhere, "vocabulary entry ", id, " (", utf8::codepoint_name(cp), ") appears twice");
    if (cp < 128)
      ascii_[cp] = static_cast<int32_t>(id);
    else
      other_.emplace(cp, static_cast<int32_t>(id));
    h = fnv1a64(c, h);
    h = fnv1a64(std::string_view("\0", 1), h);
  }
  fingerprint_ = h;
}

CharTokenizer CharTokenizer::from_text(std::string_view text) {
  utf8::check_valid(text, kWhere);
  TERN_CHECK(!text.empty(), kWhere, "cannot build a vocabulary from empty text");
  std::vector<bool> ascii(128, false);
  std::set<char32_t> other;
  for (size_t i = 0; i < text.size();) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ascii[b] = true;
      ++i;
      continue;
    }
    size_t len = 0;
    other.insert(utf8::decode_at(text, i, &len));
    i += len;
  }
  std::vector<std::string> chars;
  for (char32_t c = 0; c < 128; ++c)
    if (ascii[c]) chars.emplace_back(1, static_cast<char>(c));
  for (char32_t c : other) {
    std::string s;
    utf8::append(s, c);
    chars.push_back(std::move(s));
  }
  return CharTokenizer(std::move(chars));
}

CharTokenizer CharTokenizer::from_file(const std::string& text_path) {
  const std::string text = io::read_file(text_path, kWhere);
  size_t at = 0;
  TERN_CHECK(utf8::is_valid(text, &at), kWhere, text_path, ": invalid UTF-8 at byte ", at);
  TERN_CHECK(!text.empty(), kWhere, text_path, " is empty");
  return from_text(text);
}

std::string CharTokenizer::to_json() const {
  nlohmann::json j;
  j["type"] = "char";
  j["version"] = 1;
  j["vocab"] = chars_;
  nlohmann::json specials = nlohmann::json::array();
  for (const auto& s : special_tokens()) specials.push_back({{"text", s.text}, {"id", s.id}});
  j["special_tokens"] = std::move(specials);
  return j.dump(1) + "\n";
}

CharTokenizer CharTokenizer::from_json(std::string_view json, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    TERN_FAIL(kWhere, origin, ": not valid JSON: ", e.what());
  }
  TERN_CHECK(j.is_object() && j.value("type", "") == "char", kWhere, origin,
             ": not a char tokenizer vocabulary (expected \"type\": \"char\")");
  TERN_CHECK(j.value("version", 0) == 1, kWhere, origin, ": unsupported version ", j.value("version", 0));
  TERN_CHECK(j.contains("vocab") && j["vocab"].is_array(), kWhere, origin, ": \"vocab\" must be an array");
  std::vector<std::string> chars;
  for (const auto& c : j["vocab"]) {
    TERN_CHECK(c.is_string(), kWhere, origin, ": \"vocab\" entries must be strings");
    chars.push_back(c.get<std::string>());
  }
  CharTokenizer tok(std::move(chars));
  if (j.contains("special_tokens")) {
    TERN_CHECK(j["special_tokens"].is_array(), kWhere, origin, ": \"special_tokens\" must be an array");
    for (const auto& s : j["special_tokens"]) {
      TERN_CHECK(s.is_object() && s.contains("text") && s["text"].is_string() && s.contains("id") &&
                     s["id"].is_number_integer(),
                 kWhere, origin, ": each special token needs \"text\" and \"id\"");
      const TokenId id = tok.add_special_token(s["text"].get<std::string>());
      TERN_CHECK(id == s["id"].get<TokenId>(), kWhere, origin, ": special token \"", s["text"].get<std::string>(),
                 "\" has id ", s["id"].get<TokenId>(), " but gets ", id, " from the vocabulary");
    }
  }
  return tok;
}

void CharTokenizer::save(const std::string& path) const { io::write_file_atomic(path, to_json(), kWhere); }

CharTokenizer CharTokenizer::load(const std::string& path) { return from_json(io::read_file(path, kWhere), path); }

void CharTokenizer::encode_piece(std::string_view text, std::vector<TokenId>& out) const {
  for (size_t i = 0; i < text.size();) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    int32_t id = -1;
    size_t len = 1;
    char32_t cp = b;
    if (b < 0x80) {
      id = ascii_[b];
    } else {
      cp = utf8::decode_at(text, i, &len);
      if (auto it = other_.find(cp); it != other_.end()) id = it->second;
    }
    if (id < 0) {
      std::string shown;
      if (cp >= 0x20 && cp != 0x7F) utf8::append(shown, cp);
      TERN_FAIL(kWhere, "character ", utf8::codepoint_name(cp), shown.empty() ? "" : " '", shown,
                shown.empty() ? "" : "'", " at byte ", i, " is not in the vocabulary (", chars_.size(),
                " characters)");
    }
    out.push_back(id);
    i += len;
  }
}

void CharTokenizer::append_base_bytes(TokenId id, std::string& out) const { out += chars_[id]; }

std::optional<TokenId> CharTokenizer::base_token_id(std::string_view text) const {
  if (text.empty() || utf8::sequence_length(text, 0) != text.size()) return std::nullopt;
  const char32_t cp = utf8::decode_at(text, 0, nullptr);
  if (cp < 128) {
    if (ascii_[cp] >= 0) return ascii_[cp];
    return std::nullopt;
  }
  auto it = other_.find(cp);
  if (it == other_.end()) return std::nullopt;
  return it->second;
}

}  // namespace tern
