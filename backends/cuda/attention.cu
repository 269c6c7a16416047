// Fused attention on the GPU, f32, head dims 32 and 64: the flash-attention recurrence of
// backends/cpu/attention.cpp (the reference these kernels follow step for step), never
// materializing the [Tq, Tk] scores.
//
// forward    one thread per query row, a block per 64 rows of one head; key and value tiles
//            of 32 rows are staged in shared memory and read by every thread at the same
//            address (broadcast). Online softmax in registers; out and lse written once.
// backward   D_i = gout_i·out_i (a warp per row); then gq with one thread per query row over
//            key tiles, and gk, gv with one thread per key row over query tiles. Each output
//            row is summed by one thread in key (or query) order, so there are no atomics and
//            the result is deterministic.

#include <cstdint>
#include <limits>

#include <cuda_runtime.h>

#include "block_reduce.cuh"
#include "kernels.h"

namespace tern::gpu::kernels {

namespace {

constexpr int kRows = 64;   // query (or key) rows per block: one per thread
constexpr int kTile = 32;   // key rows per staged tile in forward and gq
constexpr int kQTile = 16;  // query rows per staged tile in gk/gv

__device__ __forceinline__ int64_t key_end(int64_t i, int64_t tk, bool causal) {
  return causal ? (i + 1 < tk ? i + 1 : tk) : tk;
}

// Copies rows [r0, r0 + n) of a [rows, D] matrix into s (row stride ld), zeros past `rows`.
template <int D>
__device__ void stage(const float* __restrict__ src, int64_t r0, int n, int64_t rows, float* s, int ld) {
  for (int e = threadIdx.x; e < n * D; e += blockDim.x) {
    const int r = e / D, c = e % D;
    s[r * ld + c] = r0 + r < rows ? src[(r0 + r) * D + c] : 0.0f;
  }
}

template <int D>
__global__ void forward_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                               float* __restrict__ out, float* __restrict__ lse, int64_t tq, int64_t tk, float scale,
                               bool causal) {
  __shared__ float ks[kTile * D];
  __shared__ float vs[kTile * D];
  const int64_t h = blockIdx.x;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kRows;
  const int64_t i = row0 + threadIdx.x;
  const bool active = i < tq;
  const float* kh = k + h * tk * D;
  const float* vh = v + h * tk * D;
  float qi[D], acc[D];
  for (int c = 0; c < D; ++c) {
    qi[c] = active ? q[(h * tq + i) * D + c] : 0.0f;
    acc[c] = 0.0f;
  }
  float m = -std::numeric_limits<float>::infinity(), l = 0.0f;
  const int64_t end = active ? key_end(i, tk, causal) : 0;
  // The keys any row of this block attends to.
  const int64_t last_row = (row0 + kRows < tq ? row0 + kRows : tq) - 1;
  const int64_t block_end = key_end(last_row, tk, causal);
  for (int64_t t0 = 0; t0 < block_end; t0 += kTile) {
    __syncthreads();  // the previous tile is no longer read
    stage<D>(kh, t0, kTile, tk, ks, D);
    stage<D>(vh, t0, kTile, tk, vs, D);
    __syncthreads();
    const int n = static_cast<int>(end - t0 < kTile ? (end - t0 > 0 ? end - t0 : 0) : kTile);
    for (int j = 0; j < n; ++j) {
      float dot = 0.0f;
      for (int c = 0; c < D; ++c) dot += qi[c] * ks[j * D + c];
      const float s = scale * dot;
      const float m_new = fmaxf(m, s);
      const float correction = expf(m - m_new), p = expf(s - m_new);
      l = l * correction + p;
      for (int c = 0; c < D; ++c) acc[c] = acc[c] * correction + p * vs[j * D + c];
      m = m_new;
    }
  }
  if (!active) return;
  float* o = out + (h * tq + i) * D;
  for (int c = 0; c < D; ++c) o[c] = acc[c] / l;
  lse[h * tq + i] = m + logf(l);
}

// delta[row] = gout[row]·out[row], a warp per row.
template <int D>
__global__ void delta_kernel(const float* __restrict__ out, const float* __restrict__ gout, float* __restrict__ delta,
                             int64_t rows) {
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // whole warps leave together
  float s = 0.0f;
  for (int c = lane; c < D; c += 32) s += out[row * D + c] * gout[row * D + c];
  s = detail::group_reduce<32>(s, detail::Plus{});
  if (lane == 0) delta[row] = s;
}

template <int D>
__global__ void grad_q_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                              const float* __restrict__ lse, const float* __restrict__ delta,
                              const float* __restrict__ gout, float* __restrict__ gq, int64_t tq, int64_t tk,
                              float scale, bool causal) {
  __shared__ float ks[kTile * D];
  __shared__ float vs[kTile * D];
  __shared__ float gs[kRows * (D + 1)];  // each thread's gout row; +1 keeps the rows in different banks
  const int64_t h = blockIdx.x;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kRows;
  const int64_t i = row0 + threadIdx.x;
  const bool active = i < tq;
  stage<D>(gout + h * tq * D, row0, kRows, tq, gs, D + 1);
  float qi[D], gqi[D];
  for (int c = 0; c < D; ++c) {
    qi[c] = active ? q[(h * tq + i) * D + c] : 0.0f;
    gqi[c] = 0.0f;
  }
  const float li = active ? lse[h * tq + i] : 0.0f, di = active ? delta[h * tq + i] : 0.0f;
  const float* g = gs + threadIdx.x * (D + 1);
  const int64_t end = active ? key_end(i, tk, causal) : 0;
  const int64_t last_row = (row0 + kRows < tq ? row0 + kRows : tq) - 1;
  const int64_t block_end = key_end(last_row, tk, causal);
  for (int64_t t0 = 0; t0 < block_end; t0 += kTile) {
    __syncthreads();
    stage<D>(k + h * tk * D, t0, kTile, tk, ks, D);
    stage<D>(v + h * tk * D, t0, kTile, tk, vs, D);
    __syncthreads();
    const int n = static_cast<int>(end - t0 < kTile ? (end - t0 > 0 ? end - t0 : 0) : kTile);
    for (int j = 0; j < n; ++j) {
      float dot = 0.0f, dp = 0.0f;
      for (int c = 0; c < D; ++c) {
        dot += qi[c] * ks[j * D + c];
        dp += g[c] * vs[j * D + c];
      }
      const float p = expf(scale * dot - li);
      const float ds = p * (dp - di);
      for (int c = 0; c < D; ++c) gqi[c] += scale * ds * ks[j * D + c];
    }
  }
  if (!active) return;
  for (int c = 0; c < D; ++c) gq[(h * tq + i) * D + c] = gqi[c];
}

template <int D>
__global__ void grad_kv_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                               const float* __restrict__ lse, const float* __restrict__ delta,
                               const float* __restrict__ gout, float* __restrict__ gk, float* __restrict__ gv,
                               int64_t tq, int64_t tk, float scale, bool causal) {
  __shared__ float kown[kRows * (D + 1)];
  __shared__ float vown[kRows * (D + 1)];
  __shared__ float qs[kQTile * D];
  __shared__ float gs[kQTile * D];
  __shared__ float ls[kQTile], dls[kQTile];
  const int64_t h = blockIdx.x;
  const int64_t key0 = static_cast<int64_t>(blockIdx.y) * kRows;
  const int64_t j = key0 + threadIdx.x;
  const bool active = j < tk;
  stage<D>(k + h * tk * D, key0, kRows, tk, kown, D + 1);
  stage<D>(v + h * tk * D, key0, kRows, tk, vown, D + 1);
  const float* kj = kown + threadIdx.x * (D + 1);
  const float* vj = vown + threadIdx.x * (D + 1);
  float gkj[D], gvj[D];
  for (int c = 0; c < D; ++c) gkj[c] = gvj[c] = 0.0f;
  // Causal: key j is seen by queries i >= j, so this block starts at its first key.
  for (int64_t t0 = causal ? key0 : 0; t0 < tq; t0 += kQTile) {
    __syncthreads();
    stage<D>(q + h * tq * D, t0, kQTile, tq, qs, D);
    stage<D>(gout + h * tq * D, t0, kQTile, tq, gs, D);
    if (threadIdx.x < kQTile) {
      const int64_t i = t0 + threadIdx.x;
      ls[threadIdx.x] = i < tq ? lse[h * tq + i] : 0.0f;
      dls[threadIdx.x] = i < tq ? delta[h * tq + i] : 0.0f;
    }
    __syncthreads();
    if (!active) continue;
    for (int r = 0; r < kQTile; ++r) {
      const int64_t i = t0 + r;
      if (i >= tq || (causal && i < j)) continue;
      float dot = 0.0f, dp = 0.0f;
      for (int c = 0; c < D; ++c) {
        dot += qs[r * D + c] * kj[c];
        dp += gs[r * D + c] * vj[c];
      }
      const float p = expf(scale * dot - ls[r]);
      const float ds = p * (dp - dls[r]);
      for (int c = 0; c < D; ++c) {
        gvj[c] += p * gs[r * D + c];
        gkj[c] += scale * ds * qs[r * D + c];
      }
    }
  }
  if (!active) return;
  for (int c = 0; c < D; ++c) {
    gk[(h * tk + j) * D + c] = gkj[c];
    gv[(h * tk + j) * D + c] = gvj[c];
  }
}

dim3 grid_of(int64_t bh, int64_t rows) {
  const int64_t tiles = (rows + kRows - 1) / kRows;
  TERN_CHECK(bh <= std::numeric_limits<int>::max() && tiles <= 65535, "scaled_dot_product_attention",
             "too many heads or rows for the fused kernel's grid (", bh, " x ", rows, ")");
  return dim3(static_cast<unsigned>(bh), static_cast<unsigned>(tiles));
}

template <int D>
void forward_d(cudaStream_t stream, const float* q, const float* k, const float* v, float* out, float* lse, int64_t bh,
               int64_t tq, int64_t tk, float scale, bool causal) {
  forward_kernel<D><<<grid_of(bh, tq), kRows, 0, stream>>>(q, k, v, out, lse, tq, tk, scale, causal);
  check_launch("scaled_dot_product_attention");
}

template <int D>
void backward_d(cudaStream_t stream, const float* q, const float* k, const float* v, const float* out, const float* lse,
                const float* gout, float* gq, float* gk, float* gv, int64_t bh, int64_t tq, int64_t tk, float scale,
                bool causal) {
  const int64_t rows = bh * tq;
  detail::DeviceScratch scratch(stream, static_cast<size_t>(rows) * 4, "scaled_dot_product_attention");
  float* delta = scratch.as<float>();
  delta_kernel<D><<<static_cast<unsigned>((rows * 32 + 255) / 256), 256, 0, stream>>>(out, gout, delta, rows);
  check_launch("scaled_dot_product_attention");
  grad_q_kernel<D><<<grid_of(bh, tq), kRows, 0, stream>>>(q, k, v, lse, delta, gout, gq, tq, tk, scale, causal);
  check_launch("scaled_dot_product_attention");
  grad_kv_kernel<D><<<grid_of(bh, tk), kRows, 0, stream>>>(q, k, v, lse, delta, gout, gk, gv, tq, tk, scale, causal);
  check_launch("scaled_dot_product_attention");
}

}  // namespace

bool fused_attention_supported(DType dtype, int64_t d) { return dtype == kFloat32 && (d == 32 || d == 64); }

void attention_forward(cudaStream_t stream, DType dtype, const void* q, const void* k, const void* v, void* out,
                       void* lse, int64_t bh, int64_t tq, int64_t tk, int64_t d, double scale, bool causal) {
  TERN_CHECK(fused_attention_supported(dtype, d), "scaled_dot_product_attention", "no fused CUDA kernel for ", dtype,
             " with head dim ", d);
  if (bh == 0 || tq == 0) return;
  const auto* qf = static_cast<const float*>(q);
  const auto* kf = static_cast<const float*>(k);
  const auto* vf = static_cast<const float*>(v);
  auto* of = static_cast<float*>(out);
  auto* lf = static_cast<float*>(lse);
  const float s = static_cast<float>(scale);
  if (d == 32)
    forward_d<32>(stream, qf, kf, vf, of, lf, bh, tq, tk, s, causal);
  else
    forward_d<64>(stream, qf, kf, vf, of, lf, bh, tq, tk, s, causal);
}

void attention_backward(cudaStream_t stream, DType dtype, const void* q, const void* k, const void* v, const void* out,
                        const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t bh, int64_t tq,
                        int64_t tk, int64_t d, double scale, bool causal) {
  TERN_CHECK(fused_attention_supported(dtype, d), "scaled_dot_product_attention", "no fused CUDA kernel for ", dtype,
             " with head dim ", d);
  if (bh == 0 || (tq == 0 && tk == 0)) return;
  const auto* qf = static_cast<const float*>(q);
  const auto* kf = static_cast<const float*>(k);
  const auto* vf = static_cast<const float*>(v);
  const auto* of = static_cast<const float*>(out);
  const auto* lf = static_cast<const float*>(lse);
  const auto* gf = static_cast<const float*>(gout);
  auto* gqf = static_cast<float*>(gq);
  auto* gkf = static_cast<float*>(gk);
  auto* gvf = static_cast<float*>(gv);
  const float s = static_cast<float>(scale);
  if (d == 32)
    backward_d<32>(stream, qf, kf, vf, of, lf, gf, gqf, gkf, gvf, bh, tq, tk, s, causal);
  else
    backward_d<64>(stream, qf, kf, vf, of, lf, gf, gqf, gkf, gvf, bh, tq, tk, s, causal);
}

}  // namespace tern::gpu::kernels
