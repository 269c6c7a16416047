// The fused AdamW update: one pass over param, grad and both moments, with the per-element
// arithmetic of backends/kernel_math.h that the CUDA kernel runs too. Built with
// -fno-math-errno so that sqrt vectorises.

#include <cmath>

#include <tern/backends/kernel_math.h>

#include "cpu_backend.h"
#include "loops.h"

namespace tern::cpu {

namespace {

template <bool kSmallWeight, typename T>
void adamw_range(T* p, const T* g, T* m, T* v, int64_t b, int64_t end, const kmath::AdamWCoeffs<T>& c) {
  // Local restrict-qualified pointers and coefficients: without them GCC reloads the
  // scalars each iteration (a store might alias them) and emits scalar code at a third of
  // the memory-bound speed.
  T* __restrict pp = p;
  const T* __restrict gg = g;
  T* __restrict mm = m;
  T* __restrict vv = v;
  const kmath::AdamWCoeffs<T> cc = c;
#pragma omp simd
  for (int64_t i = b; i < end; ++i) {
    T pi = pp[i], mi = mm[i], vi = vv[i];
    kmath::adamw_update<kSmallWeight>(pi, gg[i], mi, vi, cc);
    pp[i] = pi;
    mm[i] = mi;
    vv[i] = vi;
  }
}

template <typename T>
void adamw(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps, double wd,
           int64_t step) {
  const kmath::AdamWCoeffs<T> c = kmath::adamw_coeffs<T>(lr, beta1, beta2, eps, wd, step);
  parallel_for(n, kParallelGrain, [=](int64_t b, int64_t end) {
    if (c.w1_small)
      adamw_range<true>(p, g, m, v, b, end, c);
    else
      adamw_range<false>(p, g, m, v, b, end, c);
  });
}

}  // namespace

void CpuBackend::adamw_step(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, int64_t n,
                            double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  if (dtype == kFloat32)
    adamw(static_cast<float*>(param), static_cast<const float*>(grad), static_cast<float*>(exp_avg),
          static_cast<float*>(exp_avg_sq), n, lr, beta1, beta2, eps, weight_decay, step);
  else if (dtype == kFloat64)
    adamw(static_cast<double*>(param), static_cast<const double*>(grad), static_cast<double*>(exp_avg),
          static_cast<double*>(exp_avg_sq), n, lr, beta1, beta2, eps, weight_decay, step);
  else
    TERN_FAIL("adamw_step", "no kernel for ", dtype);
}

}  // namespace tern::cpu
