#pragma once
// UTF-8, for the safetensors header and the tokenizers: strict validation (no overlong forms,
// no surrogates, nothing above U+10FFFF), code-point iteration and a lossy repair
// for showing partial decodes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::utf8 {

// Length of the valid sequence starting at s[i], or 0 if none starts there.
size_t sequence_length(std::string_view s, size_t i);

// True when `s` is entirely valid UTF-8. On failure `error_offset` (if given) gets
// the byte offset of the first invalid sequence, and `why` (if given) what is wrong
// with it ("overlong encoding", "truncated multi-byte sequence", ...).
bool is_valid(std::string_view s, size_t* error_offset = nullptr, const char** why = nullptr);

// Throws tern::Error "[where] invalid UTF-8 at byte N (bytes: 0x..)" if `s` is not valid.
void check_valid(std::string_view s, std::string_view where);

// Decodes the code point of the valid sequence at s[i] (caller checked validity).
char32_t decode_at(std::string_view s, size_t i, size_t* length);

// Appends the UTF-8 encoding of `cp` (must be a scalar value).
void append(std::string& out, char32_t cp);

// Replaces each invalid sequence by U+FFFD, like Python's errors="replace".
std::string replace_invalid(std::string_view s);

// Bytes at the end of `s` that start a valid but incomplete sequence (0..3).
// A streaming decoder prints s minus these and waits for more tokens.
size_t incomplete_tail(std::string_view s);

// "U+00E9" style name of a code point, for messages.
std::string codepoint_name(char32_t cp);

}  // namespace tern::utf8
