// BitNet b1.58 quantization on the device: per-row 8-bit activation quantization and per-tensor
// ternarization (absmean, or an exact count of zeros).
//
// The per-element formulas are backends/kernel_math.h's, shared with the CPU, so activation
// quantization and the codes agree with the CPU bit for bit. Sums of |w| accumulate in double
// as on the CPU, but in a fixed tree rather than the CPU's chunk order: a scale may differ from
// the CPU's in the last bit of the double sum (for f32 weights it almost never survives the
// rounding to f32); it is the same on every run.
//
// Exact zeros: a stable radix sort of |w|'s bit pattern with the index as payload orders the
// entries by (|w|, index), which is the CPU's order for choosing zeros, ties to the lower index.

#include <cstdint>

#include <cub/device/device_radix_sort.cuh>

#include <tern/backends/cuda/kernels.h>
#include <tern/backends/kernel_math.h>
#include <tern/core/error.h>

#include "block_reduce.cuh"

namespace tern::gpu::kernels {

namespace {

using detail::blocks_for;
using detail::ceil_div;
using detail::DeviceScratch;
using detail::group_first_row;
using detail::group_lane;
using detail::group_reduce;
using detail::group_row_step;
using detail::Plus;
using kmath::key_t;

constexpr int kBlock = detail::kRowBlock;
constexpr int kTotalBlock = 1024;
// Entries per block in the first pass of a sum.
constexpr int64_t kChunk = int64_t{1} << 14;

// ---- activation_quant

// The max of two partial maxima of |x| (never NaN, never negative).
struct AbsMax {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b > a ? b : a;
  }
};

template <typename T, int kThreads>
__global__ void __launch_bounds__(kBlock)
    act_quant_rows(const T* x, T* out, int8_t* q, T* scale, int64_t rows, int64_t cols) {
  const int lane = group_lane<kThreads>();
  for (int64_t row = group_first_row<kThreads>(); row < rows; row += group_row_step<kThreads>()) {
    const T* xr = x + row * cols;
    T m = 0;
    for (int64_t j = lane; j < cols; j += kThreads) m = kmath::absmax_step(m, xr[j]);
    const T s = kmath::act_quant_scale(group_reduce<kThreads>(m, AbsMax{}));
    if (lane == 0) scale[row] = s;
    T* orow = out ? out + row * cols : nullptr;
    int8_t* qrow = q ? q + row * cols : nullptr;
    for (int64_t j = lane; j < cols; j += kThreads) {
      const T v = kmath::act_quant_level(xr[j], s);
      if (qrow) qrow[j] = kmath::quant_code(v);
      if (orow) orow[j] = v / s;
    }
  }
}

template <int kThreads>
struct ActQuantRows {
  template <typename T>
  static void run(cudaStream_t stream, unsigned blocks, const T* x, T* out, int8_t* q, T* scale, int64_t rows,
                  int64_t cols) {
    act_quant_rows<T, kThreads><<<blocks, kBlock, 0, stream>>>(x, out, q, scale, rows, cols);
  }
};

// ---- Sums of |w| in two passes: kChunk entries per block into partials, then one block adds
// the partials and hands the total to a finishing step.

template <typename T>
struct AbsOf {
  const T* w;
  __device__ double operator()(int64_t i) const { return static_cast<double>(kmath::magnitude(w[i])); }
};

// |w| back from sorted keys, from position `offset` on.
template <typename T>
struct AbsOfKey {
  const key_t<T>* keys;
  int64_t offset;
  __device__ double operator()(int64_t j) const { return static_cast<double>(kmath::from_key<T>(keys[offset + j])); }
};

template <typename Src>
__global__ void __launch_bounds__(kBlock) sum_chunks(Src src, int64_t n, int64_t chunks, double* partial) {
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const int64_t e = n - c * kChunk < kChunk ? n : (c + 1) * kChunk;
    double acc = 0;
    for (int64_t i = c * kChunk + threadIdx.x; i < e; i += kBlock) acc += src(i);
    acc = group_reduce<kBlock>(acc, Plus{});
    if (threadIdx.x == 0) partial[c] = acc;
  }
}

template <typename Finish>
__global__ void __launch_bounds__(kTotalBlock) sum_partials(const double* partial, int64_t chunks, Finish finish) {
  double acc = 0;
  for (int64_t c = threadIdx.x; c < chunks; c += kTotalBlock) acc += partial[c];
  acc = group_reduce<kTotalBlock>(acc, Plus{});
  if (threadIdx.x == 0) finish(acc);
}

// Queues the sum of src(0 .. n) and then finish(total) on the device.
template <typename Src, typename Finish>
void sum_then(cudaStream_t stream, Src src, int64_t n, Finish finish) {
  const int64_t chunks = ceil_div(n, kChunk);
  DeviceScratch partial(stream, static_cast<size_t>(chunks) * sizeof(double), "ternarize");
  if (chunks > 0) {
    sum_chunks<<<blocks_for(chunks, 1), kBlock, 0, stream>>>(src, n, chunks, partial.as<double>());
    check_launch("ternarize");
  }
  sum_partials<<<1, kTotalBlock, 0, stream>>>(partial.as<double>(), chunks, finish);
  check_launch("ternarize");
}

// ---- ternarize, absmean

// From sum |w|: s = 1 / max(mean|w|, 1e-5) into *s, and the scale 1 / s into *scale.
template <typename T>
struct AbsmeanFinish {
  int64_t n;
  T* s;
  T* scale;
  __device__ void operator()(double total) const {
    const T inv = kmath::absmean_inv_scale(kmath::absmean_from_sum<T>(total, n));
    *s = inv;
    *scale = static_cast<T>(1) / inv;
  }
};

template <typename T>
__global__ void __launch_bounds__(kBlock)
    absmean_codes(const T* w, const T* s_ptr, const T* scale_ptr, int8_t* q, T* out, int64_t n) {
  const T s = *s_ptr, scale = *scale_ptr;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int8_t c = kmath::quant_code(kmath::ternary_level(w[i], s));
    q[i] = c;
    if (out) out[i] = static_cast<T>(c) * scale;
  }
}

// ---- ternarize, exact zeros

// The scale: the mean |w| of the `kept` entries, from their sum.
template <typename T>
struct KeptFinish {
  int64_t kept;
  T* scale;
  __device__ void operator()(double total) const { *scale = static_cast<T>(total / static_cast<double>(kept)); }
};

template <typename T>
__global__ void __launch_bounds__(kBlock) sort_input(const T* w, key_t<T>* keys, int64_t* order, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    keys[i] = kmath::abs_key(w[i]);
    order[i] = i;
  }
}

// Sorted position j < zeros: a zero; the rest +-1 by sign bit.
template <typename T>
__global__ void __launch_bounds__(kBlock)
    sorted_codes(const T* w, const int64_t* order, int8_t* q, int64_t n, int64_t zeros) {
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = order[j];
    q[i] = j < zeros ? int8_t{0} : kmath::sign_code(w[i]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) sign_codes(const T* w, int8_t* q, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    q[i] = kmath::sign_code(w[i]);
}

template <typename T>
__global__ void __launch_bounds__(kBlock) dequantize(const int8_t* q, const T* scale_ptr, T* out, int64_t n) {
  const T scale = *scale_ptr;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = static_cast<T>(q[i]) * scale;
}

template <typename T>
void ternarize_absmean(cudaStream_t stream, const T* w, int64_t n, int8_t* q, T* out, T* scale) {
  DeviceScratch s(stream, sizeof(T), "ternarize");
  sum_then(stream, AbsOf<T>{w}, n, AbsmeanFinish<T>{n, s.as<T>(), scale});
  absmean_codes<T><<<blocks_for(n, kBlock), kBlock, 0, stream>>>(w, s.as<T>(), scale, q, out, n);
  check_launch("ternarize");
}

template <typename T>
void ternarize_zeros(cudaStream_t stream, const T* w, int64_t n, int64_t zeros, int8_t* q, T* out, T* scale) {
  using U = key_t<T>;
  zeros = zeros < n ? zeros : n;
  if (zeros == n) {
    // Nothing is kept: all codes 0 and scale 0 (all-zero bits are +0.0).
    detail::check_cuda(cudaMemsetAsync(q, 0, static_cast<size_t>(n), stream), "ternarize", "cudaMemsetAsync");
    detail::check_cuda(cudaMemsetAsync(scale, 0, sizeof(T), stream), "ternarize", "cudaMemsetAsync");
    if (out)
      detail::check_cuda(cudaMemsetAsync(out, 0, static_cast<size_t>(n) * sizeof(T), stream), "ternarize",
                         "cudaMemsetAsync");
    return;
  }
  const unsigned blocks = blocks_for(n, kBlock);
  if (zeros == 0) {
    sign_codes<T><<<blocks, kBlock, 0, stream>>>(w, q, n);
    check_launch("ternarize");
    sum_then(stream, AbsOf<T>{w}, n, KeptFinish<T>{n, scale});
  } else {
    DeviceScratch keys0(stream, static_cast<size_t>(n) * sizeof(U), "ternarize");
    DeviceScratch keys1(stream, static_cast<size_t>(n) * sizeof(U), "ternarize");
    DeviceScratch order0(stream, static_cast<size_t>(n) * sizeof(int64_t), "ternarize");
    DeviceScratch order1(stream, static_cast<size_t>(n) * sizeof(int64_t), "ternarize");
    sort_input<T><<<blocks, kBlock, 0, stream>>>(w, keys0.as<U>(), order0.as<int64_t>(), n);
    check_launch("ternarize");
    cub::DoubleBuffer<U> keys(keys0.as<U>(), keys1.as<U>());
    cub::DoubleBuffer<int64_t> order(order0.as<int64_t>(), order1.as<int64_t>());
    // The sign bit is clear in every key.
    constexpr int kEndBit = static_cast<int>(8 * sizeof(U)) - 1;
    size_t temp_bytes = 0;
    detail::check_cuda(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, order, n, 0, kEndBit, stream),
                       "ternarize", "cub::DeviceRadixSort::SortPairs");
    DeviceScratch temp(stream, temp_bytes, "ternarize");
    detail::check_cuda(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, keys, order, n, 0, kEndBit, stream),
                       "ternarize", "cub::DeviceRadixSort::SortPairs");
    sorted_codes<T><<<blocks, kBlock, 0, stream>>>(w, order.Current(), q, n, zeros);
    check_launch("ternarize");
    sum_then(stream, AbsOfKey<T>{keys.Current(), zeros}, n - zeros, KeptFinish<T>{n - zeros, scale});
  }
  if (out) {
    dequantize<T><<<blocks, kBlock, 0, stream>>>(q, scale, out, n);
    check_launch("ternarize");
  }
}

}  // namespace

void activation_quant(cudaStream_t stream, DType dtype, const void* x, void* out, int8_t* q, void* scale, int64_t rows,
                      int64_t cols) {
  const auto run = [&](auto t0) {
    using T = decltype(t0);
    if (rows == 0) return;
    detail::launch_rows<ActQuantRows>(stream, rows, cols, static_cast<const T*>(x), static_cast<T*>(out), q,
                                      static_cast<T*>(scale), rows, cols);
    check_launch("activation_quant");
  };
  if (dtype == kFloat32)
    run(float{});
  else if (dtype == kFloat64)
    run(double{});
  else
    TERN_FAIL("activation_quant", "no kernel for ", dtype);
}

void ternarize(cudaStream_t stream, DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out,
               void* scale) {
  const auto run = [&](auto t0) {
    using T = decltype(t0);
    if (n <= 0) return;
    const T* wt = static_cast<const T*>(w);
    if (zeros < 0)
      ternarize_absmean(stream, wt, n, q, static_cast<T*>(out), static_cast<T*>(scale));
    else
      ternarize_zeros(stream, wt, n, zeros, q, static_cast<T*>(out), static_cast<T*>(scale));
  };
  if (dtype == kFloat32)
    run(float{});
  else if (dtype == kFloat64)
    run(double{});
  else
    TERN_FAIL("ternarize", "no kernel for ", dtype);
}

}  // namespace tern::gpu::kernels
