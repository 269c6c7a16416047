// Post-accumulate-grad hooks: once per backward per leaf, after every path's gradient is summed in.

#include <gtest/gtest.h>

#include <tern/autograd/hooks.h>
#include <tern/core/ops.h>

#include "../test_util.h"

namespace tern {
namespace {

TEST(PostAccumulateGradHook, RunsOnceWithTheSummedGradient) {
  Tensor w = tensor({1.f, 2.f, 3.f}).requires_grad_();
  std::vector<float> seen;
  int calls = 0;
  auto h = autograd::register_post_accumulate_grad_hook(w, [&](const Tensor& leaf) {
    ++calls;
    seen = {leaf.grad().data_ptr<float>()[0], leaf.grad().data_ptr<float>()[1]};
  });
  // w reaches the loss along two paths (as a tied embedding does): d/dw sum(2w + w*w) = 2 + 2w.
  sum(add(mul(w, 2.0), mul(w, w))).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, (std::vector<float>{4.f, 6.f}));
}

TEST(PostAccumulateGradHook, SeesAccumulationAcrossBackwards) {
  Tensor w = tensor({1.f}).requires_grad_();
  std::vector<float> seen;
  auto h = autograd::register_post_accumulate_grad_hook(
      w, [&](const Tensor& leaf) { seen.push_back(leaf.grad().item<float>()); });
  sum(mul(w, 3.0)).backward();
  sum(mul(w, 3.0)).backward();
  EXPECT_EQ(seen, (std::vector<float>{3.f, 6.f}));
}

TEST(PostAccumulateGradHook, RemovedWithItsHandle) {
  Tensor w = tensor({1.f}).requires_grad_();
  int calls = 0;
  {
    auto h = autograd::register_post_accumulate_grad_hook(w, [&](const Tensor&) { ++calls; });
    sum(w).backward();
  }
  sum(w).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(w.impl().autograd().post_accumulate_grad_hooks.empty());
}

TEST(PostAccumulateGradHook, RefusesNonLeaves) {
  Tensor w = tensor({1.f}).requires_grad_();
  testutil::expect_error([&] { (void)autograd::register_post_accumulate_grad_hook(mul(w, 2.0), [](const Tensor&) {}); },
                         "must be a leaf that requires grad");
  testutil::expect_error(
      [&] { (void)autograd::register_post_accumulate_grad_hook(tensor({1.f}), [](const Tensor&) {}); },
      "must be a leaf that requires grad");
}

}  // namespace
}  // namespace tern
