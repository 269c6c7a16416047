// Forward values of the ops that join and cut tensors (cat, stack, split, chunk, index_select).

#include "ops_test_util.h"

using namespace tern;
using namespace tern::opstest;

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
