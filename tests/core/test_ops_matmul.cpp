// Forward values of matmul in every layout, in f32 and f64, against a naive reference loop.

#include "ops_test_util.h"

using namespace tern;
using namespace tern::opstest;

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
