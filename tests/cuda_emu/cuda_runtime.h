#pragma once
// A host emulation of the parts of the CUDA runtime and device language that backends/cuda/*.cu use, so that
// tests/cuda_emu can run the kernels' logic on a machine without a GPU (see CMakeLists.txt here for the build).
//
// What it models faithfully enough to test:
//  * the index math: every block of the grid and every thread of a block runs, with threadIdx, blockIdx,
//    blockDim and gridDim as CUDA sets them, so grid-stride loops, tails and bounds checks run as on a GPU;
//  * barriers: emu::launch runs all of a block's threads at once on host threads (a pool kept for the process),
//    so __syncthreads is a barrier across the block, and a kernel that reads shared memory before the barrier
//    that publishes it can fail here;
//  * warp shuffles (__shfl_sync, __shfl_down_sync, __shfl_xor_sync) through a per-warp exchange and barrier,
//    with CUDA's rule that an out-of-range source lane returns the caller's own value;
//  * static and dynamic shared memory (one block at a time, so a static __shared__ serves every block), atomics
//    the kernels use, __dp4a, the _rn float intrinsics, and the stream-ordered allocator as malloc/free;
//  * a deterministic order: blocks run one after another, and what the kernels combine through shuffles and
//    shared memory combines in a fixed order, so results are reproducible run to run.
//
// What it cannot tell:
//  * real memory ordering: a barrier here orders everything, so a missing __threadfence or a race that a GPU's
//    weaker ordering would expose between warps or blocks can pass here;
//  * lockstep warps: lanes run as free threads that meet only at shuffles and barriers, so warp-synchronous
//    code that leans on lockstep without them would be caught only by luck;
//  * occupancy, register or shared-memory limits, launch-bound violations, speed;
//  * cub's actual radix sort (cub/device/device_radix_sort.cuh here is a stable std::sort with the same
//    contract), and the device math library's ulps (expf, erff, ... here are the host libm's).
//
// Kernels that never cooperate inside a block (convert.py decides from their source) are launched
// with emu::launch_serial, which runs the threads one after another on the calling thread: much faster, same
// index math.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
// One block runs at a time, so a function-local static is that block's shared memory.
#define __shared__ static
using std::isinf;

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3() = default;
  constexpr dim3(unsigned a, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint4 {
  unsigned x, y, z, w;
};
struct uint2 {
  unsigned x, y;
};
struct int4 {
  int x, y, z, w;
};

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1 };
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyDeviceToDevice = 3 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
using cudaStream_t = void*;

namespace emu {
// Few SMs, so that the elementwise grid-stride loops go round more than once on small tensors.
inline int multiprocessors = 1;
inline std::atomic<long> launches{0};

// A barrier that sleeps at once: std::barrier spins and yields first, which with hundreds of threads on a few
// cores costs more than the kernels' work.
class Barrier {
 public:
  explicit Barrier(unsigned n) : n_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t phase = phase_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++phase_;
      lock.unlock();
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return phase_ != phase; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  const unsigned n_;
  unsigned arrived_ = 0;
  uint64_t phase_ = 0;
};

struct Warp {
  std::unique_ptr<Barrier> bar;
  unsigned size = 0;
  alignas(8) unsigned char buf[32][8];
};
struct Block {
  std::unique_ptr<Barrier> bar;
  std::vector<Warp> warps;
  std::vector<unsigned char> dyn;  // dynamic shared memory
};
inline thread_local Block* tl_block = nullptr;

// Threads that stay for the whole process and run one block's CUDA threads at a time: starting a thread per CUDA
// thread per block would cost more than the kernels' work.
class Pool {
 public:
  static Pool& get() {
    static Pool pool;
    return pool;
  }

  // Runs job(t) for t in [0, n) on workers 0 to n - 1 at once and waits for all of them. Each worker has a
  // ticket of its own, so only those n wake, and none can mistake one block's job for another's.
  template <typename Job>
  void run(unsigned n, Job& job) {
    while (workers_.size() < n) {
      auto w = std::make_unique<Worker>();
      Worker* raw = w.get();
      w->thread = std::thread([this, raw, id = static_cast<unsigned>(workers_.size())] { work(*raw, id); });
      workers_.push_back(std::move(w));
    }
    job_ = &job;
    call_ = [](void* j, unsigned t) { (*static_cast<Job*>(j))(t); };
    remaining_.store(n);
    ++generation_;
    for (unsigned t = 0; t < n; ++t) {
      workers_[t]->ticket.store(generation_);
      workers_[t]->ticket.notify_one();
    }
    for (unsigned left = remaining_.load(); left != 0; left = remaining_.load()) remaining_.wait(left);
  }

  ~Pool() {
    stop_.store(true);
    for (auto& w : workers_) {
      w->ticket.store(~uint64_t{0});
      w->ticket.notify_one();
    }
    for (auto& w : workers_) w->thread.join();
  }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<uint64_t> ticket{0};
  };

  void work(Worker& self, unsigned id) {
    uint64_t seen = 0;
    for (;;) {
      self.ticket.wait(seen);
      seen = self.ticket.load();
      if (stop_.load()) return;
      call_(job_, id);
      if (remaining_.fetch_sub(1) == 1) remaining_.notify_one();
    }
  }

  std::vector<std::unique_ptr<Worker>> workers_;
  uint64_t generation_ = 0;
  std::atomic<unsigned> remaining_{0};
  std::atomic<bool> stop_{false};
  void* job_ = nullptr;
  void (*call_)(void*, unsigned) = nullptr;
};

// The threads of each block run at once (so barriers and shuffles work), blocks one after another.
template <typename F>
void launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, F&& f) {
  ++launches;
  const unsigned nt = block.x * block.y * block.z;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        Block b;
        // Garbage, not zeros: a kernel must write shared memory before reading it.
        b.dyn.assign(smem + 16, 0xCD);
        b.bar = std::make_unique<Barrier>(nt);
        for (unsigned w = 0; w * 32 < nt; ++w) {
          Warp wp;
          wp.size = std::min(32u, nt - w * 32);
          wp.bar = std::make_unique<Barrier>(wp.size);
          b.warps.push_back(std::move(wp));
        }
        auto job = [&](unsigned t) {
          tl_block = &b;
          threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
          blockIdx = dim3(bx, by, bz);
          blockDim = block;
          gridDim = grid;
          f();
        };
        Pool::get().run(nt, job);
      }
}

// Every thread of every block in turn on the calling thread: for kernels without barriers or shuffles.
template <typename F>
void launch_serial(dim3 grid, dim3 block, size_t, cudaStream_t, F&& f) {
  ++launches;
  gridDim = grid;
  blockDim = block;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx)
        for (unsigned tz = 0; tz < block.z; ++tz)
          for (unsigned ty = 0; ty < block.y; ++ty)
            for (unsigned tx = 0; tx < block.x; ++tx) {
              blockIdx = dim3(bx, by, bz);
              threadIdx = dim3(tx, ty, tz);
              f();
            }
}
}  // namespace emu

inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
  *v = emu::multiprocessors;
  return cudaSuccess;
}
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) {
  *p = std::malloc(n ? n : 1);
  return cudaSuccess;
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memmove(d, s, n);
  return cudaSuccess;
}

inline void __syncthreads() { emu::tl_block->bar->arrive_and_wait(); }

// Every lane of the warp publishes its value, then reads its source's: two barriers, as all lanes take part.
template <typename T>
T emu_shfl(T v, int src_lane) {
  static_assert(sizeof(T) <= 8);
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  emu::Warp& w = emu::tl_block->warps[t / 32];
  std::memcpy(w.buf[t % 32], &v, sizeof(T));
  w.bar->arrive_and_wait();
  T r = v;
  if (src_lane >= 0 && static_cast<unsigned>(src_lane) < w.size) std::memcpy(&r, w.buf[src_lane], sizeof(T));
  w.bar->arrive_and_wait();
  return r;
}
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned delta) {
  return emu_shfl(v, static_cast<int>(threadIdx.x % 32 + delta));
}
template <typename T>
T __shfl_sync(unsigned, T v, int src) {
  return emu_shfl(v, src % 32);
}
template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask) {
  return emu_shfl(v, static_cast<int>((threadIdx.x % 32) ^ mask));
}

template <typename T>
T* emu_dyn_smem() {
  return reinterpret_cast<T*>(emu::tl_block->dyn.data());
}

inline long long atomicMin(long long* p, long long v) {
  std::atomic_ref<long long> a(*p);
  long long old = a.load();
  while (v < old && !a.compare_exchange_weak(old, v)) {
  }
  return old;
}

inline uint32_t __umulhi(uint32_t a, uint32_t b) { return static_cast<uint32_t>((uint64_t{a} * b) >> 32); }
inline int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; ++i) c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
  return c;
}
// volatile keeps the compiler from contracting these into an fma, as the _rn intrinsics promise.
inline float __fmul_rn(float a, float b) {
  volatile float r = a * b;
  return r;
}
inline float __fadd_rn(float a, float b) {
  volatile float r = a + b;
  return r;
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
