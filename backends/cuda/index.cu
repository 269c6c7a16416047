// Gather (index_select, the embedding lookup) and its scatter-add backward, on the device.
//
// index_add must add in the order of i, as the CPU does, so that the result does not depend on
// scheduling: a stable radix sort of the (index, i) pairs groups equal indices with their i
// ascending, and one thread per (segment, column) adds the segment's rows in that order. No
// atomics, so the sum is bit-identical to the CPU's.

#include <algorithm>
#include <cstdint>

#include <cub/device/device_radix_sort.cuh>

#include <tern/backends/cuda/kernels.h>
#include <tern/core/error.h>

#include "block_reduce.cuh"

namespace tern::gpu::kernels {

namespace {

using detail::blocks_for;
using detail::DeviceScratch;

constexpr int kBlock = 256;

__global__ void __launch_bounds__(kBlock)
    find_bad_indices(const int64_t* idx, int64_t n, int64_t limit, int64_t* first) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = idx[i];
    if (k < 0 || k >= limit) detail::report_bad(first, i);
  }
}

// dst row `row` (= o * n + i) is src row o * src_dim + idx[i], copied as `words` words of W by
// `row_threads` threads; a bad index (already reported) gives a row of zeros instead of a read
// out of bounds.
template <typename W>
__global__ void __launch_bounds__(kBlock) gather_rows(const W* src, const int64_t* idx, W* dst, int64_t n,
                                                      int64_t src_dim, int64_t words, int64_t rows, int row_threads) {
  const int per_block = kBlock / row_threads;
  const int lane = static_cast<int>(threadIdx.x) % row_threads;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / row_threads; row < rows;
       row += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t o = row / n, k = idx[row % n];
    W* d = dst + row * words;
    if (k < 0 || k >= src_dim) {
      for (int64_t w = lane; w < words; w += row_threads) d[w] = W{};
      continue;
    }
    const W* s = src + (o * src_dim + k) * words;
    for (int64_t w = lane; w < words; w += row_threads) d[w] = s[w];
  }
}

template <typename W>
void launch_gather(cudaStream_t stream, const void* src, const int64_t* idx, void* dst, int64_t n, int64_t src_dim,
                   int64_t row_bytes, int64_t rows) {
  const int64_t words = row_bytes / static_cast<int64_t>(sizeof(W));
  int row_threads = detail::kWarpSize;  // short rows share a block, long ones take it whole
  while (row_threads < kBlock && row_threads < words) row_threads *= 2;
  gather_rows<W><<<blocks_for(rows, kBlock / row_threads), kBlock, 0, stream>>>(
      static_cast<const W*>(src), idx, static_cast<W*>(dst), n, src_dim, words, rows, row_threads);
}

__global__ void __launch_bounds__(kBlock) iota(int64_t* v, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    v[i] = i;
}

// A block per (o, j) that starts a segment of equal sorted keys; each thread takes columns
// and adds the segment's src rows, in the order of i, onto the dst row.
template <typename T>
__global__ void __launch_bounds__(kBlock) add_segments(T* dst, const T* src, const int64_t* keys, const int64_t* order,
                                                       int64_t dst_dim, int64_t n, int64_t inner, int64_t items) {
  for (int64_t b = blockIdx.x; b < items; b += gridDim.x) {
    const int64_t o = b / n, j = b % n;
    const int64_t k = keys[j];
    if (j > 0 && keys[j - 1] == k) continue;  // inside a segment: its start's block adds it
    // The segment's end: the first sorted position after j with a larger key.
    int64_t lo = j + 1, hi = n;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (keys[mid] == k)
        lo = mid + 1;
      else
        hi = mid;
    }
    const int64_t end = lo;
    T* d = dst + (o * dst_dim + k) * inner;
    const T* s = src + o * n * inner;
    for (int64_t c = threadIdx.x; c < inner; c += blockDim.x) {
      T acc = d[c];
#pragma unroll 4
      for (int64_t jj = j; jj < end; ++jj) acc += s[order[jj] * inner + c];
      d[c] = acc;
    }
  }
}

}  // namespace

void index_select(cudaStream_t stream, DType dtype, const void* src, const int64_t* idx, void* dst, int64_t outer,
                  int64_t src_dim, int64_t n, int64_t inner, int64_t* bad) {
  if (n == 0) return;
  DeviceScratch first(stream, sizeof(int64_t), "index_select");
  detail::init_first_bad<<<1, 1, 0, stream>>>(first.as<int64_t>());
  check_launch("index_select");
  find_bad_indices<<<blocks_for(n, kBlock), kBlock, 0, stream>>>(idx, n, src_dim, first.as<int64_t>());
  check_launch("index_select");
  if (bad) {
    detail::record_first_bad<<<1, 1, 0, stream>>>(first.as<int64_t>(), idx, bad);
    check_launch("index_select");
  }
  const int64_t rows = outer * n;
  const int64_t row_bytes = inner * static_cast<int64_t>(dtype_size(dtype));
  if (rows == 0 || row_bytes == 0) return;
  // The widest word that divides the rows and the alignment of both pointers.
  const auto fits = [&](int64_t w) {
    return row_bytes % w == 0 && reinterpret_cast<uintptr_t>(src) % w == 0 && reinterpret_cast<uintptr_t>(dst) % w == 0;
  };
  if (fits(16))
    launch_gather<uint4>(stream, src, idx, dst, n, src_dim, row_bytes, rows);
  else if (fits(8))
    launch_gather<uint2>(stream, src, idx, dst, n, src_dim, row_bytes, rows);
  else if (fits(4))
    launch_gather<uint32_t>(stream, src, idx, dst, n, src_dim, row_bytes, rows);
  else if (fits(2))
    launch_gather<uint16_t>(stream, src, idx, dst, n, src_dim, row_bytes, rows);
  else
    launch_gather<uint8_t>(stream, src, idx, dst, n, src_dim, row_bytes, rows);
  check_launch("index_select");
}

void index_add(cudaStream_t stream, DType dtype, void* dst, const int64_t* idx, const void* src, int64_t outer,
               int64_t dst_dim, int64_t n, int64_t inner) {
  if (dtype != kFloat32 && dtype != kFloat64) TERN_FAIL("index_add", "no kernel for ", dtype);
  if (n == 0 || outer == 0 || inner == 0) return;
  // Indices are validated, so they lie in [0, dst_dim): only their low bits need sorting.
  int end_bit = 1;
  while (end_bit < 63 && (int64_t{1} << end_bit) < dst_dim) ++end_bit;
  const size_t bytes = static_cast<size_t>(n) * sizeof(int64_t);
  DeviceScratch order_in(stream, bytes, "index_add");
  DeviceScratch keys(stream, bytes, "index_add");
  DeviceScratch order(stream, bytes, "index_add");
  iota<<<blocks_for(n, kBlock), kBlock, 0, stream>>>(order_in.as<int64_t>(), n);
  check_launch("index_add");
  size_t temp_bytes = 0;
  detail::check_cuda(
      cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, idx, keys.as<int64_t>(), order_in.as<int64_t>(),
                                      order.as<int64_t>(), n, 0, end_bit, stream),
      "index_add", "cub::DeviceRadixSort::SortPairs");
  DeviceScratch temp(stream, temp_bytes, "index_add");
  detail::check_cuda(
      cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, idx, keys.as<int64_t>(), order_in.as<int64_t>(),
                                      order.as<int64_t>(), n, 0, end_bit, stream),
      "index_add", "cub::DeviceRadixSort::SortPairs");
  const int threads = inner >= kBlock ? kBlock : static_cast<int>(std::max<int64_t>(32, (inner + 31) / 32 * 32));
  const int64_t items = outer * n;
  if (dtype == kFloat32)
    add_segments<float><<<blocks_for(items, 1), threads, 0, stream>>>(
        static_cast<float*>(dst), static_cast<const float*>(src), keys.as<int64_t>(), order.as<int64_t>(), dst_dim, n,
        inner, items);
  else
    add_segments<double><<<blocks_for(items, 1), threads, 0, stream>>>(
        static_cast<double*>(dst), static_cast<const double*>(src), keys.as<int64_t>(), order.as<int64_t>(), dst_dim, n,
        inner, items);
  check_launch("index_add");
}

}  // namespace tern::gpu::kernels
