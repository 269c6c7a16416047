#include "cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <cblas.h>
#include <omp.h>

#include <tern/core/error.h>

namespace tern::cpu {

namespace {

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    // aligned_alloc needs a size that is a multiple of the alignment.
    const size_t rounded = (std::max<size_t>(nbytes, 1) + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    TERN_CHECK(p, "alloc", "out of memory allocating ", nbytes, " bytes on cpu");
    return p;
  }
  void deallocate(void* ptr, size_t) override { std::free(ptr); }
};

}  // namespace

Allocator& CpuBackend::allocator() {
  static CpuAllocator alloc;
  return alloc;
}

void CpuBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes) std::memcpy(dst, src, nbytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes) std::memcpy(dst, src, nbytes);
}

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace tern::cpu

namespace tern {

namespace {

int initial_threads() {
  if (const char* env = std::getenv("TERN_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 4096) return static_cast<int>(n);
  }
  return omp_get_max_threads();
}

int& thread_setting() {
  static int n = [] {
    const int t = initial_threads();
    openblas_set_num_threads(t);
    return t;
  }();
  return n;
}

}  // namespace

int num_threads() { return thread_setting(); }

void set_num_threads(int n) {
  TERN_CHECK(n > 0, "set_num_threads", "thread count must be positive, got ", n);
  thread_setting() = n;
  openblas_set_num_threads(n);
}

}  // namespace tern
