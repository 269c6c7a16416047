#pragma once
// Writes a file so that readers see either the old file or the complete new one:
// data goes to "<path>.tmp.<pid>.<n>", is fsync'ed, renamed over `path`, and the
// directory is fsync'ed. Destroying an uncommitted AtomicFile removes the temp file.

#include <string>
#include <string_view>

namespace tern::data {

class AtomicFile {
 public:
  // `where` prefixes error messages, e.g. "data" or "char tokenizer".
  AtomicFile(std::string path, std::string where);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // fsync + rename + fsync of the directory. Throws tern::Error on failure.
  void commit();

 private:
  std::string path_, tmp_, where_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole of `bytes` into `path`, atomically.
void write_file_atomic(const std::string& path, std::string_view bytes, const std::string& where);

}  // namespace tern::data
