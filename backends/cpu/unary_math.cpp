// f32/f64 unary math. Built with -fno-math-errno, and the libm functions are
// declared SIMD-callable, so GCC vectorises exp/log/tanh/pow through glibc's
// libmvec (a few ulp, like torch's vectorised CPU kernels).

#include <cmath>
#include <limits>

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

template <typename T>
void unary_run(UnaryOp op, char* o, int64_t os, const char* x, int64_t is, int64_t n, double p0,
               double p1) {
  switch (op) {
    case UnaryOp::neg: return run<T>(o, os, x, is, n, [](T v) { return -v; });
    case UnaryOp::exp: return run<T>(o, os, x, is, n, [](T v) { return vexp(v); });
    case UnaryOp::log: return run<T>(o, os, x, is, n, [](T v) { return vlog(v); });
    case UnaryOp::sqrt: return run<T>(o, os, x, is, n, [](T v) { return std::sqrt(v); });
    case UnaryOp::rsqrt: return run<T>(o, os, x, is, n, [](T v) { return T(1) / std::sqrt(v); });
    case UnaryOp::abs: return run<T>(o, os, x, is, n, [](T v) { return std::fabs(v); });
    case UnaryOp::sign:
      return run<T>(o, os, x, is, n, [](T v) { return v > T(0) ? T(1) : (v < T(0) ? T(-1) : v); });
    case UnaryOp::tanh: return run<T>(o, os, x, is, n, [](T v) { return vtanh(v); });
    case UnaryOp::relu: return run<T>(o, os, x, is, n, [](T v) { return v < T(0) ? T(0) : v; });
    case UnaryOp::gelu:
      return run<T>(o, os, x, is, n, [](T v) {
        constexpr T k = T(0.7978845608028654);  // sqrt(2/pi)
        return T(0.5) * v * (T(1) + vtanh(k * (v + T(0.044715) * v * v * v)));
      });
    case UnaryOp::gelu_erf:
      return run<T>(o, os, x, is, n, [](T v) {
        constexpr T r = T(0.7071067811865476);  // 1/sqrt(2)
        return T(0.5) * v * (T(1) + verf(v * r));
      });
    case UnaryOp::sigmoid:
      return run<T>(o, os, x, is, n, [](T v) { return T(1) / (T(1) + vexp(-v)); });
    case UnaryOp::round: return run<T>(o, os, x, is, n, [](T v) { return std::nearbyint(v); });
    case UnaryOp::pow: {
      const T p = static_cast<T>(p0);
      if (p == T(2)) return run<T>(o, os, x, is, n, [](T v) { return v * v; });
      if (p == T(1)) return run<T>(o, os, x, is, n, [](T v) { return v; });
      if (p == T(0.5)) return run<T>(o, os, x, is, n, [](T v) { return std::sqrt(v); });
      return run<T>(o, os, x, is, n, [p](T v) { return vpow(v, p); });
    }
    case UnaryOp::clamp: {
      const T lo = std::isnan(p0) ? -std::numeric_limits<T>::infinity() : static_cast<T>(p0);
      const T hi = std::isnan(p1) ? std::numeric_limits<T>::infinity() : static_cast<T>(p1);
      return run<T>(o, os, x, is, n, [lo, hi](T v) { return v < lo ? lo : (v > hi ? hi : v); });
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
