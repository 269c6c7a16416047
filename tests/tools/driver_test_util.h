#pragma once
// Shared by the driver tests: temporary directories, a small slice of tinyshakespeare, a
// small fast training run, and file comparisons.

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <tern/core/io/safetensors.h>

#include "../test_util.h"
#include "drivers.h"

namespace tern::cli::testing {

namespace fs = std::filesystem;

using testutil::read_file;
using testutil::TempDir;
using testutil::write_file;

// The first 30,000 characters of tinyshakespeare: 27k train / 3k val chars.
inline std::string small_text(const TempDir& dir) {
  const std::string text = read_file(std::string(TERN_SOURCE_DIR) + "/data/tinyshakespeare/input.txt");
  const std::string path = dir / "shakespeare_30k.txt";
  write_file(path, text.substr(0, 30000));
  return path;
}

// A small, fast run: 2 layers, 32 wide, with dropout so that the generator state matters.
// Phase 5: a few steps of training from a Phase 4 directory (tern train --init).
inline TrainOptions phase5_run(const std::string& phase4, const std::string& data, const std::string& out) {
  TrainOptions o;
  o.init = phase4;
  o.data = data;
  o.batch = 4;
  o.block = 16;
  o.steps = 3;
  o.eval_interval = 0;
  o.out = out;
  return o;
}

inline TrainOptions small_run(const std::string& data, const std::string& out, int64_t steps) {
  TrainOptions o;
  o.model = "tiny";
  o.n_layer = 2;
  o.n_head = 2;
  o.n_embd = 32;
  o.data = data;
  o.tokenizer = "char";
  o.batch = 4;
  o.block = 16;
  o.steps = steps;
  o.lr_decay_steps = 12;  // the same schedule whatever --steps says
  o.warmup_steps = 2;
  o.dropout = 0.1;
  o.eval_interval = 3;
  o.eval_iters = 2;
  o.checkpoint_interval = 4;
  o.seed = 7;
  o.out = out;
  return o;
}

inline int train(TrainOptions o, std::string* log = nullptr) {
  std::ostringstream os;
  const int rc = run_train(std::move(o), os);
  if (log) *log = os.str();
  return rc;
}

// Every tensor of the two files, bit for bit.
inline void expect_same_tensors(const std::string& a, const std::string& b) {
  const auto fa = io::load(a, {.copy = true});
  const auto fb = io::load(b, {.copy = true});
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size()) << a << " vs " << b;
  for (const auto& [name, ta] : fa.tensors) {
    auto it = fb.tensors.find(name);
    ASSERT_NE(it, fb.tensors.end()) << name;
    const Tensor& tb = it->second;
    ASSERT_EQ(ta.shape(), tb.shape()) << name;
    ASSERT_EQ(ta.dtype(), tb.dtype()) << name;
    const Tensor ca = ta.contiguous(), cb = tb.contiguous();
    EXPECT_EQ(0, std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()))
        << name << " differs";
  }
}

// The PID of a process that has exited (a child reaped at once), for temporary names whose owner is gone.
inline pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

// The rows of a CSV file, header included, split into their fields (an empty field stays empty).
inline std::vector<std::vector<std::string>> csv_rows(const std::string& path) {
  std::vector<std::vector<std::string>> out;
  for (const auto& l : lines(read_file(path))) {
    std::vector<std::string>& row = out.emplace_back();
    size_t start = 0;
    for (size_t comma; (comma = l.find(',', start)) != std::string::npos; start = comma + 1)
      row.push_back(l.substr(start, comma - start));
    row.push_back(l.substr(start));
  }
  return out;
}

}  // namespace tern::cli::testing
