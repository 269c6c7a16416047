// The fused AdamW update on the device: one pass over param, grad and both moments, with the
// per-element arithmetic of backends/kernel_math.h that the CPU runs too, so both devices
// produce the same bits.

#include <cstdint>

#include <tern/backends/cuda/kernels.h>
#include <tern/backends/kernel_math.h>
#include <tern/core/error.h>

#include "block_reduce.cuh"

namespace tern::gpu::kernels {

namespace {

constexpr int kBlock = 256;

template <bool kSmallWeight, typename T>
__global__ void __launch_bounds__(kBlock) adamw_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                                                       T* __restrict__ v, int64_t n, kmath::AdamWCoeffs<T> c) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T pi = p[i], mi = m[i], vi = v[i];
    kmath::adamw_update<kSmallWeight>(pi, g[i], mi, vi, c);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

template <typename T>
void launch(cudaStream_t stream, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, int64_t n, double lr,
            double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  const auto c = kmath::adamw_coeffs<T>(lr, beta1, beta2, eps, weight_decay, step);
  const unsigned blocks = detail::blocks_for(n, kBlock);
  T* p = static_cast<T*>(param);
  const T* g = static_cast<const T*>(grad);
  T* m = static_cast<T*>(exp_avg);
  T* v = static_cast<T*>(exp_avg_sq);
  if (c.w1_small)
    adamw_kernel<true, T><<<blocks, kBlock, 0, stream>>>(p, g, m, v, n, c);
  else
    adamw_kernel<false, T><<<blocks, kBlock, 0, stream>>>(p, g, m, v, n, c);
  check_launch("adamw_step");
}

}  // namespace

void adamw_step(cudaStream_t stream, DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  if (dtype != kFloat32 && dtype != kFloat64) TERN_FAIL("adamw_step", "no kernel for ", dtype);
  if (n == 0) return;
  if (dtype == kFloat32)
    launch<float>(stream, param, grad, exp_avg, exp_avg_sq, n, lr, beta1, beta2, eps, weight_decay, step);
  else
    launch<double>(stream, param, grad, exp_avg, exp_avg_sq, n, lr, beta1, beta2, eps, weight_decay, step);
}

}  // namespace tern::gpu::kernels
