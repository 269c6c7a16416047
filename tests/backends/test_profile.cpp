// The kernel profile behind TERN_PROFILE: the wrapping backend forwards every call and counts it.

#include <gtest/gtest.h>

#include <tern/backends/profile.h>
#include <tern/backends/profiling_backend.h>
#include <tern/tern.h>

using namespace tern;

TEST(Profile, WrapperForwardsAndCountsKernels) {
  profile_reset();
  Backend& p = detail::profiled(backend_for(kCPU, "test"));
  EXPECT_EQ(&p, &detail::profiled(backend_for(kCPU, "test")));  // one wrapper per backend
  Tensor t = empty({4, 3});
  p.fill(t.shape(), {t.raw_data(), t.dtype(), t.strides()}, 2.5);
  p.fill(t.shape(), {t.raw_data(), t.dtype(), t.strides()}, 1.5);
  EXPECT_EQ(t.data_ptr<float>()[11], 1.5f);
  Tensor y = empty({4, 3});
  p.unary(UnaryOp::exp, t.shape(), {y.raw_data(), y.dtype(), y.strides()}, {t.raw_data(), t.dtype(), t.strides()}, 0,
          0);
  EXPECT_FLOAT_EQ(y.data_ptr<float>()[0], std::exp(1.5f));
  const std::string report = profile_report();
  EXPECT_NE(report.find("unary:exp"), std::string::npos) << report;
  const size_t at = report.find("\nfill ");
  ASSERT_NE(at, std::string::npos) << report;
  EXPECT_NE(report.substr(at, 60).find(" 2 "), std::string::npos) << report;  // two calls
  profile_reset();
  EXPECT_EQ(profile_report().find("fill"), std::string::npos);
}
