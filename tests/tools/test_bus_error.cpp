// A checkpoint truncated in place while its weights are mapped: the read that finds the
// page gone ends the process with a message naming the cause, not a bare "Bus error".

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <tern/core/io/safetensors.h>
#include <tern/tern.h>

#include "bus_error.h"

using namespace tern;

TEST(BusError, TruncatingAMappedCheckpointEndsWithAMessage) {
  const std::string path = testing::TempDir() + "/tern_bus_error.safetensors";
  io::save(path, std::map<std::string, Tensor>{{"w", zeros({4, 4096})}});  // 64 KB: whole pages to lose
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(pipefd[1], STDERR_FILENO);
    ::close(pipefd[0]);
    cli::install_bus_error_report();
    const auto file = io::SafetensorsFile::open(path);
    const Tensor w = file.tensor("w");
    std::filesystem::resize_file(path, 0);
    volatile float sink = w.data_ptr<float>()[3 * 4096];  // the page is gone: SIGBUS
    (void)sink;
    ::_exit(0);  // not reached when the handler runs
  }
  ::close(pipefd[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof(buf))) > 0;) err.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  std::filesystem::remove(path);
}
