#include <tern/core/utf8.h>

#include <cstdio>

#include <tern/core/error.h>

namespace tern::utf8 {

namespace {
inline unsigned byte(std::string_view s, size_t i) { return static_cast<unsigned char>(s[i]); }
inline bool cont(unsigned b) { return (b & 0xC0u) == 0x80u; }
}  // namespace

size_t sequence_length(std::string_view s, size_t i) {
  const size_t n = s.size();
  if (i >= n) return 0;
  const unsigned b0 = byte(s, i);
  if (b0 < 0x80u) return 1;
  if (b0 < 0xC2u) return 0;  // continuation byte or overlong 2-byte lead
  if (b0 < 0xE0u) return (i + 1 < n && cont(byte(s, i + 1))) ? 2 : 0;
  if (b0 < 0xF0u) {
    if (i + 2 >= n) return 0;
    const unsigned b1 = byte(s, i + 1);
    if (!cont(b1) || !cont(byte(s, i + 2))) return 0;
    if (b0 == 0xE0u && b1 < 0xA0u) return 0;  // overlong
    if (b0 == 0xEDu && b1 >= 0xA0u) return 0;  // surrogates
    return 3;
  }
  if (b0 < 0xF5u) {
    if (i + 3 >= n) return 0;
    const unsigned b1 = byte(s, i + 1);
    if (!cont(b1) || !cont(byte(s, i + 2)) || !cont(byte(s, i + 3))) return 0;
    if (b0 == 0xF0u && b1 < 0x90u) return 0;  // overlong
    if (b0 == 0xF4u && b1 >= 0x90u) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

namespace {

// What is wrong with the sequence at s[i], where sequence_length() found none.
const char* invalid_reason(std::string_view s, size_t i) {
  const unsigned b0 = byte(s, i);
  if (cont(b0)) return "unexpected continuation byte";
  if (b0 < 0xC2u) return "overlong encoding";
  if (b0 >= 0xF5u) return "invalid byte (beyond U+10FFFF)";
  const size_t len = b0 < 0xE0u ? 2 : b0 < 0xF0u ? 3 : 4;
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) return "truncated multi-byte sequence";
    if (!cont(byte(s, i + k))) return "invalid continuation byte";
  }
  const unsigned b1 = byte(s, i + 1);
  if ((b0 == 0xE0u && b1 < 0xA0u) || (b0 == 0xF0u && b1 < 0x90u)) return "overlong encoding";
  if (b0 == 0xEDu) return "encoded UTF-16 surrogate";
  return "code point beyond U+10FFFF";
}

}  // namespace

bool is_valid(std::string_view s, size_t* error_offset, const char** why) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    const size_t len = sequence_length(s, i);
    if (len == 0) {
      if (error_offset) *error_offset = i;
      if (why) *why = invalid_reason(s, i);
      return false;
    }
    i += len;
  }
  return true;
}

void check_valid(std::string_view s, std::string_view where) {
  size_t at = 0;
  if (is_valid(s, &at)) return;
  std::string bytes;
  // The offending lead byte and the continuation bytes after it.
  for (size_t k = at; k < s.size() && k < at + 4 && (k == at || cont(byte(s, k))); ++k) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%s0x%02X", k == at ? "" : " ", byte(s, k));
    bytes += buf;
  }
  TERN_FAIL(where, "invalid UTF-8 at byte ", at, " (bytes: ", bytes, ")");
}

char32_t decode_at(std::string_view s, size_t i, size_t* length) {
  const size_t len = sequence_length(s, i);
  if (length) *length = len;
  const unsigned b0 = byte(s, i);
  switch (len) {
    case 1: return b0;
    case 2: return ((b0 & 0x1Fu) << 6) | (byte(s, i + 1) & 0x3Fu);
    case 3:
      return ((b0 & 0x0Fu) << 12) | ((byte(s, i + 1) & 0x3Fu) << 6) | (byte(s, i + 2) & 0x3Fu);
    case 4:
      return ((b0 & 0x07u) << 18) | ((byte(s, i + 1) & 0x3Fu) << 12) |
             ((byte(s, i + 2) & 0x3Fu) << 6) | (byte(s, i + 3) & 0x3Fu);
    default: return 0xFFFD;
  }
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string replace_invalid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = sequence_length(s, i);
    if (len) {
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    // Skip the maximal prefix of a would-be sequence (one U+FFFD per maximal
    // subpart, as the Unicode standard recommends): the lead byte plus any
    // continuation bytes that could still belong to it.
    size_t j = i + 1;
    const unsigned b0 = byte(s, i);
    const size_t want = b0 >= 0xF0u ? 4 : b0 >= 0xE0u ? 3 : b0 >= 0xC2u ? 2 : 1;
    while (j < s.size() && j < i + want && cont(byte(s, j))) {
      // Stop where the prefix itself becomes impossible (overlong/surrogate/range).
      if (j == i + 1) {
        const unsigned b1 = byte(s, j);
        if ((b0 == 0xE0u && b1 < 0xA0u) || (b0 == 0xEDu && b1 >= 0xA0u) ||
            (b0 == 0xF0u && b1 < 0x90u) || (b0 == 0xF4u && b1 >= 0x90u) || b0 > 0xF4u)
          break;
      }
      ++j;
    }
    out += "\xEF\xBF\xBD";
    i = j;
  }
  return out;
}

size_t incomplete_tail(std::string_view s) {
  const size_t n = s.size();
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned b = byte(s, n - back);
    if (cont(b)) continue;
    const size_t want = b >= 0xF0u ? 4 : b >= 0xE0u ? 3 : b >= 0xC0u ? 2 : 1;
    if (want <= back) return 0;
    // Check the bytes present are a valid prefix: pad with the smallest continuation
    // bytes that keep it valid and test.
    std::string probe(s.substr(n - back));
    for (size_t k = back; k < want; ++k) probe += static_cast<char>(0xBF);
    std::string probe2(s.substr(n - back));
    for (size_t k = back; k < want; ++k) probe2 += static_cast<char>(0x80);
    if (sequence_length(probe, 0) == want || sequence_length(probe2, 0) == want) return back;
    return 0;
  }
  return 0;
}

std::string codepoint_name(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

}  // namespace tern::utf8
