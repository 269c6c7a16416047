#include <tern/models/data/atomic_file.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <tern/core/error.h>

namespace tern::data {

namespace {
std::atomic<unsigned> g_counter{0};
}

AtomicFile::AtomicFile(std::string path, std::string where) : path_(std::move(path)), where_(std::move(where)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TERN_CHECK(fd_ >= 0, where_, "cannot create ", tmp_, ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  TERN_CHECK(fd_ >= 0 && !committed_, where_, "write to a closed file ", path_);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    TERN_CHECK(w > 0, where_, "cannot write ", tmp_, ": ", std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  TERN_CHECK(fd_ >= 0 && !committed_, where_, "commit of a closed file ", path_);
  TERN_CHECK(::fsync(fd_) == 0, where_, "cannot fsync ", tmp_, ": ", std::strerror(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  TERN_CHECK(rc == 0, where_, "cannot close ", tmp_, ": ", std::strerror(errno));
  TERN_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, where_, "cannot rename ", tmp_, " to ", path_, ": ",
             std::strerror(errno));
  committed_ = true;
  // Make the rename itself durable. Failure here is not an error for the caller.
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes, const std::string& where) {
  AtomicFile f(path, where);
  f.write(bytes);
  f.commit();
}

}  // namespace tern::data
