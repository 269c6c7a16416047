// Fused attention on the CPU: the flash-attention recurrence, row by row. scaled_dot_product_attention
// prefers the composed ops here (OpenBLAS products are faster); these loops are the reference
// the CUDA kernels (backends/cuda/attention.cu) follow step for step, and they are tested
// against the composed ops.
//
// Forward, per query row i, over its keys j in order: s = scale · q_i·k_j, m' = max(m, s),
// acc = acc · exp(m - m') + exp(s - m') · v_j, l = l · exp(m - m') + exp(s - m'); then
// out_i = acc / l and lse_i = m + log(l).
// Backward (FlashAttention-2): p_ij = exp(scale · q_i·k_j − lse_i), D_i = gout_i·out_i,
// ds_ij = p_ij (gout_i·v_j − D_i); gv_j = Σ_i p_ij gout_i, gk_j = scale Σ_i ds_ij q_i,
// gq_i = scale Σ_j ds_ij k_j. Each output row sums its own terms in order: no two threads
// write one element, so the result does not depend on the thread count.

#include <cmath>
#include <limits>
#include <vector>

#include "cpu_backend.h"
#include "loops.h"

namespace tern::cpu {

namespace {

template <typename T>
T dot(const T* a, const T* b, int64_t d) {
  T s = 0;
  for (int64_t c = 0; c < d; ++c) s += a[c] * b[c];
  return s;
}

// The last key row i attends to, plus one.
int64_t key_end(int64_t i, int64_t tk, bool causal) { return causal ? std::min(i + 1, tk) : tk; }

template <typename T>
void forward(const T* q, const T* k, const T* v, T* out, T* lse, int64_t bh, int64_t tq, int64_t tk, int64_t d, T scale,
             bool causal) {
  parallel_for(bh * tq, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(tk * d, 1)), [&](int64_t b, int64_t e) {
    std::vector<T> acc(static_cast<size_t>(d));
    for (int64_t row = b; row < e; ++row) {
      const int64_t h = row / tq, i = row % tq;
      const T* qi = q + row * d;
      const T* kh = k + h * tk * d;
      const T* vh = v + h * tk * d;
      T m = -std::numeric_limits<T>::infinity(), l = 0;
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t j = 0, end = key_end(i, tk, causal); j < end; ++j) {
        const T s = scale * dot(qi, kh + j * d, d);
        const T m_new = std::max(m, s);
        const T correction = std::exp(m - m_new), p = std::exp(s - m_new);
        l = l * correction + p;
        for (int64_t c = 0; c < d; ++c) acc[c] = acc[c] * correction + p * vh[j * d + c];
        m = m_new;
      }
      T* o = out + row * d;
      for (int64_t c = 0; c < d; ++c) o[c] = acc[c] / l;
      lse[row] = m + std::log(l);
    }
  });
}

template <typename T>
void backward(const T* q, const T* k, const T* v, const T* out, const T* lse, const T* gout, T* gq, T* gk, T* gv,
              int64_t bh, int64_t tq, int64_t tk, int64_t d, T scale, bool causal) {
  std::vector<T> delta(static_cast<size_t>(bh * tq));
  for (int64_t row = 0; row < bh * tq; ++row) delta[row] = dot(gout + row * d, out + row * d, d);
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(tk * d, 1));
  // gq: one query row at a time, over its keys.
  parallel_for(bh * tq, grain, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t h = row / tq, i = row % tq;
      const T* qi = q + row * d;
      const T* gi = gout + row * d;
      T* gqi = gq + row * d;
      std::fill(gqi, gqi + d, T(0));
      for (int64_t j = 0, end = key_end(i, tk, causal); j < end; ++j) {
        const T* kj = k + (h * tk + j) * d;
        const T p = std::exp(scale * dot(qi, kj, d) - lse[row]);
        const T ds = p * (dot(gi, v + (h * tk + j) * d, d) - delta[row]);
        for (int64_t c = 0; c < d; ++c) gqi[c] += scale * ds * kj[c];
      }
    }
  });
  // gk, gv: one key row at a time, over the queries that attend to it.
  parallel_for(bh * tk, grain, [&](int64_t b, int64_t e) {
    for (int64_t krow = b; krow < e; ++krow) {
      const int64_t h = krow / tk, j = krow % tk;
      const T* kj = k + krow * d;
      const T* vj = v + krow * d;
      T* gkj = gk + krow * d;
      T* gvj = gv + krow * d;
      std::fill(gkj, gkj + d, T(0));
      std::fill(gvj, gvj + d, T(0));
      for (int64_t i = causal ? j : 0; i < tq; ++i) {
        const int64_t row = h * tq + i;
        const T* qi = q + row * d;
        const T* gi = gout + row * d;
        const T p = std::exp(scale * dot(qi, kj, d) - lse[row]);
        const T ds = p * (dot(gi, vj, d) - delta[row]);
        for (int64_t c = 0; c < d; ++c) {
          gvj[c] += p * gi[c];
          gkj[c] += scale * ds * qi[c];
        }
      }
    }
  });
}

}  // namespace

void CpuBackend::attention_forward(DType dtype, const void* q, const void* k, const void* v, void* out, void* lse,
                                   int64_t bh, int64_t tq, int64_t tk, int64_t d, double scale, bool causal) {
  if (dtype == kFloat32)
    forward(static_cast<const float*>(q), static_cast<const float*>(k), static_cast<const float*>(v),
            static_cast<float*>(out), static_cast<float*>(lse), bh, tq, tk, d, static_cast<float>(scale), causal);
  else if (dtype == kFloat64)
    forward(static_cast<const double*>(q), static_cast<const double*>(k), static_cast<const double*>(v),
            static_cast<double*>(out), static_cast<double*>(lse), bh, tq, tk, d, scale, causal);
  else
    TERN_FAIL("scaled_dot_product_attention", "no fused kernel for ", dtype);
}

void CpuBackend::attention_backward(DType dtype, const void* q, const void* k, const void* v, const void* out,
                                    const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t bh,
                                    int64_t tq, int64_t tk, int64_t d, double scale, bool causal) {
  if (dtype == kFloat32)
    backward(static_cast<const float*>(q), static_cast<const float*>(k), static_cast<const float*>(v),
             static_cast<const float*>(out), static_cast<const float*>(lse), static_cast<const float*>(gout),
             static_cast<float*>(gq), static_cast<float*>(gk), static_cast<float*>(gv), bh, tq, tk, d,
             static_cast<float>(scale), causal);
  else if (dtype == kFloat64)
    backward(static_cast<const double*>(q), static_cast<const double*>(k), static_cast<const double*>(v),
             static_cast<const double*>(out), static_cast<const double*>(lse), static_cast<const double*>(gout),
             static_cast<double*>(gq), static_cast<double*>(gk), static_cast<double*>(gv), bh, tq, tk, d, scale,
             causal);
  else
    TERN_FAIL("scaled_dot_product_attention", "no fused kernel for ", dtype);
}

}  // namespace tern::cpu
