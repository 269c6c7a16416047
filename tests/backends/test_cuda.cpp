// The CUDA backend's device plumbing: discovery, the stream-ordered allocator and its
// counters, transfers, and the errors a kernel records for the host. The kernels themselves
// are compared with the CPU op by op in test_cuda_parity.cpp.

#include <gtest/gtest.h>

#include <functional>

#include <tern/backends/cuda.h>
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

TEST(Cuda, DeviceCountersWithoutADeviceAreAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; this checks the no-device path";
  const std::string msg = error_of([] { cuda_memory_stats(); });
#ifdef TERN_WITH_CUDA
  EXPECT_NE(msg.find("no CUDA device is available"), std::string::npos) << msg;
#else
  EXPECT_NE(msg.find("tern was built without CUDA support"), std::string::npos) << msg;
#endif
}

TEST(Cuda, AllocatorCountsLiveBytes) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  cuda_synchronize();
  const CudaMemoryStats before = cuda_memory_stats();
  {
    Tensor a = empty({1 << 20}, {.device = cuda()});
    const CudaMemoryStats during = cuda_memory_stats();
    EXPECT_EQ(during.allocated - before.allocated, int64_t{4} << 20);
    EXPECT_GE(during.peak, during.allocated);
    EXPECT_GE(during.reserved, during.allocated);
  }
  EXPECT_EQ(cuda_memory_stats().allocated, before.allocated);
}

TEST(Cuda, FreedBlocksAreReusedInStreamOrder) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  // A block freed while a kernel still reads it may go to the next allocation only because
  // that allocation's work is queued after the kernel: the values must come out right.
  Generator g(5);
  Tensor x = randn({1 << 18}, &g);
  Tensor expect = mul(x, 2.0);
  Tensor got;
  {
    Tensor d = x.to(cuda());
    Tensor y = mul(d, 2.0);
    d = Tensor();  // freed while mul may still be queued
    Tensor z = zeros({1 << 18}, {.device = cuda()});
    got = add(y, z).to(kCPU);
  }
  const float* a = expect.data_ptr<float>();
  const float* b = got.data_ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(a[i], b[i]) << i;
}

TEST(Cuda, OutOfRangeIndexIsRaisedAtTheNextSync) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Tensor w = zeros({5, 3}, {.device = cuda()});
  Tensor idx = from_vector<int64_t>({0, 7, 1}).to(cuda());
  const std::string msg = error_of([&] { index_select(w, 0, idx).to(kCPU); });
  EXPECT_EQ(msg, "[index_select] index 7 at position 1 is out of range for dim 0 of size 5");
  // The error is raised once; the device stays usable.
  EXPECT_EQ(sum(ones({4}, {.device = cuda()})).item<double>(), 4.0);
}

TEST(Cuda, Tf32IsOffUntilAsked) {
  EXPECT_EQ(matmul_precision(), "highest");
  set_matmul_precision("high");
  EXPECT_EQ(matmul_precision(), "high");
  set_matmul_precision("highest");
  EXPECT_NE(error_of([] { set_matmul_precision("medium"); }).find("[set_matmul_precision]"), std::string::npos);
}
