// BitNet b1.58 quantization kernels: fused per-token 8-bit activation quantization and
// per-tensor ternarization (absmean, or an exact sparsity target found by radix select).

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_backend.h"
#include "loops.h"

namespace tern::cpu {

namespace {

// Fixed chunking for reductions, so that results do not depend on the thread count.
constexpr int64_t kChunk = int64_t{1} << 16;

template <typename T>
void activation_quant_rows(const T* x, T* out, int8_t* q, T* scale, int64_t rows, int64_t cols) {
  const T eps = static_cast<T>(1e-5);
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * cols;
      T m = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const T a = std::abs(xr[c]);
        m = a > m ? a : m;
      }
      const T s = static_cast<T>(127) / std::max(m, eps);
      scale[r] = s;
      T* orow = out ? out + r * cols : nullptr;
      int8_t* qrow = q ? q + r * cols : nullptr;
      if (orow && qrow) {
        for (int64_t c = 0; c < cols; ++c) {
          const T v = std::min(std::max(std::nearbyint(xr[c] * s), static_cast<T>(-128)), static_cast<T>(127));
          qrow[c] = static_cast<int8_t>(v);
          orow[c] = v / s;
        }
      } else if (orow) {
        for (int64_t c = 0; c < cols; ++c) {
          const T v = std::min(std::max(std::nearbyint(xr[c] * s), static_cast<T>(-128)), static_cast<T>(127));
          orow[c] = v / s;
        }
      } else if (qrow) {
        for (int64_t c = 0; c < cols; ++c) {
          const T v = std::min(std::max(std::nearbyint(xr[c] * s), static_cast<T>(-128)), static_cast<T>(127));
          qrow[c] = static_cast<int8_t>(v);
        }
      }
    }
  });
}

template <typename T>
struct Key;
template <>
struct Key<float> {
  using U = uint32_t;
};
template <>
struct Key<double> {
  using U = uint64_t;
};

// |v| as an unsigned integer: for non-negative IEEE values the bit patterns order as the values.
template <typename T>
inline typename Key<T>::U abs_key(T v) {
  typename Key<T>::U u;
  std::memcpy(&u, &v, sizeof u);
  return u & ~(typename Key<T>::U{1} << (8 * sizeof u - 1));
}

// Runs body(chunk_index, begin, end) over fixed chunks of [0, n) in parallel.
template <typename F>
void for_chunks(int64_t n, F&& body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) body(c, c * kChunk, std::min(n, (c + 1) * kChunk));
  });
}

template <typename T>
void dequantize(const int8_t* q, T scale, T* out, int64_t n) {
  if (!out) return;
  parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = static_cast<T>(q[i]) * scale;
  });
}

template <typename T>
double absmean_ternarize(const T* w, int64_t n, int8_t* q, T* out) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
  for_chunks(n, [&](int64_t c, int64_t b, int64_t e) {
    double acc = 0;
    for (int64_t i = b; i < e; ++i) acc += std::abs(static_cast<double>(w[i]));
    part[static_cast<size_t>(c)] = acc;
  });
  double total = 0;
  for (double p : part) total += p;
  // torch: w.abs().mean() in T, clamp(min=1e-5), then 1 / that, all in T.
  const T mean = static_cast<T>(total) / static_cast<T>(n);
  const T s = static_cast<T>(1) / std::max(mean, static_cast<T>(1e-5));
  const T scale = static_cast<T>(1) / s;
  parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T v = std::min(std::max(std::nearbyint(w[i] * s), static_cast<T>(-1)), static_cast<T>(1));
      q[i] = static_cast<int8_t>(v);
    }
  });
  dequantize(q, scale, out, n);
  return static_cast<double>(scale);
}

// Radix select on |w|'s bit pattern, 16 bits per pass: returns the key of the k-th smallest
// (1-based) |w| and sets *rank_in_ties to its rank among entries with that key (1-based).
template <typename T>
typename Key<T>::U select_kth_key(const T* w, int64_t n, int64_t k, int64_t* rank_in_ties, int64_t* ties) {
  using U = typename Key<T>::U;
  constexpr int kBits = 16;
  constexpr int64_t kBins = int64_t{1} << kBits;
  const int threads = std::max(1, num_threads());
  std::vector<int64_t> hist(static_cast<size_t>(threads) * kBins);
  U prefix = 0, mask = 0;
  int64_t remaining = k;
  int64_t last_count = 0;
  for (int shift = static_cast<int>(8 * sizeof(U)) - kBits; shift >= 0; shift -= kBits) {
    std::fill(hist.begin(), hist.end(), 0);
    parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
      int64_t* h = hist.data() + static_cast<size_t>(omp_get_thread_num() % threads) * kBins;
      if (mask == 0) {
        for (int64_t i = b; i < e; ++i) ++h[(abs_key(w[i]) >> shift) & (kBins - 1)];
      } else {
        for (int64_t i = b; i < e; ++i) {
          const U key = abs_key(w[i]);
          if ((key & mask) == prefix) ++h[(key >> shift) & (kBins - 1)];
        }
      }
    });
    for (int t = 1; t < threads; ++t)
      for (int64_t d = 0; d < kBins; ++d) hist[static_cast<size_t>(d)] += hist[static_cast<size_t>(t * kBins + d)];
    int64_t cum = 0, bin = 0;
    for (; bin < kBins; ++bin) {
      if (cum + hist[static_cast<size_t>(bin)] >= remaining) break;
      cum += hist[static_cast<size_t>(bin)];
    }
    remaining -= cum;
    last_count = hist[static_cast<size_t>(bin)];
    prefix |= static_cast<U>(bin) << shift;
    mask |= static_cast<U>(kBins - 1) << shift;
  }
  *rank_in_ties = remaining;
  *ties = last_count;
  return prefix;
}

template <typename T>
double sparse_ternarize(const T* w, int64_t n, int64_t zeros, int8_t* q, T* out) {
  using U = typename Key<T>::U;
  zeros = std::min(zeros, n);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> kept_sum(static_cast<size_t>(chunks), 0.0);
  auto sign1 = [](T v) -> int8_t { return std::signbit(v) ? int8_t{-1} : int8_t{1}; };
  if (zeros == 0) {
    for_chunks(n, [&](int64_t c, int64_t b, int64_t e) {
      double acc = 0;
      for (int64_t i = b; i < e; ++i) {
        q[i] = sign1(w[i]);
        acc += std::abs(static_cast<double>(w[i]));
      }
      kept_sum[static_cast<size_t>(c)] = acc;
    });
  } else {
    int64_t tie_zeros = 0, ties = 0;
    const U t = select_kth_key(w, n, zeros, &tie_zeros, &ties);
    // Entries with key == t: the first tie_zeros of them (by index) become 0.
    std::vector<int64_t> tie_start(static_cast<size_t>(chunks), 0);
    if (tie_zeros < ties) {
      for_chunks(n, [&](int64_t c, int64_t b, int64_t e) {
        int64_t cnt = 0;
        for (int64_t i = b; i < e; ++i) cnt += abs_key(w[i]) == t;
        tie_start[static_cast<size_t>(c)] = cnt;
      });
      int64_t run = 0;
      for (auto& v : tie_start) {
        const int64_t cnt = v;
        v = run;
        run += cnt;
      }
    }
    const bool all_ties = tie_zeros >= ties;
    for_chunks(n, [&](int64_t c, int64_t b, int64_t e) {
      double acc = 0;
      int64_t tie_rank = tie_start[static_cast<size_t>(c)];
      for (int64_t i = b; i < e; ++i) {
        const U key = abs_key(w[i]);
        bool zero = key < t;
        if (key == t) zero = all_ties || tie_rank++ < tie_zeros;
        if (zero) {
          q[i] = 0;
        } else {
          q[i] = sign1(w[i]);
          acc += std::abs(static_cast<double>(w[i]));
        }
      }
      kept_sum[static_cast<size_t>(c)] = acc;
    });
  }
  double total = 0;
  for (double p : kept_sum) total += p;
  const int64_t kept = n - zeros;
  const T scale = kept > 0 ? static_cast<T>(total / static_cast<double>(kept)) : static_cast<T>(0);
  dequantize(q, scale, out, n);
  return static_cast<double>(scale);
}

template <typename T>
double ternarize_t(const T* w, int64_t n, int64_t zeros, int8_t* q, T* out) {
  if (n <= 0) return 0.0;
  return zeros < 0 ? absmean_ternarize(w, n, q, out) : sparse_ternarize(w, n, zeros, q, out);
}

}  // namespace

void CpuBackend::activation_quant(DType dtype, const void* x, void* out, int8_t* q, void* scale, int64_t rows,
                                  int64_t cols) {
  if (dtype == kFloat32)
    activation_quant_rows(static_cast<const float*>(x), static_cast<float*>(out), q, static_cast<float*>(scale), rows,
                          cols);
  else if (dtype == kFloat64)
    activation_quant_rows(static_cast<const double*>(x), static_cast<double*>(out), q, static_cast<double*>(scale),
                          rows, cols);
  else
    TERN_FAIL("activation_quant", "no kernel for ", dtype);
}

double CpuBackend::ternarize(DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out) {
  if (dtype == kFloat32) return ternarize_t(static_cast<const float*>(w), n, zeros, q, static_cast<float*>(out));
  if (dtype == kFloat64) return ternarize_t(static_cast<const double*>(w), n, zeros, q, static_cast<double*>(out));
  TERN_FAIL("ternarize", "no kernel for ", dtype);
}

}  // namespace tern::cpu
