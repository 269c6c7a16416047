// W2A8 on the GPU: int8 activations times 2-bit ternary weights, for BitNet decoding
// (Backend::ternary_linear).
//
// The weights stay in the CPU's i2 layout (backends/cpu/ternary/ternary.h), so a packed model
// moves to the GPU as it is: byte j of a row's 64-byte block b holds the codes c = w + 1 of
// columns 256b + j + 64s at bits 2s. A lane reads one 32-bit word (bytes j..j+3, j = 4t mod
// 64) and, for each s, (word >> 2s) & 0x03030303 gives the codes of the four consecutive
// columns 256b + 64s + j .. +3, one per byte: one __dp4a against the four int8 activations
// there. Consecutive lanes read consecutive words (coalesced) and consecutive activation
// words. As on the CPU, Σ w·a = Σ c·a − Σ a, with Σ a kept per activation row.
//
// The activations are quantized per row as quantize_rows does (float squares summed in double
// for the RMSNorm, then amax, 127 / max(amax, 1e-5), round half to even). Decoding (up to 4
// rows) runs as one fused launch; longer inputs quantize first, then one warp per (output row,
// group of up to 4 activation rows). The epilogue uses
// __fmul_rn / __fadd_rn so that no multiply-add is contracted: y = float(dot) · (inv_s · scale)
// + bias, in that order, as on the CPU.

#include <cstdint>

#include <cuda_runtime.h>

#include "block_reduce.cuh"
#include "kernels.h"

namespace tern::gpu::kernels {

namespace {

using detail::DeviceScratch;
using detail::group_reduce;
using detail::Plus;

constexpr int kThreads = 256;
constexpr int kBlockCols = 256;  // i2 block: columns per 64 bytes
constexpr int kRowsPerWarp = 4;  // activation rows sharing one read of the weights

struct Max {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Quantizes row xr (k floats) into qr (kp int8, zero padded) with the whole block; thread 0
// writes Σ q into *qsum and 1 / s into *inv.
__device__ void quantize_row(const float* __restrict__ xr, int64_t k, int64_t kp, bool rmsnorm, float eps, int8_t* qr,
                             int* qsum, float* inv) {
  float rs = 1.0f;
  if (rmsnorm) {
    // The order of the double sum differs from the CPU's; a float squared is exact in double
    // and the sum of up to millions of them rounds to the same float in practice.
    double ss = 0;
    for (int64_t c = threadIdx.x; c < k; c += kThreads) ss += static_cast<double>(xr[c] * xr[c]);
    ss = group_reduce<kThreads>(ss, Plus{});
    const float mean = static_cast<float>(ss) / static_cast<float>(k);
    rs = 1.0f / sqrtf(mean + eps);
  }
  float amax = 0.0f;
  for (int64_t c = threadIdx.x; c < k; c += kThreads) {
    const float v = rmsnorm ? __fmul_rn(xr[c], rs) : xr[c];
    amax = fmaxf(amax, fabsf(v));
  }
  amax = group_reduce<kThreads>(amax, Max{});
  const float s = 127.0f / fmaxf(amax, 1e-5f);
  int sum = 0;
  for (int64_t c = threadIdx.x; c < kp; c += kThreads) {
    int8_t v = 0;
    if (c < k) {
      const float xv = rmsnorm ? __fmul_rn(xr[c], rs) : xr[c];
      v = static_cast<int8_t>(fminf(fmaxf(rintf(__fmul_rn(xv, s)), -128.0f), 127.0f));
    }
    qr[c] = v;
    sum += v;
  }
  sum = group_reduce<kThreads>(sum, Plus{});
  if (threadIdx.x == 0) {
    *qsum = sum;
    *inv = 1.0f / s;
  }
}

// The warp's dot products of weight row i with activation rows r0 .. r0 + rows - 1 of q
// (row stride kp; global or shared memory), written as y and, when wanted, as dots.
__device__ void warp_dots(const uint8_t* __restrict__ w, int64_t i, int64_t n, int64_t kp, const int8_t* q,
                          const int* qsum, const float* inv, int64_t r0, int rows, const float* __restrict__ scale,
                          const float* __restrict__ bias, float* __restrict__ y, int* __restrict__ dots) {
  const int lane = threadIdx.x % 32;
  const uint32_t* wr = reinterpret_cast<const uint32_t*>(w + i * (kp / 4));
  const int64_t words = kp / 16;  // 32-bit words per weight row
  int acc[kRowsPerWarp] = {0, 0, 0, 0};
  for (int64_t t = lane; t < words; t += 32) {
    const uint32_t word = __ldg(wr + t);
    const int64_t b = t / 16, j = 4 * (t % 16);
    for (int s = 0; s < 4; ++s) {
      const int codes = static_cast<int>((word >> (2 * s)) & 0x03030303u);
      const int64_t col = b * kBlockCols + 64 * s + j;
      for (int rr = 0; rr < kRowsPerWarp; ++rr)
        if (rr < rows) acc[rr] = __dp4a(codes, *reinterpret_cast<const int*>(q + rr * kp + col), acc[rr]);
    }
  }
  for (int rr = 0; rr < kRowsPerWarp; ++rr) acc[rr] = group_reduce<32>(acc[rr], Plus{});
  if (lane != 0) return;
  const float sc = *scale;
  for (int rr = 0; rr < rows; ++rr) {
    const int64_t r = r0 + rr;
    const int d = acc[rr] - qsum[rr];
    if (dots) dots[r * n + i] = d;
    const float v = __fmul_rn(static_cast<float>(d), __fmul_rn(inv[rr], sc));
    y[r * n + i] = bias ? __fadd_rn(v, bias[i]) : v;
  }
}

// Decoding (m <= kRowsPerWarp, activations fit in shared memory): one launch. Every block
// quantizes the few input rows itself into shared memory (k floats read from L2 per row,
// against the kp / 4 bytes of weights per output row it reads from memory), then each warp
// takes one output row.
__global__ void fused_kernel(const float* __restrict__ x, int64_t m, int64_t k, int64_t kp, bool rmsnorm, float eps,
                             const uint8_t* __restrict__ w, int64_t n, const float* __restrict__ scale,
                             const float* __restrict__ bias, float* __restrict__ y, int* __restrict__ dots) {
  extern __shared__ int4 smem[];  // int4: 16-byte alignment for the activation words
  int8_t* q = reinterpret_cast<int8_t*>(smem);
  __shared__ int qsum[kRowsPerWarp];
  __shared__ float inv[kRowsPerWarp];
  for (int64_t r = 0; r < m; ++r) quantize_row(x + r * k, k, kp, rmsnorm, eps, q + r * kp, &qsum[r], &inv[r]);
  __syncthreads();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  if (i >= n) return;  // whole warps leave together: i is the same across a warp
  warp_dots(w, i, n, kp, q, qsum, inv, 0, static_cast<int>(m), scale, bias, y, dots);
}

// Prefill: one block per row quantizes into global scratch q [m, kp], qsum [m], inv [m].
__global__ void quantize_kernel(const float* __restrict__ x, int64_t k, int64_t kp, bool rmsnorm, float eps,
                                int8_t* __restrict__ q, int* __restrict__ qsum, float* __restrict__ inv) {
  const int64_t r = blockIdx.x;
  quantize_row(x + r * k, k, kp, rmsnorm, eps, q + r * kp, qsum + r, inv + r);
}

// Prefill: one warp per (output row, group of up to kRowsPerWarp activation rows).
__global__ void dots_kernel(const uint8_t* __restrict__ w, int64_t n, int64_t kp, const int8_t* __restrict__ q,
                            const int* __restrict__ qsum, const float* __restrict__ inv, int64_t m,
                            const float* __restrict__ scale, const float* __restrict__ bias, float* __restrict__ y,
                            int* __restrict__ dots) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kRowsPerWarp;
  if (i >= n) return;
  const int rows = static_cast<int>(m - r0 < kRowsPerWarp ? m - r0 : kRowsPerWarp);
  warp_dots(w, i, n, kp, q + r0 * kp, qsum + r0, inv + r0, r0, rows, scale, bias, y, dots);
}

}  // namespace

void ternary_linear(cudaStream_t stream, const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n,
                    const float* scale, const float* bias, bool rmsnorm, double eps, float* y, int32_t* dots) {
  if (m == 0 || n == 0) return;
  TERN_CHECK(m <= int64_t{65535} * kRowsPerWarp, "PackedBitLinear", m, " input rows exceed the kernel's grid");
  const int64_t kp = (k + kBlockCols - 1) / kBlockCols * kBlockCols;
  const unsigned row_blocks = static_cast<unsigned>((n + kThreads / 32 - 1) / (kThreads / 32));
  constexpr int64_t kFusedBytes = 32 << 10;
  if (m <= kRowsPerWarp && m * kp <= kFusedBytes) {
    fused_kernel<<<row_blocks, kThreads, static_cast<size_t>(m * kp), stream>>>(
        x, m, k, kp, rmsnorm, static_cast<float>(eps), w, n, scale, bias, y, dots);
    check_launch("PackedBitLinear");
    return;
  }
  // Scratch in stream order: reused by later work only after these kernels have run.
  const size_t qbytes = static_cast<size_t>(m * kp), sbytes = static_cast<size_t>(m) * 4;
  DeviceScratch scratch(stream, qbytes + 2 * sbytes, "PackedBitLinear");
  int8_t* q = scratch.as<int8_t>();
  int* qsum = reinterpret_cast<int*>(q + qbytes);
  float* inv = reinterpret_cast<float*>(q + qbytes + sbytes);
  quantize_kernel<<<static_cast<unsigned>(m), kThreads, 0, stream>>>(x, k, kp, rmsnorm, static_cast<float>(eps), q,
                                                                     qsum, inv);
  check_launch("PackedBitLinear");
  const dim3 grid(row_blocks, static_cast<unsigned>((m + kRowsPerWarp - 1) / kRowsPerWarp));
  dots_kernel<<<grid, kThreads, 0, stream>>>(w, n, kp, q, qsum, inv, m, scale, bias, y, dots);
  check_launch("PackedBitLinear");
}

}  // namespace tern::gpu::kernels
