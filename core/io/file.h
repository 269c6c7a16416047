#pragma once
// Whole files in and out: read_file, and writes that readers see either not at all or complete.
//
// An atomic write goes to a hidden temporary file beside the target (".<name>.tmp-XXXXXX"), which is fsync'ed,
// renamed over the target, and the directory fsync'ed. A symlink target is written through, not replaced, and a
// replaced file keeps its permission bits (a new one gets 0666 minus the umask). Destroying an uncommitted
// AtomicFile removes the temporary file.

#include <cstddef>
#include <string>
#include <string_view>

namespace tern::io {

// The bytes of `path`. Throws tern::Error "[where] cannot open <path>: <reason>" or "cannot read".
std::string read_file(const std::string& path, std::string_view where);

class AtomicFile {
 public:
  // `where` prefixes error messages, e.g. the path or "char tokenizer".
  AtomicFile(std::string path, std::string where);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Small writes are buffered; large ones go straight to the file.
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Flush, fsync, rename over the target, fsync the directory. Throws tern::Error on failure.
  void commit();

 private:
  void write_all(const void* data, size_t n);
  void flush();

  std::string path_, target_, dir_, tmp_, where_;
  std::string buf_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole of `bytes` into `path`, atomically.
void write_file_atomic(const std::string& path, std::string_view bytes, const std::string& where);

}  // namespace tern::io
