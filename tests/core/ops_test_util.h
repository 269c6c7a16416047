#pragma once
// The reference side of the op tests (test_ops_*.cpp): naive loops in double precision over
// row-major vectors, and the Ops fixture that runs a test in f32 and in f64.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include <tern/tern.h>

#include "core_test_util.h"

namespace tern::opstest {

using coretest::all_close;
using coretest::ivals;
using coretest::mk;
using coretest::randn_t;
using coretest::tol;
using coretest::vals;

using Vec = std::vector<double>;

// Row-major index helpers for small reference loops.
inline int64_t numel(const Shape& s) { return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>()); }

inline std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  return idx;
}

// The flat index into a tensor of shape `s` of the broadcast multi-index `idx` (aligned right).
inline int64_t bcast_flat(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t f = 0;
  const size_t lead = idx.size() - s.size();
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
  return f;
}

// Reference for a broadcasting binary op.
inline Vec ref_binary(const Vec& a, const Shape& sa, const Vec& b, const Shape& sb, const Shape& so,
               const std::function<double(double, double)>& f) {
  Vec out(numel(so));
  for (int64_t i = 0; i < numel(so); ++i) {
    auto idx = unravel(i, so);
    out[i] = f(a[bcast_flat(idx, sa)], b[bcast_flat(idx, sb)]);
  }
  return out;
}

// Reference reduction of `x` (shape s) over `dims` with `f(values along the reduced dims)`.
inline Vec ref_reduce(const Vec& x, const Shape& s, std::vector<int64_t> dims,
               const std::function<double(const Vec&)>& f) {
  for (auto& d : dims)
    if (d < 0) d += static_cast<int64_t>(s.size());
  Shape kept;
  for (size_t d = 0; d < s.size(); ++d)
    kept.push_back(std::find(dims.begin(), dims.end(), static_cast<int64_t>(d)) != dims.end() ? 1 : s[d]);
  std::vector<Vec> groups(numel(kept));
  for (int64_t i = 0; i < numel(s); ++i) {
    auto idx = unravel(i, s);
    for (auto d : dims) idx[d] = 0;
    int64_t g = 0;
    for (size_t d = 0; d < s.size(); ++d) g = g * kept[d] + idx[d];
    groups[g].push_back(x[i]);
  }
  Vec out;
  for (auto& g : groups) out.push_back(f(g));
  return out;
}

inline double vsum(const Vec& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
inline double vmean(const Vec& v) { return vsum(v) / static_cast<double>(v.size()); }
inline double vmax(const Vec& v) { return *std::max_element(v.begin(), v.end()); }
inline double vvar(const Vec& v, int correction) {
  const double m = vmean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(static_cast<int64_t>(v.size()) - correction);
}

// Naive matmul of [M,K] @ [K,N] given as row-major vectors.
inline Vec ref_mm(const Vec& a, const Vec& b, int64_t M, int64_t K, int64_t N) {
  Vec c(M * N, 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += a[i * K + k] * b[k * N + j];
      c[i * N + j] = s;
    }
  return c;
}

inline double ref_gelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
inline double ref_gelu_exact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

class Ops : public ::testing::TestWithParam<DType> {
 protected:
  DType dt() const { return GetParam(); }
  double rtol() const { return tol(dt()); }
  double atol() const { return tol(dt()); }
  Tensor rn(const Shape& s, uint64_t seed) const { return randn_t(s, dt(), seed); }
  Tensor m(const Vec& v, const Shape& s) const { return mk(v, s, dt()); }
};

}  // namespace tern::opstest
