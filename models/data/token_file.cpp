#include <tern/models/data/token_file.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <vector>

#include <tern/core/error.h>
#include <tern/core/io/file.h>

namespace tern::data {

static_assert(std::endian::native == std::endian::little, "the token file format is little-endian");

void write_token_file(const std::string& path, std::span<const TokenId> tokens, const TokenSource& source) {
  TERN_CHECK(source.vocab_size > 0 && source.vocab_size <= (int64_t{1} << 32), path, "vocab size ",
             source.vocab_size, " does not fit the token file format");
  const uint32_t width = source.vocab_size <= 65536 ? 2 : 4;
  std::vector<char> payload(tokens.size() * width);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const TokenId t = tokens[i];
    TERN_CHECK(t >= 0 && t < source.vocab_size, path, "token ", t, " at position ", i, " is outside [0, ",
               source.vocab_size, ")");
    if (width == 2) {
      const uint16_t v = static_cast<uint16_t>(t);
      std::memcpy(payload.data() + i * 2, &v, 2);
    } else {
      const uint32_t v = static_cast<uint32_t>(t);
      std::memcpy(payload.data() + i * 4, &v, 4);
    }
  }
  TokenFileHeader h{};
  std::memcpy(h.magic, kTokenFileMagic, 8);
  h.version = kTokenFileVersion;
  h.token_bytes = width;
  h.vocab_size = static_cast<uint64_t>(source.vocab_size);
  h.token_count = tokens.size();
  h.source_bytes = source.source_bytes;
  h.source_hash = source.source_hash;
  h.tokenizer_fingerprint = source.tokenizer_fingerprint;
  h.payload_hash = fnv1a64(std::string_view(payload.data(), payload.size()));
  io::AtomicFile f(path, path);
  f.write(&h, sizeof h);
  f.write(payload.data(), payload.size());
  f.commit();
}

TokenFile TokenFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TERN_CHECK(fd >= 0, path, "cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    TERN_FAIL(path, "cannot stat: ", std::strerror(e));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < kTokenFileHeaderBytes) {
    ::close(fd);
    TERN_FAIL(path, "truncated token file: ", size, " bytes, shorter than its 64-byte header");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);
  TERN_CHECK(p != MAP_FAILED, path, "cannot mmap: ", std::strerror(e));
  TokenFile tf;
  tf.mapping_ = std::shared_ptr<const void>(p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  std::memcpy(&tf.header_, p, sizeof tf.header_);
  const TokenFileHeader& h = tf.header_;
  TERN_CHECK(std::memcmp(h.magic, kTokenFileMagic, 8) == 0, path, "not a tern token file (bad magic)");
  TERN_CHECK(h.version == kTokenFileVersion, path, "unsupported token file version ", h.version, " (expected ",
             kTokenFileVersion, ")");
  TERN_CHECK(h.token_bytes == 2 || h.token_bytes == 4, path, "bad token width ", h.token_bytes);
  TERN_CHECK(h.token_count <= (size - kTokenFileHeaderBytes) / h.token_bytes &&
                 kTokenFileHeaderBytes + h.token_count * h.token_bytes == size,
             path, "size ", size, " does not match ", h.token_count, " tokens of ", h.token_bytes, " bytes");
  tf.data_ = static_cast<const char*>(p) + kTokenFileHeaderBytes;
  TERN_CHECK(fnv1a64(std::string_view(static_cast<const char*>(tf.data_), size - kTokenFileHeaderBytes)) ==
                 h.payload_hash,
             path, "token payload is corrupt (hash mismatch)");
  if (h.token_bytes == 2 && h.vocab_size < 65536) {
    const auto* d = static_cast<const uint16_t*>(tf.data_);
    for (uint64_t i = 0; i < h.token_count; ++i)
      TERN_CHECK(d[i] < h.vocab_size, path, "token ", d[i], " at ", i, " is outside the vocabulary");
  } else if (h.token_bytes == 4) {
    const auto* d = static_cast<const uint32_t*>(tf.data_);
    for (uint64_t i = 0; i < h.token_count; ++i)
      TERN_CHECK(d[i] < h.vocab_size, path, "token ", d[i], " at ", i, " is outside the vocabulary");
  }
  return tf;
}

bool TokenFile::matches(const TokenSource& s) const {
  return header_.source_bytes == s.source_bytes && header_.source_hash == s.source_hash &&
         header_.tokenizer_fingerprint == s.tokenizer_fingerprint &&
         header_.vocab_size == static_cast<uint64_t>(s.vocab_size);
}

}  // namespace tern::data
