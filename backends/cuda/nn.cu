// Fused row kernels on the device: softmax, log_softmax, layer_norm, cross_entropy.
//
// They follow backends/cpu/nn.cpp step by step: the same shift for rows of -inf, exp in the
// input's precision, sums (of exp, of x, of squared deviations, of the loss) accumulated in
// double, and the same casts back. Two things differ within tolerance, not in kind: exp comes
// from CUDA's libdevice rather than glibc (both within 2 ulp, not always the same ulp), and
// the double sums add in a fixed tree rather than the CPU's lane order. Every reduction is a
// fixed tree chosen from the shape (block_reduce.cuh), so each kernel is bit-identical run to
// run; the layer_norm parameter gradients sum rows in two passes, never with atomics.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <tern/backends/cuda/kernels.h>
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
using detail::launch_rows;
using detail::Plus;

constexpr int kBlock = detail::kRowBlock;

__device__ __forceinline__ float exp_t(float x) { return expf(x); }
__device__ __forceinline__ double exp_t(double x) { return exp(x); }

// Max that lets any NaN through (the CPU's row_max): the result is NaN if any input is.
struct MaxNan {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    if (a != a) return a;
    if (b != b) return b;
    return b > a ? b : a;
  }
};

// A row of -inf has no finite max: shift by 0 so that it gives NaN, like torch.
template <typename T>
__device__ __forceinline__ T softmax_shift(T m) {
  return isinf(m) ? T(0) : m;
}

// Runs f(T{}) for f32 and f64, and fails as the CPU does for anything else.
template <typename F>
void visit_float(DType dtype, const char* op, F&& f) {
  if (dtype == kFloat32)
    f(float{});
  else if (dtype == kFloat64)
    f(double{});
  else
    TERN_FAIL(op, "no kernel for ", dtype);
}

// ---- softmax / log_softmax

// inner == 1: as the CPU's softmax_row. y holds exp(x - shift) between the passes.
template <typename T, int kThreads>
__global__ void __launch_bounds__(kBlock) softmax_rows(bool log, const T* in, T* out, int64_t rows, int64_t d) {
  const int lane = group_lane<kThreads>();
  for (int64_t row = group_first_row<kThreads>(); row < rows; row += group_row_step<kThreads>()) {
    const T* x = in + row * d;
    T* y = out + row * d;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = lane; j < d; j += kThreads) m = MaxNan{}(m, x[j]);
    const T shift = softmax_shift(group_reduce<kThreads>(m, MaxNan{}));
    double s = 0;
    for (int64_t j = lane; j < d; j += kThreads) {
      const T e = exp_t(x[j] - shift);
      y[j] = e;
      s += static_cast<double>(e);
    }
    s = group_reduce<kThreads>(s, Plus{});
    if (log) {
      const T sub = shift + static_cast<T>(::log(s));
      for (int64_t j = lane; j < d; j += kThreads) y[j] = x[j] - sub;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = lane; j < d; j += kThreads) y[j] = y[j] * inv;
    }
  }
}

template <int kThreads>
struct SoftmaxRows {
  template <typename T>
  static void run(cudaStream_t stream, unsigned blocks, bool log, const T* in, T* out, int64_t rows, int64_t d) {
    softmax_rows<T, kThreads><<<blocks, kBlock, 0, stream>>>(log, in, out, rows, d);
  }
};

// inner > 1: a thread per (outer, inner) column walks d, as the CPU's strided loop.
template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_columns(bool log, const T* in, T* out, int64_t d, int64_t inner, int64_t columns) {
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; w < columns;
       w += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = (w / inner) * d * inner + w % inner;
    const T* x = in + base;
    T* y = out + base;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < d; ++j) m = MaxNan{}(m, x[j * inner]);
    const T shift = softmax_shift(m);
    double s = 0;
    for (int64_t j = 0; j < d; ++j) {
      const T e = exp_t(x[j * inner] - shift);
      y[j * inner] = e;
      s += static_cast<double>(e);
    }
    if (log) {
      const T lse = static_cast<T>(::log(s));
      for (int64_t j = 0; j < d; ++j) y[j * inner] = x[j * inner] - shift - lse;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = 0; j < d; ++j) y[j * inner] = y[j * inner] * inv;
    }
  }
}

// ---- layer_norm

template <typename T, int kThreads>
__global__ void __launch_bounds__(kBlock) ln_forward_rows(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                                                          int64_t rows, int64_t cols, double eps) {
  const int lane = group_lane<kThreads>();
  for (int64_t row = group_first_row<kThreads>(); row < rows; row += group_row_step<kThreads>()) {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    // Two passes (mean, then squared deviations) in double, as the CPU: no cancellation.
    double sum = 0;
    for (int64_t j = lane; j < cols; j += kThreads) sum += static_cast<double>(xr[j]);
    const double mu = group_reduce<kThreads>(sum, Plus{}) / static_cast<double>(cols);
    double sq = 0;
    for (int64_t j = lane; j < cols; j += kThreads) {
      const double dv = static_cast<double>(xr[j]) - mu;
      sq += dv * dv;
    }
    sq = group_reduce<kThreads>(sq, Plus{});
    const double rs = 1.0 / sqrt(sq / static_cast<double>(cols) + eps);
    const T m = static_cast<T>(mu), rt = static_cast<T>(rs);
    if (w && b) {
      for (int64_t j = lane; j < cols; j += kThreads) yr[j] = (xr[j] - m) * rt * w[j] + b[j];
    } else if (w) {
      for (int64_t j = lane; j < cols; j += kThreads) yr[j] = (xr[j] - m) * rt * w[j];
    } else if (b) {
      for (int64_t j = lane; j < cols; j += kThreads) yr[j] = (xr[j] - m) * rt + b[j];
    } else {
      for (int64_t j = lane; j < cols; j += kThreads) yr[j] = (xr[j] - m) * rt;
    }
    if (lane == 0) {
      mean[row] = m;
      rstd[row] = rt;
    }
  }
}

template <int kThreads>
struct LnForwardRows {
  template <typename T>
  static void run(cudaStream_t stream, unsigned blocks, const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                  int64_t rows, int64_t cols, double eps) {
    ln_forward_rows<T, kThreads><<<blocks, kBlock, 0, stream>>>(x, w, b, y, mean, rstd, rows, cols, eps);
  }
};

// gx for one row: rs * (gh - mean(gh) - xh * mean(gh * xh)), gh = gy * w, xh = (x - mean) * rstd.
template <typename T, int kThreads>
__global__ void __launch_bounds__(kBlock) ln_backward_rows(const T* gy, const T* x, const T* w, const T* mean,
                                                           const T* rstd, T* gx, int64_t rows, int64_t cols) {
  const int lane = group_lane<kThreads>();
  for (int64_t row = group_first_row<kThreads>(); row < rows; row += group_row_step<kThreads>()) {
    const T* xr = x + row * cols;
    const T* g = gy + row * cols;
    T* o = gx + row * cols;
    const T m = mean[row], rs = rstd[row];
    double s1 = 0, s2 = 0;
    for (int64_t j = lane; j < cols; j += kThreads) {
      const T xh = (xr[j] - m) * rs;
      const T gh = w ? g[j] * w[j] : g[j];
      s1 += static_cast<double>(gh);
      s2 += static_cast<double>(gh * xh);
    }
    s1 = group_reduce<kThreads>(s1, Plus{});
    s2 = group_reduce<kThreads>(s2, Plus{});
    const T a1 = static_cast<T>(s1 / static_cast<double>(cols)), a2 = static_cast<T>(s2 / static_cast<double>(cols));
    for (int64_t j = lane; j < cols; j += kThreads) {
      const T xh = (xr[j] - m) * rs;
      const T gh = w ? g[j] * w[j] : g[j];
      o[j] = rs * (gh - a1 - xh * a2);
    }
  }
}

template <int kThreads>
struct LnBackwardRows {
  template <typename T>
  static void run(cudaStream_t stream, unsigned blocks, const T* gy, const T* x, const T* w, const T* mean,
                  const T* rstd, T* gx, int64_t rows, int64_t cols) {
    ln_backward_rows<T, kThreads><<<blocks, kBlock, 0, stream>>>(gy, x, w, mean, rstd, gx, rows, cols);
  }
};

// First pass of gweight / gbias: a thread per column sums rows [c * chunk, (c + 1) * chunk)
// for c = blockIdx.y into pw / pb [chunks, cols] (either may be null).
template <typename T>
__global__ void __launch_bounds__(kBlock)
    ln_param_partials(const T* gy, const T* x, const T* mean, const T* rstd, double* pw, double* pb, int64_t rows,
                      int64_t cols, int64_t chunk) {
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t r1 = rows - r0 < chunk ? rows : r0 + chunk;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double aw = 0, ab = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T g = gy[r * cols + j];
      if (pw) aw += static_cast<double>(g * ((x[r * cols + j] - mean[r]) * rstd[r]));
      ab += static_cast<double>(g);
    }
    const int64_t at = static_cast<int64_t>(blockIdx.y) * cols + j;
    if (pw) pw[at] = aw;
    if (pb) pb[at] = ab;
  }
}

// Second pass: a thread per column adds its partials in chunk order.
template <typename T>
__global__ void __launch_bounds__(kBlock)
    ln_param_finish(const double* pw, const double* pb, T* gw, T* gb, int64_t cols, int64_t chunks) {
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double sw = 0, sb = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      if (pw) sw += pw[c * cols + j];
      if (pb) sb += pb[c * cols + j];
    }
    if (gw) gw[j] = static_cast<T>(sw);
    if (gb) gb[j] = static_cast<T>(sb);
  }
}

template <typename T>
void ln_param_grads(cudaStream_t stream, const T* gy, const T* x, const T* mean, const T* rstd, T* gw, T* gb,
                    int64_t rows, int64_t cols) {
  if (rows == 0) {
    // The sum over no rows.
    if (gw) detail::check_cuda(cudaMemsetAsync(gw, 0, cols * sizeof(T), stream), "layer_norm", "cudaMemsetAsync");
    if (gb) detail::check_cuda(cudaMemsetAsync(gb, 0, cols * sizeof(T), stream), "layer_norm", "cudaMemsetAsync");
    return;
  }
  // Enough (column, chunk) threads to fill the device, each summing at least 16 rows.
  constexpr int64_t kBusy = int64_t{1} << 18, kMinChunk = 16, kMaxChunks = 1024;
  int64_t chunks = std::clamp<int64_t>(ceil_div(kBusy, cols), 1, kMaxChunks);
  chunks = std::min(chunks, ceil_div(rows, kMinChunk));
  const int64_t chunk = ceil_div(rows, chunks);
  chunks = ceil_div(rows, chunk);
  const size_t bytes = static_cast<size_t>(chunks * cols) * sizeof(double);
  DeviceScratch pw(stream, gw ? bytes : 0, "layer_norm");
  DeviceScratch pb(stream, gb ? bytes : 0, "layer_norm");
  const dim3 grid(blocks_for(cols, kBlock), static_cast<unsigned>(chunks));
  ln_param_partials<T>
      <<<grid, kBlock, 0, stream>>>(gy, x, mean, rstd, pw.as<double>(), pb.as<double>(), rows, cols, chunk);
  check_launch("layer_norm");
  ln_param_finish<T>
      <<<blocks_for(cols, kBlock), kBlock, 0, stream>>>(pw.as<double>(), pb.as<double>(), gw, gb, cols, chunks);
  check_launch("layer_norm");
}

// ---- cross_entropy

// Per row: lse = shift + log(sum exp(x - shift)) (the sum in double, as the CPU), and the row's
// loss lse - x[target] in double, or 0 for an ignored row. A bad target is reported, and its
// row counts as ignored so that nothing reads out of bounds.
template <typename T, int kThreads>
__global__ void __launch_bounds__(kBlock)
    ce_forward_rows(const T* logits, const int64_t* targets, T* lse, double* row_loss, int64_t* first_bad, int64_t rows,
                    int64_t classes, int64_t ignore) {
  const int lane = group_lane<kThreads>();
  for (int64_t row = group_first_row<kThreads>(); row < rows; row += group_row_step<kThreads>()) {
    const T* x = logits + row * classes;
    const int64_t t = targets[row];
    const bool bad = t != ignore && (t < 0 || t >= classes);
    if (bad && lane == 0) detail::report_bad(first_bad, row);
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = lane; j < classes; j += kThreads) m = MaxNan{}(m, x[j]);
    const T shift = softmax_shift(group_reduce<kThreads>(m, MaxNan{}));
    double s = 0;
    for (int64_t j = lane; j < classes; j += kThreads) s += static_cast<double>(exp_t(x[j] - shift));
    s = group_reduce<kThreads>(s, Plus{});
    if (lane == 0) {
      const T l = static_cast<T>(static_cast<double>(shift) + ::log(s));
      lse[row] = l;
      row_loss[row] = t != ignore && !bad ? static_cast<double>(l) - static_cast<double>(x[t]) : 0.0;
    }
  }
}

template <int kThreads>
struct CeForwardRows {
  template <typename T>
  static void run(cudaStream_t stream, unsigned blocks, const T* logits, const int64_t* targets, T* lse,
                  double* row_loss, int64_t* first_bad, int64_t rows, int64_t classes, int64_t ignore) {
    ce_forward_rows<T, kThreads>
        <<<blocks, kBlock, 0, stream>>>(logits, targets, lse, row_loss, first_bad, rows, classes, ignore);
  }
};

constexpr int kTotalBlock = 1024;

// One block: the mean loss over counted rows (NaN when there are none) and their count.
template <typename T>
__global__ void __launch_bounds__(kTotalBlock) ce_total(const double* row_loss, const int64_t* targets, T* loss,
                                                        int64_t* count, int64_t rows, int64_t classes, int64_t ignore) {
  double total = 0;
  long long n = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kTotalBlock) {
    const int64_t t = targets[r];
    if (t != ignore && t >= 0 && t < classes) {
      total += row_loss[r];
      ++n;
    }
  }
  total = group_reduce<kTotalBlock>(total, Plus{});
  n = group_reduce<kTotalBlock>(n, Plus{});
  if (threadIdx.x == 0) {
    *count = static_cast<int64_t>(n);
    *loss = static_cast<T>(n ? total / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN());
  }
}

// glogits = grad / count * (exp(x - lse) - onehot) on counted rows; 0 on ignored rows and
// everywhere when count is 0. A block per row.
template <typename T>
__global__ void __launch_bounds__(kBlock)
    ce_backward_rows(const T* logits, const int64_t* targets, const T* lse, const T* grad, const int64_t* count,
                     T* glogits, int64_t rows, int64_t classes, int64_t ignore) {
  const int64_t n = *count;
  // The CPU's scale: grad / count in double, then rounded to T.
  const T sc = n ? static_cast<T>(static_cast<double>(*grad) / static_cast<double>(n)) : T(0);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = logits + row * classes;
    T* g = glogits + row * classes;
    const int64_t t = targets[row];
    if (n == 0 || t == ignore) {
      for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) g[j] = T(0);
      continue;
    }
    const T l = lse[row];
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
      T v = sc * exp_t(x[j] - l);
      if (j == t) v -= sc;
      g[j] = v;
    }
  }
}

}  // namespace

void softmax(cudaStream_t stream, bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d,
             int64_t inner) {
  visit_float(dtype, "softmax", [&](auto t0) {
    using T = decltype(t0);
    if (outer == 0 || d == 0 || inner == 0) return;
    const T* x = static_cast<const T*>(in);
    T* y = static_cast<T*>(out);
    if (inner == 1) {
      launch_rows<SoftmaxRows>(stream, outer, d, log, x, y, outer, d);
    } else {
      const int64_t columns = outer * inner;
      softmax_columns<T><<<blocks_for(columns, kBlock), kBlock, 0, stream>>>(log, x, y, d, inner, columns);
    }
    check_launch("softmax");
  });
}

void layer_norm_forward(cudaStream_t stream, DType dtype, const void* x, const void* weight, const void* bias, void* y,
                        void* mean, void* rstd, int64_t rows, int64_t cols, double eps) {
  visit_float(dtype, "layer_norm", [&](auto t0) {
    using T = decltype(t0);
    if (rows == 0) return;
    launch_rows<LnForwardRows>(stream, rows, cols, static_cast<const T*>(x), static_cast<const T*>(weight),
                               static_cast<const T*>(bias), static_cast<T*>(y), static_cast<T*>(mean),
                               static_cast<T*>(rstd), rows, cols, eps);
    check_launch("layer_norm");
  });
}

void layer_norm_backward(cudaStream_t stream, DType dtype, const void* gy, const void* x, const void* weight,
                         const void* mean, const void* rstd, void* gx, void* gweight, void* gbias, int64_t rows,
                         int64_t cols) {
  visit_float(dtype, "layer_norm", [&](auto t0) {
    using T = decltype(t0);
    if (cols == 0) return;
    const T* g = static_cast<const T*>(gy);
    const T* xs = static_cast<const T*>(x);
    const T* m = static_cast<const T*>(mean);
    const T* rs = static_cast<const T*>(rstd);
    if (rows > 0) {
      launch_rows<LnBackwardRows>(stream, rows, cols, g, xs, static_cast<const T*>(weight), m, rs, static_cast<T*>(gx),
                                  rows, cols);
      check_launch("layer_norm");
    }
    if (gweight || gbias)
      ln_param_grads<T>(stream, g, xs, m, rs, static_cast<T*>(gweight), static_cast<T*>(gbias), rows, cols);
  });
}

void cross_entropy_forward(cudaStream_t stream, DType dtype, const void* logits, const int64_t* targets, void* lse,
                           void* loss, int64_t* count, int64_t rows, int64_t classes, int64_t ignore_index,
                           int64_t* bad) {
  visit_float(dtype, "cross_entropy", [&](auto t0) {
    using T = decltype(t0);
    DeviceScratch row_loss(stream, static_cast<size_t>(rows) * sizeof(double), "cross_entropy");
    DeviceScratch first_bad(stream, sizeof(int64_t), "cross_entropy");
    detail::init_first_bad<<<1, 1, 0, stream>>>(first_bad.as<int64_t>());
    check_launch("cross_entropy");
    if (rows > 0) {
      launch_rows<CeForwardRows>(stream, rows, classes, static_cast<const T*>(logits), targets, static_cast<T*>(lse),
                                 row_loss.as<double>(), first_bad.as<int64_t>(), rows, classes, ignore_index);
      check_launch("cross_entropy");
    }
    ce_total<T><<<1, kTotalBlock, 0, stream>>>(row_loss.as<double>(), targets, static_cast<T*>(loss), count, rows,
                                               classes, ignore_index);
    check_launch("cross_entropy");
    if (bad) {
      detail::record_first_bad<<<1, 1, 0, stream>>>(first_bad.as<int64_t>(), targets, bad);
      check_launch("cross_entropy");
    }
  });
}

void cross_entropy_backward(cudaStream_t stream, DType dtype, const void* logits, const int64_t* targets,
                            const void* lse, const void* grad, const int64_t* count, void* glogits, int64_t rows,
                            int64_t classes, int64_t ignore_index) {
  visit_float(dtype, "cross_entropy", [&](auto t0) {
    using T = decltype(t0);
    if (rows == 0 || classes == 0) return;
    ce_backward_rows<T><<<blocks_for(rows, 1), kBlock, 0, stream>>>(
        static_cast<const T*>(logits), targets, static_cast<const T*>(lse), static_cast<const T*>(grad), count,
        static_cast<T*>(glogits), rows, classes, ignore_index);
    check_launch("cross_entropy");
  });
}

}  // namespace tern::gpu::kernels
