// Fused, numerically stable row kernels: softmax, log_softmax, layer_norm,
// cross_entropy. Rows run in parallel; each row is processed while it sits in cache.

#include <cmath>
#include <limits>
#include <vector>

#include "cpu_backend.h"
#include "loops.h"
#include "vmath.h"

namespace tern::cpu {

namespace {

// Max of a contiguous run, NaN if any element is NaN. No early exit, and kLanes
// independent running maxima, so that it vectorises and is not bound by the
// latency of a single max chain.
template <typename T>
T contiguous_max(const T* __restrict x, int64_t n) {
  constexpr int kLanes = 64;
  T mv[kLanes];
  T seen_nan[kLanes];  // 1 once the lane has met a NaN
  for (int l = 0; l < kLanes; ++l) mv[l] = -std::numeric_limits<T>::infinity(), seen_nan[l] = T(0);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      const T v = x[j + l];
      mv[l] = v > mv[l] ? v : mv[l];
      seen_nan[l] = v != v ? T(1) : seen_nan[l];
    }
  }
  T m = -std::numeric_limits<T>::infinity();
  bool nan = false;
  for (int l = 0; l < kLanes; ++l) {
    m = mv[l] > m ? mv[l] : m;
    nan = nan || seen_nan[l] != T(0);
  }
  for (; j < n; ++j) {
    m = x[j] > m ? x[j] : m;
    nan = nan || x[j] != x[j];
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

template <typename T>
T row_max(const T* x, int64_t n, int64_t stride) {
  if (stride == 1) return contiguous_max(x, n);
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    const T v = x[j * stride];
    if (v > m || std::isnan(v)) m = v;
    if (std::isnan(m)) break;
  }
  return m;
}

// Sum of a contiguous run in double, over kLanes independent partial sums so that it
// vectorises without waiting on one add chain.
template <typename T>
double contiguous_sum(const T* __restrict x, int64_t n) {
  constexpr int kLanes = 32;
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) acc[l] += static_cast<double>(x[j + l]);
  }
  double s = 0;
  for (; j < n; ++j) s += static_cast<double>(x[j]);
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// Sum of (x - mu)^2 over a contiguous run, in double, like contiguous_sum.
template <typename T>
double contiguous_sq_dev(const T* __restrict x, int64_t n, double mu) {
  constexpr int kLanes = 32;
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      const double d = static_cast<double>(x[j + l]) - mu;
      acc[l] += d * d;
    }
  }
  double s = 0;
  for (; j < n; ++j) {
    const double d = static_cast<double>(x[j]) - mu;
    s += d * d;
  }
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// Prefetches [p, p + bytes) into cache, for reading or (write) for writing.
inline void prefetch_range(const void* p, int64_t bytes, bool write) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) {
    if (write)
      __builtin_prefetch(c + i, 1, 3);
    else
      __builtin_prefetch(c + i, 0, 3);
  }
}

// Row kernels make several passes over a row that sits in L1/L2, and only the first
// reads memory. Left alone, the core alternates between waiting for a row and
// computing on it; instead, while computing on row r, they prefetch row r + 1 (its
// input, and its output for writing) a block at a time.
inline constexpr int64_t kPrefetchBlock = 1024;  // bytes of the next row per block

// One contiguous row, in vectorised passes: max, exp into y (a loop with nothing live
// across the libmvec call), sum, then scale. next_x/next_y: the next row, or null.
template <typename T>
void softmax_row(bool log, const T* __restrict x, T* __restrict y, int64_t d, const T* next_x, T* next_y) {
  const T m = contiguous_max(x, d);
  // A row of -inf has no finite max; shift by 0 so it gives NaN like torch.
  const T shift = std::isinf(m) ? T(0) : m;
  constexpr int64_t kBlock = kPrefetchBlock / static_cast<int64_t>(sizeof(T));
  for (int64_t j0 = 0; j0 < d; j0 += kBlock) {
    const int64_t j1 = std::min(d, j0 + kBlock);
    if (next_x) {
      prefetch_range(next_x + j0, (j1 - j0) * static_cast<int64_t>(sizeof(T)), false);
      prefetch_range(next_y + j0, (j1 - j0) * static_cast<int64_t>(sizeof(T)), true);
    }
    TERN_SIMD_MATH()
    for (int64_t j = j0; j < j1; ++j) y[j] = vexp(x[j] - shift);
  }
  const double s = contiguous_sum(y, d);
  if (log) {
    const T sub = shift + static_cast<T>(std::log(s));
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) y[j] = x[j] - sub;
  } else {
    const T inv = static_cast<T>(1.0 / s);
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) y[j] *= inv;
  }
}

template <typename T>
void softmax_impl(bool log, const T* in, T* out, int64_t outer, int64_t d, int64_t inner) {
  parallel_for(outer * inner, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(d, 1)),
               [&](int64_t b, int64_t e) {
                 if (inner == 1) {
                   for (int64_t o = b; o < e; ++o) {
                     const bool more = o + 1 < e;
                     softmax_row(log, in + o * d, out + o * d, d, more ? in + (o + 1) * d : nullptr,
                                 more ? out + (o + 1) * d : nullptr);
                   }
                   return;
                 }
                 for (int64_t w = b; w < e; ++w) {
                   const int64_t o = w / inner, i = w % inner;
                   const T* x = in + o * d * inner + i;
                   T* y = out + o * d * inner + i;
                   const T m = row_max(x, d, inner);
                   const T shift = std::isinf(m) ? T(0) : m;
                   double s = 0;
                   for (int64_t j = 0; j < d; ++j) {
                     y[j * inner] = vexp(x[j * inner] - shift);
                     s += y[j * inner];
                   }
                   if (log) {
                     const T lse = static_cast<T>(std::log(s));
                     for (int64_t j = 0; j < d; ++j) y[j * inner] = x[j * inner] - shift - lse;
                   } else {
                     const T inv = static_cast<T>(1.0 / s);
                     for (int64_t j = 0; j < d; ++j) y[j * inner] *= inv;
                   }
                 }
               });
}

// y = (x - mean) * rstd * w + b over one row, specialised on which of w, b exist so
// that each loop vectorises.
template <typename T>
void ln_apply(const T* __restrict x, const T* __restrict w, const T* __restrict b, T* __restrict y,
              int64_t n, T m, T rs) {
  if (w && b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * rs * w[j] + b[j];
  } else if (w) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * rs * w[j];
  } else if (b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * rs + b[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * rs;
  }
}

template <typename T>
void ln_forward(const T* x, const T* w, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                int64_t cols, double eps) {
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t r = b; r < e; ++r) {
                   const T* __restrict xr = x + r * cols;
                   // Two passes (mean, then squared deviations) accumulated in double:
                   // the row is in cache for the second, and no cancellation.
                   const double mu = contiguous_sum(xr, cols) / static_cast<double>(cols);
                   const double v = contiguous_sq_dev(xr, cols, mu);
                   const double rs = 1.0 / std::sqrt(v / static_cast<double>(cols) + eps);
                   const T m = static_cast<T>(mu), rt = static_cast<T>(rs);
                   ln_apply(xr, w, bias, y + r * cols, cols, m, rt);
                   mean[r] = m;
                   rstd[r] = rt;
                 }
               });
}

template <typename T>
void ln_backward(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx, T* gw,
                 T* gb, int64_t rows, int64_t cols) {
  const int nt = num_threads();
  // Per-thread partial sums for the weight and bias gradients, added at the end.
  std::vector<std::vector<double>> pw(nt), pb(nt);
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1));
  const int64_t threads = std::min<int64_t>(nt, (rows + grain - 1) / grain);
  const int64_t per = threads > 1 ? (rows + threads - 1) / threads : rows;
  auto work = [&](int t) {
    const int64_t b = t * per, e = std::min(rows, b + per);
    std::vector<double>& aw = pw[t];
    std::vector<double>& ab = pb[t];
    if (gw) aw.assign(cols, 0.0);
    if (gb) ab.assign(cols, 0.0);
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * cols;
      const T* g = gy + r * cols;
      T* o = gx + r * cols;
      const T m = mean[r], rs = rstd[r];
      double s1 = 0, s2 = 0;  // mean of g*w and of g*w*xhat
      for (int64_t j = 0; j < cols; ++j) {
        const T xh = (xr[j] - m) * rs;
        const T gh = w ? g[j] * w[j] : g[j];
        s1 += gh;
        s2 += gh * xh;
        if (gw) aw[j] += g[j] * xh;
        if (gb) ab[j] += g[j];
      }
      const T a1 = static_cast<T>(s1 / cols), a2 = static_cast<T>(s2 / cols);
      for (int64_t j = 0; j < cols; ++j) {
        const T xh = (xr[j] - m) * rs;
        const T gh = w ? g[j] * w[j] : g[j];
        o[j] = rs * (gh - a1 - xh * a2);
      }
    }
  };
  if (threads <= 1) {
    work(0);
  } else {
#pragma omp parallel for num_threads(threads)
    for (int t = 0; t < static_cast<int>(threads); ++t) work(t);
  }
  const int64_t used = std::max<int64_t>(threads, 1);
  for (int64_t j = 0; j < cols; ++j) {
    double sw = 0, sb = 0;
    for (int64_t t = 0; t < used; ++t) {
      if (gw && !pw[t].empty()) sw += pw[t][j];
      if (gb && !pb[t].empty()) sb += pb[t][j];
    }
    if (gw) gw[j] = static_cast<T>(sw);
    if (gb) gb[j] = static_cast<T>(sb);
  }
}

template <typename T>
void ce_forward(const T* logits, const int64_t* targets, T* lse, T* loss, int64_t* count, int64_t rows, int64_t classes,
                int64_t ignore, const RangeCheck& check) {
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] != ignore && (targets[r] < 0 || targets[r] >= classes)) fail_range(check, targets[r], r);
  double total = 0;
  int64_t n = 0;
#pragma omp parallel for reduction(+ : total, n) num_threads(num_threads()) if (rows * classes > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = logits + r * classes;
    const T m = row_max(x, classes, 1);
    const T shift = std::isinf(m) ? T(0) : m;
    double s = 0;
    TERN_SIMD_MATH(reduction(+ : s))
    for (int64_t j = 0; j < classes; ++j) s += vexp(x[j] - shift);
    lse[r] = static_cast<T>(shift + std::log(s));
    if (targets[r] != ignore) {
      total += static_cast<double>(lse[r]) - static_cast<double>(x[targets[r]]);
      ++n;
    }
  }
  *count = n;
  *loss = static_cast<T>(n ? total / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN());
}

template <typename T>
void ce_backward(const T* logits, const int64_t* targets, const T* lse, double scale, T* g,
                 int64_t rows, int64_t classes, int64_t ignore) {
  const T sc = static_cast<T>(scale);
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(classes, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t r = b; r < e; ++r) {
                   T* gr = g + r * classes;
                   if (targets[r] == ignore) {
                     std::fill(gr, gr + classes, T(0));
                     continue;
                   }
                   const T* x = logits + r * classes;
                   const T l = lse[r];
                   TERN_SIMD_MATH()
                   for (int64_t j = 0; j < classes; ++j) gr[j] = sc * vexp(x[j] - l);
                   gr[targets[r]] -= sc;
                 }
               });
}

}  // namespace

void CpuBackend::softmax(bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d,
                         int64_t inner) {
  if (dtype == kFloat32)
    softmax_impl<float>(log, static_cast<const float*>(in), static_cast<float*>(out), outer, d, inner);
  else if (dtype == kFloat64)
    softmax_impl<double>(log, static_cast<const double*>(in), static_cast<double*>(out), outer, d, inner);
  else
    TERN_FAIL("softmax", "no kernel for ", dtype);
}

void CpuBackend::layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias,
                                    void* y, void* mean, void* rstd, int64_t rows, int64_t cols,
                                    double eps) {
  visit_dtype(dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_floating_point_v<T>)
      ln_forward<T>(static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
                    static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(rstd), rows, cols, eps);
    else
      TERN_FAIL("layer_norm", "no kernel for ", dtype);
  });
}

void CpuBackend::layer_norm_backward(DType dtype, const void* gy, const void* x, const void* weight,
                                     const void* mean, const void* rstd, void* gx, void* gweight,
                                     void* gbias, int64_t rows, int64_t cols) {
  visit_dtype(dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_floating_point_v<T>)
      ln_backward<T>(static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(weight),
                     static_cast<const T*>(mean), static_cast<const T*>(rstd), static_cast<T*>(gx),
                     static_cast<T*>(gweight), static_cast<T*>(gbias), rows, cols);
    else
      TERN_FAIL("layer_norm", "no kernel for ", dtype);
  });
}

void CpuBackend::cross_entropy_forward(DType dtype, const void* logits, const int64_t* targets, void* lse, void* loss,
                                       int64_t* count, int64_t rows, int64_t classes, int64_t ignore_index,
                                       const RangeCheck& check) {
  visit_dtype(dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_floating_point_v<T>)
      ce_forward<T>(static_cast<const T*>(logits), targets, static_cast<T*>(lse), static_cast<T*>(loss), count, rows,
                    classes, ignore_index, check);
    else
      TERN_FAIL("cross_entropy", "no kernel for ", dtype);
  });
}

void CpuBackend::cross_entropy_backward(DType dtype, const void* logits, const int64_t* targets, const void* lse,
                                        const void* grad, const int64_t* count, void* glogits, int64_t rows,
                                        int64_t classes, int64_t ignore_index) {
  visit_dtype(dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_floating_point_v<T>) {
      const double scale =
          *count ? static_cast<double>(*static_cast<const T*>(grad)) / static_cast<double>(*count) : 0.0;
      ce_backward<T>(static_cast<const T*>(logits), targets, static_cast<const T*>(lse), scale,
                     static_cast<T*>(glogits), rows, classes, ignore_index);
    } else
      TERN_FAIL("cross_entropy", "no kernel for ", dtype);
  });
}

}  // namespace tern::cpu
