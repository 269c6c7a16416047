// The process group's collectives at whatever world size this binary runs with: one process (a group of one, or
// MPI's singleton), or `mpirun -np N` (ctest runs N = 2). Every rank computes the expected result from the
// rank numbers alone, so the same assertions hold at every size.

#include <gtest/gtest.h>

#include <tern/backends/comm/groups.h>
#include <tern/backends/comm/process_group.h>
#include <tern/core/ops.h>

#include "../test_util.h"
#include "dist_test_util.h"

namespace tern {
namespace {

using testutil::allclose;
using testutil::equal;

std::shared_ptr<dist::ProcessGroup> group() { return dist::init_process_group(); }

// Rank r's tensor: r*100 + i.
Tensor ramp(int rank, int64_t n, DType dtype = kFloat32) {
  return add(arange(static_cast<double>(n), {.dtype = kFloat64}), 100.0 * rank).to(dtype);
}

TEST(ProcessGroup, KnowsItsPlace) {
  auto pg = group();
  EXPECT_GE(pg->rank(), 0);
  EXPECT_LT(pg->rank(), pg->size());
  EXPECT_GE(pg->local_rank(), 0);
  const dist::LaunchInfo li = dist::launch_info();
  if (li.launched) {
    EXPECT_EQ(pg->backend(), "mpi");
    EXPECT_EQ(pg->rank(), li.rank);
    EXPECT_EQ(pg->size(), li.size);
    EXPECT_EQ(pg->local_rank(), li.local_rank);
  }
  EXPECT_EQ(dist::current_process_group(), pg);
}

TEST(ProcessGroup, AllReduceSumAndAvg) {
  auto pg = group();
  const int n = pg->size();
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor t = ramp(pg->rank(), 1000, dt);
    pg->all_reduce(t, dist::ReduceOp::sum);
    // sum over r of (100 r + i) = 100·n(n-1)/2 + n·i
    Tensor want = add(mul(arange(1000.0, {.dtype = kFloat64}), n), 100.0 * n * (n - 1) / 2).to(dt);
    EXPECT_TRUE(equal(t, want)) << dt;
    Tensor a = ramp(pg->rank(), 1000, dt);
    pg->all_reduce(a, dist::ReduceOp::avg);
    EXPECT_TRUE(allclose(a, div(want, static_cast<double>(n)), 1e-6, 0)) << dt;
  }
  Tensor i = full({3}, pg->rank() + 1, {.dtype = kInt64});
  pg->all_reduce(i);
  EXPECT_EQ(i.data_ptr<int64_t>()[2], n * (n + 1) / 2);
}

TEST(ProcessGroup, AllReduceAsyncLandsOnWait) {
  auto pg = group();
  Tensor a = full({1 << 16}, 1.0);
  Tensor b = full({7}, 2.0);
  auto wa = pg->all_reduce_async(a);
  auto wb = pg->all_reduce_async(b, dist::ReduceOp::avg);
  wb->wait();
  wa->wait();
  EXPECT_TRUE(a.data_ptr<float>()[(1 << 16) - 1] == static_cast<float>(pg->size()));
  EXPECT_TRUE(equal(b, full({7}, 2.0)));
  EXPECT_TRUE(wa->test());
}

TEST(ProcessGroup, BroadcastFromEveryRoot) {
  auto pg = group();
  for (int root = 0; root < pg->size(); ++root) {
    Tensor t = ramp(pg->rank(), 33);
    pg->broadcast(t, root);
    EXPECT_TRUE(equal(t, ramp(root, 33))) << "root " << root;
  }
}

TEST(ProcessGroup, AllGatherStacksRanksAlongDimZero) {
  auto pg = group();
  Tensor t = ramp(pg->rank(), 6).view({2, 3});
  Tensor g = pg->all_gather(t);
  ASSERT_EQ(g.shape(), (Shape{2 * pg->size(), 3}));
  for (int r = 0; r < pg->size(); ++r) EXPECT_TRUE(equal(g.narrow(0, 2 * r, 2), ramp(r, 6).view({2, 3})));
}

TEST(ProcessGroup, ReduceScatterGivesEachRankItsShardOfTheSum) {
  auto pg = group();
  const int n = pg->size();
  Tensor t = ramp(pg->rank(), 4 * n).view({2 * n, 2});
  Tensor s = pg->reduce_scatter(t);
  ASSERT_EQ(s.shape(), (Shape{2, 2}));
  Tensor total = add(mul(arange(4.0 * n, {.dtype = kFloat32}), n), 100.0 * n * (n - 1) / 2).view({2 * n, 2});
  EXPECT_TRUE(equal(s, total.narrow(0, 2 * pg->rank(), 2)));
  Tensor m = pg->reduce_scatter(t, dist::ReduceOp::avg);
  EXPECT_TRUE(allclose(m, div(total.narrow(0, 2 * pg->rank(), 2), n), 1e-6, 0));
}

TEST(ProcessGroup, Barrier) {
  auto pg = group();
  pg->barrier();
  pg->barrier();
  SUCCEED();
}

TEST(ProcessGroup, RefusesWhatItCannotReduceInPlace) {
  auto pg = group();
  Tensor t = zeros({4, 4});
  Tensor strided = t.t();
  testutil::expect_error([&] { pg->all_reduce(strided); }, "[all_reduce] ");
  testutil::expect_error([&] { pg->all_reduce(strided); }, "contiguous");
  if (pg->size() > 1) {
    Tensor i = zeros({2}, {.dtype = kInt64});
    testutil::expect_error([&] { pg->all_reduce(i, dist::ReduceOp::avg); }, "avg needs a floating-point tensor");
    Tensor odd = zeros({2 * pg->size() + 1});
    testutil::expect_error([&] { (void)pg->reduce_scatter(odd); }, "must divide among");
  }
}

TEST(ProcessGroup, OneGroupPerProcess) {
  auto pg = group();
  testutil::expect_error([] { (void)dist::init_process_group("nccl"); }, "already");
  EXPECT_EQ(dist::init_process_group("auto"), pg);
}

}  // namespace
}  // namespace tern
