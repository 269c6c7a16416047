// Reductions over the middle axis of a contiguous [outer, r, inner] block.
// f32 sums accumulate in f64, so long sums do not drift.

#include <cmath>
#include <limits>
#include <vector>

#include "cpu_backend.h"
#include "loops.h"

namespace tern::cpu {

namespace {

template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

constexpr int64_t kLongRowChunk = int64_t{1} << 16;
constexpr int64_t kFewRows = 8;

// One row of length r: sum of x (or of x*x) in A.
template <bool Square, typename T, typename A>
A row_sum(const T* p, int64_t r) {
  A acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t j = 0; j < r; ++j) {
    const A v = static_cast<A>(p[j]);
    acc += Square ? v * v : v;
  }
  return acc;
}

template <bool Square, typename T>
void sum_kernel(const T* in, T* out, int64_t outer, int64_t r, int64_t inner) {
  using A = acc_t<T>;
  if (inner == 1 && outer <= kFewRows && r >= 2 * kLongRowChunk) {
    // Few long rows (a whole-tensor sum, a gradient norm): split each row into fixed
    // chunks summed in parallel, then add the partial sums in chunk order. Neither the
    // path taken nor the chunks depend on the thread count, so neither does the result.
    const int64_t chunks = (r + kLongRowChunk - 1) / kLongRowChunk;
    std::vector<A> part(chunks);
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = in + o * r;
      parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c)
          part[c] = row_sum<Square, T, A>(row + c * kLongRowChunk, std::min(kLongRowChunk, r - c * kLongRowChunk));
      });
      A acc = 0;
      for (A v : part) acc += v;
      out[o] = static_cast<T>(acc);
    }
    return;
  }
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(r, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t o = b; o < e; ++o) out[o] = static_cast<T>(row_sum<Square, T, A>(in + o * r, r));
                 });
    return;
  }
  // Sum rows of length `inner`; split across threads by (outer, inner-chunk).
  const int64_t chunk = 1024;
  const int64_t nchunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * nchunks, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(r * chunk, 1)),
               [&](int64_t b, int64_t e) {
                 std::vector<A> acc(chunk);
                 for (int64_t w = b; w < e; ++w) {
                   const int64_t o = w / nchunks, c0 = (w % nchunks) * chunk;
                   const int64_t len = std::min(chunk, inner - c0);
                   std::fill(acc.begin(), acc.begin() + len, A(0));
                   for (int64_t j = 0; j < r; ++j) {
                     const T* p = in + (o * r + j) * inner + c0;
                     for (int64_t i = 0; i < len; ++i) {
                       const A v = static_cast<A>(p[i]);
                       acc[i] += Square ? v * v : v;
                     }
                   }
                   T* q = out + o * inner + c0;
                   for (int64_t i = 0; i < len; ++i) q[i] = static_cast<T>(acc[i]);
                 }
               });
}

// max (sign = 1) or min (sign = -1); NaN wins, as in torch; ties keep the first index.
template <typename T>
void extreme_kernel(bool is_max, const T* in, T* out, int64_t* idx, int64_t outer, int64_t r,
                    int64_t inner) {
  parallel_for(outer * inner, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(r, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t w = b; w < e; ++w) {
                   const int64_t o = w / inner, i = w % inner;
                   const T* p = in + o * r * inner + i;
                   T best = p[0];
                   int64_t bi = 0;
                   for (int64_t j = 1; j < r; ++j) {
                     const T v = p[j * inner];
                     bool take;
                     if constexpr (std::is_floating_point_v<T>) {
                       if (std::isnan(best)) break;
                       take = std::isnan(v) || (is_max ? v > best : v < best);
                     } else {
                       take = is_max ? v > best : v < best;
                     }
                     if (take) {
                       best = v;
                       bi = j;
                     }
                   }
                   out[w] = best;
                   if (idx) idx[w] = bi;
                 }
               });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices,
                        int64_t outer, int64_t r, int64_t inner) {
  visit_dtype(dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                  std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
      const T* x = static_cast<const T*>(in);
      T* y = static_cast<T*>(out);
      if (op == ReduceOp::sum) {
        sum_kernel<false, T>(x, y, outer, r, inner);
      } else if (op == ReduceOp::sum_squares) {
        if constexpr (std::is_floating_point_v<T>)
          sum_kernel<true, T>(x, y, outer, r, inner);
        else
          TERN_FAIL("reduce", "sum of squares needs a floating dtype, got ", dtype_name(dtype_v<T>));
      } else {
        extreme_kernel<T>(op == ReduceOp::max, x, y, indices, outer, r, inner);
      }
    } else {
      TERN_FAIL("reduce", "no kernel for ", dtype_name(dtype_v<T>));
    }
  });
}

}  // namespace tern::cpu
