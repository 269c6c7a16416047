// Forward values of every op, in f32 and f64, against hand-computed numbers or
// naive reference loops in double precision.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include <tern/tern.h>

#include "core_test_util.h"

using namespace tern;
using tern::coretest::all_close;
using tern::coretest::ivals;
using tern::coretest::mk;
using tern::coretest::randn_t;
using tern::coretest::tol;
using tern::coretest::vals;

namespace {

using Vec = std::vector<double>;

// Row-major index helpers for small reference loops.
int64_t numel(const Shape& s) { return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>()); }

std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  return idx;
}

// The flat index into a tensor of shape `s` of the broadcast multi-index `idx` (aligned right).
int64_t bcast_flat(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t f = 0;
  const size_t lead = idx.size() - s.size();
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
  return f;
}

// Reference for a broadcasting binary op.
Vec ref_binary(const Vec& a, const Shape& sa, const Vec& b, const Shape& sb, const Shape& so,
               const std::function<double(double, double)>& f) {
  Vec out(numel(so));
  for (int64_t i = 0; i < numel(so); ++i) {
    auto idx = unravel(i, so);
    out[i] = f(a[bcast_flat(idx, sa)], b[bcast_flat(idx, sb)]);
  }
  return out;
}

// Reference reduction of `x` (shape s) over `dims` with `f(values along the reduced dims)`.
Vec ref_reduce(const Vec& x, const Shape& s, std::vector<int64_t> dims,
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

double vsum(const Vec& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
double vmean(const Vec& v) { return vsum(v) / static_cast<double>(v.size()); }
double vmax(const Vec& v) { return *std::max_element(v.begin(), v.end()); }
double vvar(const Vec& v, int correction) {
  const double m = vmean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(static_cast<int64_t>(v.size()) - correction);
}

// Naive matmul of [M,K] @ [K,N] given as row-major vectors.
Vec ref_mm(const Vec& a, const Vec& b, int64_t M, int64_t K, int64_t N) {
  Vec c(M * N, 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += a[i * K + k] * b[k * N + j];
      c[i * N + j] = s;
    }
  return c;
}

double ref_gelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double ref_gelu_exact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

class Ops : public ::testing::TestWithParam<DType> {
 protected:
  DType dt() const { return GetParam(); }
  double rtol() const { return tol(dt()); }
  double atol() const { return tol(dt()); }
  Tensor rn(const Shape& s, uint64_t seed) const { return randn_t(s, dt(), seed); }
  Tensor m(const Vec& v, const Shape& s) const { return mk(v, s, dt()); }
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Float, Ops, ::testing::Values(kFloat32, kFloat64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// ---------------------------------------------------------------- arithmetic

TEST_P(Ops, BinaryArithmeticBroadcasts) {
  const Shape sa{2, 3, 1}, sb{4}, so{2, 3, 4};
  Tensor a = rn(sa, 1), b = add(rn(sb, 2), 3.0);  // b away from 0 for div
  const Vec av = vals(a), bv = vals(b);
  EXPECT_EQ(add(a, b).shape(), so);
  EXPECT_EQ(add(a, b).dtype(), dt());
  EXPECT_TRUE(all_close(add(a, b), ref_binary(av, sa, bv, sb, so, std::plus<>()), rtol(), atol()));
  EXPECT_TRUE(all_close(sub(a, b), ref_binary(av, sa, bv, sb, so, std::minus<>()), rtol(), atol()));
  EXPECT_TRUE(all_close(mul(a, b), ref_binary(av, sa, bv, sb, so, std::multiplies<>()), rtol(), atol()));
  EXPECT_TRUE(all_close(div(a, b), ref_binary(av, sa, bv, sb, so, std::divides<>()), rtol(), atol()));
  // b broadcast the other way round.
  EXPECT_TRUE(all_close(sub(b, a), ref_binary(bv, sb, av, sa, so, std::minus<>()), rtol(), atol()));
  // Operators.
  EXPECT_TRUE(all_close(a + b, vals(add(a, b)), 0, 0));
  EXPECT_TRUE(all_close(a - b, vals(sub(a, b)), 0, 0));
  EXPECT_TRUE(all_close(a * b, vals(mul(a, b)), 0, 0));
  EXPECT_TRUE(all_close(a / b, vals(div(a, b)), 0, 0));
  // Both sides broadcast: (3,1) and (1,4).
  Tensor c = m({1, 2, 3}, {3, 1}), d = m({10, 20, 30, 40}, {1, 4});
  EXPECT_EQ(vals(mul(c, d)), (Vec{10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90, 120}));
}

TEST_P(Ops, ScalarForms) {
  Tensor a = m({1, -2, 4, 0.5}, {2, 2});
  EXPECT_EQ(vals(add(a, 2.5)), (Vec{3.5, 0.5, 6.5, 3}));
  EXPECT_EQ(vals(sub(a, 2.5)), (Vec{-1.5, -4.5, 1.5, -2}));
  EXPECT_EQ(vals(mul(a, -2.0)), (Vec{-2, 4, -8, -1}));
  EXPECT_EQ(vals(div(a, 4.0)), (Vec{0.25, -0.5, 1, 0.125}));
  EXPECT_EQ(vals(rsub(2.5, a)), (Vec{1.5, 4.5, -1.5, 2}));
  EXPECT_EQ(vals(rdiv(2.0, a)), (Vec{2, -1, 0.5, 4}));
  EXPECT_EQ(vals(2.5 - a), (Vec{1.5, 4.5, -1.5, 2}));
  EXPECT_EQ(vals(2.0 / a), (Vec{2, -1, 0.5, 4}));
  EXPECT_EQ(vals(1.0 + a), (Vec{2, -1, 5, 1.5}));
  EXPECT_EQ(vals(3.0 * a), (Vec{3, -6, 12, 1.5}));
  EXPECT_EQ(vals(a + 1.0), (Vec{2, -1, 5, 1.5}));
  EXPECT_EQ(vals(a * 3.0), (Vec{3, -6, 12, 1.5}));
  EXPECT_EQ(vals(a - 1.0), (Vec{0, -3, 3, -0.5}));
  EXPECT_EQ(vals(a / 2.0), (Vec{0.5, -1, 2, 0.25}));
  EXPECT_EQ(vals(-a), (Vec{-1, 2, -4, -0.5}));
  EXPECT_EQ(add(a, 1.0).dtype(), dt());
  EXPECT_EQ(add(a, 1.0).shape(), (Shape{2, 2}));
  // Division by zero follows IEEE.
  Vec z = vals(div(m({1, -1, 0}, {3}), 0.0));
  EXPECT_EQ(z[0], std::numeric_limits<double>::infinity());
  EXPECT_EQ(z[1], -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(z[2]));
}

TEST(OpsInt, IntegerArithmetic) {
  Tensor a = from_vector<int64_t>({1, -2, 3}), b = from_vector<int64_t>({4, 5, -6});
  EXPECT_EQ(ivals(add(a, b)), (std::vector<int64_t>{5, 3, -3}));
  EXPECT_EQ(ivals(sub(a, b)), (std::vector<int64_t>{-3, -7, 9}));
  EXPECT_EQ(ivals(mul(a, b)), (std::vector<int64_t>{4, -10, -18}));
  EXPECT_EQ(ivals(mul(a, 3.0)), (std::vector<int64_t>{3, -6, 9}));
  EXPECT_EQ(ivals(neg(a)), (std::vector<int64_t>{-1, 2, -3}));
  EXPECT_EQ(ivals(abs(a)), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(ivals(sign(a)), (std::vector<int64_t>{1, -1, 1}));
  EXPECT_EQ(ivals(clamp(a, -1.0, 2.0)), (std::vector<int64_t>{1, -1, 2}));
  EXPECT_EQ(add(a, b).dtype(), kInt64);
  Tensor i = from_vector<int32_t>({100, 27});
  EXPECT_EQ(ivals(add(i, i)), (std::vector<int64_t>{200, 54}));
  // Overflow wraps (two's complement) instead of being undefined.
  Tensor big = from_vector<int64_t>({std::numeric_limits<int64_t>::max()});
  EXPECT_EQ(ivals(add(big, 1.0))[0], std::numeric_limits<int64_t>::min());
  Tensor i8 = from_vector<int8_t>({127, -128});
  EXPECT_EQ(ivals(add(i8, i8)), (std::vector<int64_t>{-2, 0}));
  EXPECT_EQ(ivals(neg(i8)), (std::vector<int64_t>{-127, -128}));
  Tensor u8 = from_vector<uint8_t>({250, 3});
  EXPECT_EQ(ivals(add(u8, from_vector<uint8_t>({10, 4}))), (std::vector<int64_t>{4, 7}));
}

// ---------------------------------------------------------------- unary math

TEST_P(Ops, UnaryMath) {
  Tensor x = rn({3, 7}, 3);
  Tensor pos = add(abs(x), 0.1);
  const Vec xv = vals(x), pv = vals(pos);
  auto map = [](const Vec& v, double (*f)(double)) {
    Vec o;
    for (double e : v) o.push_back(f(e));
    return o;
  };
  auto mapf = [](const Vec& v, const std::function<double(double)>& f) {
    Vec o;
    for (double e : v) o.push_back(f(e));
    return o;
  };
  const double r = dt() == kFloat32 ? 1e-5 : 1e-12;
  EXPECT_TRUE(all_close(neg(x), mapf(xv, [](double v) { return -v; }), 0, 0));
  EXPECT_TRUE(all_close(exp(x), map(xv, std::exp), r, r));
  EXPECT_TRUE(all_close(log(pos), map(pv, std::log), r, r));
  EXPECT_TRUE(all_close(sqrt(pos), map(pv, std::sqrt), r, r));
  EXPECT_TRUE(all_close(rsqrt(pos), mapf(pv, [](double v) { return 1 / std::sqrt(v); }), r, r));
  EXPECT_TRUE(all_close(abs(x), map(xv, std::fabs), 0, 0));
  EXPECT_TRUE(all_close(tanh(x), map(xv, std::tanh), r, r));
  EXPECT_TRUE(all_close(relu(x), mapf(xv, [](double v) { return v > 0 ? v : 0; }), 0, 0));
  EXPECT_TRUE(all_close(gelu(x), mapf(xv, ref_gelu), r, r));
  EXPECT_TRUE(all_close(gelu(x, GeluApproximation::none), mapf(xv, ref_gelu_exact), r, r));
  EXPECT_TRUE(all_close(sigmoid(x), mapf(xv, [](double v) { return 1 / (1 + std::exp(-v)); }), r, r));
  for (double p : {2.0, 3.0, 0.5, -1.0, 1.7, 1.0, 0.0, -0.5}) {
    SCOPED_TRACE(p);
    EXPECT_TRUE(all_close(pow(pos, p), mapf(pv, [p](double v) { return std::pow(v, p); }), 1e-5, 1e-5));
  }
  // Integer exponents work on negative bases; fractional ones give NaN.
  EXPECT_EQ(vals(pow(m({-2, 3}, {2}), 3.0)), (Vec{-8, 27}));
  EXPECT_EQ(vals(pow(m({-2, 0}, {2}), 2.0)), (Vec{4, 0}));
  EXPECT_EQ(vals(pow(m({-2, 0}, {2}), 0.0)), (Vec{1, 1}));
  EXPECT_TRUE(std::isnan(vals(pow(m({-2}, {1}), 0.5))[0]));
  EXPECT_TRUE(std::isnan(vals(pow(m({-2}, {1}), 1.5))[0]));
  // Special values.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(vals(sign(m({-3, 0, 2.5, -0.0}, {4}))), (Vec{-1, 0, 1, 0}));
  EXPECT_TRUE(std::isnan(vals(sign(m({std::nan("")}, {1})))[0]));
  EXPECT_EQ(vals(log(m({0}, {1})))[0], -inf);
  EXPECT_TRUE(std::isnan(vals(log(m({-1}, {1})))[0]));
  EXPECT_TRUE(std::isnan(vals(sqrt(m({-1}, {1})))[0]));
  EXPECT_EQ(vals(rsqrt(m({0}, {1})))[0], inf);
  EXPECT_EQ(vals(exp(m({-inf, 1000}, {2}))), (Vec{0, inf}));
  Vec sg = vals(sigmoid(m({-100, 100, 0}, {3})));
  EXPECT_NEAR(sg[0], 0.0, 1e-30);
  EXPECT_EQ(sg[1], 1.0);
  EXPECT_EQ(sg[2], 0.5);
  EXPECT_EQ(vals(tanh(m({-50, 50}, {2}))), (Vec{-1, 1}));
  EXPECT_EQ(vals(relu(m({-inf, inf}, {2}))), (Vec{0, inf}));
  Vec ge = vals(gelu(m({-20, 0, 20}, {3})));
  EXPECT_NEAR(ge[0], 0.0, 1e-30);
  EXPECT_EQ(ge[1], 0.0);
  EXPECT_EQ(ge[2], 20.0);
  // Hand-computed GELU (tanh form) values.
  Vec g1 = vals(gelu(m({1.0, -1.0, 0.5}, {3})));
  EXPECT_NEAR(g1[0], 0.8411919906082768, 1e-6);
  EXPECT_NEAR(g1[1], -0.15880800939172324, 1e-6);
  EXPECT_NEAR(g1[2], 0.34571400982514394, 1e-6);
}

TEST_P(Ops, UnaryOnNonContiguousInput) {
  Tensor base = rn({5, 6}, 4);
  Tensor x = base.t().slice(0, 1, 6, 2);  // (3,5), strided both ways
  ASSERT_FALSE(x.is_contiguous());
  const Vec xv = vals(x);
  Vec want;
  for (double v : xv) want.push_back(std::exp(v));
  Tensor y = exp(x);
  EXPECT_EQ(y.shape(), (Shape{3, 5}));
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-5));
  Vec wt;
  for (double v : xv) wt.push_back(std::tanh(v));
  EXPECT_TRUE(all_close(tanh(x), wt, 1e-5, 1e-5));
  Tensor other = rn({3, 5}, 5);
  const Vec ov = vals(other);
  Vec ws;
  for (size_t i = 0; i < xv.size(); ++i) ws.push_back(xv[i] * ov[i]);
  EXPECT_TRUE(all_close(mul(x, other), ws, rtol(), atol()));
  EXPECT_TRUE(all_close(mul(x, x.contiguous()), [&] {
    Vec s;
    for (double v : xv) s.push_back(v * v);
    return s;
  }(), rtol(), atol()));
}

TEST_P(Ops, RoundHalfToEven) {
  Tensor x = m({0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.6, -2.6, 0.49999997, 3.0, -0.2, 1e15 + 0.5}, {12});
  Vec r = vals(round(x));
  const Vec want = {0, 2, 2, -0.0, -2, -2, 3, -3, 0, 3, -0.0, dt() == kFloat64 ? 1e15 : vals(x)[11]};
  EXPECT_EQ(r, want);
  EXPECT_TRUE(std::signbit(r[3]));  // -0.5 -> -0
  EXPECT_TRUE(std::signbit(r[10]));
  EXPECT_FALSE(std::signbit(r[0]));
}

TEST_P(Ops, Clamp) {
  Tensor x = m({-3, -1, 0, 0.5, 2, 7}, {2, 3});
  EXPECT_EQ(vals(clamp(x, -1.0, 1.0)), (Vec{-1, -1, 0, 0.5, 1, 1}));
  EXPECT_EQ(vals(clamp(x, 0.0, std::nullopt)), (Vec{0, 0, 0, 0.5, 2, 7}));
  EXPECT_EQ(vals(clamp(x, std::nullopt, 0.5)), (Vec{-3, -1, 0, 0.5, 0.5, 0.5}));
  EXPECT_EQ(vals(clamp(x.t(), 0.0, 1.0)), (Vec{0, 0.5, 0, 1, 0, 1}));
  EXPECT_EQ(clamp(x, 0.0, 1.0).shape(), (Shape{2, 3}));
  EXPECT_TRUE(std::isnan(vals(clamp(m({std::nan("")}, {1}), 0.0, 1.0))[0]));
}

// ---------------------------------------------------------------- selection and comparison

TEST_P(Ops, WhereAndMaskedFill) {
  Tensor cond = from_vector<bool>({true, false}, {2, 1});
  Tensor a = m({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = scalar_tensor(-1.0, dt());
  Tensor w = where(cond, a, b);
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.dtype(), dt());
  EXPECT_EQ(vals(w), (Vec{1, 2, 3, -1, -1, -1}));
  Tensor c3 = from_vector<bool>({false, true, false});
  EXPECT_EQ(vals(where(c3, a, m({10, 20}, {2, 1}))), (Vec{10, 2, 10, 20, 5, 20}));
  EXPECT_EQ(vals(where(c3, a.t().t(), a)), vals(where(c3, a, a)));

  Tensor mask = from_vector<bool>({true, false, true}, {1, 3});
  Tensor f = masked_fill(a, mask, 0.5);
  EXPECT_EQ(f.shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(f), (Vec{0.5, 2, 0.5, 0.5, 5, 0.5}));
  Vec neg_inf = vals(masked_fill(a, logical_not(mask), -std::numeric_limits<double>::infinity()));
  EXPECT_EQ(neg_inf[0], 1);
  EXPECT_EQ(neg_inf[1], -std::numeric_limits<double>::infinity());
  // masked_fill does not modify its input.
  EXPECT_EQ(vals(a), (Vec{1, 2, 3, 4, 5, 6}));
  // Integer tensors.
  Tensor ia = from_vector<int64_t>({1, 2, 3});
  EXPECT_EQ(ivals(masked_fill(ia, from_vector<bool>({false, true, false}), 9.0)),
            (std::vector<int64_t>{1, 9, 3}));
}

TEST_P(Ops, Comparisons) {
  const double nan = std::nan("");
  Tensor a = m({1, 2, 3, nan}, {4});
  Tensor b = m({2, 2, 2, nan}, {4});
  auto bools = [](const Tensor& t) {
    EXPECT_EQ(t.dtype(), kBool);
    return vals(t);
  };
  EXPECT_EQ(bools(eq(a, b)), (Vec{0, 1, 0, 0}));
  EXPECT_EQ(bools(ne(a, b)), (Vec{1, 0, 1, 1}));
  EXPECT_EQ(bools(lt(a, b)), (Vec{1, 0, 0, 0}));
  EXPECT_EQ(bools(le(a, b)), (Vec{1, 1, 0, 0}));
  EXPECT_EQ(bools(gt(a, b)), (Vec{0, 0, 1, 0}));
  EXPECT_EQ(bools(ge(a, b)), (Vec{0, 1, 1, 0}));
  EXPECT_EQ(bools(eq(a, 2.0)), (Vec{0, 1, 0, 0}));
  EXPECT_EQ(bools(lt(a, 2.0)), (Vec{1, 0, 0, 0}));
  EXPECT_EQ(bools(gt(a, 2.0)), (Vec{0, 0, 1, 0}));
  // Broadcasting: (3,1) vs (3).
  Tensor c = m({1, 2, 3}, {3, 1}), d = m({1, 2, 3}, {3});
  Tensor g = gt(c, d);
  EXPECT_EQ(g.shape(), (Shape{3, 3}));
  EXPECT_EQ(vals(g), (Vec{0, 0, 0, 1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(vals(logical_not(g)), (Vec{1, 1, 1, 0, 1, 1, 0, 0, 1}));
  // Comparisons record no graph.
  Tensor r = m({1, 2}, {2}).requires_grad_();
  EXPECT_FALSE(gt(r, 1.0).requires_grad());
}

// ---------------------------------------------------------------- reductions

TEST_P(Ops, SumMeanAmaxVarOverDims) {
  const Shape s{3, 4, 5};
  Tensor x = rn(s, 6);
  const Vec xv = vals(x);
  const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {-1}, {0, 1}, {1, 2}, {0, 2}, {2, 0}, {0, 1, 2}};
  for (const auto& dims : dim_sets) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "dims " << ::testing::PrintToString(dims) << " keepdim " << keepdim);
      Shape want_shape;
      for (int64_t d = 0; d < 3; ++d) {
        bool red = false;
        for (auto e : dims) red = red || (e + 3) % 3 == d;
        if (!red)
          want_shape.push_back(s[d]);
        else if (keepdim)
          want_shape.push_back(1);
      }
      Tensor sm = sum(x, dims, keepdim);
      EXPECT_EQ(sm.shape(), want_shape);
      EXPECT_EQ(sm.dtype(), dt());
      EXPECT_TRUE(all_close(sm, ref_reduce(xv, s, dims, vsum), rtol(), atol() * 10));
      EXPECT_TRUE(all_close(mean(x, dims, keepdim), ref_reduce(xv, s, dims, vmean), rtol(), atol()));
      EXPECT_TRUE(all_close(norm(x, dims, keepdim),
                            ref_reduce(xv, s, dims, [](const Vec& v) {
                              double q = 0;
                              for (double e : v) q += e * e;
                              return std::sqrt(q);
                            }),
                            rtol(), atol()));
      Tensor mx = amax(x, dims, keepdim);
      EXPECT_EQ(mx.shape(), want_shape);
      EXPECT_TRUE(all_close(mx, ref_reduce(xv, s, dims, vmax), 0, 0));
      EXPECT_TRUE(all_close(var(x, dims, 1, keepdim), ref_reduce(xv, s, dims, [](const Vec& v) { return vvar(v, 1); }),
                            rtol() * 10, atol() * 10));
      EXPECT_TRUE(all_close(var(x, dims, 0, keepdim), ref_reduce(xv, s, dims, [](const Vec& v) { return vvar(v, 0); }),
                            rtol() * 10, atol() * 10));
    }
  }
  // Empty dims: everything.
  EXPECT_EQ(sum(x).dim(), 0);
  EXPECT_NEAR(sum(x).item<double>(), vsum(xv), 1e-4);
  EXPECT_NEAR(mean(x).item<double>(), vmean(xv), 1e-6);
  EXPECT_EQ(max(x).item<double>(), vmax(xv));
  EXPECT_EQ(amax(x).item<double>(), vmax(xv));
  EXPECT_NEAR(var(x).item<double>(), vvar(xv, 1), 1e-5);
  EXPECT_EQ(sum(x, {}, true).shape(), (Shape{1, 1, 1}));
}

TEST_P(Ops, ReductionsOverNonContiguousInputs) {
  Tensor base = rn({6, 4, 5}, 7);
  const std::vector<Tensor> inputs = {base.transpose(0, 2), base.slice(0, 1, 6, 2), base.permute({1, 2, 0}),
                                      base.select(1, 2).t(), base.narrow(2, 1, 3)};
  for (const Tensor& x : inputs) {
    const Shape s = x.shape();
    const Vec xv = vals(x);
    for (int64_t d = 0; d < x.dim(); ++d) {
      SCOPED_TRACE(::testing::Message() << shape_str(s) << " dim " << d);
      EXPECT_TRUE(all_close(sum(x, {d}), ref_reduce(xv, s, {d}, vsum), rtol(), atol() * 10));
      EXPECT_TRUE(all_close(amax(x, {d}, true), ref_reduce(xv, s, {d}, vmax), 0, 0));
      EXPECT_TRUE(all_close(var(x, {d}, 0), ref_reduce(xv, s, {d}, [](const Vec& v) { return vvar(v, 0); }),
                            rtol() * 10, atol() * 10));
      auto [mv, mi] = max(x, d);
      EXPECT_TRUE(all_close(mv, ref_reduce(xv, s, {d}, vmax), 0, 0));
      // The index points at the max.
      const std::vector<int64_t> iv = ivals(mi);
      const Vec mvv = vals(mv);
      for (size_t k = 0; k < iv.size(); ++k) {
        ASSERT_GE(iv[k], 0);
        ASSERT_LT(iv[k], s[d]);
      }
      Tensor gathered = sum(mul(x, eq(arange(0.0, static_cast<double>(s[d])).reshape([&] {
                                        Shape ps(s.size(), 1);
                                        ps[d] = s[d];
                                        return ps;
                                      }()),
                                      mi.unsqueeze(d))
                                       .to(dt())),
                            {d});
      EXPECT_TRUE(all_close(gathered, mvv, 0, 0));
    }
    EXPECT_TRUE(all_close(sum(x, {0, x.dim() - 1}), ref_reduce(xv, s, {0, x.dim() - 1}, vsum), rtol(), atol() * 10));
  }
}

TEST_P(Ops, MaxWithIndicesTiesAndArgmax) {
  Tensor x = m({1, 3, 3, 2, 2, 1}, {2, 3});
  auto [v1, i1] = max(x, 1);
  EXPECT_EQ(vals(v1), (Vec{3, 2}));
  EXPECT_EQ(ivals(i1), (std::vector<int64_t>{1, 0}));  // first index on ties
  EXPECT_EQ(i1.dtype(), kInt64);
  auto [v0, i0] = max(x, 0);
  EXPECT_EQ(vals(v0), (Vec{2, 3, 3}));
  EXPECT_EQ(ivals(i0), (std::vector<int64_t>{1, 0, 0}));
  auto [vk, ik] = max(x, -1, true);
  EXPECT_EQ(vk.shape(), (Shape{2, 1}));
  EXPECT_EQ(ik.shape(), (Shape{2, 1}));
  EXPECT_EQ(ivals(argmax(x, 1)), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(ivals(argmax(x, 0, true)), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(argmax(x, 0, true).shape(), (Shape{1, 3}));
  Tensor all_same = m({5, 5, 5, 5}, {4});
  EXPECT_EQ(ivals(argmax(all_same, 0)), (std::vector<int64_t>{0}));
  // NaN wins, as in torch.
  Tensor n = m({1, std::nan(""), 7}, {3});
  auto [nv, ni] = max(n, 0);
  EXPECT_TRUE(std::isnan(nv.item<double>()));
  EXPECT_EQ(ni.item<int64_t>(), 1);
  EXPECT_TRUE(std::isnan(amax(n).item<double>()));
  // Integer max.
  Tensor ix = from_vector<int32_t>({4, -1, 9, 9}, {2, 2});
  auto [iv, ii] = max(ix, 0);
  EXPECT_EQ(ivals(iv), (std::vector<int64_t>{9, 9}));
  EXPECT_EQ(ivals(ii), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(iv.dtype(), kInt32);
  // -inf rows.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(max(m({-inf, -inf}, {2})).item<double>(), -inf);
}

TEST(OpsInt, IntegerAndBoolSums) {
  Tensor i = from_vector<int32_t>({1, 2, 3, 4}, {2, 2});
  Tensor s = sum(i, {0});
  EXPECT_EQ(s.dtype(), kInt64);
  EXPECT_EQ(ivals(s), (std::vector<int64_t>{4, 6}));
  Tensor b = from_vector<bool>({true, false, true, true});
  EXPECT_EQ(sum(b).dtype(), kInt64);
  EXPECT_EQ(sum(b).item<int64_t>(), 3);
  Tensor u = full({300}, 200.0, {.dtype = kUInt8});
  EXPECT_EQ(sum(u).item<int64_t>(), 60000);  // no u8 overflow
  // Empty reductions.
  Tensor e = zeros({0, 3});
  EXPECT_EQ(vals(sum(e, {0})), (Vec{0, 0, 0}));
  EXPECT_EQ(sum(e, {1}).shape(), (Shape{0}));
  EXPECT_EQ(sum(e).item<float>(), 0.0f);
}

TEST(OpsLongRows, WholeTensorSumAndNormAreExactAndThreadCountFree) {
  // Long rows take the chunked parallel path; partial sums are combined in chunk
  // order, so 1, 2 and 3 threads agree bit for bit, and f64 accumulation keeps f32 sums exact.
  Generator g(11);
  Tensor x = randn({3, 400000}, &g);
  double want_sum[3] = {0, 0, 0}, want_sq[3] = {0, 0, 0};
  const float* p = x.data_ptr<float>();
  for (int r = 0; r < 3; ++r)
    for (int64_t i = 0; i < 400000; ++i) {
      want_sum[r] += p[r * 400000 + i];
      want_sq[r] += static_cast<double>(p[r * 400000 + i]) * p[r * 400000 + i];
    }
  const int saved = num_threads();
  std::vector<Tensor> sums, norms, totals;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    sums.push_back(sum(x, {1}));
    norms.push_back(norm(x, {1}));
    totals.push_back(stack({sum(x), norm(x)}));  // one row of 1.2M
  }
  set_num_threads(saved);
  for (int t : {1, 2}) {
    EXPECT_EQ(vals(sums[0]), vals(sums[t]));
    EXPECT_EQ(vals(norms[0]), vals(norms[t]));
    EXPECT_EQ(vals(totals[0]), vals(totals[t]));
  }
  for (int r = 0; r < 3; ++r) {
    EXPECT_FLOAT_EQ(sums[0].select(0, r).item<float>(), static_cast<float>(want_sum[r]));
    EXPECT_FLOAT_EQ(norms[0].select(0, r).item<float>(), static_cast<float>(std::sqrt(want_sq[r])));
  }
  EXPECT_FLOAT_EQ(norm(x).item<float>(), static_cast<float>(std::sqrt(want_sq[0] + want_sq[1] + want_sq[2])));
}

TEST(OpsNorm, EdgeCasesAndErrors) {
  EXPECT_EQ(norm(zeros({0, 3})).item<float>(), 0.0f);
  EXPECT_EQ(norm(zeros({4})).item<float>(), 0.0f);
  // The gradient at |x| = 0 is 0, as in torch, not NaN.
  Tensor z = zeros({3}).requires_grad_();
  norm(z).backward();
  EXPECT_EQ(max(abs(z.grad())).item<float>(), 0.0f);
  try {
    norm(from_vector<int32_t>({3, 4}));
    FAIL() << "norm of an integer tensor must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("norm"), std::string::npos) << e.what();
  }
  EXPECT_FLOAT_EQ(norm(from_vector<float>({3, 4})).item<float>(), 5.0f);
}

TEST_P(Ops, SumTo) {
  Tensor x = m({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(vals(sum_to(x, {3})), (Vec{5, 7, 9}));
  EXPECT_EQ(vals(sum_to(x, {2, 1})), (Vec{6, 15}));
  EXPECT_EQ(vals(sum_to(x, {1, 3})), (Vec{5, 7, 9}));
  EXPECT_EQ(sum_to(x, {1, 3}).shape(), (Shape{1, 3}));
  EXPECT_EQ(vals(sum_to(x, {})), (Vec{21}));
  EXPECT_TRUE(sum_to(x, {2, 3}).is_same(x));
}

// ---------------------------------------------------------------- matmul

TEST_P(Ops, Matmul2D) {
  const int64_t M = 5, K = 7, N = 3;
  Tensor a = rn({M, K}, 10), b = rn({K, N}, 11);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{M, N}));
  EXPECT_EQ(c.dtype(), dt());
  EXPECT_TRUE(all_close(c, ref_mm(vals(a), vals(b), M, K, N), 1e-4, 1e-5));
  // A hand-computed product.
  Tensor p = matmul(m({1, 2, 3, 4, 5, 6}, {2, 3}), m({7, 8, 9, 10, 11, 12}, {3, 2}));
  EXPECT_EQ(vals(p), (Vec{58, 64, 139, 154}));
}

TEST_P(Ops, Matmul1D) {
  Tensor v = m({1, 2, 3}, {3});
  Tensor w = m({4, 5, 6}, {3});
  Tensor mat = m({1, 0, 2, 0, 1, 1, 3, 1, 0}, {3, 3});
  Tensor dot = matmul(v, w);
  EXPECT_EQ(dot.dim(), 0);
  EXPECT_EQ(dot.item<double>(), 32.0);
  Tensor vm = matmul(v, mat);  // (3) @ (3,3) -> (3)
  EXPECT_EQ(vm.shape(), (Shape{3}));
  EXPECT_EQ(vals(vm), (Vec{10, 5, 4}));
  Tensor mv = matmul(mat, v);  // (3,3) @ (3) -> (3)
  EXPECT_EQ(mv.shape(), (Shape{3}));
  EXPECT_EQ(vals(mv), (Vec{7, 5, 5}));
  Tensor bv = matmul(stack({mat, mat}), v);  // (2,3,3) @ (3) -> (2,3)
  EXPECT_EQ(bv.shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(bv), (Vec{7, 5, 5, 7, 5, 5}));
  Tensor vb = matmul(v, stack({mat, mat}));  // (3) @ (2,3,3) -> (2,3)
  EXPECT_EQ(vb.shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(vb), (Vec{10, 5, 4, 10, 5, 4}));
}

TEST_P(Ops, MatmulSingleRowOrColumnTakesEveryLayout) {
  // One row (a decoded token) or one column goes through gemv: check every transpose
  // combination and strided operands.
  const int64_t K = 9;
  for (const auto& [M, N] : std::vector<std::pair<int64_t, int64_t>>{{1, 7}, {6, 1}, {1, 1}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        SCOPED_TRACE(::testing::Message() << M << "x" << K << "x" << N << " ta " << ta << " tb " << tb);
        Tensor a = ta ? rn({K, M}, 30).t() : rn({M, K}, 30);
        Tensor b = tb ? rn({N, K}, 31).t() : rn({K, N}, 31);
        EXPECT_TRUE(all_close(matmul(a, b), ref_mm(vals(a), vals(b), M, K, N), 1e-4, 1e-5));
        // beta = 0 must overwrite whatever the output held, NaN included.
        Tensor ac = a.contiguous(), bc = b.contiguous(), c = full({M, N}, std::nan(""), {.dtype = dt()});
        backend_for(kCPU, "test").gemm(dt(), false, false, M, N, K, 1.0, ac.raw_data(), K, bc.raw_data(), N, 0.0,
                                       c.raw_data(), N);
        EXPECT_TRUE(all_close(c, ref_mm(vals(a), vals(b), M, K, N), 1e-4, 1e-5));
        // A row/column window of a wider matrix (leading dimension > K).
        Tensor wa = rn({M + 2, K + 3}, 32).narrow(0, 1, M).narrow(1, 2, K);
        Tensor wb = rn({K + 1, N + 4}, 33).narrow(0, 1, K).narrow(1, 3, N);
        EXPECT_TRUE(all_close(matmul(wa, wb), ref_mm(vals(wa), vals(wb), M, K, N), 1e-4, 1e-5));
      }
  }
  // A decode step's shape: [1, 1, C] against a weight used through .t(), as in Linear.
  Tensor x = rn({1, 1, 16}, 34), w = rn({40, 16}, 35);
  EXPECT_TRUE(all_close(matmul(x, w.t()), ref_mm(vals(x), vals(w.t()), 1, 16, 40), 1e-4, 1e-5));
}

TEST_P(Ops, MatmulBatchedBroadcast) {
  const int64_t M = 4, K = 5, N = 6;
  Tensor a = rn({2, 1, M, K}, 12), b = rn({3, K, N}, 13);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 3, M, N}));
  const Vec av = vals(a), bv = vals(b);
  Vec want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      Vec as(av.begin() + i * M * K, av.begin() + (i + 1) * M * K);
      Vec bs(bv.begin() + j * K * N, bv.begin() + (j + 1) * K * N);
      Vec cs = ref_mm(as, bs, M, K, N);
      want.insert(want.end(), cs.begin(), cs.end());
    }
  EXPECT_TRUE(all_close(c, want, 1e-4, 1e-5));

  // Shared 2-D right operand: (2,3,M,K) @ (K,N).
  Tensor a3 = rn({2, 3, M, K}, 14), w = rn({K, N}, 15);
  Tensor c3 = matmul(a3, w);
  EXPECT_EQ(c3.shape(), (Shape{2, 3, M, N}));
  EXPECT_TRUE(all_close(c3, ref_mm(vals(a3), vals(w), 6 * M, K, N), 1e-4, 1e-5));
  // Shared 2-D left operand: (M,K) @ (3,K,N).
  Tensor c4 = matmul(rn({M, K}, 16), b);
  const Vec l = vals(rn({M, K}, 16));
  Vec want4;
  for (int j = 0; j < 3; ++j) {
    Vec bs(bv.begin() + j * K * N, bv.begin() + (j + 1) * K * N);
    Vec cs = ref_mm(l, bs, M, K, N);
    want4.insert(want4.end(), cs.begin(), cs.end());
  }
  EXPECT_EQ(c4.shape(), (Shape{3, M, N}));
  EXPECT_TRUE(all_close(c4, want4, 1e-4, 1e-5));

  // Shared right operand with a left operand whose batch cannot fold into rows:
  // a gap between batches (narrowed dim 1) and transposed matrices.
  Tensor a4 = rn({2, 4, M, K}, 17);
  Tensor gap = a4.narrow(1, 0, 3);
  EXPECT_TRUE(all_close(matmul(gap, w), ref_mm(vals(gap), vals(w), 6 * M, K, N), 1e-4, 1e-5));
  Tensor at = rn({3, K, M}, 18).transpose(-1, -2);
  EXPECT_TRUE(all_close(matmul(at, w), ref_mm(vals(at), vals(w), 3 * M, K, N), 1e-4, 1e-5));
  // Size-1 batch on one side only.
  Tensor one = rn({1, M, K}, 19);
  Tensor c5 = matmul(one, b);
  EXPECT_EQ(c5.shape(), (Shape{3, M, N}));
  const Vec ov = vals(one);
  Vec want5;
  for (int j = 0; j < 3; ++j) {
    Vec bs(bv.begin() + j * K * N, bv.begin() + (j + 1) * K * N);
    Vec cs = ref_mm(ov, bs, M, K, N);
    want5.insert(want5.end(), cs.begin(), cs.end());
  }
  EXPECT_TRUE(all_close(c5, want5, 1e-4, 1e-5));
}

TEST_P(Ops, MatmulTransposedAndNonContiguousOperands) {
  const int64_t M = 6, K = 8, N = 5;
  Tensor at = rn({K, M}, 20), bt = rn({N, K}, 21);
  const Vec a = vals(at.t()), b = vals(bt.t());
  const Vec want = ref_mm(a, b, M, K, N);
  EXPECT_TRUE(all_close(matmul(at.t(), bt.t()), want, 1e-4, 1e-5));
  EXPECT_TRUE(all_close(matmul(at.t(), bt.t().contiguous()), want, 1e-4, 1e-5));
  EXPECT_TRUE(all_close(matmul(at.t().contiguous(), bt.t()), want, 1e-4, 1e-5));
  // Batched transposes via transpose(-1,-2).
  Tensor ab = rn({3, K, M}, 22), bb = rn({3, N, K}, 23);
  Tensor cb = matmul(ab.transpose(-1, -2), bb.transpose(-1, -2));
  const Vec abv = vals(ab.transpose(-1, -2)), bbv = vals(bb.transpose(-1, -2));
  Vec wb;
  for (int i = 0; i < 3; ++i) {
    Vec as(abv.begin() + i * M * K, abv.begin() + (i + 1) * M * K);
    Vec bs(bbv.begin() + i * K * N, bbv.begin() + (i + 1) * K * N);
    Vec cs = ref_mm(as, bs, M, K, N);
    wb.insert(wb.end(), cs.begin(), cs.end());
  }
  EXPECT_TRUE(all_close(cb, wb, 1e-4, 1e-5));
  // Sliced operands: a column window (row stride > cols), a strided column pick and a row step.
  Tensor big = rn({10, 12}, 24);
  Tensor sa = big.narrow(1, 2, K).narrow(0, 1, M);      // (M,K), leading dim 12
  Tensor sb = rn({K, 2 * N}, 25).slice(1, 0, 2 * N, 2);  // (K,N), column stride 2
  Tensor sc = rn({2 * M, K}, 26).slice(0, 0, 2 * M, 2);  // (M,K), row stride 2K
  EXPECT_TRUE(all_close(matmul(sa, sb), ref_mm(vals(sa), vals(sb), M, K, N), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(matmul(sc, sb), ref_mm(vals(sc), vals(sb), M, K, N), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(matmul(sa, sb.t().t()), ref_mm(vals(sa), vals(sb), M, K, N), 1e-4, 1e-5));
  // Expanded (stride-0) batch of a shared matrix.
  Tensor e = rn({M, K}, 27).unsqueeze(0).expand({4, M, K});
  Tensor ce = matmul(e, rn({4, K, N}, 28));
  EXPECT_EQ(ce.shape(), (Shape{4, M, N}));
  const Vec ev = vals(rn({M, K}, 27)), fv = vals(rn({4, K, N}, 28));
  Vec we;
  for (int i = 0; i < 4; ++i) {
    Vec bs(fv.begin() + i * K * N, fv.begin() + (i + 1) * K * N);
    Vec cs = ref_mm(ev, bs, M, K, N);
    we.insert(we.end(), cs.begin(), cs.end());
  }
  EXPECT_TRUE(all_close(ce, we, 1e-4, 1e-5));
  // Degenerate sizes.
  Tensor z = matmul(zeros({3, 0}, {.dtype = dt()}), zeros({0, 4}, {.dtype = dt()}));
  EXPECT_EQ(z.shape(), (Shape{3, 4}));
  EXPECT_EQ(vals(z), Vec(12, 0.0));
  EXPECT_EQ(matmul(zeros({0, 3}, {.dtype = dt()}), zeros({3, 4}, {.dtype = dt()})).shape(), (Shape{0, 4}));
  Tensor one = matmul(m({2}, {1, 1}), m({3}, {1, 1}));
  EXPECT_EQ(vals(one), (Vec{6}));
}

// ---------------------------------------------------------------- softmax, layer_norm, cross_entropy

TEST_P(Ops, SoftmaxAndLogSoftmax) {
  const Shape s{3, 4, 5};
  Tensor x = rn(s, 30);
  const Vec xv = vals(x);
  for (int64_t d : {-1, 0, 1, 2}) {
    SCOPED_TRACE(d);
    const int64_t dd = (d + 3) % 3;
    Vec want(xv.size()), want_log(xv.size());
    for (int64_t i = 0; i < numel(s); ++i) {
      auto idx = unravel(i, s);
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < s[dd]; ++j) {
        auto k = idx;
        k[dd] = j;
        mx = std::max(mx, xv[(k[0] * 4 + k[1]) * 5 + k[2]]);
      }
      for (int64_t j = 0; j < s[dd]; ++j) {
        auto k = idx;
        k[dd] = j;
        z += std::exp(xv[(k[0] * 4 + k[1]) * 5 + k[2]] - mx);
      }
      want[i] = std::exp(xv[i] - mx) / z;
      want_log[i] = xv[i] - mx - std::log(z);
    }
    Tensor sm = softmax(x, d);
    EXPECT_EQ(sm.shape(), s);
    EXPECT_TRUE(all_close(sm, want, 1e-5, 1e-6));
    EXPECT_TRUE(all_close(log_softmax(x, d), want_log, 1e-5, 1e-5));
    EXPECT_TRUE(all_close(sum(sm, {d}), Vec(numel(s) / s[dd], 1.0), 1e-5, 1e-6));
    // Non-contiguous input.
    EXPECT_TRUE(all_close(softmax(x.transpose(0, 2), (dd == 0 ? 2 : dd == 2 ? 0 : 1)),
                          vals(sm.transpose(0, 2)), 1e-6, 1e-7));
  }
  // Stable with large inputs.
  Tensor big = m({1000, 1001, 1002, -1000, -1001, -1002}, {2, 3});
  Vec sb = vals(softmax(big, -1));
  Vec ref = vals(softmax(m({0, 1, 2, 0, -1, -2}, {2, 3}), -1));
  EXPECT_TRUE(all_close(sb, ref, 1e-6, 1e-7));
  for (double v : sb) EXPECT_TRUE(std::isfinite(v));
  // x - (max + lse) in the input's precision, as torch does: f32 keeps ~ulp(1000).
  Vec lb = vals(log_softmax(big, -1));
  EXPECT_NEAR(lb[2], -std::log(1 + std::exp(-1.0) + std::exp(-2.0)), dt() == kFloat32 ? 1e-4 : 1e-12);
  for (double v : lb) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(all_close(softmax(big, 0), Vec{1, 1, 1, 0, 0, 0}, 0, 1e-30));
  // -inf entries get probability 0; an all -inf row is NaN (as in torch).
  const double inf = std::numeric_limits<double>::infinity();
  Vec mi = vals(softmax(m({-inf, 0, -inf, -inf}, {2, 2}), -1));
  EXPECT_EQ(mi[0], 0.0);
  EXPECT_EQ(mi[1], 1.0);
  EXPECT_TRUE(std::isnan(mi[2]));
  // One element per row.
  EXPECT_EQ(vals(softmax(m({3, -7}, {2, 1}), -1)), (Vec{1, 1}));
}

TEST_P(Ops, LayerNorm) {
  const Shape s{2, 3, 8};
  Tensor x = add(mul(rn(s, 31), 3.0), 2.0);
  Tensor w = rn({8}, 32), b = rn({8}, 33);
  const Vec xv = vals(x), wv = vals(w), bv = vals(b);
  auto ref = [&](int64_t cols, const Vec* wp, const Vec* bp) {
    Vec out(xv.size());
    for (size_t r = 0; r < xv.size() / cols; ++r) {
      double mu = 0, var = 0;
      for (int64_t j = 0; j < cols; ++j) mu += xv[r * cols + j];
      mu /= cols;
      for (int64_t j = 0; j < cols; ++j) var += (xv[r * cols + j] - mu) * (xv[r * cols + j] - mu);
      var /= cols;  // biased
      for (int64_t j = 0; j < cols; ++j) {
        double h = (xv[r * cols + j] - mu) / std::sqrt(var + 1e-5);
        if (wp) h *= (*wp)[j % wp->size()];
        if (bp) h += (*bp)[j % bp->size()];
        out[r * cols + j] = h;
      }
    }
    return out;
  };
  EXPECT_TRUE(all_close(layer_norm(x, {8}), ref(8, nullptr, nullptr), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(layer_norm(x, {8}, w, b), ref(8, &wv, &bv), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(layer_norm(x, {8}, w), ref(8, &wv, nullptr), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(layer_norm(x, {8}, Tensor(), b), ref(8, nullptr, &bv), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(layer_norm(x, {3, 8}), ref(24, nullptr, nullptr), 1e-4, 1e-5));
  Tensor w2 = rn({3, 8}, 34);
  const Vec w2v = vals(w2);
  EXPECT_TRUE(all_close(layer_norm(x, {3, 8}, w2), ref(24, &w2v, nullptr), 1e-4, 1e-5));
  // Non-contiguous input.
  Tensor xt = x.transpose(0, 1);  // (3,2,8)
  Tensor yt = layer_norm(xt, {8}, w, b);
  EXPECT_TRUE(all_close(yt.transpose(0, 1), ref(8, &wv, &bv), 1e-4, 1e-5));
  // Custom eps, and a constant row normalises to 0 (then + bias).
  Tensor c = full({1, 4}, 7.0, {.dtype = dt()});
  EXPECT_TRUE(all_close(layer_norm(c, {4}), Vec(4, 0.0), 0, 1e-6));
  Tensor e = m({1, 3}, {1, 2});
  EXPECT_TRUE(all_close(layer_norm(e, {2}, Tensor(), Tensor(), 1.0), Vec{-1 / std::sqrt(2.0), 1 / std::sqrt(2.0)},
                        1e-6, 1e-6));
}

TEST_P(Ops, CrossEntropy) {
  const int64_t N = 6, C = 5;
  Tensor logits = mul(rn({N, C}, 40), 2.0);
  const std::vector<int64_t> tg = {1, -100, 4, 0, -100, 2};
  Tensor targets = from_vector<int64_t>(tg);
  const Vec lv = vals(logits);
  auto ref = [&](const std::vector<int64_t>& t, int64_t ignore) {
    double total = 0;
    int n = 0;
    for (size_t r = 0; r < t.size(); ++r) {
      if (t[r] == ignore) continue;
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < C; ++j) mx = std::max(mx, lv[r * C + j]);
      for (int64_t j = 0; j < C; ++j) z += std::exp(lv[r * C + j] - mx);
      total += mx + std::log(z) - lv[r * C + t[r]];
      ++n;
    }
    return total / n;  // mean over the non-ignored targets
  };
  Tensor loss = cross_entropy(logits, targets);
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_EQ(loss.dtype(), dt());
  EXPECT_NEAR(loss.item<double>(), ref(tg, -100), 1e-5);
  // i32 targets and a custom ignore_index.
  const std::vector<int64_t> tg2 = {1, 3, 4, 0, 3, 2};
  EXPECT_NEAR(cross_entropy(logits, from_vector<int32_t>({1, 3, 4, 0, 3, 2}), 3).item<double>(), ref(tg2, 3), 1e-5);
  EXPECT_NEAR(cross_entropy(logits, from_vector<int64_t>(tg2)).item<double>(), ref(tg2, -100), 1e-5);
  // [B, T, C] logits with [B, T] targets.
  Tensor l3 = logits.view({2, 3, C});
  EXPECT_NEAR(cross_entropy(l3, targets.view({2, 3})).item<double>(), ref(tg, -100), 1e-5);
  // Non-contiguous logits.
  Tensor lt = logits.t().contiguous().t();
  EXPECT_NEAR(cross_entropy(lt, targets).item<double>(), ref(tg, -100), 1e-5);
  // Hand-computed: uniform logits give log(C).
  EXPECT_NEAR(cross_entropy(zeros({2, 4}, {.dtype = dt()}), from_vector<int64_t>({0, 3})).item<double>(),
              std::log(4.0), 1e-6);
  // Stable with huge logits.
  Tensor huge = m({1000, 0, -1000, 0}, {2, 2});
  EXPECT_NEAR(cross_entropy(huge, from_vector<int64_t>({1, 0})).item<double>(), 1000.0, 1e-3);
  EXPECT_NEAR(cross_entropy(huge, from_vector<int64_t>({0, 1})).item<double>(), 0.0, 1e-3);
  // Every target ignored: NaN, like torch.
  EXPECT_TRUE(std::isnan(cross_entropy(logits.narrow(0, 1, 1), from_vector<int64_t>({-100}, {1})).item<double>()));
}

// ---------------------------------------------------------------- embedding, dropout

TEST_P(Ops, Embedding) {
  Tensor w = m({0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42}, {5, 3});
  Tensor idx = from_vector<int64_t>({4, 0, 2, 2}, {2, 2});
  Tensor e = embedding(w, idx);
  EXPECT_EQ(e.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(e.dtype(), dt());
  EXPECT_EQ(vals(e), (Vec{40, 41, 42, 0, 1, 2, 20, 21, 22, 20, 21, 22}));
  Tensor e32 = embedding(w, from_vector<int32_t>({1}, {1}));
  EXPECT_EQ(e32.shape(), (Shape{1, 3}));
  EXPECT_EQ(vals(e32), (Vec{10, 11, 12}));
  Tensor e0 = embedding(w, scalar_tensor(3.0, kInt64));
  EXPECT_EQ(e0.shape(), (Shape{3}));
  EXPECT_EQ(vals(e0), (Vec{30, 31, 32}));
  EXPECT_EQ(embedding(w, from_vector<int64_t>({}, {0})).shape(), (Shape{0, 3}));
  // Non-contiguous weight.
  Tensor wt = w.t().contiguous().t();
  EXPECT_EQ(vals(embedding(wt, idx)), vals(e));
}

TEST_P(Ops, Dropout) {
  Tensor x = add(rn({400, 500}, 50), 5.0);  // no zeros in x
  EXPECT_TRUE(dropout(x, 0.0, true).is_same(x));
  EXPECT_TRUE(dropout(x, 0.5, false).is_same(x));
  Generator g1(123), g2(123);
  Tensor a = dropout(x, 0.3, true, &g1), b = dropout(x, 0.3, true, &g2);
  EXPECT_EQ(a.shape(), x.shape());
  EXPECT_EQ(a.dtype(), dt());
  const Vec av = vals(a), bv = vals(b), xv = vals(x);
  EXPECT_EQ(av, bv);
  Generator g3(124);
  EXPECT_NE(vals(dropout(x, 0.3, true, &g3)), av);
  int64_t kept = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    if (av[i] != 0) {
      ++kept;
      EXPECT_NEAR(av[i], xv[i] / 0.7, 1e-5 * std::fabs(xv[i]) + 1e-6) << i;
    }
  }
  EXPECT_NEAR(static_cast<double>(kept) / av.size(), 0.7, 0.005);
  // Expected value is preserved.
  EXPECT_NEAR(vmean(av), vmean(xv), 0.05);
  // p = 1 drops everything.
  EXPECT_EQ(vals(dropout(x.narrow(0, 0, 2), 1.0, true, &g1)), Vec(1000, 0.0));
}

// ---------------------------------------------------------------- cat, stack, split, chunk, index_select

TEST_P(Ops, CatStack) {
  Tensor a = m({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = m({7, 8}, {2, 1});
  Tensor c1 = cat({a, b}, 1);
  EXPECT_EQ(c1.shape(), (Shape{2, 4}));
  EXPECT_EQ(vals(c1), (Vec{1, 2, 3, 7, 4, 5, 6, 8}));
  Tensor c0 = cat({a, m({9, 10, 11}, {1, 3}), a}, 0);
  EXPECT_EQ(c0.shape(), (Shape{5, 3}));
  EXPECT_EQ(vals(c0), (Vec{1, 2, 3, 4, 5, 6, 9, 10, 11, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(vals(cat({a.t(), a.t()}, -1)), (Vec{1, 4, 1, 4, 2, 5, 2, 5, 3, 6, 3, 6}));
  EXPECT_EQ(cat({a, zeros({0, 3}, {.dtype = dt()})}, 0).shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(cat({a}, 0)), vals(a));

  Tensor s0 = stack({m({1, 2}, {2}), m({3, 4}, {2}), m({5, 6}, {2})});
  EXPECT_EQ(s0.shape(), (Shape{3, 2}));
  EXPECT_EQ(vals(s0), (Vec{1, 2, 3, 4, 5, 6}));
  Tensor s1 = stack({m({1, 2}, {2}), m({3, 4}, {2})}, 1);
  EXPECT_EQ(s1.shape(), (Shape{2, 2}));
  EXPECT_EQ(vals(s1), (Vec{1, 3, 2, 4}));
  Tensor sl = stack({a, a}, -1);
  EXPECT_EQ(sl.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(vals(sl), (Vec{1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6}));
  Tensor ss = stack({scalar_tensor(1.0, dt()), scalar_tensor(2.0, dt())});
  EXPECT_EQ(ss.shape(), (Shape{2}));
}

TEST_P(Ops, SplitChunkIndexSelect) {
  Tensor x = mul(arange(14.0, {.dtype = dt()}), 1.0).view({7, 2});
  auto parts = split(x, 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(parts[2].shape(), (Shape{1, 2}));
  EXPECT_EQ(vals(parts[2]), (Vec{12, 13}));
  EXPECT_EQ(parts[1].storage(), x.storage());  // views
  EXPECT_EQ(parts[1].offset(), 6);
  auto cols = split(x, 1, 1);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(vals(cols[1]), (Vec{1, 3, 5, 7, 9, 11, 13}));
  EXPECT_EQ(split(x, 10).size(), 1u);

  auto ch = chunk(x, 3);
  ASSERT_EQ(ch.size(), 3u);
  EXPECT_EQ(ch[0].size(0), 3);
  EXPECT_EQ(ch[1].size(0), 3);
  EXPECT_EQ(ch[2].size(0), 1);
  auto ch2 = chunk(x.narrow(0, 0, 6), 4);  // like torch: 3 chunks of 2
  ASSERT_EQ(ch2.size(), 3u);
  for (auto& c : ch2) EXPECT_EQ(c.size(0), 2);
  auto ch3 = chunk(m({1, 2, 3, 4, 5, 6}, {1, 6}), 3, -1);
  ASSERT_EQ(ch3.size(), 3u);
  EXPECT_EQ(vals(ch3[2]), (Vec{5, 6}));
  // qkv-style split of the last dim.
  auto qkv = split(m({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 6}), 2, -1);
  EXPECT_EQ(vals(qkv[1]), (Vec{3, 4, 9, 10}));

  Tensor sel = index_select(x, 0, from_vector<int64_t>({6, 0, 0, 3}));
  EXPECT_EQ(sel.shape(), (Shape{4, 2}));
  EXPECT_EQ(vals(sel), (Vec{12, 13, 0, 1, 0, 1, 6, 7}));
  Tensor sel1 = index_select(x, 1, from_vector<int32_t>({1, 1, 0}));
  EXPECT_EQ(sel1.shape(), (Shape{7, 3}));
  EXPECT_EQ(vals(sel1.select(0, 2)), (Vec{5, 5, 4}));
  Tensor selt = index_select(x.t(), 1, from_vector<int64_t>({2, 5}));  // non-contiguous source
  EXPECT_EQ(selt.shape(), (Shape{2, 2}));
  EXPECT_EQ(vals(selt), (Vec{4, 10, 5, 11}));
  EXPECT_EQ(index_select(x, 0, from_vector<int64_t>({}, {0})).shape(), (Shape{0, 2}));
  Tensor s3 = index_select(arange(24.0, {.dtype = dt()}).view({2, 3, 4}), 1, scalar_tensor(2.0, kInt64));
  EXPECT_EQ(s3.shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(vals(s3), (Vec{8, 9, 10, 11, 20, 21, 22, 23}));
}

// ---------------------------------------------------------------- attention

TEST(OpsAttention, CausalMask) {
  Tensor mk4 = causal_mask(4);
  EXPECT_EQ(mk4.dtype(), kBool);
  EXPECT_EQ(mk4.shape(), (Shape{4, 4}));
  EXPECT_EQ(vals(mk4), (Vec{0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(causal_mask(1).shape(), (Shape{1, 1}));
  EXPECT_EQ(vals(causal_mask(1)), (Vec{0}));
  EXPECT_EQ(causal_mask(0).shape(), (Shape{0, 0}));
}

TEST_P(Ops, ScaledDotProductAttention) {
  const int64_t B = 2, H = 3, Tq = 4, Tk = 5, D = 8, Dv = 6;
  Tensor q = rn({B, H, Tq, D}, 60), k = rn({B, H, Tk, D}, 61), v = rn({B, H, Tk, Dv}, 62);
  auto manual = [&](const Tensor& qq, const Tensor& kk, const Tensor& vv, bool causal, double scale) {
    Tensor s = mul(matmul(qq, kk.transpose(-2, -1)), scale);
    if (causal) {
      const int64_t tq = qq.size(-2), tk = kk.size(-2);
      std::vector<bool> mask(tq * tk);
      for (int64_t i = 0; i < tq; ++i)
        for (int64_t j = 0; j < tk; ++j) mask[i * tk + j] = j > i;
      s = masked_fill(s, from_vector<bool>(mask, {tq, tk}), -std::numeric_limits<double>::infinity());
    }
    return matmul(softmax(s, -1), vv);
  };
  const double sc = 1.0 / std::sqrt(static_cast<double>(D));
  Tensor out = scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(out.shape(), (Shape{B, H, Tq, Dv}));
  EXPECT_TRUE(all_close(out, vals(manual(q, k, v, false, sc)), 1e-5, 1e-6));
  // Causal, square.
  Tensor k4 = k.narrow(2, 0, Tq), v4 = v.narrow(2, 0, Tq);
  Tensor oc = scaled_dot_product_attention(q, k4, v4, true);
  EXPECT_TRUE(all_close(oc, vals(manual(q, k4, v4, true, sc)), 1e-5, 1e-6));
  EXPECT_TRUE(all_close(oc, vals(manual(q, k4, v4, true, sc)), 1e-5, 1e-6));
  EXPECT_TRUE(all_close(scaled_dot_product_attention(q, k4, v4, true),
                        vals(matmul(softmax(masked_fill(mul(matmul(q, k4.transpose(-2, -1)), sc), causal_mask(Tq),
                                                        -std::numeric_limits<double>::infinity()),
                                            -1),
                                    v4)),
                        1e-5, 1e-6));
  // The first query sees only the first key: its output is v[0].
  EXPECT_TRUE(all_close(oc.select(2, 0), vals(v4.select(2, 0)), 1e-5, 1e-6));
  // Causal with Tq != Tk (top-left aligned) and a custom scale.
  Tensor ocr = scaled_dot_product_attention(q, k, v, true, 0.3);
  EXPECT_TRUE(all_close(ocr, vals(manual(q, k, v, true, 0.3)), 1e-5, 1e-6));
  // Non-contiguous q/k/v from a [B, T, 3, H, D]-style layout.
  Tensor qkv = rn({B, Tq, 3, H, D}, 63);
  Tensor qq = qkv.select(2, 0).transpose(1, 2), kk = qkv.select(2, 1).transpose(1, 2),
         vv = qkv.select(2, 2).transpose(1, 2);
  ASSERT_FALSE(qq.is_contiguous());
  EXPECT_TRUE(all_close(scaled_dot_product_attention(qq, kk, vv, true),
                        vals(manual(qq.contiguous(), kk.contiguous(), vv.contiguous(), true, sc)), 1e-5, 1e-6));
  // 2-D inputs and dropout_p = 0 is the identity path.
  Tensor q2 = rn({3, D}, 64), k2 = rn({3, D}, 65), v2 = rn({3, 2}, 66);
  EXPECT_TRUE(all_close(scaled_dot_product_attention(q2, k2, v2, false, std::nullopt, 0.0),
                        vals(manual(q2, k2, v2, false, sc)), 1e-5, 1e-6));
  // Dropout in attention is seeded.
  Generator g1(5), g2(5);
  EXPECT_EQ(vals(scaled_dot_product_attention(q, k, v, false, std::nullopt, 0.5, &g1)),
            vals(scaled_dot_product_attention(q, k, v, false, std::nullopt, 0.5, &g2)));
}

// ---------------------------------------------------------------- gelu_backward

TEST_P(Ops, GeluBackwardMatchesFiniteDifference) {
  Tensor x = rn({50}, 70);
  Tensor g = rn({50}, 71);
  const Vec xv = vals(x), gv = vals(g);
  Vec want;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double h = 1e-6;
    want.push_back(gv[i] * (ref_gelu(xv[i] + h) - ref_gelu(xv[i] - h)) / (2 * h));
  }
  EXPECT_TRUE(all_close(gelu_backward(x, g), want, 1e-4, 1e-5));
  Vec want_exact;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double h = 1e-6;
    want_exact.push_back(gv[i] * (ref_gelu_exact(xv[i] + h) - ref_gelu_exact(xv[i] - h)) / (2 * h));
  }
  EXPECT_TRUE(all_close(gelu_backward(x, g, GeluApproximation::none), want_exact, 1e-4, 1e-5));
  // The two differ (by up to ~1e-3 near |x| = 2), so the choice is not silently ignored.
  EXPECT_GT(max(abs(sub(gelu(x), gelu(x, GeluApproximation::none)))).item<double>(), 1e-5);
}

// ---------------------------------------------------------------- threads

TEST(OpsThreads, OneAndTwoThreadsGiveIdenticalResults) {
  const int saved = num_threads();
  Generator g(77);
  Tensor a = randn({1 << 20}, &g), b = randn({1 << 20}, &g);
  Tensor m2 = randn({512, 1024}, &g, {.dtype = kFloat64});
  auto run = [&] {
    std::vector<Vec> out;
    out.push_back(vals(add(a, b)));
    out.push_back(vals(mul(a.view({1024, 1024}).t(), 3.0)));
    out.push_back(vals(sum(a)));
    out.push_back(vals(sum(a.view({1024, 1024}), {0})));
    out.push_back(vals(sum(a.view({1024, 1024}), {1})));
    out.push_back(vals(sum(m2, {0})));
    out.push_back(vals(amax(m2, {1})));
    out.push_back(vals(softmax(m2, -1)));
    out.push_back(vals(exp(a)));
    return out;
  };
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  auto one = run();
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2);
  auto two = run();
  set_num_threads(saved);
  EXPECT_EQ(num_threads(), saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(one[i] == two[i]) << "result " << i << " differs";
}
