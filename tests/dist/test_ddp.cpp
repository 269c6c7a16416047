// DistributedDataParallel against the single-process answer: each rank backpropagates its shard of a global batch
// and, after the sync, must hold the gradient that the whole batch gives in one process (computed here, on every
// rank, by a reference copy of the model). At world size 1 the same tests check that the reducer stays out of
// the way.

#include <gtest/gtest.h>

#include <tern/autograd/grad_mode.h>
#include <tern/backends/comm/process_group.h>
#include <tern/core/ops.h>
#include <tern/nn/layers.h>
#include <tern/nn/parallel/ddp.h>

#include "../test_util.h"
#include "dist_test_util.h"

namespace tern {
namespace {

using testutil::allclose;
using testutil::equal;

constexpr int64_t kBatch = 8;  // global; divides among 1, 2, 4 and 8 ranks

struct Mlp : nn::Module {
  std::shared_ptr<nn::Linear> a, b;
  explicit Mlp(uint64_t seed) : Module("Mlp") {
    Generator gen(seed);
    a = register_module("a", std::make_shared<nn::Linear>(8, 16, nn::LinearOptions{.gen = &gen}));
    b = register_module("b", std::make_shared<nn::Linear>(16, 4, nn::LinearOptions{.gen = &gen}));
  }
  Tensor forward(const Tensor& x) override { return b->forward(tanh(a->forward(x))); }
};

struct Data {
  Tensor x, y;
};
Data global_batch() {
  Generator gen(7);
  return {randn({kBatch, 8}, &gen), randn({kBatch, 4}, &gen)};
}

Tensor loss_of(Mlp& m, const Tensor& x, const Tensor& y) {
  Tensor d = sub(m.forward(x), y);
  return mean(mul(d, d));
}

std::shared_ptr<dist::ProcessGroup> group() { return dist::init_process_group(); }

// A model holding `src`'s current parameters.
std::shared_ptr<Mlp> copy_of(Mlp& src) {
  auto m = std::make_shared<Mlp>(0);
  NoGradGuard ng;
  auto dst = m->parameters();
  auto from = src.parameters();
  for (size_t i = 0; i < dst.size(); ++i) dst[i].copy_(from[i]);
  return m;
}

// This rank's rows of the global batch.
Data shard(const Data& d, const dist::ProcessGroup& pg) {
  const int64_t n = kBatch / pg.size();
  return {d.x.narrow(0, pg.rank() * n, n).contiguous(), d.y.narrow(0, pg.rank() * n, n).contiguous()};
}

void expect_grads_match(Mlp& got, Mlp& want) {
  auto g = got.named_parameters(), w = want.named_parameters();
  ASSERT_EQ(g.size(), w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_TRUE(g[i].second.grad().defined()) << g[i].first;
    EXPECT_TRUE(allclose(g[i].second.grad(), w[i].second.grad(), 1e-5, 1e-7))
        << g[i].first << ": " << testutil::closeness(g[i].second.grad(), w[i].second.grad(), 1e-5, 1e-7);
  }
}

TEST(DistributedDataParallel, StartsFromRankZerosParameters) {
  auto pg = group();
  auto model = std::make_shared<Mlp>(100 + pg->rank());
  nn::DistributedDataParallel ddp(model, pg);
  Mlp rank0(100);
  auto got = model->named_parameters(), want = rank0.named_parameters();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(equal(got[i].second, want[i].second)) << got[i].first;
}

class DdpBuckets : public ::testing::TestWithParam<int64_t> {};

TEST_P(DdpBuckets, GradientIsTheWholeBatchMean) {
  auto pg = group();
  auto model = std::make_shared<Mlp>(1);
  nn::DistributedDataParallel ddp(model, pg, {.bucket_bytes = GetParam()});
  auto ref = copy_of(*model);
  const Data all = global_batch();
  loss_of(*ref, all.x, all.y).backward();

  const Data mine = shard(all, *pg);
  loss_of(*model, mine.x, mine.y).backward();
  ddp.finish_gradient_sync();
  expect_grads_match(*model, *ref);

  if (pg->size() > 1) {
    const auto& s = ddp.stats();
    EXPECT_EQ(s.syncs, 1);
    EXPECT_EQ(s.buckets, ddp.num_buckets());
    EXPECT_EQ(s.launched_in_backward, ddp.num_buckets()) << "every bucket should start during backward";
    EXPECT_EQ(s.bytes, (8 * 16 + 16 + 16 * 4 + 4) * 4);
  }
}

// One bucket for the whole model; and 64 bytes, a bucket per parameter (each is larger than that).
INSTANTIATE_TEST_SUITE_P(Sizes, DdpBuckets, ::testing::Values(int64_t{25} << 20, int64_t{64}));

TEST(DistributedDataParallel, BucketsFollowTheCap) {
  auto pg = group();
  auto model = std::make_shared<Mlp>(1);
  EXPECT_EQ(nn::DistributedDataParallel(model, pg).num_buckets(), 1);
  EXPECT_EQ(nn::DistributedDataParallel(model, pg, {.bucket_bytes = 64}).num_buckets(), 4);
  // b.bias (16 B) and b.weight (256 B) fit 300 B together, a.bias (64 B) then a.weight (512 B) do not.
  EXPECT_EQ(nn::DistributedDataParallel(model, pg, {.bucket_bytes = 300}).num_buckets(), 3);
}

TEST(DistributedDataParallel, NoSyncAccumulatesThenSyncsOnce) {
  auto pg = group();
  auto model = std::make_shared<Mlp>(2);
  nn::DistributedDataParallel ddp(model, pg);
  auto ref = copy_of(*model);
  const Data all = global_batch();
  loss_of(*ref, all.x, all.y).backward();

  const Data mine = shard(all, *pg);
  const int64_t half = mine.x.size(0) / 2;
  {
    auto guard = ddp.no_sync();
    mul(loss_of(*model, mine.x.narrow(0, 0, half), mine.y.narrow(0, 0, half)), 0.5).backward();
  }
  mul(loss_of(*model, mine.x.narrow(0, half, half), mine.y.narrow(0, half, half)), 0.5).backward();
  ddp.finish_gradient_sync();
  expect_grads_match(*model, *ref);
}

TEST(DistributedDataParallel, StepsLikeOneProcess) {
  auto pg = group();
  auto model = std::make_shared<Mlp>(3);
  nn::DistributedDataParallel ddp(model, pg, {.bucket_bytes = 300});
  auto ref = copy_of(*model);
  const Data all = global_batch();
  const Data mine = shard(all, *pg);
  NoGradGuard outside;  // the updates below must not record
  for (int step = 0; step < 5; ++step) {
    for (auto* m : {static_cast<Mlp*>(model.get()), ref.get()})
      for (auto& p : m->parameters()) p.zero_grad();
    {
      EnableGradGuard on;
      loss_of(*model, mine.x, mine.y).backward();
      loss_of(*ref, all.x, all.y).backward();
    }
    ddp.finish_gradient_sync();
    for (auto* m : {static_cast<Mlp*>(model.get()), ref.get()})
      for (auto& p : m->parameters()) p.add_(p.grad(), -0.5);
  }
  auto got = model->named_parameters(), want = ref->named_parameters();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(allclose(got[i].second, want[i].second, 1e-5, 1e-6)) << got[i].first;
}

TEST(DistributedDataParallel, RefusesASecondBackwardOutsideNoSync) {
  auto pg = group();
  if (pg->size() == 1) GTEST_SKIP() << "one process: nothing is reduced, so nothing to refuse";
  auto model = std::make_shared<Mlp>(4);
  nn::DistributedDataParallel ddp(model, pg);
  const Data mine = shard(global_batch(), *pg);
  loss_of(*model, mine.x, mine.y).backward();
  testutil::expect_error([&] { loss_of(*model, mine.x, mine.y).backward(); }, "run the earlier backward passes");
}

TEST(DistributedDataParallel, TimesAnAllReduceOfItsBuckets) {
  auto pg = group();
  auto model = std::make_shared<Mlp>(5);
  nn::DistributedDataParallel ddp(model, pg);
  EXPECT_GE(ddp.time_allreduce(), 0.0);
}

}  // namespace
}  // namespace tern
