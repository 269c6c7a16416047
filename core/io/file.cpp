#include <tern/core/io/file.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <tern/core/error.h>

namespace tern::io {

std::string read_file(const std::string& path, std::string_view where) {
  std::ifstream f(path, std::ios::binary);
  TERN_CHECK(f, where, "cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  TERN_CHECK(!f.bad(), where, "cannot read ", path);
  return std::move(ss).str();
}

namespace {

constexpr size_t kBuffer = size_t{1} << 20;

// The mode a new file gets: the target's, if it exists, else 0666 minus the umask (read without changing it,
// which umask(2) cannot do).
mode_t new_file_mode(const std::string& target) {
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) return st.st_mode & 07777;
  mode_t mask = 022;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0) {
      mask = static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
      break;
    }
  return 0666 & ~mask;
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string where) : path_(std::move(path)), where_(std::move(where)) {
  target_ = path_;
  struct stat lst {};
  if (::lstat(path_.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    if (char* real = ::realpath(path_.c_str(), nullptr)) {
      target_ = real;
      std::free(real);
    }
  }
  const size_t slash = target_.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : target_.substr(0, slash);
  const std::string base = slash == std::string::npos ? target_ : target_.substr(slash + 1);
  TERN_CHECK(!base.empty(), where_, "cannot write ", path_, ": not a file name");
  tmp_ = dir_ + "/." + base + ".tmp-XXXXXX";
  fd_ = ::mkostemp(tmp_.data(), O_CLOEXEC);
  TERN_CHECK(fd_ >= 0, where_, "cannot create a temporary file in '", dir_, "': ", std::strerror(errno));
  ::fchmod(fd_, new_file_mode(target_));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write_all(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    TERN_CHECK(w > 0, where_, "cannot write ", path_, ": ", std::strerror(w < 0 ? errno : ENOSPC));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::flush() {
  write_all(buf_.data(), buf_.size());
  buf_.clear();
}

void AtomicFile::write(const void* data, size_t n) {
  TERN_CHECK(fd_ >= 0 && !committed_, where_, "write to a closed file ", path_);
  if (buf_.size() + n <= kBuffer) {
    if (buf_.capacity() < kBuffer) buf_.reserve(kBuffer);
    buf_.append(static_cast<const char*>(data), n);
    return;
  }
  flush();
  if (n < kBuffer)
    buf_.append(static_cast<const char*>(data), n);
  else
    write_all(data, n);
}

void AtomicFile::commit() {
  TERN_CHECK(fd_ >= 0 && !committed_, where_, "commit of a closed file ", path_);
  flush();
  TERN_CHECK(::fsync(fd_) == 0, where_, "cannot fsync ", path_, ": ", std::strerror(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  TERN_CHECK(rc == 0, where_, "cannot close ", path_, ": ", std::strerror(errno));
  TERN_CHECK(::rename(tmp_.c_str(), target_.c_str()) == 0, where_, "cannot rename the temporary file ", tmp_,
             " into place: ", std::strerror(errno));
  committed_ = true;
  // Make the rename itself durable. The data is in place already, so a failure here is not the caller's error.
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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

}  // namespace tern::io
