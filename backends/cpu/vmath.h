#pragma once
// libm functions declared SIMD-callable so that GCC vectorises loops over them
// through glibc's libmvec, including loops over the shared formulas of
// backends/scalar_math.h. Files including this are built with -fno-math-errno.

#include <cmath>

extern "C" {
float expf(float) noexcept __attribute__((simd("notinbranch")));
float logf(float) noexcept __attribute__((simd("notinbranch")));
float tanhf(float) noexcept __attribute__((simd("notinbranch")));
float erff(float) noexcept __attribute__((simd("notinbranch")));
float powf(float, float) noexcept __attribute__((simd("notinbranch")));
double exp(double) noexcept __attribute__((simd("notinbranch")));
double log(double) noexcept __attribute__((simd("notinbranch")));
double tanh(double) noexcept __attribute__((simd("notinbranch")));
double erf(double) noexcept __attribute__((simd("notinbranch")));
double pow(double, double) noexcept __attribute__((simd("notinbranch")));
}

// Loops over these functions ask for 16 lanes where AVX-512 exists. GCC otherwise
// prefers 256-bit vectors on AVX-512 CPUs and calls libmvec's 8-lane variants, which
// run about 1.5x slower than the 16-lane ones (_ZGVeN16v_*). Usage:
//   TERN_SIMD_MATH()  or  TERN_SIMD_MATH(reduction(+ : s))  before the loop.
#define TERN_PRAGMA(x) _Pragma(#x)
#if defined(__AVX512F__)
#define TERN_SIMD_MATH(...) TERN_PRAGMA(omp simd simdlen(16) __VA_ARGS__)
#else
#define TERN_SIMD_MATH(...) TERN_PRAGMA(omp simd __VA_ARGS__)
#endif

// The shared formulas, whose libm calls are the functions declared SIMD-callable above.
#include <tern/backends/scalar_math.h>

namespace tern::cpu {
// The libm calls of the CPU kernels outside the shared formulas (softmax, cross-entropy).
inline float vexp(float x) { return math::exp(x); }
inline double vexp(double x) { return math::exp(x); }
inline float vlog(float x) { return math::log(x); }
inline double vlog(double x) { return math::log(x); }
inline float vtanh(float x) { return math::tanh(x); }
inline double vtanh(double x) { return math::tanh(x); }
inline float verf(float x) { return math::erf(x); }
inline double verf(double x) { return math::erf(x); }
inline float vpow(float x, float p) { return math::pow_any(x, p); }
inline double vpow(double x, double p) { return math::pow_any(x, p); }
}  // namespace tern::cpu
