// Dispatch, packing, activation quantization, the scalar reference kernels and the threaded
// linear layers (ternary.h documents the layouts).

#include "ternary.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <tern/core/error.h>

#include "../loops.h"

namespace tern::cpu::ternary {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512_vnni: return "avx512_vnni";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
#if defined(__x86_64__)
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512_vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vnni");
#else
    default: return false;
#endif
  }
  return false;
}

namespace {
Isa detect_isa() {
  if (const char* env = std::getenv("TERN_ISA"); env && *env) {
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512_vnni})
      if (std::strcmp(env, isa_name(i)) == 0) {
        TERN_CHECK(isa_supported(i), "TERN_ISA", "'", env, "' is not supported by this CPU");
        return i;
      }
    TERN_FAIL("TERN_ISA", "unknown instruction set '", env, "' (scalar, avx2 or avx512_vnni)");
  }
  if (isa_supported(Isa::avx512_vnni)) return Isa::avx512_vnni;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}
}  // namespace

Isa active_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

// ---- packing

std::vector<uint8_t> pack_i2(const int8_t* values, int64_t n, int64_t k) {
  const int64_t rb = i2_row_bytes(k);
  std::vector<uint8_t> out(static_cast<size_t>(n * rb));
  // Byte by byte, each assembled from its four columns (256b + 64s + j), so that loading a
  // model packs at memory speed; a non-ternary value is reported after the pass.
  std::atomic<int64_t> bad{n * k};
#pragma omp parallel for schedule(static) if (n * k > (int64_t{1} << 18))
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* row = out.data() + i * rb;
    const int8_t* v = values + i * k;
    unsigned worst = 0;  // the largest code seen: above 2 means a value outside -1..1
    for (int64_t b = 0; b < rb / 64; ++b) {
      const int64_t c0 = b * kBlock;
      if (c0 + kBlock <= k) {
        const int8_t* q = v + c0;
        for (int64_t j = 0; j < 64; ++j) {
          const auto c0j = static_cast<uint8_t>(q[j] + 1), c1j = static_cast<uint8_t>(q[64 + j] + 1);
          const auto c2j = static_cast<uint8_t>(q[128 + j] + 1), c3j = static_cast<uint8_t>(q[192 + j] + 1);
          worst = std::max<unsigned>(worst, std::max(std::max(c0j, c1j), std::max(c2j, c3j)));
          row[b * 64 + j] = static_cast<uint8_t>(c0j | c1j << 2 | c2j << 4 | c3j << 6);
        }
      } else {  // the last, partial block: padding columns hold code 1 (the value 0)
        for (int64_t j = 0; j < 64; ++j) {
          unsigned byte = 0;
          for (int s = 0; s < 4; ++s) {
            const int64_t c = c0 + 64 * s + j;
            const unsigned code = c < k ? static_cast<uint8_t>(v[c] + 1) : 1u;
            worst = std::max(worst, code);
            byte |= code << (2 * s);
          }
          row[b * 64 + j] = static_cast<uint8_t>(byte);
        }
      }
    }
    const bool ok = worst <= 2;
    if (!ok) {
      const int64_t first = i * k + (std::find_if(v, v + k, [](int8_t x) { return x < -1 || x > 1; }) - v);
      int64_t cur = bad.load();
      while (first < cur && !bad.compare_exchange_weak(cur, first)) {
      }
    }
  }
  const int64_t first_bad = bad.load();
  TERN_CHECK(first_bad == n * k, "pack_i2", "value ", int(values[first_bad]), " at [", first_bad / k, ", ",
             first_bad % k, "] is not ternary");
  return out;
}

void unpack_i2(const uint8_t* packed, int64_t n, int64_t k, int8_t* values) {
  const int64_t rb = i2_row_bytes(k), kp = padded_k(k);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* row = packed + i * rb;
    for (int64_t c = 0; c < kp; ++c) {
      const int64_t b = c / kBlock, j = c % 64, s = (c % kBlock) / 64;
      const int code = (row[b * 64 + j] >> (2 * s)) & 3;
      TERN_CHECK(code != 3, "unpack_i2", "invalid code 3 in row ", i, ", column ", c);
      if (c < k)
        values[i * k + c] = static_cast<int8_t>(code - 1);
      else
        TERN_CHECK(code == 1, "unpack_i2", "non-zero padding in row ", i, ", column ", c);
    }
  }
}

// ---- activations

void quantize_rows(const float* x, int64_t m, int64_t k, int64_t ldx, bool rmsnorm, double eps, bool want_u,
                   QuantizedRows& out) {
  out.m = m;
  out.k = k;
  out.kp = padded_k(k);
  const int64_t kp = out.kp;
  out.q.assign(static_cast<size_t>(m * kp), 0);
  out.u.assign(want_u ? static_cast<size_t>(m * kp) : 0, 128);
  out.sum.assign(static_cast<size_t>(m), 0);
  out.scale.assign(static_cast<size_t>(m), 0.0f);
  const float feps = static_cast<float>(eps);
  parallel_for(m, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(k, 1)), [&](int64_t b, int64_t e) {
    std::vector<float> norm(rmsnorm ? static_cast<size_t>(k) : 0);
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * ldx;
      if (rmsnorm) {
        // As rms_norm's composed ops: float squares summed in double, mean and rsqrt in float.
        double ss = 0;
        for (int64_t c = 0; c < k; ++c) ss += static_cast<double>(xr[c] * xr[c]);
        const float mean = static_cast<float>(ss) / static_cast<float>(k);
        const float rs = 1.0f / std::sqrt(mean + feps);
        for (int64_t c = 0; c < k; ++c) norm[c] = xr[c] * rs;
        xr = norm.data();
      }
      float amax = 0;
      for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::abs(xr[c]));
      const float s = 127.0f / std::max(amax, 1e-5f);
      int8_t* qr = out.q.data() + r * kp;
      int32_t sum = 0;
      for (int64_t c = 0; c < k; ++c) {
        const float v = std::min(std::max(std::nearbyint(xr[c] * s), -128.0f), 127.0f);
        qr[c] = static_cast<int8_t>(v);
        sum += qr[c];
      }
      if (want_u) {
        uint8_t* ur = out.u.data() + r * kp;
        for (int64_t c = 0; c < k; ++c) ur[c] = static_cast<uint8_t>(qr[c] + 128);
      }
      out.sum[r] = sum;
      out.scale[r] = s;
    }
  });
}

// ---- dot products

namespace {
// The scalar paths are the reference: they read the layouts value by value.
void dots_i2_scalar(const QuantizedRows& a, const uint8_t* w, int64_t i0, int64_t i1, int32_t* out, int64_t ldo) {
  const int64_t kp = a.kp, rb = kp / 4;
  for (int64_t r = 0; r < a.m; ++r) {
    const int8_t* q = a.q.data() + r * kp;
    for (int64_t i = i0; i < i1; ++i) {
      const uint8_t* row = w + i * rb;
      // Column by column, decoded as unpack_i2 does. (GCC 12 at -O2 -march=native on an
      // AVX-512 BF16 CPU miscompiled the block/shift/column loop nest this replaced.)
      int32_t acc = 0;
      for (int64_t c = 0; c < kp; ++c) {
        const int code = (row[(c / kBlock) * 64 + c % 64] >> (2 * ((c % kBlock) / 64))) & 3;
        acc += (code - 1) * q[c];
      }
      out[r * ldo + (i - i0)] = acc;
    }
  }
}

void dots_i8_scalar(const QuantizedRows& a, const int8_t* w8, int64_t kp8, int64_t i0, int64_t i1, int32_t* out,
                    int64_t ldo) {
  for (int64_t r = 0; r < a.m; ++r) {
    const int8_t* q = a.q.data() + r * a.kp;
    for (int64_t i = i0; i < i1; ++i) {
      const int8_t* row = w8 + i * kp8;
      int32_t acc = 0;
      for (int64_t c = 0; c < kp8; ++c) acc += row[c] * q[c];
      out[r * ldo + (i - i0)] = acc;
    }
  }
}
}  // namespace

void dots_i2(Isa isa, const QuantizedRows& a, const uint8_t* w, int64_t k, int64_t i0, int64_t i1, int32_t* out,
             int64_t ldo) {
  TERN_CHECK(a.k == k && a.kp == padded_k(k), "ternary_linear", "activations have ", a.k, " columns, weights ", k);
  TERN_CHECK(isa_supported(isa), "ternary_linear", isa_name(isa), " is not supported by this CPU");
  switch (isa) {
    case Isa::scalar: return dots_i2_scalar(a, w, i0, i1, out, ldo);
    case Isa::avx2: return detail::dots_i2_avx2(a, w, i0, i1, out, ldo);
    case Isa::avx512_vnni: return detail::dots_i2_avx512(a, w, i0, i1, out, ldo);
  }
}

void dots_i8(Isa isa, const QuantizedRows& a, const int8_t* w8, const int32_t* wsum, int64_t k, int64_t i0,
             int64_t i1, int32_t* out, int64_t ldo) {
  TERN_CHECK(a.k == k && a.kp == padded_k(k), "int8_linear", "activations have ", a.k, " columns, weights ", k);
  TERN_CHECK(isa_supported(isa), "int8_linear", isa_name(isa), " is not supported by this CPU");
  const int64_t kp8 = padded_k8(k);
  switch (isa) {
    case Isa::scalar: return dots_i8_scalar(a, w8, kp8, i0, i1, out, ldo);
    case Isa::avx2: return detail::dots_i8_avx2(a, w8, kp8, i0, i1, out, ldo);
    case Isa::avx512_vnni:
      TERN_CHECK(!a.u.empty(), "int8_linear", "the AVX-512 path needs the offset activations (want_u)");
      return detail::dots_i8_avx512(a, w8, wsum, kp8, i0, i1, out, ldo);
  }
}

// ---- layers

namespace {
// Splits the output columns into threaded chunks of whole 4-row tiles. dots(i0, i1, out, ldo)
// writes a chunk's integer products straight into y (as int32, y's row stride), and they are
// turned into floats in place: no buffer of the size of y, which for an lm_head over a long
// prompt would be large.
template <typename Dots, typename Scale>
void linear_from_dots(int64_t m, int64_t n, int64_t kp, float* y, int64_t ldy, const float* bias, Dots&& dots,
                      Scale&& scale) {
  const int64_t groups = (n + 3) / 4;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(4 * kp * m, 1));
  parallel_for(groups, grain, [&](int64_t g0, int64_t g1) {
    const int64_t i0 = 4 * g0, i1 = std::min(n, 4 * g1);
    dots(i0, i1, reinterpret_cast<int32_t*>(y) + i0, ldy);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t i = i0; i < i1; ++i) {
        float& out = y[r * ldy + i];
        int32_t d;
        std::memcpy(&d, &out, sizeof d);
        const float v = static_cast<float>(d) * scale(r, i);
        out = bias ? v + bias[i] : v;
      }
  });
}
}  // namespace

void linear_i2(const float* x, int64_t m, int64_t k, int64_t ldx, const uint8_t* w, int64_t n, float w_scale,
               const float* bias, bool rmsnorm, double eps, float* y, int64_t ldy) {
  if (m == 0 || n == 0) return;
  const Isa isa = active_isa();
  QuantizedRows a;
  quantize_rows(x, m, k, ldx, rmsnorm, eps, false, a);
  std::vector<float> inv(static_cast<size_t>(m));
  for (int64_t r = 0; r < m; ++r) inv[r] = 1.0f / a.scale[r];
  linear_from_dots(
      m, n, a.kp, y, ldy, bias,
      [&](int64_t i0, int64_t i1, int32_t* out, int64_t ldo) { dots_i2(isa, a, w, k, i0, i1, out, ldo); },
      [&](int64_t r, int64_t) { return inv[r] * w_scale; });
}

void linear_i8(const float* x, int64_t m, int64_t k, int64_t ldx, const int8_t* w8, const int32_t* wsum,
               const float* w_scale, int64_t n, const float* bias, float* y, int64_t ldy) {
  if (m == 0 || n == 0) return;
  const Isa isa = active_isa();
  QuantizedRows a;
  quantize_rows(x, m, k, ldx, false, 0.0, isa == Isa::avx512_vnni, a);
  std::vector<float> inv(static_cast<size_t>(m));
  for (int64_t r = 0; r < m; ++r) inv[r] = 1.0f / a.scale[r];
  linear_from_dots(
      m, n, a.kp, y, ldy, bias,
      [&](int64_t i0, int64_t i1, int32_t* out, int64_t ldo) { dots_i8(isa, a, w8, wsum, k, i0, i1, out, ldo); },
      [&](int64_t r, int64_t i) { return inv[r] * w_scale[i]; });
}

}  // namespace tern::cpu::ternary
