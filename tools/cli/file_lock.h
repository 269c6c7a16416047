#pragma once
// An exclusive, non-blocking flock(2) held for the life of the object: `tern train` locks OUT/.train.lock, `tern
// quantize` a lock file beside its --out, so that two runs never write (and clean up) the same directory at once.
// The kernel drops the lock when the process dies, so a crash leaves nothing to clear by hand.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <tern/core/error.h>

namespace tern::cli {

class FileLock {
 public:
  // `busy` is the error message when another process holds the lock.
  FileLock(const std::string& path, const std::string& where, const std::string& busy) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    TERN_CHECK(fd_ >= 0, where, "cannot open ", path, ": ", std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      TERN_FAIL(where, busy);
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace tern::cli
