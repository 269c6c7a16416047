// Which backend runs an op, and the settings every backend reads.

#include <atomic>

#include <tern/backends/backend.h>
#include <tern/core/error.h>

#include <tern/backends/profile.h>

#include "cpu/cpu_backend.h"
#include "cuda/cuda_backend.h"
#include "profiling_backend.h"

namespace tern {

namespace {

std::atomic<bool>& tf32_allowed() {
  static std::atomic<bool> allowed{false};
  return allowed;
}

}  // namespace

namespace {

Backend& plain_backend_for(Device device, const char* op) {
  if (device.is_cpu()) return cpu::cpu_backend();
#ifndef TERN_WITH_CUDA
  TERN_FAIL(op, "tern was built without CUDA support (device ", device, ")");
#else
  const int n = cuda_device_count();
  TERN_CHECK(n > 0, op, "no CUDA device is available (device ", device, ")");
  TERN_CHECK(device.index >= 0 && device.index < n, op, "device ", device, " does not exist; ", n,
             " CUDA device(s) found");
  return gpu::device_backend(device.index);
#endif
}

}  // namespace

Backend& backend_for(Device device, const char* op) {
  Backend& b = plain_backend_for(device, op);
  return profiling_enabled() ? detail::profiled(b) : b;
}

void set_matmul_precision(const std::string& precision) {
  TERN_CHECK(precision == "highest" || precision == "high", "set_matmul_precision",
             "precision must be \"highest\" (full fp32) or \"high\" (TF32 allowed), got \"", precision, "\"");
  tf32_allowed() = precision == "high";
}

std::string matmul_precision() { return tf32_allowed() ? "high" : "highest"; }

}  // namespace tern
