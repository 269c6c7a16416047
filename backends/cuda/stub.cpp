// Linked when tern is built without CUDA: every CUDA request fails clearly.

#include <tern/backends/backend.h>
#include <tern/backends/cuda.h>
#include <tern/core/error.h>

#include "cuda_backend.h"

namespace tern {

bool cuda_available() { return false; }
int cuda_device_count() { return 0; }

namespace {

[[noreturn]] void no_cuda(const char* op) { TERN_FAIL(op, "tern was built without CUDA support"); }

}  // namespace

Backend& gpu::device_backend(int) { no_cuda("cuda"); }
CudaMemoryStats cuda_memory_stats(int) { no_cuda("cuda_memory_stats"); }
void cuda_reset_peak_memory_stats(int) { no_cuda("cuda_reset_peak_memory_stats"); }
void cuda_synchronize(int) { no_cuda("cuda_synchronize"); }

}  // namespace tern
