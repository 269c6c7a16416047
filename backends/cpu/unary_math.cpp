// f32/f64 unary math: the formulas of backends/scalar_math.h over strided runs. Built with
// -fno-math-errno, and the libm functions are declared SIMD-callable (vmath.h), so GCC
// vectorises exp/log/tanh/pow through glibc's libmvec (a few ulp, like torch's vectorised CPU
// kernels).

#include "cpu_backend.h"
#include "vmath.h"

namespace tern::cpu {

namespace {

template <typename T, typename F>
inline void run(char* out, int64_t os, const char* in, int64_t is, int64_t n, F f) {
  if (os == sizeof(T) && is == sizeof(T)) {
    T* __restrict o = reinterpret_cast<T*>(out);
    const T* __restrict x = reinterpret_cast<const T*>(in);
    TERN_SIMD_MATH()
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<T*>(out + i * os) = f(*reinterpret_cast<const T*>(in + i * is));
  }
}

// Each case hands run() one formula of backends/scalar_math.h, so that the switch stays out of
// the loop and the contiguous loop vectorises.
template <typename T>
void unary_run(UnaryOp op, char* o, int64_t os, const char* x, int64_t is, int64_t n, double p0,
               double p1) {
  switch (op) {
    case UnaryOp::neg:
      return run<T>(o, os, x, is, n, [](T v) { return math::neg(v); });
    case UnaryOp::exp:
      return run<T>(o, os, x, is, n, [](T v) { return math::exp(v); });
    case UnaryOp::log:
      return run<T>(o, os, x, is, n, [](T v) { return math::log(v); });
    case UnaryOp::sqrt:
      return run<T>(o, os, x, is, n, [](T v) { return math::sqrt(v); });
    case UnaryOp::rsqrt:
      return run<T>(o, os, x, is, n, [](T v) { return math::rsqrt(v); });
    case UnaryOp::abs:
      return run<T>(o, os, x, is, n, [](T v) { return math::abs(v); });
    case UnaryOp::sign:
      return run<T>(o, os, x, is, n, [](T v) { return math::sign(v); });
    case UnaryOp::tanh:
      return run<T>(o, os, x, is, n, [](T v) { return math::tanh(v); });
    case UnaryOp::relu:
      return run<T>(o, os, x, is, n, [](T v) { return math::relu(v); });
    case UnaryOp::gelu:
      return run<T>(o, os, x, is, n, [](T v) { return math::gelu(v); });
    case UnaryOp::gelu_erf:
      return run<T>(o, os, x, is, n, [](T v) { return math::gelu_erf(v); });
    case UnaryOp::sigmoid:
      return run<T>(o, os, x, is, n, [](T v) { return math::sigmoid(v); });
    case UnaryOp::round:
      return run<T>(o, os, x, is, n, [](T v) { return math::round(v); });
    case UnaryOp::pow: {
      // math::pow's short forms, chosen once here: with a constant p each folds to its one
      // branch, and the general loop calls pow_any without a branch, so that it vectorises.
      const T p = static_cast<T>(p0);
      if (p == T(2)) return run<T>(o, os, x, is, n, [](T v) { return math::pow(v, T(2)); });
      if (p == T(1)) return run<T>(o, os, x, is, n, [](T v) { return math::pow(v, T(1)); });
      if (p == T(0.5)) return run<T>(o, os, x, is, n, [](T v) { return math::pow(v, T(0.5)); });
      return run<T>(o, os, x, is, n, [p](T v) { return math::pow_any(v, p); });
    }
    case UnaryOp::clamp: {
      const T lo = math::clamp_lo<T>(p0);
      const T hi = math::clamp_hi<T>(p1);
      return run<T>(o, os, x, is, n, [lo, hi](T v) { return math::clamp(v, lo, hi); });
    }
    case UnaryOp::logical_not: break;
  }
  TERN_FAIL("unary", "op not supported for floating point");
}

}  // namespace

void unary_float_run(UnaryOp op, DType dtype, char* out, int64_t out_stride, const char* in,
                     int64_t in_stride, int64_t n, double p0, double p1) {
  if (dtype == kFloat32)
    unary_run<float>(op, out, out_stride, in, in_stride, n, p0, p1);
  else
    unary_run<double>(op, out, out_stride, in, in_stride, n, p0, p1);
}

}  // namespace tern::cpu
