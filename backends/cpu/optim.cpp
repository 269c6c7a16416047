// The fused AdamW update: one pass over param, grad and both moments. Built with
// -fno-math-errno so that sqrt vectorises.

#include <cmath>

#include "cpu_backend.h"
#include "loops.h"

namespace tern::cpu {

namespace {

template <typename T>
void adamw(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps, double wd,
           int64_t step) {
  // Scalars are rounded to T first, as torch's CPU kernels do with Python scalars.
  const T decay = static_cast<T>(1.0 - lr * wd);
  const T w1 = static_cast<T>(1.0 - beta1);
  const T b2 = static_cast<T>(beta2), w2 = static_cast<T>(1.0 - beta2);
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const T step_size = static_cast<T>(lr / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T e = static_cast<T>(eps);
  // Captures by value and restrict-qualified pointers: with neither, GCC reloads the
  // scalars each iteration (a store might alias them) and emits scalar code at a
  // third of the memory-bound speed.
  parallel_for(n, kParallelGrain, [=](int64_t b, int64_t end) {
    T* __restrict pp = p;
    const T* __restrict gg = g;
    T* __restrict mm = m;
    T* __restrict vv = v;
#pragma omp simd
    for (int64_t i = b; i < end; ++i) {
      const T gi = gg[i];
      T pi = pp[i] * decay;
      const T mi = mm[i] + w1 * (gi - mm[i]);
      const T vi = vv[i] * b2 + w2 * gi * gi;
      const T denom = std::sqrt(vi) / bc2_sqrt + e;
      pi = pi - step_size * (mi / denom);
      pp[i] = pi;
      mm[i] = mi;
      vv[i] = vi;
    }
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
