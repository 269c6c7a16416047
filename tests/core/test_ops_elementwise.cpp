// Forward values of the elementwise ops (arithmetic, unary math, selection, comparison), in f32
// and f64, against hand-computed numbers or naive reference loops in double precision.

#include "ops_test_util.h"

using namespace tern;
using namespace tern::opstest;

// The one instantiation of the Ops fixture: every TEST_P(Ops, ...) of the test_ops_*.cpp files runs in f32 and f64.
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
