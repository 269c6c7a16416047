#pragma once
// Deterministic reductions for the CUDA kernels: a fixed shuffle tree within a warp, then a
// fixed tree over the warps of a block. The result depends only on the values and on the
// launch shape (which the launchers derive from tensor sizes alone, never from the device or
// timing), so a kernel gives the same bits on every run. Floating-point atomics would not.
//
// Also the two host-side pieces every kernel family here needs: stream-ordered scratch memory
// and the report of the first bad index (kernels.h describes `bad`).

#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include <tern/core/error.h>

namespace tern::gpu::detail {

inline constexpr int kWarpSize = 32;
inline constexpr int64_t kNoBad = INT64_MAX;
// Grid-stride loops cover anything beyond this many blocks; more would add nothing but
// scheduling overhead.
inline constexpr int64_t kMaxBlocks = int64_t{1} << 16;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for `items` units of work, `per_block` to a block, at least 1 and at most kMaxBlocks.
inline unsigned blocks_for(int64_t items, int64_t per_block) {
  const int64_t b = ceil_div(items, per_block);
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

// Shuffles of any trivially copyable value; structs (a value and its index) travel as 32-bit words.
template <typename T>
__device__ __forceinline__ T shfl_down(T v, unsigned delta) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int> ||
                std::is_same_v<T, long> || std::is_same_v<T, long long>) {
    return __shfl_down_sync(0xffffffffu, v, delta);
  } else {
    constexpr int kWords = static_cast<int>((sizeof(T) + 3) / 4);
    int w[kWords];
    memcpy(w, &v, sizeof(T));
#pragma unroll
    for (int k = 0; k < kWords; ++k) w[k] = __shfl_down_sync(0xffffffffu, w[k], delta);
    memcpy(&v, w, sizeof(T));
    return v;
  }
}

template <typename T>
__device__ __forceinline__ T shfl_first(T v) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int> ||
                std::is_same_v<T, long> || std::is_same_v<T, long long>) {
    return __shfl_sync(0xffffffffu, v, 0);
  } else {
    constexpr int kWords = static_cast<int>((sizeof(T) + 3) / 4);
    int w[kWords];
    memcpy(w, &v, sizeof(T));
#pragma unroll
    for (int k = 0; k < kWords; ++k) w[k] = __shfl_sync(0xffffffffu, w[k], 0);
    memcpy(&v, w, sizeof(T));
    return v;
  }
}

// Reduces v over a group of kThreads consecutive threads and returns the result to all of them.
// kThreads == 32: the group is one warp, and its 32 lanes must all call this together. Otherwise
// the group is the whole block (blockDim.x == kThreads, a power of two up to 1024), and every
// thread of the block must call it: it synchronises the block. The tree is fixed: lane i takes
// lane i + 16, then i + 8, ..., and warp results combine the same way.
template <int kThreads, typename T, typename Combine>
__device__ __forceinline__ T group_reduce(T v, Combine combine) {
  static_assert(kThreads >= kWarpSize && kThreads <= 1024 && (kThreads & (kThreads - 1)) == 0,
                "a group is a warp or a power-of-two block");
#pragma unroll
  for (int off = kWarpSize / 2; off > 0; off /= 2) v = combine(v, shfl_down(v, off));
  if constexpr (kThreads == kWarpSize) {
    return shfl_first(v);
  } else {
    constexpr int kWarps = kThreads / kWarpSize;
    __shared__ T partial[kWarps];
    const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
    __syncthreads();  // an earlier call's readers are done with `partial`
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = partial[lane < kWarps ? lane : 0];
    // Lane 0 only ever combines lanes below kWarps, so the others' copies do not matter.
#pragma unroll
    for (int off = kWarps / 2; off > 0; off /= 2) v = combine(v, shfl_down(v, off));
    return shfl_first(v);
  }
}

// ---- Row kernels: a group of kThreads threads (a warp, or the whole kRowBlock-thread block)
// reduces each row, and a block holds kRowBlock / kThreads groups.

inline constexpr int kRowBlock = 256;
// Rows up to this long get a warp each, longer ones a block.
inline constexpr int64_t kWarpRowMax = 1024;

// The first row of this thread's group, and the step to its next row. The bounds of a loop
// over them are uniform over the group, as group_reduce needs.
template <int kThreads>
__device__ __forceinline__ int64_t group_first_row() {
  return static_cast<int64_t>(blockIdx.x) * (kRowBlock / kThreads) + threadIdx.x / kThreads;
}
template <int kThreads>
__device__ __forceinline__ int64_t group_row_step() {
  return static_cast<int64_t>(gridDim.x) * (kRowBlock / kThreads);
}
template <int kThreads>
__device__ __forceinline__ int group_lane() {
  return static_cast<int>(threadIdx.x) % kThreads;
}

// Calls Launch<kThreads>::run(stream, blocks, args...) with a warp per row for rows of up to
// kWarpRowMax entries and a block per row for longer ones: a choice made from the shape only.
template <template <int> class Launch, typename... Args>
void launch_rows(cudaStream_t stream, int64_t rows, int64_t len, const Args&... args) {
  if (len <= kWarpRowMax)
    Launch<kWarpSize>::run(stream, blocks_for(rows, kRowBlock / kWarpSize), args...);
  else
    Launch<kRowBlock>::run(stream, blocks_for(rows, 1), args...);
}

struct Plus {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};

// Stream-ordered scratch memory: allocated on `stream`, and freed on it when this goes out of
// scope, so the free is ordered after every kernel queued on it meanwhile.
class DeviceScratch {
 public:
  DeviceScratch(cudaStream_t stream, size_t bytes, const char* op) : stream_(stream) {
    if (bytes == 0) return;
    const cudaError_t err = cudaMallocAsync(&ptr_, bytes, stream_);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      ptr_ = nullptr;
      TERN_FAIL(op, "cannot allocate ", bytes, " bytes of device scratch memory: ", cudaGetErrorString(err));
    }
  }
  ~DeviceScratch() {
    if (ptr_) (void)cudaFreeAsync(ptr_, stream_);
  }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
};

inline void check_cuda(cudaError_t err, const char* op, const char* what) {
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    TERN_FAIL(op, what, " failed: ", cudaGetErrorString(err));
  }
}

// ---- The first bad index. A checking kernel lowers `*first` (initialised to kNoBad) to each bad
// position with atomicMin, which is order-independent. record_first_bad then copies the lowest
// position and the value there into `bad`, unless an earlier kernel already recorded one: the
// error the host raises is then the first one, in queue order, as on the CPU.

template <typename Unused = void>
__global__ void init_first_bad(int64_t* first) {
  *first = kNoBad;
}

__device__ __forceinline__ void report_bad(int64_t* first, int64_t position) {
  atomicMin(reinterpret_cast<long long*>(first), static_cast<long long>(position));
}

template <typename Unused = void>
__global__ void record_first_bad(const int64_t* first, const int64_t* values, int64_t* bad) {
  const int64_t p = *first;
  if (p != kNoBad && bad[0] == kNoBad) {
    bad[0] = p;
    bad[1] = values[p];
  }
}

}  // namespace tern::gpu::detail
