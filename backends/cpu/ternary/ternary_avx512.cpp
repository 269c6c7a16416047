// AVX-512 VNNI kernels (built with -mavx512f -mavx512bw -mavx512vnni whatever the target;
// ternary.cpp calls them only when the CPU has those instructions). ternary.h has the layouts.

#include "ternary.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace tern::cpu::ternary::detail {

namespace {

// (_mm512_reduce_add_epi32 trips a -Wuninitialized inside GCC 12's own header.)
inline int32_t hsum(__m512i v) {
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, v);
  int32_t s = 0;
  for (int32_t x : lanes) s += x;
  return s;
}

// acc[r][t] += codes of weight rows r · activations of rows t, over every block; A independent
// accumulators per pair keep vpdpbusd's latency hidden when the tile is small.
template <int R, int T>
void tile_i2(const uint8_t* w, int64_t rb, const int8_t* q, int64_t kp, int64_t blocks, int32_t* out, int64_t ldo,
             const int32_t* qsum) {
  constexpr int A = T == 1 ? 2 : 1;
  __m512i acc[R][T][A];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t)
      #pragma GCC unroll 16
      for (int a = 0; a < A; ++a) acc[r][t][a] = _mm512_setzero_si512();
  const __m512i m3 = _mm512_set1_epi8(3);
  for (int64_t b = 0; b < blocks; ++b) {
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      // Decoding streams each weight once from memory: fetch the next tile of rows meanwhile.
      _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * rb + 64 * b), _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(w + r * rb + 64 * b);
      const __m512i c0 = _mm512_and_si512(v, m3);
      const __m512i c1 = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
      const __m512i c2 = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
      const __m512i c3 = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const int8_t* a = q + t * kp + kBlock * b;
        acc[r][t][0] = _mm512_dpbusd_epi32(acc[r][t][0], c0, _mm512_loadu_si512(a));
        acc[r][t][A - 1] = _mm512_dpbusd_epi32(acc[r][t][A - 1], c1, _mm512_loadu_si512(a + 64));
        acc[r][t][0] = _mm512_dpbusd_epi32(acc[r][t][0], c2, _mm512_loadu_si512(a + 128));
        acc[r][t][A - 1] = _mm512_dpbusd_epi32(acc[r][t][A - 1], c3, _mm512_loadu_si512(a + 192));
      }
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      __m512i s = acc[r][t][0];
      if constexpr (A == 2) s = _mm512_add_epi32(s, acc[r][t][1]);
      out[t * ldo + r] = hsum(s) - qsum[t];
    }
}

// The same for int8 weights: the activations, offset to unsigned, are vpdpbusd's first operand.
template <int R, int T>
void tile_i8(const int8_t* w, int64_t kp8, const uint8_t* u, int64_t kp, const int32_t* wsum, int32_t* out,
             int64_t ldo) {
  constexpr int A = T == 1 ? 2 : 1;
  __m512i acc[R][T][A];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t)
      #pragma GCC unroll 16
      for (int a = 0; a < A; ++a) acc[r][t][a] = _mm512_setzero_si512();
  int64_t c = 0;
  for (; c + 128 <= kp8; c += 128)
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * kp8 + c), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * kp8 + c + 64), _MM_HINT_T0);
      const __m512i w0 = _mm512_loadu_si512(w + r * kp8 + c);
      const __m512i w1 = _mm512_loadu_si512(w + r * kp8 + c + 64);
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        acc[r][t][0] = _mm512_dpbusd_epi32(acc[r][t][0], _mm512_loadu_si512(u + t * kp + c), w0);
        acc[r][t][A - 1] = _mm512_dpbusd_epi32(acc[r][t][A - 1], _mm512_loadu_si512(u + t * kp + c + 64), w1);
      }
    }
  for (; c < kp8; c += 64)
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512i w0 = _mm512_loadu_si512(w + r * kp8 + c);
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t)
        acc[r][t][0] = _mm512_dpbusd_epi32(acc[r][t][0], _mm512_loadu_si512(u + t * kp + c), w0);
    }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      __m512i s = acc[r][t][0];
      if constexpr (A == 2) s = _mm512_add_epi32(s, acc[r][t][1]);
      out[t * ldo + r] = hsum(s) - 128 * wsum[r];
    }
}

}  // namespace

void dots_i2_avx512(const QuantizedRows& a, const uint8_t* w, int64_t i0, int64_t i1, int32_t* out, int64_t ldo) {
  const int64_t kp = a.kp, rb = kp / 4, blocks = kp / kBlock;
  for_tiles(a.m, i0, i1, [&](int64_t i, int64_t t0, auto R, auto T) {
    constexpr int r = decltype(R)::value, t = decltype(T)::value;
    tile_i2<r, t>(w + i * rb, rb, a.q.data() + t0 * kp, kp, blocks, out + t0 * ldo + (i - i0), ldo,
                  a.sum.data() + t0);
  });
}

void dots_i8_avx512(const QuantizedRows& a, const int8_t* w8, const int32_t* wsum, int64_t kp8, int64_t i0,
                    int64_t i1, int32_t* out, int64_t ldo) {
  for_tiles(a.m, i0, i1, [&](int64_t i, int64_t t0, auto R, auto T) {
    constexpr int r = decltype(R)::value, t = decltype(T)::value;
    tile_i8<r, t>(w8 + i * kp8, kp8, a.u.data() + t0 * a.kp, a.kp, wsum + i, out + t0 * ldo + (i - i0), ldo);
  });
}

}  // namespace tern::cpu::ternary::detail

#else  // not x86-64: isa_supported() never selects these

#include <tern/core/error.h>

namespace tern::cpu::ternary::detail {
void dots_i2_avx512(const QuantizedRows&, const uint8_t*, int64_t, int64_t, int32_t*, int64_t) {
  TERN_FAIL("ternary_linear", "AVX-512 is not available on this architecture");
}
void dots_i8_avx512(const QuantizedRows&, const int8_t*, const int32_t*, int64_t, int64_t, int64_t, int32_t*,
                    int64_t) {
  TERN_FAIL("int8_linear", "AVX-512 is not available on this architecture");
}
}  // namespace tern::cpu::ternary::detail

#endif
