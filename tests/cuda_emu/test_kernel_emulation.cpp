// Every launcher of backends/cuda/kernels.h, run on the host under the emulation in cuda_runtime.h (see
// CMakeLists.txt here), against the CPU backend. Exact where the two promise the same bits (copies, integer math,
// index ops, max/min and their indices, quantization codes); within a few ulps where the order of a floating-point
// sum or the library's exp/log differ.
//
// Sizes stay small: every CUDA thread of an emulated block is a host thread, and a barrier across 256 or 1024 of
// them on two cores is slow. The converter cuts kMaxBlocks to 3, so inputs of a few thousand elements already
// take the multi-block and grid-stride paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <tern/backends/backend.h>
#include <tern/backends/cpu/ternary/ternary.h>
#include <tern/backends/scalar_math.h>
#include <tern/core/error.h>

#include "kernels.h"  // the converted copy: namespace tern::gpu_emu::kernels

namespace tern::gpu_emu::kernels {
// CudaBackend's check reads cudaGetLastError; an emulated launch cannot fail to start.
void check_launch(const char*) {}
}  // namespace tern::gpu_emu::kernels

namespace {

using namespace tern;
namespace K = tern::gpu_emu::kernels;

Backend& cpu() { return backend_for(kCPU, "KernelEmulation"); }

template <typename T>
bool same(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(a) && std::isnan(b)) return true;
  return a == b;
}

// |a - b| <= rel * (1 + |b|), NaN only with NaN, infinities exactly.
template <typename T>
bool close(T a, T b, double rel) {
  if (std::isnan(double(a)) || std::isnan(double(b))) return std::isnan(double(a)) && std::isnan(double(b));
  if (std::isinf(double(a)) || std::isinf(double(b))) return a == b;
  return std::fabs(double(a) - double(b)) <= rel * (1 + std::fabs(double(b)));
}

template <typename T>
std::vector<T> random_values(std::mt19937_64& rng, int64_t n, double lo = -3, double hi = 3) {
  std::vector<T> v(static_cast<size_t>(n));
  if constexpr (std::is_floating_point_v<T>) {
    std::uniform_real_distribution<double> d(lo, hi);
    for (auto& x : v) x = T(d(rng));
  } else {
    std::uniform_int_distribution<int> d(-100, 100);
    for (auto& x : v) x = T(d(rng));
  }
  return v;
}

// ---- Elementwise: random shapes and layouts (permuted, stepped, padded, broadcast, reversed), random values
// with the awkward ones (signed zeros, halfway cases, limits of every dtype, infinities, NaN) among them.

const DType kAllDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16,   DType::i8,
                            DType::u8,  DType::i32, DType::i64, DType::boolean};

struct Elementwise {
  std::mt19937_64 rng;
  // Bools other than 0/1 (from raw memory) go through the CPU's copy paths differently (memcpy and its
  // transposing tiles take them raw, the rest as 0/1), so copies see only 0/1.
  bool mangle_bools = true;

  explicit Elementwise(uint64_t seed) : rng(seed) {}

  double special(size_t i) {
    static const double v[] = {0.0,    -0.0,    1.0,          -1.0,         0.5,    -0.5,    1.5,      2.5,       -2.5,
                               127.0,  128.0,   -129.0,       255.0,        256.0,  65504.0, 65520.0,  1e10,      -1e10,
                               3e38,   1e300,   -1e300,       1e-8,         -1e-40, 5e-324,  INFINITY, -INFINITY, NAN,
                               9.3e18, -9.3e18, 2147483647.0, 2147483648.0, 0.1,    3.7,     -3.7};
    return v[i % (sizeof(v) / sizeof(v[0]))];
  }
  double value() {
    const int k = static_cast<int>(rng() % 10);
    if (k < 2) return special(rng());
    if (k < 4) return static_cast<double>(static_cast<int64_t>(rng() % 512) - 256);
    return std::uniform_real_distribution<double>(-8, 8)(rng);
  }

  std::vector<char> buffer(DType t, int64_t count, bool raw_bytes) {
    std::vector<char> b(static_cast<size_t>(std::max<int64_t>(count, 1)) * dtype_size(t));
    if (raw_bytes) {
      for (auto& c : b) c = static_cast<char>(rng());
      return b;
    }
    visit_dtype(t, [&](auto z) {
      using T = decltype(z);
      T* p = reinterpret_cast<T*>(b.data());
      for (int64_t i = 0; i < count; ++i) p[i] = math::convert<T>(value());
      if constexpr (std::is_same_v<T, bool>)
        if (mangle_bools)
          for (int64_t i = 0; i < count; ++i)
            if (rng() % 8 == 0) reinterpret_cast<uint8_t*>(b.data())[i] = static_cast<uint8_t>(rng() % 256);
    });
    return b;
  }

  struct Operand {
    std::vector<char> buf;
    int64_t base = 0;  // element offset of the first element
    Strides strides;
  };

  // `spread`: an output with no two elements adjacent, which keeps the CPU off its vectorized loops.
  Operand layout(const Shape& shape, DType t, bool input, bool raw_bytes = false, bool spread = false) {
    const size_t nd = shape.size();
    Operand o;
    o.strides.assign(nd, 0);
    std::vector<size_t> order(nd);
    for (size_t i = 0; i < nd; ++i) order[i] = i;
    const int kind = static_cast<int>(rng() % 5);
    if (kind >= 2) std::shuffle(order.begin(), order.end(), rng);
    int64_t stride = 1;
    for (size_t j = nd; j-- > 0;) {
      const size_t d = order[j];
      const int64_t step = (kind == 3 && rng() % 2) ? 2 : 1;
      o.strides[d] = stride * step;
      stride *= shape[d] * step + (kind == 4 ? 1 : 0);
    }
    if (spread)
      for (auto& st : o.strides) st *= 2;
    if (input && rng() % 3 == 0)
      for (size_t d = 0; d < nd; ++d)
        if (rng() % 2) o.strides[d] = 0;
    if (rng() % 6 == 0)
      for (size_t d = 0; d < nd; ++d)
        if (rng() % 2) o.strides[d] = -o.strides[d];
    int64_t lo = 0, hi = 0;
    for (size_t d = 0; d < nd; ++d) {
      if (shape[d] == 0) continue;
      const int64_t ext = (shape[d] - 1) * o.strides[d];
      (ext < 0 ? lo : hi) += ext;
    }
    o.base = -lo;
    o.buf = buffer(t, hi - lo + 1, raw_bytes);
    return o;
  }

  static StridedArg arg(Operand& o, DType t) {
    return StridedArg{o.buf.data() + o.base * static_cast<int64_t>(dtype_size(t)), t, o.strides};
  }

  Shape shape() {
    const int nd = static_cast<int>(rng() % 6);
    Shape s(static_cast<size_t>(nd));
    for (auto& d : s) {
      const int k = static_cast<int>(rng() % 12);
      d = k == 0 ? 0 : k < 3 ? 1 : 1 + static_cast<int64_t>(rng() % 7);
    }
    if (rng() % 10 == 0 && nd > 0) s[rng() % nd] = 300 + static_cast<int64_t>(rng() % 400);
    int64_t n = 1;
    for (auto d : s) n *= d;
    return n < 32768 ? s : shape();
  }

  // exact: the same bits; otherwise within the few ulps that libm calls move, plus those of `scale` (the
  // incoming gradient of a derivative, whose terms cancel: see BinaryEveryOpAndDtype).
  static bool close_bytes(DType t, const char* x, const char* y, bool exact, const char* scale) {
    if (std::memcmp(x, y, dtype_size(t)) == 0) return true;
    if (exact) return false;
    double a, b, c = 0;
    if (t == DType::f32) {
      float fa, fb, fc = 0;
      std::memcpy(&fa, x, 4);
      std::memcpy(&fb, y, 4);
      if (scale) std::memcpy(&fc, scale, 4);
      a = fa, b = fb, c = fc;
      if (std::isnan(a) && std::isnan(b)) return true;
      return std::fabs(a - b) <= 4e-6 * std::max(std::fabs(a), std::fabs(b)) + 1e-6 + 1e-5 * std::fabs(c);
    }
    if (t == DType::f64) {
      std::memcpy(&a, x, 8);
      std::memcpy(&b, y, 8);
      if (scale) std::memcpy(&c, scale, 8);
      if (std::isnan(a) && std::isnan(b)) return true;
      return std::fabs(a - b) <= 1e-14 * std::max(std::fabs(a), std::fabs(b)) + 1e-14 + 1e-13 * std::fabs(c);
    }
    return false;
  }

  static std::string describe(DType t, const char* p) {
    char text[64];
    if (t == DType::f32) {
      float v;
      std::memcpy(&v, p, 4);
      std::snprintf(text, sizeof text, "%.9g", v);
    } else if (t == DType::f64) {
      double v;
      std::memcpy(&v, p, 8);
      std::snprintf(text, sizeof text, "%.17g", v);
    } else {
      std::string hex;
      for (size_t j = 0; j < dtype_size(t); ++j) {
        std::snprintf(text, sizeof text, "%02x", static_cast<unsigned char>(p[j]));
        hex += text;
      }
      return "0x" + hex;
    }
    return text;
  }

  // Runs both into copies of `out` and compares every byte of the buffer, so that writes outside the view
  // show; an error must be the same error.
  static void compare(const std::string& what, const Shape& shape, const Operand& out, DType ot, bool exact,
                      const Operand* scale, const std::function<void(const StridedArg&)>& on_cpu,
                      const std::function<void(const StridedArg&)>& emulated) {
    Operand o1 = out, o2 = out;
    std::string e1, e2;
    try {
      on_cpu(arg(o1, ot));
    } catch (const std::exception& e) {
      e1 = e.what();
    }
    try {
      emulated(arg(o2, ot));
    } catch (const std::exception& e) {
      e2 = e.what();
    }
    std::string dims;
    for (auto d : shape) dims += std::to_string(d) + ",";
    ASSERT_EQ(e1, e2) << what << " shape (" << dims << ")";
    if (!e1.empty()) return;
    const size_t es = dtype_size(ot);
    for (size_t i = 0; i < o1.buf.size(); i += es)
      ASSERT_TRUE(close_bytes(ot, &o1.buf[i], &o2.buf[i], exact, scale ? &scale->buf[i] : nullptr))
          << what << " " << dtype_name(ot) << " shape (" << dims << ") at byte " << i << ": cpu "
          << describe(ot, &o1.buf[i]) << ", emulated " << describe(ot, &o2.buf[i]);
  }
};

constexpr int kElementwiseRounds = 50;

TEST(KernelEmulation, CopyEveryDtypePair) {
  Elementwise g(1);
  g.mangle_bools = false;
  for (int round = 0; round < kElementwiseRounds; ++round)
    for (DType dt : kAllDtypes)
      for (DType st : kAllDtypes) {
        const Shape s = g.shape();
        // Raw bytes: NaN payloads, subnormals and out-of-range values of every kind, as memory may hold them.
        auto src = g.layout(s, st, true, st != DType::boolean && g.rng() % 4 == 0);
        auto out = g.layout(s, dt, false);
        Elementwise::compare(
            "copy", s, out, dt, true, nullptr,
            [&](const StridedArg& o) { cpu().copy(s, o, Elementwise::arg(src, st)); },
            [&](const StridedArg& o) { K::copy(nullptr, s, o, Elementwise::arg(src, st)); });
      }
}

TEST(KernelEmulation, Fill) {
  Elementwise g(2);
  for (int round = 0; round < 4 * kElementwiseRounds; ++round)
    for (DType dt : kAllDtypes) {
      const Shape s = g.shape();
      auto out = g.layout(s, dt, false);
      const double v = g.rng() % 3 == 0 ? 0.0 : g.value();
      Elementwise::compare(
          "fill", s, out, dt, true, nullptr, [&](const StridedArg& o) { cpu().fill(s, o, v); },
          [&](const StridedArg& o) { K::fill(nullptr, s, o, v); });
    }
}

TEST(KernelEmulation, UnaryEveryOpAndDtype) {
  Elementwise g(3);
  for (int round = 0; round < kElementwiseRounds; ++round)
    for (DType t : kAllDtypes)
      for (int op = 0; op <= static_cast<int>(UnaryOp::logical_not); ++op) {
        const UnaryOp u = static_cast<UnaryOp>(op);
        const Shape s = g.shape();
        auto in = g.layout(s, t, true);
        // The CPU computes these with vectorized math (libmvec) where the output is contiguous, whose error
        // near tanh's saturation grows past any tolerance; elsewhere with the host libm, as the emulated kernels
        // do. So they are compared on spread-out outputs, within a few ulps: -march=native lets the CPU build
        // contract into FMAs where this one does not (and nvcc contracts as it likes).
        const bool libm = u == UnaryOp::exp || u == UnaryOp::log || u == UnaryOp::tanh || u == UnaryOp::gelu ||
                          u == UnaryOp::gelu_erf || u == UnaryOp::sigmoid || u == UnaryOp::pow;
        auto out = g.layout(s, t, false, false, libm);
        double p0 = g.value(), p1 = g.value();
        if (u == UnaryOp::pow) {
          const double ps[] = {2.0, 1.0, 0.5, 3.0, -1.5, 0.25, NAN};
          p0 = ps[g.rng() % 7];
        }
        if (u == UnaryOp::clamp && g.rng() % 3 == 0) (g.rng() % 2 ? p0 : p1) = NAN;
        Elementwise::compare(
            "unary op " + std::to_string(op), s, out, t, !libm, nullptr,
            [&](const StridedArg& o) { cpu().unary(u, s, o, Elementwise::arg(in, t), p0, p1); },
            [&](const StridedArg& o) { K::unary(nullptr, u, s, o, Elementwise::arg(in, t), p0, p1); });
      }
}

TEST(KernelEmulation, BinaryEveryOpAndDtype) {
  Elementwise g(4);
  for (int round = 0; round < kElementwiseRounds; ++round)
    for (DType t : kAllDtypes)
      for (int op = 0; op <= static_cast<int>(BinaryOp::gelu_erf_backward); ++op) {
        const BinaryOp bo = static_cast<BinaryOp>(op);
        const DType ot = math::is_comparison(bo) ? DType::boolean : t;
        const Shape s = g.shape();
        auto a = g.layout(s, t, true);
        auto b = g.layout(s, t, true);
        // As for unary, on spread-out outputs. Even there the CPU's tanh is not the host libm's (the same formula
        // on the host gives the emulated kernel's bits), and in the tanh GELU's derivative 1 - th * th cancels,
        // as do its two terms for negative x: an ulp of tanh moves the result by an ulp of the gradient gy, not
        // of the result. So the tolerance adds a few ulps of gy, laid out as the output.
        const bool libm = bo == BinaryOp::gelu_backward || bo == BinaryOp::gelu_erf_backward;
        auto out = g.layout(s, ot, false, false, libm);
        Elementwise::Operand gy = out;
        if (libm) cpu().copy(s, Elementwise::arg(gy, ot), Elementwise::arg(b, t));
        Elementwise::compare(
            "binary op " + std::to_string(op), s, out, ot, !libm, libm ? &gy : nullptr,
            [&](const StridedArg& o) { cpu().binary(bo, s, o, Elementwise::arg(a, t), Elementwise::arg(b, t)); },
            [&](const StridedArg& o) { K::binary(nullptr, bo, s, o, Elementwise::arg(a, t), Elementwise::arg(b, t)); });
      }
}

TEST(KernelEmulation, Where) {
  Elementwise g(5);
  for (int round = 0; round < 4 * kElementwiseRounds; ++round)
    for (DType t : kAllDtypes) {
      const Shape s = g.shape();
      auto c = g.layout(s, DType::boolean, true);
      auto a = g.layout(s, t, true);
      auto b = g.layout(s, t, true);
      auto out = g.layout(s, t, false);
      Elementwise::compare(
          "where", s, out, t, true, nullptr,
          [&](const StridedArg& o) {
            cpu().where(s, o, Elementwise::arg(c, DType::boolean), Elementwise::arg(a, t), Elementwise::arg(b, t));
          },
          [&](const StridedArg& o) {
            K::where(nullptr, s, o, Elementwise::arg(c, DType::boolean), Elementwise::arg(a, t),
                     Elementwise::arg(b, t));
          });
    }
}

// ---- reduce: rows shorter than a warp, a block, several blocks (chunked rows), columns (inner > 1), empty.

template <typename T>
void check_reduce(std::mt19937_64& rng, ReduceOp op, int64_t outer, int64_t r, int64_t inner, bool special) {
  std::vector<T> in = random_values<T>(rng, outer * r * inner);
  if (special) {
    if constexpr (std::is_floating_point_v<T>) {
      for (size_t i = 0; i < in.size(); i += 7) in[i] = T(std::round(double(in[i])));  // ties for max/min
      if (in.size() > 20) {
        in[5] = in[13] = std::numeric_limits<T>::quiet_NaN();
        in[3] = -std::numeric_limits<T>::infinity();
      }
    } else {
      for (size_t i = 0; i < in.size(); i += 3) in[i] = T(7);
    }
  }
  const size_t n = static_cast<size_t>(outer * inner);
  std::vector<T> want(n, T(99)), got(n, T(99));
  std::vector<int64_t> want_idx(n, -5), got_idx(n, -5);
  const bool arg = op == ReduceOp::max || op == ReduceOp::min;
  cpu().reduce(op, dtype_v<T>, in.data(), want.data(), arg ? want_idx.data() : nullptr, outer, r, inner);
  K::reduce(nullptr, op, dtype_v<T>, in.data(), got.data(), arg ? got_idx.data() : nullptr, outer, r, inner);
  for (size_t w = 0; w < n; ++w) {
    if (arg || !std::is_floating_point_v<T>) {
      ASSERT_TRUE(same(got[w], want[w]) && got_idx[w] == want_idx[w])
          << dtype_name(dtype_v<T>) << " op " << int(op) << " [" << outer << "," << r << "," << inner << "] at " << w
          << ": " << double(got[w]) << " at " << got_idx[w] << ", want " << double(want[w]) << " at " << want_idx[w];
    } else {
      // Both sum in double; only the order differs.
      ASSERT_TRUE(close(got[w], want[w], sizeof(T) == 4 ? 1e-6 : 1e-12))
          << dtype_name(dtype_v<T>) << " op " << int(op) << " [" << outer << "," << r << "," << inner << "] at " << w
          << ": " << double(got[w]) << " want " << double(want[w]);
    }
  }
}

template <typename T>
void check_reduce_shapes(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t shapes[][3] = {{1, 1, 1}, {5, 10, 1},  {9, 33, 1},   {3, 1024, 1}, {2, 3000, 1}, {1, 70000, 1},
                               {3, 5, 7}, {2, 300, 5}, {1, 1000, 2}, {4, 129, 33}, {2, 0, 3},    {3, 0, 1}};
  for (auto& s : shapes)
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::sum_squares, ReduceOp::max, ReduceOp::min}) {
      if (op == ReduceOp::sum_squares && !std::is_floating_point_v<T>) continue;
      if ((op == ReduceOp::max || op == ReduceOp::min) && s[1] == 0) continue;
      check_reduce<T>(rng, op, s[0], s[1], s[2], (s[0] + s[1]) % 2 == 1);
      if (::testing::Test::HasFatalFailure()) return;
    }
}

TEST(KernelEmulation, ReduceFloat) {
  check_reduce_shapes<float>(10);
  check_reduce_shapes<double>(11);
}

TEST(KernelEmulation, ReduceInteger) {
  check_reduce_shapes<int32_t>(12);
  check_reduce_shapes<int64_t>(13);
  check_reduce_shapes<int8_t>(14);
  check_reduce_shapes<uint8_t>(15);
}

// ---- nn.cu

template <typename T>
void check_softmax(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t shapes[][3] = {{6, 10, 1}, {3, 2000, 1}, {3, 7, 5}, {1, 1, 1}, {2, 1025, 1}, {2, 3, 300}};
  for (auto& s : shapes)
    for (bool log : {false, true}) {
      auto in = random_values<T>(rng, s[0] * s[1] * s[2], -10, 10);
      if (s[2] == 1 && s[0] >= 3 && s[1] >= 3) {
        for (int64_t j = 0; j < s[1]; ++j) in[j] = -std::numeric_limits<T>::infinity();  // a row all -inf
        in[s[1] + 1] = std::numeric_limits<T>::quiet_NaN();
        in[2 * s[1] + 2] = std::numeric_limits<T>::infinity();
      }
      std::vector<T> want(in.size()), got(in.size());
      cpu().softmax(log, dtype_v<T>, in.data(), want.data(), s[0], s[1], s[2]);
      K::softmax(nullptr, log, dtype_v<T>, in.data(), got.data(), s[0], s[1], s[2]);
      for (size_t k = 0; k < in.size(); ++k)
        ASSERT_TRUE(close(got[k], want[k], sizeof(T) == 4 ? 2e-6 : 1e-13))
            << "log " << log << " [" << s[0] << "," << s[1] << "," << s[2] << "] at " << k << ": " << got[k] << " want "
            << want[k];
    }
}

TEST(KernelEmulation, Softmax) {
  check_softmax<float>(20);
  check_softmax<double>(21);
}

template <typename T>
void check_layer_norm(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{5, 10}, {3, 1500}, {40, 33}, {1, 1}, {70, 20}})
    for (int affine = 0; affine < 4; ++affine) {
      auto x = random_values<T>(rng, rows * cols);
      auto w = random_values<T>(rng, cols), b = random_values<T>(rng, cols), gy = random_values<T>(rng, rows * cols);
      for (int64_t j = 0; j < cols; ++j) x[j] += T(100);  // a row far from 0: a one-pass variance would cancel
      const T* wp = (affine & 1) ? w.data() : nullptr;
      const T* bp = (affine & 2) ? b.data() : nullptr;
      const size_t rn = static_cast<size_t>(rows), cn = static_cast<size_t>(cols), xn = rn * cn;
      std::vector<T> y1(xn), y2(xn), mean1(rn), mean2(rn), rstd1(rn), rstd2(rn), gx1(xn), gx2(xn);
      std::vector<T> gw1(cn, T(7)), gw2(cn, T(7)), gb1(cn, T(7)), gb2(cn, T(7));
      cpu().layer_norm_forward(dtype_v<T>, x.data(), wp, bp, y1.data(), mean1.data(), rstd1.data(), rows, cols, 1e-5);
      K::layer_norm_forward(nullptr, dtype_v<T>, x.data(), wp, bp, y2.data(), mean2.data(), rstd2.data(), rows, cols,
                            1e-5);
      const std::string where =
          "[" + std::to_string(rows) + "," + std::to_string(cols) + "] affine " + std::to_string(affine);
      for (size_t r = 0; r < rn; ++r)
        ASSERT_TRUE(close(mean2[r], mean1[r], tol) && close(rstd2[r], rstd1[r], tol))
            << where << " row " << r << ": mean " << mean2[r] << " vs " << mean1[r] << ", rstd " << rstd2[r] << " vs "
            << rstd1[r];
      for (size_t k = 0; k < xn; ++k) ASSERT_TRUE(close(y2[k], y1[k], tol)) << where << " y at " << k;
      // Both backwards from the same statistics, so that only the backward is compared.
      cpu().layer_norm_backward(dtype_v<T>, gy.data(), x.data(), wp, mean1.data(), rstd1.data(), gx1.data(),
                                wp ? gw1.data() : nullptr, bp ? gb1.data() : nullptr, rows, cols);
      K::layer_norm_backward(nullptr, dtype_v<T>, gy.data(), x.data(), wp, mean1.data(), rstd1.data(), gx2.data(),
                             wp ? gw2.data() : nullptr, bp ? gb2.data() : nullptr, rows, cols);
      for (size_t k = 0; k < xn; ++k)
        ASSERT_TRUE(close(gx2[k], gx1[k], sizeof(T) == 4 ? 1e-4 : 1e-10))
            << where << " gx at " << k << ": " << gx2[k] << " vs " << gx1[k];
      for (size_t j = 0; j < cn; ++j) {
        ASSERT_TRUE(close(gw2[j], gw1[j], tol * 10)) << where << " gweight at " << j;
        ASSERT_TRUE(close(gb2[j], gb1[j], tol * 10)) << where << " gbias at " << j;
      }
    }
}

TEST(KernelEmulation, LayerNormForwardBackward) {
  check_layer_norm<float>(30);
  check_layer_norm<double>(31);
}

// mode 0: some rows ignored; 1: every row ignored (NaN loss, zero gradient); 2: targets out of range.
template <typename T>
void check_cross_entropy(uint64_t seed) {
  std::mt19937_64 rng(seed);
  constexpr int64_t kIgnore = -100;
  for (auto [rows, classes] : std::vector<std::pair<int64_t, int64_t>>{{7, 10}, {5, 2000}, {40, 3}})
    for (int mode = 0; mode < 3; ++mode) {
      const std::string where = std::to_string(rows) + "x" + std::to_string(classes) + " mode " + std::to_string(mode);
      auto logits = random_values<T>(rng, rows * classes, -5, 5);
      std::vector<int64_t> targets(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) targets[r] = (r * 7) % classes;
      targets[1] = kIgnore;
      if (mode == 1) std::fill(targets.begin(), targets.end(), kIgnore);
      if (mode == 2) {
        targets[3] = classes + 4;
        targets[4] = -3;
      }
      const size_t rn = static_cast<size_t>(rows);
      std::vector<T> lse1(rn), lse2(rn);
      T loss1 = 5, loss2 = 5;
      int64_t count1 = -1, count2 = -1;
      int64_t bad[2] = {INT64_MAX, 0};
      const RangeCheck check{"cross_entropy", "target", "for classes"};
      K::cross_entropy_forward(nullptr, dtype_v<T>, logits.data(), targets.data(), lse2.data(), &loss2, &count2, rows,
                               classes, kIgnore, bad);
      if (mode == 2) {
        EXPECT_THROW(cpu().cross_entropy_forward(dtype_v<T>, logits.data(), targets.data(), lse1.data(), &loss1,
                                                 &count1, rows, classes, kIgnore, check),
                     Error);
        // The first bad row and its target; a record already there stands.
        EXPECT_EQ(bad[0], 3) << where;
        EXPECT_EQ(bad[1], classes + 4) << where;
        int64_t earlier[2] = {2, 77};
        K::cross_entropy_forward(nullptr, dtype_v<T>, logits.data(), targets.data(), lse2.data(), &loss2, &count2, rows,
                                 classes, kIgnore, earlier);
        EXPECT_EQ(earlier[0], 2) << where;
        EXPECT_EQ(earlier[1], 77) << where;
        continue;
      }
      cpu().cross_entropy_forward(dtype_v<T>, logits.data(), targets.data(), lse1.data(), &loss1, &count1, rows,
                                  classes, kIgnore, check);
      EXPECT_EQ(bad[0], INT64_MAX) << where;
      EXPECT_EQ(bad[1], 0) << where;
      ASSERT_EQ(count2, count1) << where;
      ASSERT_TRUE(close(loss2, loss1, sizeof(T) == 4 ? 1e-6 : 1e-13)) << where << ": " << loss2 << " vs " << loss1;
      for (size_t r = 0; r < rn; ++r)
        ASSERT_TRUE(close(lse2[r], lse1[r], sizeof(T) == 4 ? 1e-6 : 1e-13)) << where << " lse row " << r;
      const T grad = T(2.5);
      std::vector<T> g1(logits.size(), T(9)), g2(logits.size(), T(9));
      cpu().cross_entropy_backward(dtype_v<T>, logits.data(), targets.data(), lse1.data(), &grad, &count1, g1.data(),
                                   rows, classes, kIgnore);
      K::cross_entropy_backward(nullptr, dtype_v<T>, logits.data(), targets.data(), lse1.data(), &grad, &count1,
                                g2.data(), rows, classes, kIgnore);
      for (size_t k = 0; k < g1.size(); ++k)
        ASSERT_TRUE(close(g2[k], g1[k], sizeof(T) == 4 ? 1e-6 : 1e-13))
            << where << " glogits at " << k << ": " << g2[k] << " vs " << g1[k];
    }
}

TEST(KernelEmulation, CrossEntropyForwardBackward) {
  check_cross_entropy<float>(40);
  check_cross_entropy<double>(41);
}

// ---- index.cu: element widths 1 to 8 bytes, rows that are or are not multiples of a vector, misaligned bases.

template <typename T>
void check_index_select(std::mt19937_64& rng, int64_t outer, int64_t src_dim, int64_t n, int64_t inner, int misalign) {
  const std::string where = std::string(dtype_name(dtype_v<T>)) + " [" + std::to_string(outer) + "," +
                            std::to_string(src_dim) + "," + std::to_string(inner) + "] n " + std::to_string(n);
  std::vector<T> src_buf(static_cast<size_t>(outer * src_dim * inner + 4));
  T* src = src_buf.data() + misalign;
  auto r = random_values<double>(rng, outer * src_dim * inner);
  for (size_t i = 0; i < r.size(); ++i) src[i] = T(r[i] * 40);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (auto& v : idx) v = static_cast<int64_t>(rng() % src_dim);
  const size_t dn = static_cast<size_t>(outer * n * inner);
  std::vector<T> want_buf(dn + 4, T(3)), got_buf(dn + 4, T(3));
  T* want = want_buf.data() + misalign;
  T* got = got_buf.data() + misalign;
  int64_t bad[2] = {INT64_MAX, 0};
  const RangeCheck check{"index_select", "index", "for dim 0"};
  cpu().index_select(dtype_v<T>, src, idx.data(), want, outer, src_dim, n, inner, check);
  K::index_select(nullptr, dtype_v<T>, src, idx.data(), got, outer, src_dim, n, inner, bad);
  ASSERT_TRUE(got_buf == want_buf) << where;
  EXPECT_EQ(bad[0], INT64_MAX) << where;
  if (n > 3) {
    idx[static_cast<size_t>(n - 1)] = src_dim;
    idx[2] = -1;
    EXPECT_THROW(cpu().index_select(dtype_v<T>, src, idx.data(), want, outer, src_dim, n, inner, check), Error);
    K::index_select(nullptr, dtype_v<T>, src, idx.data(), got, outer, src_dim, n, inner, bad);
    EXPECT_EQ(bad[0], 2) << where;
    EXPECT_EQ(bad[1], -1) << where;
    // A bad index reads nothing: its row becomes zeros.
    for (int64_t c = 0; c < inner; ++c) EXPECT_EQ(got[2 * inner + c], T(0)) << where;
  }
}

TEST(KernelEmulation, IndexSelect) {
  std::mt19937_64 rng(50);
  check_index_select<float>(rng, 2, 11, 9, 8, 0);
  check_index_select<float>(rng, 1, 5, 40, 768, 0);
  check_index_select<int8_t>(rng, 3, 4, 7, 3, 1);
  check_index_select<double>(rng, 2, 3, 5, 1, 0);
  check_index_select<float>(rng, 2, 6, 5, 3, 1);
  check_index_select<int32_t>(rng, 1, 9, 8, 3, 1);
  check_index_select<uint8_t>(rng, 2, 9, 700, 2, 1);
}

template <typename T>
void check_index_add(std::mt19937_64& rng, int64_t outer, int64_t dst_dim, int64_t n, int64_t inner) {
  auto dst1 = random_values<T>(rng, outer * dst_dim * inner);
  auto src = random_values<T>(rng, outer * n * inner);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (auto& v : idx) v = static_cast<int64_t>(rng() % dst_dim);
  auto dst2 = dst1;
  cpu().index_add(dtype_v<T>, dst1.data(), idx.data(), src.data(), outer, dst_dim, n, inner);
  K::index_add(nullptr, dtype_v<T>, dst2.data(), idx.data(), src.data(), outer, dst_dim, n, inner);
  // Both add in the order of i, so the sums agree to the bit.
  for (size_t k = 0; k < dst1.size(); ++k)
    ASSERT_EQ(dst2[k], dst1[k]) << dtype_name(dtype_v<T>) << " [" << outer << "," << dst_dim << "," << inner << "] n "
                                << n << " at " << k;
}

TEST(KernelEmulation, IndexAdd) {
  std::mt19937_64 rng(51);
  check_index_add<float>(rng, 2, 7, 20, 5);
  check_index_add<double>(rng, 1, 50, 200, 30);
  check_index_add<float>(rng, 3, 1, 6, 2);
  check_index_add<float>(rng, 1, 1000, 64, 33);
}

// ---- optim.cu

template <typename T>
void check_adamw(uint64_t seed, double beta1, int64_t n) {
  std::mt19937_64 rng(seed);
  auto p1 = random_values<T>(rng, n), g = random_values<T>(rng, n), m1 = random_values<T>(rng, n);
  auto v1 = random_values<T>(rng, n, 0, 1);
  auto p2 = p1, m2 = m1, v2 = v1;
  cpu().adamw_step(dtype_v<T>, p1.data(), g.data(), m1.data(), v1.data(), n, 1e-2, beta1, 0.999, 1e-8, 0.1, 3);
  K::adamw_step(nullptr, dtype_v<T>, p2.data(), g.data(), m2.data(), v2.data(), n, 1e-2, beta1, 0.999, 1e-8, 0.1, 3);
  // The same formula in the same order; sqrt and division are correctly rounded on both.
  for (size_t i = 0; i < p1.size(); ++i) {
    ASSERT_TRUE(close(p2[i], p1[i], 1e-6)) << "param " << i << ": " << p2[i] << " vs " << p1[i];
    ASSERT_TRUE(close(m2[i], m1[i], 1e-6)) << "exp_avg " << i;
    ASSERT_TRUE(close(v2[i], v1[i], 1e-6)) << "exp_avg_sq " << i;
  }
}

TEST(KernelEmulation, AdamW) {
  check_adamw<float>(60, 0.9, 1000);
  check_adamw<double>(61, 0.9, 1000);
  check_adamw<float>(62, 0.3, 3000);  // 1 - beta1 >= 0.5: lerp's other branch
}

// ---- quant.cu

template <typename T>
void check_activation_quant(uint64_t seed, int64_t rows, int64_t cols) {
  std::mt19937_64 rng(seed);
  auto x = random_values<T>(rng, rows * cols);
  if (rows > 2 && cols > 0) {
    for (int64_t j = 0; j < cols; ++j) x[cols + j] = T(0);  // a zero row: the 1e-5 floor
    x[2 * cols] = std::numeric_limits<T>::quiet_NaN();
  }
  for (size_t k = 0; k < x.size(); k += 5) x[k] = T(std::round(double(x[k]) * 4) / 4);  // halfway cases
  const size_t xn = x.size(), rn = static_cast<size_t>(rows);
  for (int mode = 0; mode < 3; ++mode) {  // both outputs, no out, no q
    std::vector<T> out1(xn, T(5)), out2(xn, T(5)), scale1(rn), scale2(rn);
    std::vector<int8_t> q1(xn, 5), q2(xn, 5);
    cpu().activation_quant(dtype_v<T>, x.data(), mode == 1 ? nullptr : out1.data(), mode == 2 ? nullptr : q1.data(),
                           scale1.data(), rows, cols);
    K::activation_quant(nullptr, dtype_v<T>, x.data(), mode == 1 ? nullptr : out2.data(),
                        mode == 2 ? nullptr : q2.data(), scale2.data(), rows, cols);
    const std::string where = std::to_string(rows) + "x" + std::to_string(cols) + " mode " + std::to_string(mode);
    for (size_t r = 0; r < rn; ++r) ASSERT_TRUE(same(scale2[r], scale1[r])) << where << " scale row " << r;
    ASSERT_TRUE(q2 == q1) << where;
    for (size_t k = 0; k < xn; ++k) ASSERT_TRUE(same(out2[k], out1[k])) << where << " out at " << k;
  }
}

TEST(KernelEmulation, ActivationQuant) {
  check_activation_quant<float>(70, 5, 10);
  check_activation_quant<double>(71, 4, 2000);
  check_activation_quant<float>(72, 1, 1);
  check_activation_quant<float>(73, 3, 0);
}

template <typename T>
void check_ternarize(std::mt19937_64& rng, int64_t n, int64_t zeros, bool ties) {
  auto w = random_values<T>(rng, n, -1, 1);
  if (ties) {
    for (auto& v : w) v = T(int64_t(rng() % 7) - 3) / T(4);
    if (n > 4) {
      w[0] = T(-0.0);
      w[1] = T(0.0);
      w[3] = std::numeric_limits<T>::quiet_NaN();
      w[4] = -std::numeric_limits<T>::quiet_NaN();
    }
  }
  const size_t wn = w.size();
  std::vector<int8_t> q1(wn, 9), q2(wn, 9);
  std::vector<T> out1(wn, T(9)), out2(wn, T(9));
  T scale1 = T(9), scale2 = T(9);
  cpu().ternarize(dtype_v<T>, w.data(), n, zeros, q1.data(), out1.data(), &scale1);
  K::ternarize(nullptr, dtype_v<T>, w.data(), n, zeros, q2.data(), out2.data(), &scale2);
  const std::string where = std::string(dtype_name(dtype_v<T>)) + " n " + std::to_string(n) + " zeros " +
                            std::to_string(zeros) + " ties " + std::to_string(ties);
  // f64 sums of |w| in another order may differ in the last bits; f32 sums are exact in double on both.
  ASSERT_TRUE(sizeof(T) == 8 ? close(scale2, scale1, 1e-13) : same(scale2, scale1))
      << where << ": scale " << scale2 << " vs " << scale1;
  ASSERT_TRUE(q2 == q1) << where;
  for (size_t i = 0; i < wn; ++i) ASSERT_TRUE(same(out2[i], T(q2[i]) * scale2)) << where << " out at " << i;
}

TEST(KernelEmulation, TernarizeAbsmeanAndExactZeros) {
  std::mt19937_64 rng(80);
  for (bool ties : {false, true})
    for (int64_t n : {1, 7, 100, 5000})
      for (int64_t zeros : std::vector<int64_t>{-1, 0, 1, 3, n / 2, n - 1, n, n + 5}) {
        check_ternarize<float>(rng, n, zeros, ties);
        check_ternarize<double>(rng, n, zeros, ties);
        if (::testing::Test::HasFatalFailure()) return;
      }
}

// ---- attention.cu: one row tile and several, tq != tk both ways, both supported head dims.

TEST(KernelEmulation, FusedAttentionSupported) {
  EXPECT_TRUE(K::fused_attention_supported(kFloat32, 32));
  EXPECT_TRUE(K::fused_attention_supported(kFloat32, 64));
  EXPECT_FALSE(K::fused_attention_supported(kFloat32, 48));
  EXPECT_FALSE(K::fused_attention_supported(kFloat32, 128));
  EXPECT_FALSE(K::fused_attention_supported(DType::f64, 64));
}

TEST(KernelEmulation, AttentionForwardBackward) {
  std::mt19937 rng(90);
  std::normal_distribution<float> normal(0, 1);
  struct Case {
    int64_t bh, tq, tk, d;
    bool causal;
  };
  for (Case c : {Case{2, 5, 5, 32, true}, Case{2, 70, 70, 64, true}, Case{1, 9, 40, 32, false},
                 Case{2, 40, 9, 64, true}, Case{1, 33, 100, 64, true}}) {
    ASSERT_TRUE(K::fused_attention_supported(kFloat32, c.d));
    auto random = [&](int64_t n) {
      std::vector<float> v(static_cast<size_t>(n));
      for (auto& x : v) x = normal(rng);
      return v;
    };
    auto q = random(c.bh * c.tq * c.d), k = random(c.bh * c.tk * c.d), v = random(c.bh * c.tk * c.d);
    auto gout = random(c.bh * c.tq * c.d);
    std::vector<float> o1(q.size()), o2(q.size()), l1(static_cast<size_t>(c.bh * c.tq)), l2(l1.size());
    const double scale = 1 / std::sqrt(double(c.d));
    cpu().attention_forward(kFloat32, q.data(), k.data(), v.data(), o1.data(), l1.data(), c.bh, c.tq, c.tk, c.d, scale,
                            c.causal);
    K::attention_forward(nullptr, kFloat32, q.data(), k.data(), v.data(), o2.data(), l2.data(), c.bh, c.tq, c.tk, c.d,
                         scale, c.causal);
    std::vector<float> gq1(q.size()), gk1(k.size()), gv1(v.size()), gq2(q.size()), gk2(k.size()), gv2(v.size());
    cpu().attention_backward(kFloat32, q.data(), k.data(), v.data(), o1.data(), l1.data(), gout.data(), gq1.data(),
                             gk1.data(), gv1.data(), c.bh, c.tq, c.tk, c.d, scale, c.causal);
    K::attention_backward(nullptr, kFloat32, q.data(), k.data(), v.data(), o1.data(), l1.data(), gout.data(),
                          gq2.data(), gk2.data(), gv2.data(), c.bh, c.tq, c.tk, c.d, scale, c.causal);
    const std::string where = "bh " + std::to_string(c.bh) + " tq " + std::to_string(c.tq) + " tk " +
                              std::to_string(c.tk) + " d " + std::to_string(c.d) + " causal " +
                              std::to_string(c.causal);
    auto expect_near = [&](const std::vector<float>& got, const std::vector<float>& want, const char* what) {
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << where << " " << what << " at " << i;
    };
    expect_near(o2, o1, "out");
    expect_near(l2, l1, "lse");
    expect_near(gq2, gq1, "gq");
    expect_near(gk2, gk1, "gk");
    expect_near(gv2, gv1, "gv");
  }
}

// ---- w2a8.cu: k not a multiple of the packing, with and without RMSNorm and bias.

TEST(KernelEmulation, TernaryLinear) {
  std::mt19937 rng(100);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_int_distribution<int> trit(-1, 1);
  struct Case {
    int64_t m, n, k;
    bool rmsnorm, bias;
  };
  for (Case c : {Case{1, 9, 300, false, true}, Case{3, 17, 768, true, true}, Case{6, 10, 513, false, false},
                 Case{9, 5, 256, true, true}, Case{1, 40, 1000, true, false}}) {
    std::vector<int8_t> w(static_cast<size_t>(c.n * c.k));
    for (auto& x : w) x = static_cast<int8_t>(trit(rng));
    const auto packed = cpu::ternary::pack_i2(w.data(), c.n, c.k);
    std::vector<float> x(static_cast<size_t>(c.m * c.k)), bias(static_cast<size_t>(c.n));
    for (auto& v : x) v = normal(rng);
    for (auto& v : bias) v = normal(rng);
    const float scale = 0.03f;
    const float* b = c.bias ? bias.data() : nullptr;
    const size_t yn = static_cast<size_t>(c.m * c.n);
    std::vector<float> y1(yn), y2(yn);
    std::vector<int32_t> d1(yn), d2(yn);
    cpu().ternary_linear(x.data(), c.m, c.k, packed.data(), c.n, &scale, b, c.rmsnorm, 1e-6, y1.data(), d1.data());
    K::ternary_linear(nullptr, x.data(), c.m, c.k, packed.data(), c.n, &scale, b, c.rmsnorm, 1e-6, y2.data(),
                      d2.data());
    const std::string where = "m " + std::to_string(c.m) + " n " + std::to_string(c.n) + " k " + std::to_string(c.k);
    // The integer products are exact on both; y differs only by the order of the float rounding steps.
    ASSERT_TRUE(d2 == d1) << where;
    for (size_t i = 0; i < yn; ++i) ASSERT_NEAR(y2[i], y1[i], 1e-4) << where << " y at " << i;
  }
}

}  // namespace
