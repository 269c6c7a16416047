// The CUDA backend as it stands: device discovery, the caching allocator and
// transfers. The kernels, when they are written, come with the
// CPU-vs-CUDA parity table.

#include <gtest/gtest.h>

#include <functional>

#include <tern/tern.h>

#include "../test_util.h"

using namespace tern;

namespace {

using testutil::error_of;

}  // namespace

TEST(Cuda, UnavailableDeviceIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; this checks the no-device path";
  const std::string msg = error_of([] { zeros({2}).to(cuda()); });
#ifdef TERN_WITH_CUDA
  EXPECT_NE(msg.find("no CUDA device is available"), std::string::npos) << msg;
#else
  EXPECT_NE(msg.find("tern was built without CUDA support"), std::string::npos) << msg;
#endif
  EXPECT_EQ(msg.rfind("[", 0), 0u) << msg;
}

TEST(Cuda, RoundTripThroughDevice) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Generator g(3);
  Tensor x = randn({17, 5}, &g);
  Tensor d = x.to(cuda());
  EXPECT_TRUE(d.device().is_cuda());
  Tensor back = d.to(kCPU);
  const float* a = x.data_ptr<float>();
  const float* b = back.data_ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(a[i], b[i]);
}

TEST(Cuda, GradientFlowsBackAcrossTransfer) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  Tensor d = x.to(cuda());
  d.backward(ones({3}).to(cuda()));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(x.grad().device().is_cpu());
}

TEST(Cuda, MissingKernelsSayNotImplementedYet) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Tensor d = ones({2}).to(cuda());
  const std::string msg = error_of([&] { exp(d); });
  EXPECT_NE(msg.find("not implemented on CUDA yet"), std::string::npos) << msg;
}

TEST(Cuda, CachingAllocatorReusesBlocks) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  void* first;
  {
    Tensor a = empty({1024}, {.device = cuda()});
    first = a.raw_data();
  }
  Tensor b = empty({1024}, {.device = cuda()});
  EXPECT_EQ(b.raw_data(), first);
}
