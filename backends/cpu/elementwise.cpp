// Elementwise kernels: copy with conversion, fill, binary ops, where, over the scalar formulas of
// backends/scalar_math.h. The unary math loops are in unary_math.cpp. Built with
// -fno-math-errno so that GELU's backward vectorises its tanh (vmath.h).

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cpu_backend.h"
#include "loops.h"
#include "vmath.h"

namespace tern::cpu {

namespace {

template <typename T>
constexpr bool is_real_v = std::is_same_v<T, float> || std::is_same_v<T, double>;
using math::convert;
using math::is_reduced_v;

template <typename T>
inline T load(const char* p) {
  if constexpr (std::is_same_v<T, bool>)
    return *reinterpret_cast<const uint8_t*>(p) != 0;  // any byte value is a defined bool
  else
    return *reinterpret_cast<const T*>(p);
}

template <typename T>
inline T arith(BinaryOp op, T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    switch (op) {
      case BinaryOp::add:
        return math::add(a, b);
      case BinaryOp::sub:
        return math::sub(a, b);
      case BinaryOp::mul:
        return math::mul(a, b);
      default: break;
    }
  } else if constexpr (is_real_v<T>) {
    switch (op) {
      case BinaryOp::add:
        return math::add(a, b);
      case BinaryOp::sub:
        return math::sub(a, b);
      case BinaryOp::mul:
        return math::mul(a, b);
      case BinaryOp::div:
        return math::div(a, b);
      case BinaryOp::gelu_backward:
        return math::gelu_backward(a, b);
      case BinaryOp::gelu_erf_backward:
        return math::gelu_erf_backward(a, b);
      default: break;
    }
  }
  TERN_FAIL("binary", "unsupported op for ", dtype_name(dtype_v<T>));
}

using math::compare;
using math::is_comparison;

template <typename T>
void binary_arith(BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
                  const StridedArg& b) {
  // Here rather than in the loop, which may run on several threads: an exception must not
  // leave an OpenMP region (it would end the process).
  TERN_CHECK(math::has_arith<T>(op), "binary", "unsupported op for ", dtype_name(dtype_v<T>));
  const size_t es = sizeof(T);
  for_each_strided<3>(
      shape, {static_cast<char*>(out.data), static_cast<char*>(a.data), static_cast<char*>(b.data)},
      {&out.strides, &a.strides, &b.strides}, {es, es, es},
      [op, es](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
        T* o = reinterpret_cast<T*>(p[0]);
        const T* x = reinterpret_cast<const T*>(p[1]);
        const T* y = reinterpret_cast<const T*>(p[2]);
        const int64_t ses = static_cast<int64_t>(es);
        if (s[0] == ses && s[1] == ses && s[2] == ses) {
          switch (op) {  // the hot contiguous cases, written out so they vectorise
            case BinaryOp::add: for (int64_t i = 0; i < n; ++i) o[i] = arith(BinaryOp::add, x[i], y[i]); return;
            case BinaryOp::mul: for (int64_t i = 0; i < n; ++i) o[i] = arith(BinaryOp::mul, x[i], y[i]); return;
            case BinaryOp::sub: for (int64_t i = 0; i < n; ++i) o[i] = arith(BinaryOp::sub, x[i], y[i]); return;
            case BinaryOp::gelu_backward:
              if constexpr (is_real_v<T>) {
                TERN_SIMD_MATH()
                for (int64_t i = 0; i < n; ++i) o[i] = math::gelu_backward(x[i], y[i]);
                return;
              }
              break;
            case BinaryOp::gelu_erf_backward:
              if constexpr (is_real_v<T>) {
                TERN_SIMD_MATH()
                for (int64_t i = 0; i < n; ++i) o[i] = math::gelu_erf_backward(x[i], y[i]);
                return;
              }
              break;
            default: break;
          }
          for (int64_t i = 0; i < n; ++i) o[i] = arith(op, x[i], y[i]);
          return;
        }
        if (s[0] == ses && s[1] == ses && s[2] == 0) {
          const T c = *y;
          switch (op) {
            case BinaryOp::add: for (int64_t i = 0; i < n; ++i) o[i] = arith(BinaryOp::add, x[i], c); return;
            case BinaryOp::mul: for (int64_t i = 0; i < n; ++i) o[i] = arith(BinaryOp::mul, x[i], c); return;
            default: for (int64_t i = 0; i < n; ++i) o[i] = arith(op, x[i], c); return;
          }
        }
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<T*>(p[0] + i * s[0]) =
              arith(op, load<T>(p[1] + i * s[1]), load<T>(p[2] + i * s[2]));
      });
}

template <typename T>
void binary_compare(BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
                    const StridedArg& b) {
  for_each_strided<3>(
      shape, {static_cast<char*>(out.data), static_cast<char*>(a.data), static_cast<char*>(b.data)},
      {&out.strides, &a.strides, &b.strides}, {1, sizeof(T), sizeof(T)},
      [op](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<bool*>(p[0] + i * s[0]) =
              compare(op, load<T>(p[1] + i * s[1]), load<T>(p[2] + i * s[2]));
      });
}

// A row-major destination filled from a column-major source ([rows, cols] with strides
// (ld, 1) and (1, sld)): loading a Hugging Face Conv1D weight into a Linear, or contiguous() of
// a transposed matrix. Element by element, one of the two sides strides through memory and
// every access misses the cache; square tiles keep both sides' lines in cache.
bool is_transpose(const Shape& shape, const StridedArg& dst, const StridedArg& src) {
  return shape.size() == 2 && shape[0] > 1 && shape[1] > 1 && dst.strides[1] == 1 && dst.strides[0] >= shape[1] &&
         src.strides[0] == 1 && src.strides[1] >= shape[0];
}

template <typename D, typename S>
void transpose_copy(const Shape& shape, const StridedArg& dst, const StridedArg& src) {
  constexpr int64_t kTile = 32;
  const int64_t rows = shape[0], cols = shape[1], dld = dst.strides[0], sld = src.strides[1];
  D* out = static_cast<D*>(dst.data);
  const S* in = static_cast<const S*>(src.data);
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_for(row_tiles, std::max<int64_t>(1, kParallelGrain / (kTile * cols)), [=](int64_t tb, int64_t te) {
    for (int64_t i0 = tb * kTile; i0 < std::min(rows, te * kTile); i0 += kTile)
      for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const int64_t i1 = std::min(rows, i0 + kTile), j1 = std::min(cols, j0 + kTile);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) out[i * dld + j] = convert<D>(in[i + j * sld]);
      }
  });
}

}  // namespace

void CpuBackend::copy(const Shape& shape, const StridedArg& dst, const StridedArg& src) {
  visit_dtype(dst.dtype, [&](auto d) {
    using D = decltype(d);
    visit_dtype(src.dtype, [&](auto s0) {
      using S = decltype(s0);
      if (is_transpose(shape, dst, src)) return transpose_copy<D, S>(shape, dst, src);
      for_each_strided<2>(shape, {static_cast<char*>(dst.data), static_cast<char*>(src.data)},
                          {&dst.strides, &src.strides}, {sizeof(D), sizeof(S)},
                          [](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                            if constexpr (std::is_same_v<D, S>) {
                              if (s[0] == sizeof(D) && s[1] == sizeof(S)) {
                                std::memcpy(p[0], p[1], n * sizeof(D));
                                return;
                              }
                            }
                            for (int64_t i = 0; i < n; ++i)
                              *reinterpret_cast<D*>(p[0] + i * s[0]) = convert<D>(load<S>(p[1] + i * s[1]));
                          });
    });
  });
}

void CpuBackend::fill(const Shape& shape, const StridedArg& dst, double value) {
  visit_dtype(dst.dtype, [&](auto d) {
    using D = decltype(d);
    const D v = convert<D>(value);
    for_each_strided<1>(shape, {static_cast<char*>(dst.data)}, {&dst.strides}, {sizeof(D)},
                        [v](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
                          for (int64_t i = 0; i < n; ++i) *reinterpret_cast<D*>(p[0] + i * s[0]) = v;
                        });
  });
}

void CpuBackend::unary(UnaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& in,
                       double p0, double p1) {
  // Unsupported ops are refused before the loops, which may run on several threads: an
  // exception must not leave an OpenMP region (it would end the process).
  if (in.dtype == kFloat32 || in.dtype == kFloat64) {
    TERN_CHECK(op != UnaryOp::logical_not, "unary", "op not supported for floating point");
    const size_t es = dtype_size(in.dtype);
    const DType dt = in.dtype;
    for_each_strided<2>(shape, {static_cast<char*>(out.data), static_cast<char*>(in.data)},
                        {&out.strides, &in.strides}, {es, es},
                        [=](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                          unary_float_run(op, dt, p[0], s[0], p[1], s[1], n, p0, p1);
                        });
    return;
  }
  visit_dtype(in.dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_integral_v<T>) {
      TERN_CHECK(math::has_integer_unary(op), "unary", "op not supported for ", dtype_name(dtype_v<T>));
      for_each_strided<2>(shape, {static_cast<char*>(out.data), static_cast<char*>(in.data)},
                          {&out.strides, &in.strides}, {sizeof(T), sizeof(T)},
                          [=](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                            for (int64_t i = 0; i < n; ++i) {
                              const T x = load<T>(p[1] + i * s[1]);
                              T y = x;
                              switch (op) {
                                case UnaryOp::neg:
                                  y = math::neg(x);
                                  break;
                                case UnaryOp::abs:
                                  y = math::abs_integer(x);
                                  break;
                                case UnaryOp::sign:
                                  y = math::sign(x);
                                  break;
                                case UnaryOp::logical_not:
                                  y = math::logical_not(x);
                                  break;
                                case UnaryOp::clamp:
                                  y = math::clamp_integer(x, p0, p1);
                                  break;
                                default:
                                  TERN_FAIL("unary", "op not supported for ", dtype_name(dtype_v<T>));
                              }
                              *reinterpret_cast<T*>(p[0] + i * s[0]) = y;
                            }
                          });
    } else {
      TERN_FAIL("unary", "no kernel for ", dtype_name(dtype_v<T>), "; convert with to(f32)");
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
                        const StridedArg& b) {
  visit_dtype(a.dtype, [&](auto t0) {
    using T = decltype(t0);
    if (is_comparison(op)) {
      binary_compare<T>(op, shape, out, a, b);
    } else if constexpr (!is_reduced_v<T> && !std::is_same_v<T, bool>) {
      binary_arith<T>(op, shape, out, a, b);
    } else {
      TERN_FAIL("binary", "no arithmetic kernel for ", dtype_name(dtype_v<T>));
    }
  });
}

void CpuBackend::where(const Shape& shape, const StridedArg& out, const StridedArg& cond,
                       const StridedArg& a, const StridedArg& b) {
  visit_dtype(out.dtype, [&](auto t0) {
    using T = decltype(t0);
    for_each_strided<4>(shape,
                        {static_cast<char*>(out.data), static_cast<char*>(cond.data),
                         static_cast<char*>(a.data), static_cast<char*>(b.data)},
                        {&out.strides, &cond.strides, &a.strides, &b.strides},
                        {sizeof(T), 1, sizeof(T), sizeof(T)},
                        [](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
                          for (int64_t i = 0; i < n; ++i)
                            *reinterpret_cast<T*>(p[0] + i * s[0]) =
                                load<bool>(p[1] + i * s[1]) ? load<T>(p[2] + i * s[2])
                                                            : load<T>(p[3] + i * s[3]);
                        });
  });
}

}  // namespace tern::cpu
