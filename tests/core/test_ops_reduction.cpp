// Forward values of the reductions (sum, mean, amax, var, max, norm, sum_to), in f32 and f64, against
// naive reference loops in double precision; and results that do not depend on the thread count.

#include "ops_test_util.h"

using namespace tern;
using namespace tern::opstest;

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
