#pragma once
// Helpers for the safetensors tests: crafting files byte by byte, and temporary paths.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <tern/core/io/safetensors.h>

namespace tern::iotest {

using Bytes = std::vector<uint8_t>;

inline void put_u64(Bytes& b, uint64_t n) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
}

// 8-byte length (of `header` unless `n` is given) + header + `data` bytes (0, 1, 2, ...).
inline Bytes file_of(std::string_view header, size_t data = 0) {
  Bytes b;
  put_u64(b, header.size());
  b.insert(b.end(), header.begin(), header.end());
  for (size_t i = 0; i < data; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}
inline Bytes file_with_length(uint64_t n, std::string_view rest) {
  Bytes b;
  put_u64(b, n);
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

inline io::SafetensorsFile parse(const Bytes& b) { return io::SafetensorsFile::from_bytes(b.data(), b.size()); }

// The error message of parsing `b`, or "" if it parsed.
inline std::string error_of(const Bytes& b) {
  try {
    parse(b);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Parsing must fail with a tern::Error "[<memory>] ..." that contains every one of `parts`.
#define EXPECT_REJECTED(bytes, ...)                                                       \
  do {                                                                                    \
    const std::string msg_ = ::tern::iotest::error_of(bytes);                             \
    ASSERT_FALSE(msg_.empty()) << "accepted a malformed file";                            \
    EXPECT_EQ(msg_.rfind("[<memory>] ", 0), 0u) << msg_;                                  \
    for (const char* part_ : {__VA_ARGS__}) EXPECT_NE(msg_.find(part_), std::string::npos) \
        << "expected '" << part_ << "' in: " << msg_;                                     \
  } while (0)

inline std::string fixture(const std::string& rel) { return std::string(TERN_SOURCE_DIR) + "/tests/fixtures/" + rel; }

inline Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// A fresh directory under the system temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tern_io_XXXXXX").string();
    const char* d = ::mkdtemp(tmpl.data());
    EXPECT_TRUE(d != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tern::iotest
