// AVX2 kernels (built with -mavx2 -mfma whatever the target; ternary.cpp calls them only when
// the CPU has AVX2). ternary.h has the layouts.

#include "ternary.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace tern::cpu::ternary::detail {

namespace {

inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// One block (256 columns) adds 8 vpmaddubsw results (each pair sum within ±512) in 16 bits
// before widening: at most ±4096, far from saturation.
template <int R, int T>
void tile_i2(const uint8_t* w, int64_t rb, const int8_t* q, int64_t kp, int64_t blocks, int32_t* out, int64_t ldo,
             const int32_t* qsum) {
  __m256i acc[R][T];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_si256();
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < blocks; ++b) {
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      // Decoding streams each weight once from memory: fetch the next tile of rows meanwhile.
      _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * rb + 64 * b), _MM_HINT_T0);
      __m256i c[8];
      #pragma GCC unroll 16
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * rb + 64 * b + 32 * h));
        c[4 * h + 0] = _mm256_and_si256(v, m3);
        c[4 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
        c[4 * h + 2] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
        c[4 * h + 3] = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
      }
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const int8_t* a = q + t * kp + kBlock * b;
        __m256i s16 = _mm256_setzero_si256();
        #pragma GCC unroll 16
        for (int h = 0; h < 2; ++h)
          #pragma GCC unroll 16
          for (int s = 0; s < 4; ++s) {
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 64 * s + 32 * h));
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(c[4 * h + s], x));
          }
        acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(s16, ones));
      }
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) out[t * ldo + r] = hsum(acc[r][t]) - qsum[t];
}

// int8 weights: vpmaddubsw(|a|, sign(w, a)) = a·w per byte pair; |a| ≤ 128, |w| ≤ 127 keep each
// pair sum within 16 bits, so every product is widened at once.
template <int R, int T>
void tile_i8(const int8_t* w, int64_t kp8, const int8_t* q, int64_t kp, int32_t* out, int64_t ldo) {
  __m256i acc[R][T];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t c = 0; c < kp8; c += 32) {
    __m256i x[T], ax[T];
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      x[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + t * kp + c));
      ax[t] = _mm256_abs_epi8(x[t]);
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      if (c % 64 == 0) _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * kp8 + c), _MM_HINT_T0);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * kp8 + c));
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m256i p = _mm256_maddubs_epi16(ax[t], _mm256_sign_epi8(wv, x[t]));
        acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(p, ones));
      }
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) out[t * ldo + r] = hsum(acc[r][t]);
}

}  // namespace

void dots_i2_avx2(const QuantizedRows& a, const uint8_t* w, int64_t i0, int64_t i1, int32_t* out, int64_t ldo) {
  const int64_t kp = a.kp, rb = kp / 4, blocks = kp / kBlock;
  for_tiles(a.m, i0, i1, [&](int64_t i, int64_t t0, auto R, auto T) {
    constexpr int r = decltype(R)::value, t = decltype(T)::value;
    tile_i2<r, t>(w + i * rb, rb, a.q.data() + t0 * kp, kp, blocks, out + t0 * ldo + (i - i0), ldo,
                  a.sum.data() + t0);
  });
}

void dots_i8_avx2(const QuantizedRows& a, const int8_t* w8, int64_t kp8, int64_t i0, int64_t i1, int32_t* out,
                  int64_t ldo) {
  for_tiles(a.m, i0, i1, [&](int64_t i, int64_t t0, auto R, auto T) {
    constexpr int r = decltype(R)::value, t = decltype(T)::value;
    tile_i8<r, t>(w8 + i * kp8, kp8, a.q.data() + t0 * a.kp, a.kp, out + t0 * ldo + (i - i0), ldo);
  });
}

}  // namespace tern::cpu::ternary::detail

#else  // not x86-64: isa_supported() never selects these

#include <tern/core/error.h>

namespace tern::cpu::ternary::detail {
void dots_i2_avx2(const QuantizedRows&, const uint8_t*, int64_t, int64_t, int32_t*, int64_t) {
  TERN_FAIL("ternary_linear", "AVX2 is not available on this architecture");
}
void dots_i8_avx2(const QuantizedRows&, const int8_t*, int64_t, int64_t, int64_t, int32_t*, int64_t) {
  TERN_FAIL("int8_linear", "AVX2 is not available on this architecture");
}
}  // namespace tern::cpu::ternary::detail

#endif
