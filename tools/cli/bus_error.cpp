#include "bus_error.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace tern::cli {

namespace {

void on_bus_error(int) {
  // Only async-signal-safe calls here: write(2) and _exit(2).
  static const char kMessage[] =
      "tern: a memory-mapped file (a checkpoint) was truncated or became unreadable while in use (SIGBUS); "
      "write checkpoints by renaming a new file over the old one, as tern does, never in place\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  ::_exit(1);
}

}  // namespace

void install_bus_error_report() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_bus_error;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, nullptr);
}

}  // namespace tern::cli
