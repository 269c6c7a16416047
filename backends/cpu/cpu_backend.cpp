#include "cpu_backend.h"
#include "ternary/ternary.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include <cblas.h>
#include <omp.h>

#include <tern/core/error.h>

namespace tern::cpu {

namespace {

// 64-byte-aligned host memory, with a bounded cache of large freed blocks.
//
// Why a cache: glibc serves blocks above its mmap threshold (at most 32 MiB, even
// with mallopt) with a fresh mmap and unmaps them on free. Ops allocate their
// output on every call, so each call on a large tensor paid a page fault per 4 KiB
// and the kernel zeroing every page: a 64 MiB add ran at half the speed of the same
// loop into a reused buffer. Keeping freed blocks >= kCacheMin for reuse (exact
// rounded size, which a training step repeats) removes that cost, like PyTorch's
// CPU caching. mallopt was not used: it cannot lift the threshold past 32 MiB and
// would change malloc for the whole host program.
//
// The cache holds at most kCacheCap bytes and evicts its oldest blocks first; it is
// emptied, and the allocation retried, when the system runs out of memory. Under
// AddressSanitizer it is off so that use-after-free stays detectable.
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kCacheMin = size_t{1} << 20;  // 1 MiB
  static constexpr size_t kCacheCap = size_t{1} << 30;  // 1 GiB
  static constexpr size_t kPage = 4096;

  void* allocate(size_t nbytes) override {
    const size_t size = rounded(nbytes);
    if (caching(size)) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end()) {
        void* p = it->second.ptr;
        free_.erase(it);
        cached_ -= size;
        return p;
      }
    }
    void* p = std::aligned_alloc(kCpuAlignment, size);
    if (!p && caching(size)) {
      release_all();
      p = std::aligned_alloc(kCpuAlignment, size);
    }
    TERN_CHECK(p, "alloc", "out of memory allocating ", nbytes, " bytes on cpu");
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    if (!ptr) return;
    const size_t size = rounded(nbytes);
    if (!caching(size) || size > kCacheCap) {
      std::free(ptr);
      return;
    }
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (cached_ + size > kCacheCap) {  // evict the oldest blocks
        auto oldest = std::min_element(free_.begin(), free_.end(),
                                       [](const auto& a, const auto& b) { return a.second.age < b.second.age; });
        evicted.push_back(oldest->second.ptr);
        cached_ -= oldest->first;
        free_.erase(oldest);
      }
      free_.emplace(size, Block{ptr, ++clock_});
      cached_ += size;
    }
    for (void* p : evicted) std::free(p);
  }

 private:
  struct Block {
    void* ptr;
    uint64_t age;
  };

  // aligned_alloc needs a multiple of the alignment; cached blocks are whole pages.
  static size_t rounded(size_t nbytes) {
    const size_t n = std::max<size_t>(nbytes, 1);
    const size_t unit = n >= kCacheMin ? kPage : kCpuAlignment;
    return (n + unit - 1) / unit * unit;
  }

  static bool caching(size_t size) {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#else
    return size >= kCacheMin;
#endif
  }

  void release_all() {
    std::multimap<size_t, Block> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (auto& [size, b] : blocks) std::free(b.ptr);
  }

  std::mutex mu_;
  std::multimap<size_t, Block> free_;  // rounded size -> block
  size_t cached_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace

Allocator& CpuBackend::allocator() {
  // Never destroyed: storages freed during static destruction still find it.
  static CpuAllocator* alloc = new CpuAllocator;
  return *alloc;
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

void fail_range(const RangeCheck& check, int64_t value, int64_t position) {
  TERN_FAIL(check.op, check.what, " ", value, " at position ", position, " is out of range ", check.range);
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

// Read TERN_NUM_THREADS when the library loads, so that OpenBLAS gets the count
// before the first gemm even if no OpenMP loop has asked for it yet.
[[maybe_unused]] const int kThreadsAtLoad = thread_setting();

}  // namespace

int num_threads() { return thread_setting(); }

void set_num_threads(int n) {
  TERN_CHECK(n > 0, "set_num_threads", "thread count must be positive, got ", n);
  thread_setting() = n;
  openblas_set_num_threads(n);
}

BuildInfo build_info() {
  BuildInfo b;
  b.version = TERN_VERSION;
  b.git_revision = TERN_GIT_REVISION;
#ifdef TERN_NATIVE_BUILD
  b.native = true;
#endif
#ifdef TERN_WITH_CUDA
  b.cuda = true;
#endif
  if (const char* c = openblas_get_config()) b.blas = c;
  switch (openblas_get_parallel()) {
    case 0: b.blas_threading = "sequential"; break;
    case 1: b.blas_threading = "pthreads"; break;
    default: b.blas_threading = "OpenMP"; break;
  }
  b.cpu_kernels = cpu::ternary::isa_name(cpu::ternary::active_isa());
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) b.cpu_features.push_back("avx2");
  if (__builtin_cpu_supports("fma")) b.cpu_features.push_back("fma");
  if (__builtin_cpu_supports("avx512f")) b.cpu_features.push_back("avx512f");
  if (__builtin_cpu_supports("avx512bw")) b.cpu_features.push_back("avx512bw");
  if (__builtin_cpu_supports("avx512vnni")) b.cpu_features.push_back("avx512vnni");
#endif
  return b;
}

}  // namespace tern
