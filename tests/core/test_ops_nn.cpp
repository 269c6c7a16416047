// Forward values of the fused and neural-network ops (softmax, layer_norm, cross_entropy, embedding,
// dropout, attention, gelu_backward), in f32 and f64, against reference loops in double precision.

#include "ops_test_util.h"

using namespace tern;
using namespace tern::opstest;

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
