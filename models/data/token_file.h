#pragma once
// The token cache file: a text file tokenized once, stored next to it as
// "<text>.<tokenizer tag>.tokens" (e.g. input.txt.bpe-1a2b3c4d.tokens).
//
// Format, version 1. All integers little-endian; the header is 64 bytes.
//   offset  size  field
//        0     8  magic "TERNTOK1"
//        8     4  u32 version (1)
//       12     4  u32 bytes per token: 2 (u16, when vocab_size <= 65536) or 4 (u32)
//       16     8  u64 vocab_size of the tokenizer
//       24     8  u64 token_count
//       32     8  u64 source_bytes: the size of the text file
//       40     8  u64 source_hash: FNV-1a 64 of the text file's bytes
//       48     8  u64 tokenizer fingerprint (Tokenizer::fingerprint(): kind, vocabulary,
//                 merges and special tokens)
//       56     8  u64 payload_hash: FNV-1a 64 of the token bytes that follow
//       64     -  token_count tokens
// A cache whose source size, source hash or tokenizer fingerprint differs from
// the current ones is stale and is rebuilt. Files are written atomically (temp
// file, fsync, rename), so a reader never sees a partial file.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <tern/models/tokenizer/tokenizer.h>

namespace tern::data {

inline constexpr char kTokenFileMagic[8] = {'T', 'E', 'R', 'N', 'T', 'O', 'K', '1'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 64;

struct TokenFileHeader {
  char magic[8];
  uint32_t version;
  uint32_t token_bytes;
  uint64_t vocab_size;
  uint64_t token_count;
  uint64_t source_bytes;
  uint64_t source_hash;
  uint64_t tokenizer_fingerprint;
  uint64_t payload_hash;
};
static_assert(sizeof(TokenFileHeader) == kTokenFileHeaderBytes);

// What identifies the tokens' origin; a cache is fresh when all of it matches.
struct TokenSource {
  uint64_t source_bytes = 0;
  uint64_t source_hash = 0;
  uint64_t tokenizer_fingerprint = 0;
  int64_t vocab_size = 0;
};

// Writes `tokens` (each in [0, vocab_size)) atomically.
void write_token_file(const std::string& path, std::span<const TokenId> tokens, const TokenSource& source);

// A read-only view of a token file, memory-mapped. Cheap to copy (shared mapping).
class TokenFile {
 public:
  // Throws tern::Error "[<path>] ..." when the file is missing, truncated or malformed
  // (bad magic, version, sizes or payload hash).
  static TokenFile open(const std::string& path);

  const TokenFileHeader& header() const { return header_; }
  int64_t size() const { return static_cast<int64_t>(header_.token_count); }
  uint32_t token_bytes() const { return header_.token_bytes; }
  const void* data() const { return data_; }
  TokenId operator[](int64_t i) const {
    return header_.token_bytes == 2 ? static_cast<const uint16_t*>(data_)[i] : static_cast<const uint32_t*>(data_)[i];
  }
  // True when the header matches `source`.
  bool matches(const TokenSource& source) const;

 private:
  TokenFileHeader header_{};
  std::shared_ptr<const void> mapping_;
  const void* data_ = nullptr;
};

}  // namespace tern::data
