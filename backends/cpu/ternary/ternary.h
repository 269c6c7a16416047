#pragma once
// Integer inference kernels for BitNet b1.58 on the CPU: int8 activations times packed
// ternary (2-bit) weights, and int8 activations times int8 weights (the quantized lm_head).
//
// ---- The i2 layout (ternary weights, 2 bits each, in blocks of 256)
// A weight matrix W [n, k] (nn::Linear's [out, in]) is stored row by row. Each row is padded
// with zeros to kp = padded_k(k) (a multiple of kBlock = 256) and takes kp / 4 bytes. Weight
// w is stored as its code c = w + 1 in {0, 1, 2}. Within block b of a row (64 bytes), byte j
// holds the codes of columns
//     256·b + j        in bits 0-1
//     256·b + 64 + j   in bits 2-3
//     256·b + 128 + j  in bits 4-5
//     256·b + 192 + j  in bits 6-7
// so one 64-byte load, shifted by 0, 2, 4, 6 and masked, gives the codes of 64 consecutive
// columns per shift (AVX-512), and each 32-byte half does the same for 32 columns (AVX2).
// quant::packed_size-style base4 (value i at bits 2·(i%4) of byte i/4, over the flattened
// [n, k] matrix) and base3 convert through the i8 values: unpack_ternary, then pack_i2.
//
// Dot products use the unsigned codes directly: Σ_j w_j·a_j = Σ_j c_j·a_j − Σ_j a_j, with
// Σ_j a_j computed once per activation row. VNNI's vpdpbusd and AVX2's vpmaddubsw take the
// codes as their unsigned operand and the int8 activations as the signed one; no partial
// sum can saturate (|c·a| ≤ 256, and AVX2 adds at most 8 pair sums in 16 bits).
//
// ---- The i8 layout (int8 weights, one scale per row)
// W [n, k] int8 in [-127, 127], rows padded with zeros to padded_k8(k) (a multiple of 64).
// AVX-512 uses the unsigned operand for the activations, offset by 128:
// Σ w·a = Σ w·(a + 128) − 128·Σ w, with the row sums Σ w kept beside the weights. AVX2 uses
// vpmaddubsw(|a|, sign(w, a)); |a| ≤ 128 and |w| ≤ 127 keep its 16-bit pair sums in range.
//
// ---- Activations
// Each row x of k floats is quantized as BitNet's activation_quant: optional parameter-free
// RMSNorm (x ← x · 1/sqrt(mean(x²) + eps), rounded to float as the composed op does), then
// s = 127 / max(max|x|, 1e-5), q = clamp(round_half_even(x·s), -128, 127).
//
// ---- Output
// y[m, i] = float(dot) · ((1 / s[m]) · w_scale[i]) + bias[i], in f32 and in that order.
// The integer dot products are exact on every instruction-set path (tests compare them with
// the scalar reference bit for bit), so paths differ in speed only.

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace tern::cpu::ternary {

inline constexpr int64_t kBlock = 256;   // i2: columns per block
inline constexpr int64_t kBlock8 = 64;   // i8: column padding

inline int64_t padded_k(int64_t k) { return (k + kBlock - 1) / kBlock * kBlock; }
inline int64_t padded_k8(int64_t k) { return (k + kBlock8 - 1) / kBlock8 * kBlock8; }
inline int64_t i2_row_bytes(int64_t k) { return padded_k(k) / 4; }

enum class Isa { scalar, avx2, avx512_vnni };
const char* isa_name(Isa isa);
// Whether this CPU (and this build) can run `isa`.
bool isa_supported(Isa isa);
// The fastest supported path, or the one TERN_ISA names (scalar, avx2, avx512_vnni) when that
// is supported: a way to measure or check one path without another machine.
Isa active_isa();

// ---- packing
// values: i8 in {-1, 0, 1}, row-major [n, k]. Returns n · i2_row_bytes(k) bytes.
std::vector<uint8_t> pack_i2(const int8_t* values, int64_t n, int64_t k);
// The inverse; throws "[unpack_i2] ..." on a code 3 or on non-zero padding.
void unpack_i2(const uint8_t* packed, int64_t n, int64_t k, int8_t* values);

// ---- activations
struct QuantizedRows {
  int64_t m = 0, k = 0, kp = 0;  // kp: padded row length (multiple of kBlock)
  std::vector<int8_t> q;         // [m, kp], zero-padded
  std::vector<uint8_t> u;        // [m, kp], q + 128 (i8 kernels on AVX-512 only; padding 128)
  std::vector<int32_t> sum;      // Σ q per row
  std::vector<float> scale;      // s per row
};
// Quantizes x [m, k] (row stride ldx floats). want_u fills `u` (for the i8 kernels).
void quantize_rows(const float* x, int64_t m, int64_t k, int64_t ldx, bool rmsnorm, double eps, bool want_u,
                   QuantizedRows& out);

// ---- integer dot products: out[r·ldo + i] for rows r < m of the activations and weight rows
// i in [i0, i1). No threading (callers split the rows).
void dots_i2(Isa isa, const QuantizedRows& a, const uint8_t* w, int64_t k, int64_t i0, int64_t i1, int32_t* out,
             int64_t ldo);
// w8: [n, padded_k8(k)] int8; wsum: Σ w per row (used by the AVX-512 path).
void dots_i8(Isa isa, const QuantizedRows& a, const int8_t* w8, const int32_t* wsum, int64_t k, int64_t i0,
             int64_t i1, int32_t* out, int64_t ldo);

// ---- whole linear layers, threaded over output rows: y [m, n] (row stride ldy)
// i2: one weight scale for the tensor; bias may be null.
void linear_i2(const float* x, int64_t m, int64_t k, int64_t ldx, const uint8_t* w, int64_t n, float w_scale,
               const float* bias, bool rmsnorm, double eps, float* y, int64_t ldy);
// i8: one scale per row (w_scale[n]); bias may be null.
void linear_i8(const float* x, int64_t m, int64_t k, int64_t ldx, const int8_t* w8, const int32_t* wsum,
               const float* w_scale, int64_t n, const float* bias, float* y, int64_t ldy);

// ---- per-path kernels (ternary_avx2.cpp, ternary_avx512.cpp), behind dots_i2 / dots_i8
namespace detail {
// Calls tile(i, t0, R, T) over weight rows [i0, i1) and activation rows [0, m) in tiles of R in
// {4, 1} weight rows by T <= 4 activation rows (R and T as std::integral_constant, so that each
// tile size is its own unrolled kernel); activation tiles outside, so a chunk of weight rows is
// swept once per activation tile while that tile stays in L1.
template <typename F>
void for_tiles(int64_t m, int64_t i0, int64_t i1, F&& tile) {
  auto rows = [&](int64_t t0, auto T) {
    int64_t i = i0;
    for (; i + 4 <= i1; i += 4) tile(i, t0, std::integral_constant<int, 4>{}, T);
    for (; i < i1; ++i) tile(i, t0, std::integral_constant<int, 1>{}, T);
  };
  int64_t t = 0;
  for (; t + 4 <= m; t += 4) rows(t, std::integral_constant<int, 4>{});
  switch (m - t) {
    case 3: rows(t, std::integral_constant<int, 3>{}); break;
    case 2: rows(t, std::integral_constant<int, 2>{}); break;
    case 1: rows(t, std::integral_constant<int, 1>{}); break;
    default: break;
  }
}

void dots_i2_avx2(const QuantizedRows& a, const uint8_t* w, int64_t i0, int64_t i1, int32_t* out, int64_t ldo);
void dots_i2_avx512(const QuantizedRows& a, const uint8_t* w, int64_t i0, int64_t i1, int32_t* out, int64_t ldo);
void dots_i8_avx2(const QuantizedRows& a, const int8_t* w8, int64_t kp8, int64_t i0, int64_t i1, int32_t* out,
                  int64_t ldo);
void dots_i8_avx512(const QuantizedRows& a, const int8_t* w8, const int32_t* wsum, int64_t kp8, int64_t i0,
                    int64_t i1, int32_t* out, int64_t ldo);
}  // namespace detail

}  // namespace tern::cpu::ternary
