// BitNet b1.58 quantization kernels: fused per-token 8-bit activation quantization and
// per-tensor ternarization (absmean, or an exact count of zeros found by radix select).

#include <omp.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "cpu_backend.h"
#include "loops.h"

namespace tern::cpu {

namespace {

// Fixed chunking for reductions, so that results do not depend on the thread count.
constexpr int64_t kChunk = int64_t{1} << 16;

// Writes through int8_t pointers may alias anything, so every loop below works on local
// __restrict copies of its pointers and scalars; otherwise the compiler reloads the lambda's
// captures after each store and nothing vectorizes.
template <typename T>
void quant_row(const T* __restrict xr, T* __restrict orow, int8_t* __restrict qrow, T s, int64_t cols) {
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

template <typename T>
T row_absmax(const T* __restrict xr, int64_t cols) {
  T m = 0;
  for (int64_t c = 0; c < cols; ++c) {
    const T a = std::abs(xr[c]);
    m = a > m ? a : m;
  }
  return m;
}

template <typename T>
void activation_quant_rows(const T* x, T* out, int8_t* q, T* scale, int64_t rows, int64_t cols) {
  const T eps = static_cast<T>(1e-5);
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1)), [=](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * cols;
      const T s = static_cast<T>(127) / std::max(row_absmax(xr, cols), eps);
      scale[r] = s;
      quant_row(xr, out ? out + r * cols : nullptr, q ? q + r * cols : nullptr, s, cols);
    }
  });
}

// Sum of |w[b..e)| in double, over 8 independent lanes (so the adds pipeline and vectorize);
// deterministic for a given range.
template <typename T>
double abs_sum(const T* __restrict w, int64_t b, int64_t e) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = b;
  for (; i + 8 <= e; i += 8)
    for (int j = 0; j < 8; ++j) lane[j] += std::abs(static_cast<double>(w[i + j]));
  double acc = 0;
  for (; i < e; ++i) acc += std::abs(static_cast<double>(w[i]));
  for (double l : lane) acc += l;
  return acc;
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

// The value |w| back from its key.
template <typename T>
inline T from_key(typename Key<T>::U key) {
  T v;
  std::memcpy(&v, &key, sizeof v);
  return v;
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
void dequantize_range(const int8_t* __restrict q, T scale, T* __restrict out, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) out[i] = static_cast<T>(q[i]) * scale;
}

template <typename T>
void dequantize(const int8_t* q, T scale, T* out, int64_t n) {
  if (!out) return;
  parallel_for(n, kParallelGrain, [=](int64_t b, int64_t e) { dequantize_range(q, scale, out, b, e); });
}

template <typename T>
void absmean_range(const T* __restrict w, T s, int8_t* __restrict q, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    q[i] = static_cast<int8_t>(std::min(std::max(std::nearbyint(w[i] * s), static_cast<T>(-1)), static_cast<T>(1)));
}

template <typename T>
double absmean_ternarize(const T* w, int64_t n, int8_t* q, T* out) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
  double* partp = part.data();
  for_chunks(n, [=](int64_t c, int64_t b, int64_t e) { partp[c] = abs_sum(w, b, e); });
  double total = 0;
  for (double p : part) total += p;
  // torch: w.abs().mean() in T, clamp(min=1e-5), then 1 / that, all in T.
  const T mean = static_cast<T>(total) / static_cast<T>(n);
  const T s = static_cast<T>(1) / std::max(mean, static_cast<T>(1e-5));
  const T scale = static_cast<T>(1) / s;
  if (out) {
    // One pass writes both the codes and the dequantized weight.
    parallel_for(n, kParallelGrain, [=](int64_t b, int64_t e) {
      absmean_range(w, s, q, b, e);
      dequantize_range(q, scale, out, b, e);
    });
  } else {
    parallel_for(n, kParallelGrain, [=](int64_t b, int64_t e) { absmean_range(w, s, q, b, e); });
  }
  return static_cast<double>(scale);
}

// Histogram of the 16-bit digit at `shift` of the keys of w[b..e) whose bits above the digit
// equal `prefix` (all keys when mask is 0).
template <typename T>
void digit_histogram(const T* __restrict w, int64_t b, int64_t e, int shift, typename Key<T>::U mask,
                     typename Key<T>::U prefix, int64_t* __restrict h) {
  constexpr typename Key<T>::U kDigit = 0xFFFF;
  if (mask == 0) {
    for (int64_t i = b; i < e; ++i) ++h[(abs_key(w[i]) >> shift) & kDigit];
  } else {
    for (int64_t i = b; i < e; ++i) {
      const auto key = abs_key(w[i]);
      if ((key & mask) == prefix) ++h[(key >> shift) & kDigit];
    }
  }
}

// Radix select on |w|'s bit pattern, 16 bits per pass: returns the key of the k-th smallest
// (1-based) |w|, sets *rank_in_ties to its rank among the entries with that key (1-based)
// and *ties to their count.
template <typename T>
typename Key<T>::U select_kth_key(const T* w, int64_t n, int64_t k, int64_t* rank_in_ties, int64_t* ties) {
  using U = typename Key<T>::U;
  constexpr int kBits = 16;
  constexpr int64_t kBins = int64_t{1} << kBits;
  const int threads = std::max(1, num_threads());
  std::vector<int64_t> hist(static_cast<size_t>(threads) * kBins);
  int64_t* hp = hist.data();
  U prefix = 0, mask = 0;
  int64_t remaining = k;
  int64_t last_count = 0;
  for (int shift = static_cast<int>(8 * sizeof(U)) - kBits; shift >= 0; shift -= kBits) {
    std::fill(hist.begin(), hist.end(), 0);
    parallel_for(n, kParallelGrain, [=](int64_t b, int64_t e) {
      digit_histogram(w, b, e, shift, mask, prefix, hp + static_cast<size_t>(omp_get_thread_num() % threads) * kBins);
    });
    for (int t = 1; t < threads; ++t)
      for (int64_t d = 0; d < kBins; ++d) hp[d] += hp[t * kBins + d];
    int64_t cum = 0, bin = 0;
    for (; bin < kBins; ++bin) {
      if (cum + hp[bin] >= remaining) break;
      cum += hp[bin];
    }
    remaining -= cum;
    last_count = hp[bin];
    prefix |= static_cast<U>(bin) << shift;
    mask |= static_cast<U>(kBins - 1) << shift;
  }
  *rank_in_ties = remaining;
  *ties = last_count;
  return prefix;
}

// q = 0 where |w|'s key < t (or <= t when inclusive), else +-1 by sign bit; returns the sum of
// the kept |w| (8 lanes, as abs_sum).
template <typename T, bool kInclusive>
double ternary_range(const T* __restrict w, typename Key<T>::U t, int8_t* __restrict q, int64_t b, int64_t e) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  auto one = [&](int64_t i, double& acc) {
    const T v = w[i];
    const auto key = abs_key(v);
    const bool zero = kInclusive ? key <= t : key < t;
    q[i] = zero ? int8_t{0} : (std::signbit(v) ? int8_t{-1} : int8_t{1});
    acc += zero ? 0.0 : std::abs(static_cast<double>(v));
  };
  int64_t i = b;
  for (; i + 8 <= e; i += 8)
    for (int j = 0; j < 8; ++j) one(i + j, lane[j]);
  double acc = 0;
  for (; i < e; ++i) one(i, acc);
  for (double l : lane) acc += l;
  return acc;
}

// Final pass of sparsity mode, fused with dequantization: q = 0 where key < t, or key == t
// and i <= cut (ties broken by index); else +-1 by sign bit; out = q * scale.
template <typename T, bool kOut>
void ternary_final_loop(const T* __restrict w, typename Key<T>::U t, int64_t cut, T scale, int8_t* __restrict q,
                        T* __restrict out, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    const T v = w[i];
    const auto key = abs_key(v);
    const bool zero = key < t || (key == t && i <= cut);
    const int8_t c = zero ? int8_t{0} : (std::signbit(v) ? int8_t{-1} : int8_t{1});
    q[i] = c;
    if constexpr (kOut) out[i] = zero ? T(0) : std::copysign(scale, v);
  }
}

template <typename T>
void ternary_final_range(const T* w, typename Key<T>::U t, int64_t cut, T scale, int8_t* q, T* out, int64_t b,
                         int64_t e) {
  if (out)
    ternary_final_loop<T, true>(w, t, cut, scale, q, out, b, e);
  else
    ternary_final_loop<T, false>(w, t, cut, scale, q, out, b, e);
}

// Sums of |w| (all, and below key lo) in 8 double lanes, and the count below lo.
template <typename T>
void stats_block(const T* __restrict w, typename Key<T>::U lo, double* __restrict tl, double* __restrict bl,
                 int64_t& below_out, int64_t len) {
  double t[8], bs[8], cnt[8];
  for (int j = 0; j < 8; ++j) {
    t[j] = tl[j];
    bs[j] = bl[j];
    cnt[j] = 0;
  }
  // All-double lane arithmetic (the compare becomes a 0/1 multiplier) so that the loop
  // vectorizes without branches.
  for (int64_t i = 0; i + 8 <= len; i += 8)
    for (int j = 0; j < 8; ++j) {
      const T v = w[i + j];
      const double a = std::abs(static_cast<double>(v));
      const double m = static_cast<double>(abs_key(v) < lo);
      t[j] += a;
      bs[j] += a * m;
      cnt[j] += m;
    }
  double below = 0;
  for (int j = 0; j < 8; ++j) {
    tl[j] = t[j];
    bl[j] = bs[j];
    below += cnt[j];
  }
  below_out += static_cast<int64_t>(below);
}

// Appends base + i for the keys of w[0, len) in [lo, lo + span].
template <typename T>
void gather_block(const T* __restrict w, typename Key<T>::U lo, typename Key<T>::U span, int64_t base,
                  std::vector<std::pair<typename Key<T>::U, int64_t>>& cand, int64_t len) {
  for (int64_t i = 0; i + 16 <= len; i += 16) {
    unsigned any = 0;
    for (int j = 0; j < 16; ++j) any |= static_cast<unsigned>(abs_key(w[i + j]) - lo <= span);
    if (any) [[unlikely]]
      for (int j = 0; j < 16; ++j)
        if (abs_key(w[i + j]) - lo <= span) cand.emplace_back(abs_key(w[i + j]), base + i + j);
  }
}

template <typename T>
void stats_gather_block(const T* w, typename Key<T>::U lo, typename Key<T>::U span, double* tl, double* bl,
                        int64_t& below, int64_t base, std::vector<std::pair<typename Key<T>::U, int64_t>>& cand,
                        int64_t len) {
  stats_block(w, lo, tl, bl, below, len);
  gather_block(w, lo, span, base, cand, len);
}

#if defined(__AVX2__)
// f32 with AVX2: one pass does both, 8 floats at a time. Keys are non-negative int32, so
// signed compares order them. Lanes 0-3 and 4-7 of tl/bl match the scalar version's j.
template <>
void stats_gather_block<float>(const float* w, uint32_t lo, uint32_t span, double* tl, double* bl, int64_t& below,
                               int64_t base, std::vector<std::pair<uint32_t, int64_t>>& cand, int64_t len) {
  const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
  const __m256i vlo = _mm256_set1_epi32(static_cast<int32_t>(lo));
  // key in [lo, lo + span] <=> (key - lo) as unsigned <= span <=> (key - lo) ^ INT_MIN <= span ^ INT_MIN (signed).
  const __m256i flip = _mm256_set1_epi32(INT32_MIN);
  const __m256i vspan = _mm256_xor_si256(_mm256_set1_epi32(static_cast<int32_t>(span)), flip);
  __m256d t0 = _mm256_loadu_pd(tl), t1 = _mm256_loadu_pd(tl + 4);
  __m256d b0 = _mm256_loadu_pd(bl), b1 = _mm256_loadu_pd(bl + 4);
  int64_t cnt = 0;
  int64_t i = 0;
  for (; i + 8 <= len; i += 8) {
    const __m256i key = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)), absmask);
    const __m256 a = _mm256_castsi256_ps(key);  // |w|
    const __m256i lt = _mm256_cmpgt_epi32(vlo, key);
    const __m256 ab = _mm256_and_ps(a, _mm256_castsi256_ps(lt));
    t0 = _mm256_add_pd(t0, _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
    t1 = _mm256_add_pd(t1, _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
    b0 = _mm256_add_pd(b0, _mm256_cvtps_pd(_mm256_castps256_ps128(ab)));
    b1 = _mm256_add_pd(b1, _mm256_cvtps_pd(_mm256_extractf128_ps(ab, 1)));
    cnt += __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(lt))));
    const __m256i rel = _mm256_xor_si256(_mm256_sub_epi32(key, vlo), flip);
    const unsigned out = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(rel, vspan))));
    if (out != 0xFFu) [[unlikely]] {
      unsigned in = ~out & 0xFFu;
      while (in) {
        const int j = __builtin_ctz(in);
        cand.emplace_back(abs_key(w[i + j]), base + i + j);
        in &= in - 1;
      }
    }
  }
  _mm256_storeu_pd(tl, t0);
  _mm256_storeu_pd(tl + 4, t1);
  _mm256_storeu_pd(bl, b0);
  _mm256_storeu_pd(bl + 4, b1);
  for (; i < len; ++i) {  // callers pass whole blocks; kept for safety
    const uint32_t key = abs_key(w[i]);
    const double a = std::abs(static_cast<double>(w[i]));
    tl[i & 7] += a;
    if (key < lo) {
      bl[i & 7] += a;
      ++cnt;
    }
    if (key - lo <= span) cand.emplace_back(key, base + i);
  }
  below += cnt;
}
#endif

// Sparsity mode for large tensors in two passes over w. A strided sample brackets the k-th
// smallest |w| between keys lo and hi; one pass counts the entries below lo (and sums |w|
// below lo and overall) and gathers the indices in [lo, hi]; the exact k-th (key, index) is
// selected among those few candidates; a final pass writes q and out. Returns nullopt when
// the bracket misses (or holds too many candidates), and the caller falls back to radix select.
template <typename T>
std::optional<double> sampled_ternarize(const T* w, int64_t n, int64_t zeros, int8_t* q, T* out) {
  using U = typename Key<T>::U;
  constexpr int64_t kSample = int64_t{1} << 15;
  // The sample: 256 runs of 128 consecutive entries spread evenly over w (runs, not single
  // strided entries, so that sampling reads whole cache lines).
  constexpr int64_t kRun = 128, kRuns = kSample / kRun;
  const int64_t stride = n / kRuns;  // >= kRun: callers only come here with n >= kSample
  std::vector<U> sample(static_cast<size_t>(kSample));
  for (int64_t r = 0; r < kRuns; ++r)
    for (int64_t j = 0; j < kRun; ++j) sample[static_cast<size_t>(r * kRun + j)] = abs_key(w[r * stride + j]);
  const double f = static_cast<double>(zeros) / static_cast<double>(n);
  const double pos = f * static_cast<double>(kSample);
  const double margin = 4.5 * std::sqrt(static_cast<double>(kSample) * std::max(f * (1 - f), 1e-4)) + 16.0;
  const int64_t lo_i = static_cast<int64_t>(std::floor(pos - margin));
  const int64_t hi_i = static_cast<int64_t>(std::ceil(pos + margin));
  U lo = 0, hi = ~U{0};
  if (lo_i >= 0) {
    std::nth_element(sample.begin(), sample.begin() + lo_i, sample.end());
    lo = sample[static_cast<size_t>(lo_i)];
  }
  if (hi_i < kSample) {
    // After the first nth_element, everything past lo_i is >= lo: select within that part.
    std::nth_element(sample.begin() + std::max<int64_t>(lo_i + 1, 0), sample.begin() + hi_i, sample.end());
    hi = sample[static_cast<size_t>(hi_i)];
  }

  struct ChunkStats {
    int64_t below = 0;
    double below_sum = 0, total_sum = 0;
    std::vector<std::pair<U, int64_t>> cand;  // (key, index)
  };
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<ChunkStats> stats(static_cast<size_t>(chunks));
  ChunkStats* sp = stats.data();
  const int64_t max_cand = n / 8;
  const U span = hi - lo;  // key in [lo, hi] <=> key - lo <= span (unsigned)
  for_chunks(n, [=](int64_t c, int64_t b, int64_t e) {
    ChunkStats& st = sp[c];
    const T* __restrict wp = w;
    const U lo_ = lo, span_ = span;
    double tl[8] = {0, 0, 0, 0, 0, 0, 0, 0}, bl[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t below = 0;
    std::vector<std::pair<U, int64_t>> cand;
    int64_t i = b;
    constexpr int64_t kBlock = 2048;  // stats, then the gather over the same block (in L1)
    for (; i + kBlock <= e; i += kBlock) {
      stats_gather_block(wp + i, lo_, span_, tl, bl, below, i, cand, kBlock);
    }
    double tail_t = 0, tail_b = 0;
    for (; i < e; ++i) {
      const U key = abs_key(wp[i]);
      const double a = std::abs(static_cast<double>(wp[i]));
      tail_t += a;
      if (key < lo_) {
        tail_b += a;
        ++below;
      }
      if (key - lo_ <= span_) cand.emplace_back(key, i);
    }
    for (int j = 0; j < 8; ++j) {
      tail_t += tl[j];
      tail_b += bl[j];
    }
    st.below = below;
    st.below_sum = tail_b;
    st.total_sum = tail_t;
    st.cand = std::move(cand);
  });
  int64_t below = 0;
  size_t ncand = 0;
  double below_sum = 0, total_sum = 0;
  for (const auto& st : stats) {
    below += st.below;
    below_sum += st.below_sum;
    total_sum += st.total_sum;
    ncand += st.cand.size();
  }
  const int64_t need = zeros - below;  // zeros to take from the candidates
  if (need <= 0 || need > static_cast<int64_t>(ncand) || static_cast<int64_t>(ncand) > max_cand) return std::nullopt;
  std::vector<std::pair<U, int64_t>> cand;
  cand.reserve(ncand);
  for (const auto& st : stats) cand.insert(cand.end(), st.cand.begin(), st.cand.end());
  std::nth_element(cand.begin(), cand.begin() + (need - 1), cand.end());
  const auto [t, cut] = cand[static_cast<size_t>(need - 1)];
  double zero_sum = below_sum;
  for (int64_t i = 0; i < need; ++i) zero_sum += static_cast<double>(from_key<T>(cand[static_cast<size_t>(i)].first));
  const int64_t kept = n - zeros;
  const T scale = kept > 0 ? static_cast<T>((total_sum - zero_sum) / static_cast<double>(kept)) : static_cast<T>(0);
  parallel_for(n, kParallelGrain, [=](int64_t b, int64_t e) { ternary_final_range(w, t, cut, scale, q, out, b, e); });
  return static_cast<double>(scale);
}

template <typename T>
double sparse_ternarize(const T* w, int64_t n, int64_t zeros, int8_t* q, T* out) {
  using U = typename Key<T>::U;
  zeros = std::min(zeros, n);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> kept_sum(static_cast<size_t>(chunks), 0.0);
  double* ks = kept_sum.data();
  if (zeros == 0) {
    for_chunks(n, [=](int64_t c, int64_t b, int64_t e) { ks[c] = ternary_range<T, false>(w, U{0}, q, b, e); });
  } else {
    if (n >= (int64_t{1} << 16) && zeros < n)
      if (auto scale = sampled_ternarize(w, n, zeros, q, out)) return *scale;
    int64_t tie_zeros = 0, ties = 0;
    const U t = select_kth_key(w, n, zeros, &tie_zeros, &ties);
    if (tie_zeros >= ties) {
      // Every entry with key t is zeroed (the common case for real weights: no ties).
      for_chunks(n, [=](int64_t c, int64_t b, int64_t e) { ks[c] = ternary_range<T, true>(w, t, q, b, e); });
    } else {
      // Only the first tie_zeros entries with key t (by index) become 0: count the ties per
      // chunk, then zero the first ones.
      std::vector<int64_t> tie_start(static_cast<size_t>(chunks), 0);
      int64_t* ts = tie_start.data();
      for_chunks(n, [=](int64_t c, int64_t b, int64_t e) {
        int64_t cnt = 0;
        for (int64_t i = b; i < e; ++i) cnt += abs_key(w[i]) == t;
        ts[c] = cnt;
      });
      int64_t run = 0;
      for (auto& v : tie_start) {
        const int64_t cnt = v;
        v = run;
        run += cnt;
      }
      for_chunks(n, [=](int64_t c, int64_t b, int64_t e) {
        double acc = ternary_range<T, false>(w, t, q, b, e);
        int64_t rank = ts[c];
        for (int64_t i = b; i < e && rank < tie_zeros; ++i)
          if (abs_key(w[i]) == t) {
            q[i] = 0;
            acc -= std::abs(static_cast<double>(w[i]));
            ++rank;
          }
        ks[c] = acc;
      });
    }
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

void CpuBackend::ternarize(DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out, void* scale) {
  // ternarize_t's scale is exact in w's precision, so storing it in w's dtype loses nothing.
  if (dtype == kFloat32)
    *static_cast<float*>(scale) =
        static_cast<float>(ternarize_t(static_cast<const float*>(w), n, zeros, q, static_cast<float*>(out)));
  else if (dtype == kFloat64)
    *static_cast<double*>(scale) = ternarize_t(static_cast<const double*>(w), n, zeros, q, static_cast<double*>(out));
  else
    TERN_FAIL("ternarize", "no kernel for ", dtype);
}

}  // namespace tern::cpu
