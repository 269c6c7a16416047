// Reductions over the middle axis of a contiguous [outer, r, inner] block, on the device.
//
// Every output is reduced by a fixed tree that the launcher picks from the shape alone, so the
// result is bit-identical run to run. As on the CPU, f32 and f64 sums accumulate in double and
// integer sums in i64 (then wrap to the dtype). The trees are not the CPU's lane order, so a
// float sum may differ from the CPU's in its last bit; max and min (values and indices) match
// it exactly, whatever the tree.
//
// Three shapes of work:
//   inner == 1: a warp (short rows) or a block (long rows) per output;
//   inner > 1:  a thread per (outer, inner) column, walking r;
//   and when those leave the GPU mostly idle (few outputs, long r), r is cut into chunks that
//   are reduced by separate blocks into partials, then the partials are reduced in order.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <tern/backends/cuda/kernels.h>
#include <tern/core/error.h>

#include "block_reduce.cuh"

namespace tern::gpu::kernels {

namespace {

using detail::blocks_for;
using detail::ceil_div;
using detail::DeviceScratch;
using detail::group_reduce;

constexpr int kBlock = detail::kRowBlock;
using detail::kWarpRowMax;
// inner == 1: fewer rows than this, each longer than kSplitRowMin, are split into chunks.
constexpr int64_t kFewRows = 256;
constexpr int64_t kSplitRowMin = int64_t{1} << 16;
constexpr int64_t kRowChunk = int64_t{1} << 14;
// inner > 1: below this many columns, r is split until there are about this many
// (column, chunk) threads, each walking at least kMinColumnChunk entries.
constexpr int64_t kBusyColumns = int64_t{1} << 16;
constexpr int64_t kMinColumnChunk = 64;

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return v != v;
  else
    return false;
}

template <typename T, bool kSquare>
struct SumOp {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  static __device__ Acc identity() { return Acc(0); }
  static __device__ Acc load(T x, int64_t) {
    const Acc v = static_cast<Acc>(x);
    if constexpr (kSquare)
      return v * v;
    else
      return v;
  }
  __device__ Acc operator()(Acc a, Acc b) const { return a + b; }
  static __device__ void store(const Acc& a, T* out, int64_t*, int64_t w) { out[w] = static_cast<T>(a); }
};

template <typename T>
struct Best {
  T v;
  int64_t i;
};

// max (kMax) or min with the CPU's answer: the first NaN if there is one, else the extreme
// value at its first position. Both are decided by comparing positions, so the combine is
// associative and commutative, and any tree gives the CPU's (sequential) result.
template <typename T, bool kMax>
struct ExtremeOp {
  using Acc = Best<T>;
  static __device__ Acc identity() {
    if constexpr (std::is_floating_point_v<T>)
      return {kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity(), INT64_MAX};
    else
      return {kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max(), INT64_MAX};
  }
  static __device__ Acc load(T x, int64_t j) { return {x, j}; }
  __device__ Acc operator()(Acc a, Acc b) const {
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) {
      if (an && bn) return a.i <= b.i ? a : b;
      return an ? a : b;
    }
    if (kMax ? b.v > a.v : b.v < a.v) return b;
    if (kMax ? a.v > b.v : a.v < b.v) return a;
    return a.i <= b.i ? a : b;
  }
  static __device__ void store(const Acc& a, T* out, int64_t* idx, int64_t w) {
    out[w] = a.v;
    if (idx) idx[w] = a.i;
  }
};

// Sources of the rows a row reduction walks: view(row) gives the row's length and its
// values at(j), with the row's offsets worked out once.

template <typename Op, typename T>
struct ValueView {
  const T* p;
  int64_t pos0, length;
  __device__ typename Op::Acc at(int64_t j) const { return Op::load(p[j], pos0 + j); }
};

// Output row o of in viewed as [outer, r].
template <typename Op, typename T>
struct RowValues {
  const T* in;
  int64_t r;
  __device__ ValueView<Op, T> view(int64_t row) const { return {in + row * r, 0, r}; }
};

// Virtual row v = o * chunks + c: chunk c of row o.
template <typename Op, typename T>
struct RowChunks {
  const T* in;
  int64_t r, chunk, chunks;
  __device__ ValueView<Op, T> view(int64_t v) const {
    const int64_t begin = (v % chunks) * chunk;
    return {in + (v / chunks) * r + begin, begin, r - begin < chunk ? r - begin : chunk};
  }
};

template <typename Acc>
struct PartialView {
  const Acc* p;
  int64_t length;
  __device__ Acc at(int64_t j) const { return p[j]; }
};

// The partials of row o, in chunk order.
template <typename Acc>
struct RowPartials {
  const Acc* partial;
  int64_t chunks;
  __device__ PartialView<Acc> view(int64_t row) const { return {partial + row * chunks, chunks}; }
};

// Destinations of a finished reduction.
template <typename Op, typename T>
struct ToOutput {
  T* out;
  int64_t* idx;
  __device__ void operator()(int64_t w, const typename Op::Acc& a) const { Op::store(a, out, idx, w); }
};

template <typename Acc>
struct ToPartial {
  Acc* partial;
  __device__ void operator()(int64_t w, const Acc& a) const { partial[w] = a; }
};

// A group of kThreads threads per row (block_reduce.cuh's row groups).
template <typename Op, int kThreads, typename Src, typename Dst>
__global__ void __launch_bounds__(kBlock) reduce_rows(Src src, Dst dst, int64_t rows) {
  const int lane = detail::group_lane<kThreads>();
  const Op op{};
  for (int64_t row = detail::group_first_row<kThreads>(); row < rows; row += detail::group_row_step<kThreads>()) {
    const auto v = src.view(row);
    typename Op::Acc acc = Op::identity();
    for (int64_t j = lane; j < v.length; j += kThreads) acc = op(acc, v.at(j));
    acc = group_reduce<kThreads>(acc, op);
    if (lane == 0) dst(row, acc);
  }
}

// A thread per column w = o * inner + i, walking entries [c * chunk, (c + 1) * chunk) of r
// for c = blockIdx.y; the result goes to dst(c * columns + w).
template <typename Op, typename T, typename Dst>
__global__ void __launch_bounds__(kBlock)
    reduce_columns(const T* in, Dst dst, int64_t r, int64_t inner, int64_t columns, int64_t chunk) {
  const Op op{};
  const int64_t j0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t j1 = r - j0 < chunk ? r : j0 + chunk;
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; w < columns;
       w += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T* p = in + (w / inner) * r * inner + w % inner;
    typename Op::Acc acc = Op::identity();
    for (int64_t j = j0; j < j1; ++j) acc = op(acc, Op::load(p[j * inner], j));
    dst(static_cast<int64_t>(blockIdx.y) * columns + w, acc);
  }
}

// A thread per column: its chunk partials, in chunk order.
template <typename Op, typename T>
__global__ void __launch_bounds__(kBlock)
    finish_columns(const typename Op::Acc* partial, T* out, int64_t* idx, int64_t columns, int64_t chunks) {
  const Op op{};
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; w < columns;
       w += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    typename Op::Acc acc = Op::identity();
    for (int64_t c = 0; c < chunks; ++c) acc = op(acc, partial[c * columns + w]);
    Op::store(acc, out, idx, w);
  }
}

template <typename Op, typename T>
void run(cudaStream_t stream, const T* in, T* out, int64_t* idx, int64_t outer, int64_t r, int64_t inner) {
  using Acc = typename Op::Acc;
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
    if (outer < kFewRows && r > kSplitRowMin) {
      const int64_t chunks = ceil_div(r, kRowChunk);
      const int64_t parts = outer * chunks;
      DeviceScratch partial(stream, static_cast<size_t>(parts) * sizeof(Acc), "reduce");
      reduce_rows<Op, kBlock><<<blocks_for(parts, 1), kBlock, 0, stream>>>(RowChunks<Op, T>{in, r, kRowChunk, chunks},
                                                                           ToPartial<Acc>{partial.as<Acc>()}, parts);
      check_launch("reduce");
      reduce_rows<Op, kBlock><<<blocks_for(outer, 1), kBlock, 0, stream>>>(RowPartials<Acc>{partial.as<Acc>(), chunks},
                                                                           ToOutput<Op, T>{out, idx}, outer);
      check_launch("reduce");
    } else if (r > kWarpRowMax) {
      reduce_rows<Op, kBlock>
          <<<blocks_for(outer, 1), kBlock, 0, stream>>>(RowValues<Op, T>{in, r}, ToOutput<Op, T>{out, idx}, outer);
      check_launch("reduce");
    } else {
      constexpr int kRowsPerBlock = kBlock / detail::kWarpSize;
      reduce_rows<Op, detail::kWarpSize><<<blocks_for(outer, kRowsPerBlock), kBlock, 0, stream>>>(
          RowValues<Op, T>{in, r}, ToOutput<Op, T>{out, idx}, outer);
      check_launch("reduce");
    }
    return;
  }
  const int64_t columns = outer * inner;
  int64_t chunks = 1;
  if (columns < kBusyColumns && r > 2 * kMinColumnChunk)
    chunks = std::min(ceil_div(r, kMinColumnChunk), ceil_div(kBusyColumns, columns));
  const int64_t chunk = std::max<int64_t>(ceil_div(r, chunks), 1);
  chunks = std::max<int64_t>(ceil_div(r, chunk), 1);  // no empty chunk
  const dim3 grid(blocks_for(columns, kBlock), static_cast<unsigned>(chunks));
  if (chunks == 1) {
    reduce_columns<Op, T><<<grid, kBlock, 0, stream>>>(in, ToOutput<Op, T>{out, idx}, r, inner, columns, chunk);
    check_launch("reduce");
    return;
  }
  DeviceScratch partial(stream, static_cast<size_t>(chunks * columns) * sizeof(Acc), "reduce");
  reduce_columns<Op, T><<<grid, kBlock, 0, stream>>>(in, ToPartial<Acc>{partial.as<Acc>()}, r, inner, columns, chunk);
  check_launch("reduce");
  finish_columns<Op, T>
      <<<blocks_for(columns, kBlock), kBlock, 0, stream>>>(partial.as<Acc>(), out, idx, columns, chunks);
  check_launch("reduce");
}

}  // namespace

void reduce(cudaStream_t stream, ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices, int64_t outer,
            int64_t r, int64_t inner) {
  visit_dtype(dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int32_t> ||
                  std::is_same_v<T, int64_t> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
      const T* x = static_cast<const T*>(in);
      T* y = static_cast<T*>(out);
      switch (op) {
        case ReduceOp::sum:
          run<SumOp<T, false>>(stream, x, y, nullptr, outer, r, inner);
          break;
        case ReduceOp::sum_squares:
          if constexpr (std::is_floating_point_v<T>)
            run<SumOp<T, true>>(stream, x, y, nullptr, outer, r, inner);
          else
            TERN_FAIL("reduce", "sum of squares needs a floating dtype, got ", dtype_name(dtype_v<T>));
          break;
        case ReduceOp::max:
          run<ExtremeOp<T, true>>(stream, x, y, indices, outer, r, inner);
          break;
        case ReduceOp::min:
          run<ExtremeOp<T, false>>(stream, x, y, indices, outer, r, inner);
          break;
      }
    } else {
      TERN_FAIL("reduce", "no kernel for ", dtype_name(dtype_v<T>));
    }
  });
}

}  // namespace tern::gpu::kernels
