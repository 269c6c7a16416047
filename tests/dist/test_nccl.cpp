// The NCCL process group against the MPI one: each collective runs on a CUDA copy through NCCL and on a CPU copy
// through MPI, and the results must agree, at whatever world size this binary runs with (one process under ctest;
// `mpirun -np N` with N GPUs on the machine by hand, as tools/device/check.sh does). Without a GPU, or in a build
// without NCCL, the collectives skip and only the refusal is checked.

#include <gtest/gtest.h>

#include <tern/backends/backend.h>
#include <tern/backends/comm/groups.h>
#include <tern/backends/comm/process_group.h>
#include <tern/core/ops.h>

#include "../test_util.h"
#include "dist_test_util.h"

namespace tern {
namespace {

using testutil::allclose;
using testutil::equal;

TEST(Nccl, RequestWithoutAGpuIsAClearError) {
  if (dist::nccl_compiled() && cuda_available()) GTEST_SKIP() << "a GPU is present; this checks the no-GPU path";
  const std::string msg = testutil::error_of([] { (void)dist::init_process_group("nccl"); });
  EXPECT_EQ(msg.rfind("[nccl] ", 0), 0u) << msg;
  if (dist::nccl_compiled())
    EXPECT_NE(msg.find("no CUDA device is available"), std::string::npos) << msg;
  else
    EXPECT_NE(msg.find("NCCL is not compiled into this tern: the build lacks"), std::string::npos) << msg;
  // The failure leaves no group behind.
  EXPECT_EQ(dist::current_process_group(), nullptr);
}

TEST(Nccl, InfoNamesTheLibrary) {
  if (!dist::nccl_compiled()) {
    EXPECT_EQ(dist::nccl_library_version(), "");
    return;
  }
  // libnccl is opened at run time; a build that found it must be able to open it here too.
  EXPECT_EQ(dist::nccl_library_version().rfind("NCCL 2.", 0), 0u) << dist::nccl_library_version();
}

// The collectives need the group, hence a GPU.
class NcclGroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!dist::nccl_compiled()) GTEST_SKIP() << "NCCL is not compiled into this tern";
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
    nccl = dist::init_process_group("nccl");
    ASSERT_EQ(nccl->backend(), "nccl");
    static const std::shared_ptr<dist::ProcessGroup> cpu = dist::detail::make_mpi_process_group();
    mpi = cpu;
    ASSERT_EQ(nccl->rank(), mpi->rank());
    ASSERT_EQ(nccl->size(), mpi->size());
  }
  Device gpu() const { return cuda(nccl->local_rank()); }
  // Rank r's tensor: r*100 + i, in `dtype`, on the CPU.
  Tensor ramp(int rank, int64_t n, DType dtype) const {
    return add(arange(static_cast<double>(n), {.dtype = kFloat64}), 100.0 * rank).to(dtype);
  }
  std::shared_ptr<dist::ProcessGroup> nccl, mpi;
};

// MPI reduces f32, f64 and i64; the half types are checked against f32.
DType mpi_dtype(DType d) { return d == kFloat16 || d == kBFloat16 ? kFloat32 : d; }
double tolerance(DType d) { return d == kFloat16 || d == kBFloat16 ? 1e-2 : 1e-6; }

TEST_F(NcclGroup, AllReduceMatchesMpi) {
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt64}) {
    for (dist::ReduceOp op : {dist::ReduceOp::sum, dist::ReduceOp::avg}) {
      if (op == dist::ReduceOp::avg && dt == kInt64) continue;
      Tensor host = ramp(nccl->rank(), 1000, dt);
      Tensor dev = host.to(gpu());
      nccl->all_reduce(dev, op);
      Tensor want = host.to(mpi_dtype(dt));
      mpi->all_reduce(want, op);
      Tensor got = dev.to(kCPU);
      EXPECT_EQ(got.dtype(), dt);
      EXPECT_TRUE(allclose(got, want, tolerance(dt), 0)) << dt << (op == dist::ReduceOp::avg ? " avg" : " sum");
    }
  }
}

TEST_F(NcclGroup, AsyncAllReduceLandsAfterWait) {
  Tensor a = full({1 << 16}, 1.0).to(gpu());
  Tensor b = full({7}, 2.0).to(gpu());
  auto wa = nccl->all_reduce_async(a);
  auto wb = nccl->all_reduce_async(b, dist::ReduceOp::avg);
  wb->wait();
  wa->wait();
  EXPECT_TRUE(equal(a.to(kCPU), full({1 << 16}, static_cast<double>(nccl->size()))));
  EXPECT_TRUE(equal(b.to(kCPU), full({7}, 2.0)));
  // The copies to the host ran after both collectives on the same stream, so both events have fired.
  EXPECT_TRUE(wa->test());
  EXPECT_TRUE(wb->test());
}

TEST_F(NcclGroup, BroadcastMatchesMpi) {
  for (int root = 0; root < nccl->size(); ++root) {
    for (DType dt : {kFloat32, kBFloat16, kInt64}) {
      Tensor host = ramp(nccl->rank(), 33, dt);
      Tensor dev = host.to(gpu());
      nccl->broadcast(dev, root);
      EXPECT_TRUE(equal(dev.to(kCPU), ramp(root, 33, dt))) << "root " << root << " " << dt;
    }
  }
}

TEST_F(NcclGroup, AllGatherMatchesMpi) {
  for (DType dt : {kFloat32, kFloat16, kInt64}) {
    Tensor host = ramp(nccl->rank(), 6, dt).view({2, 3});
    Tensor got = nccl->all_gather(host.to(gpu()));
    EXPECT_EQ(got.device(), gpu());
    Tensor want = mpi->all_gather(host.to(mpi_dtype(dt)));
    ASSERT_EQ(got.shape(), want.shape());
    EXPECT_TRUE(equal(got.to(kCPU), want)) << dt;
  }
}

TEST_F(NcclGroup, ReduceScatterMatchesMpi) {
  const int n = nccl->size();
  for (DType dt : {kFloat32, kFloat64, kBFloat16}) {
    for (dist::ReduceOp op : {dist::ReduceOp::sum, dist::ReduceOp::avg}) {
      Tensor host = ramp(nccl->rank(), 4 * n, dt).view({2 * n, 2});
      Tensor got = nccl->reduce_scatter(host.to(gpu()), op);
      Tensor want = mpi->reduce_scatter(host.to(mpi_dtype(dt)), op);
      ASSERT_EQ(got.shape(), (Shape{2, 2}));
      EXPECT_TRUE(allclose(got.to(kCPU), want, tolerance(dt), 0)) << dt;
    }
  }
}

TEST_F(NcclGroup, BarrierAndRefusals) {
  nccl->barrier();
  nccl->barrier();
  Tensor cpu = zeros({4});
  testutil::expect_error([&] { nccl->all_reduce(cpu); }, "[all_reduce] ");
  testutil::expect_error([&] { nccl->all_reduce(cpu); }, "takes tensors on cuda");
  Tensor strided = zeros({4, 4}).to(gpu()).t();
  testutil::expect_error([&] { nccl->all_reduce(strided); }, "contiguous");
  Tensor i = zeros({2}, {.dtype = kInt64}).to(gpu());
  testutil::expect_error([&] { nccl->all_reduce(i, dist::ReduceOp::avg); }, "avg needs a floating-point tensor");
  Tensor odd = zeros({2 * nccl->size() + 1}).to(gpu());
  testutil::expect_error([&] { (void)nccl->reduce_scatter(odd); }, "must divide among");
  testutil::expect_error([&] { nccl->broadcast(i, nccl->size()); }, "is not a rank of");
}

}  // namespace
}  // namespace tern
