// AutocastGuard: reduced-precision products on a GPU, nothing changed on the CPU.

#include <gtest/gtest.h>

#include <cmath>

#include <tern/tern.h>

#include "../test_util.h"

using namespace tern;

namespace {

double max_rel_diff(const Tensor& a, const Tensor& b) {
  Tensor x = a.to(kCPU).to(kFloat64).contiguous(), y = b.to(kCPU).to(kFloat64).contiguous();
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < x.numel(); ++i) scale = std::max(scale, std::abs(y.data_ptr<double>()[i]));
  for (int64_t i = 0; i < x.numel(); ++i)
    worst = std::max(worst, std::abs(x.data_ptr<double>()[i] - y.data_ptr<double>()[i]));
  return worst / std::max(scale, 1e-30);
}

}  // namespace

TEST(Autocast, GuardNestsAndRestores) {
  EXPECT_FALSE(autocast_dtype().has_value());
  {
    AutocastGuard bf16(kBFloat16);
    EXPECT_EQ(autocast_dtype(), kBFloat16);
    {
      AutocastGuard off(std::nullopt);
      EXPECT_FALSE(autocast_dtype().has_value());
    }
    EXPECT_EQ(autocast_dtype(), kBFloat16);
  }
  EXPECT_FALSE(autocast_dtype().has_value());
  EXPECT_NE(testutil::error_of([] { AutocastGuard bad(kInt8); }).find("[autocast]"), std::string::npos);
}

TEST(Autocast, ChangesNothingOnTheCpu) {
  Generator g(1);
  Tensor a = randn({5, 7}, &g).requires_grad_(), b = randn({7, 3}, &g).requires_grad_();
  Tensor plain = matmul(a, b);
  Tensor cast;
  {
    AutocastGuard bf16;
    cast = matmul(a, b);
  }
  EXPECT_EQ(cast.dtype(), kFloat32);
  EXPECT_EQ(max_rel_diff(cast, plain), 0.0);
}

TEST(Cuda, AutocastProductsAreBf16AccurateWithF32Results) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Generator g(2);
  Tensor a = randn({4, 64, 96}, &g), b = randn({96, 80}, &g);
  Tensor ref = matmul(a, b);
  Tensor ad = a.to(cuda()).requires_grad_(), bd = b.to(cuda()).requires_grad_();
  Tensor out;
  {
    AutocastGuard bf16;
    out = matmul(ad, bd);
  }
  EXPECT_EQ(out.dtype(), kFloat32);
  // bf16 keeps 8 significant bits: products of rounded operands, f32 sums.
  EXPECT_LT(max_rel_diff(out, ref), 2e-2);
  sum(out).backward();  // outside the guard: the backward products still run in bf16
  Tensor ga_ref = matmul(ones({4, 64, 80}), b.t());
  EXPECT_EQ(ad.grad().dtype(), kFloat32);
  EXPECT_LT(max_rel_diff(ad.grad(), ga_ref), 2e-2);
}
