#pragma once
// Helpers of the CUDA suites (test_cuda_parity.cpp, test_cuda_training.cpp,
// tests/models/test_gpt2_cuda.cpp): the skip without a GPU, the CPU-vs-CUDA error measure
// and the per-op report that tools/device/check.sh prints.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include <tern/tern.h>

// Every CUDA test that needs a device starts with this; the reason is the one check.sh looks for.
#define TERN_SKIP_WITHOUT_CUDA() \
  if (!::tern::cuda_available()) GTEST_SKIP() << "no CUDA device on this machine"

namespace tern::cudatest {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

// The largest |b - a| / max(1, |a|) over the elements, with a the reference (the CPU's):
// an absolute error below 1, a relative one above, so one number fits values of any size.
// Both NaN, or the same infinity, count as equal; a shape or dtype mismatch is infinite.
inline double max_error(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return kInf;
  if (!a.defined()) return 0.0;
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return kInf;
  const Tensor x = a.detach().to(kCPU).to(kFloat64).contiguous();
  const Tensor y = b.detach().to(kCPU).to(kFloat64).contiguous();
  const double* p = x.data_ptr<double>();
  const double* q = y.data_ptr<double>();
  double worst = 0.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double u = p[i], v = q[i];
    if (std::isnan(u) || std::isnan(v)) {
      if (std::isnan(u) != std::isnan(v)) return kInf;
      continue;
    }
    if (std::isinf(u) || std::isinf(v)) {
      if (u != v) return kInf;
      continue;
    }
    worst = std::max(worst, std::fabs(v - u) / std::max(1.0, std::fabs(u)));
  }
  return worst;
}

inline std::string dtype_str(DType t) { return std::string(dtype_name(t)); }

// Appends a line to the file named by TERN_PARITY_REPORT, if set. ctest runs tests in parallel
// processes: each line goes out in one O_APPEND write, so lines never interleave.
inline void report(const std::string& line) {
  const char* path = std::getenv("TERN_PARITY_REPORT");
  if (!path || !*path) return;
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  const std::string l = line + "\n";
  [[maybe_unused]] const ssize_t n = ::write(fd, l.data(), l.size());
  ::close(fd);
}

// One report line: what, dtype, the error, the tolerance and the verdict ("ok", "FAIL", or
// "not supported" / "error" with the message's first line).
inline std::string report_line(const std::string& what, const std::string& dtype, double err, double tol,
                               const std::string& verdict) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-44s %-9s %10.3e %9.1e  ", what.c_str(), dtype.c_str(), err, tol);
  std::string v = verdict.substr(0, verdict.find('\n'));
  return std::string(buf) + v;
}

// Whether a tern::Error says the device lacks the kernel, rather than that it computed wrongly.
inline bool is_unsupported(const std::string& msg) {
  return msg.find("not implemented on CUDA") != std::string::npos || msg.find("not supported") != std::string::npos;
}

}  // namespace tern::cudatest
