#pragma once
// Helpers shared by the tests in tests/core: reading tensors back as doubles,
// comparing against reference values and checking tern::Error messages.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <tern/tern.h>

namespace tern::coretest {

// Every element of `t` (any dtype, any layout) as a double, in row-major order.
inline std::vector<double> vals(const Tensor& t) {
  NoGradGuard ng;
  Tensor h = t.to(kCPU).to(kFloat64).contiguous();
  const double* d = h.data_ptr<double>();
  return std::vector<double>(d, d + h.numel());
}

inline std::vector<int64_t> ivals(const Tensor& t) {
  NoGradGuard ng;
  Tensor h = t.to(kCPU).to(kInt64).contiguous();
  const int64_t* d = h.data_ptr<int64_t>();
  return std::vector<int64_t>(d, d + h.numel());
}

// A tensor of `dtype` holding `v` (given in f64) with `shape`.
inline Tensor mk(const std::vector<double>& v, const Shape& shape, DType dtype = kFloat64) {
  return from_vector<double>(v, shape, {.dtype = dtype});
}

// Seeded normal values, rounded to `dtype` so a reference computed from them in
// f64 sees exactly the tensor's inputs.
inline Tensor randn_t(const Shape& shape, DType dtype, uint64_t seed) {
  Generator g(seed);
  return randn(shape, &g, {.dtype = kFloat64}).to(dtype);
}

// Relative-plus-absolute tolerance suited to `dtype`.
inline double tol(DType dtype) { return dtype == kFloat32 ? 2e-5 : 1e-11; }

inline ::testing::AssertionResult all_close(const std::vector<double>& got, const std::vector<double>& want,
                                            double rtol, double atol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w)))
      return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", want " << w
                                           << " (diff " << std::fabs(g - w) << ")";
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult all_close(const Tensor& got, const std::vector<double>& want, double rtol,
                                            double atol) {
  return all_close(vals(got), want, rtol, atol);
}

inline bool starts_with_bracket(const std::string& s) { return !s.empty() && s[0] == '['; }

}  // namespace tern::coretest

// Runs `stmt`, expecting a tern::Error whose message starts with '[' and contains `substr`.
#define EXPECT_THROW_MSG(stmt, substr)                                                          \
  do {                                                                                          \
    bool tern_caught_ = false;                                                                  \
    try {                                                                                       \
      stmt;                                                                                     \
    } catch (const ::tern::Error& e) {                                                          \
      tern_caught_ = true;                                                                      \
      const std::string tern_what_ = e.what();                                                  \
      EXPECT_TRUE(::tern::coretest::starts_with_bracket(tern_what_))                            \
          << "message does not start with '[': " << tern_what_;                                \
      EXPECT_NE(tern_what_.find(substr), std::string::npos)                                     \
          << "message \"" << tern_what_ << "\" lacks \"" << (substr) << "\"";                   \
    } catch (const std::exception& e) {                                                         \
      ADD_FAILURE() << #stmt " threw a non-tern exception: " << e.what();                       \
    }                                                                                           \
    EXPECT_TRUE(tern_caught_) << #stmt " did not throw";                                        \
  } while (0)

// Like EXPECT_THROW_MSG but requires the whole message to equal `msg`.
#define EXPECT_THROW_EXACT(stmt, msg)                                                           \
  do {                                                                                          \
    bool tern_caught_ = false;                                                                  \
    try {                                                                                       \
      stmt;                                                                                     \
    } catch (const ::tern::Error& e) {                                                          \
      tern_caught_ = true;                                                                      \
      EXPECT_EQ(std::string(e.what()), std::string(msg));                                       \
    } catch (const std::exception& e) {                                                         \
      ADD_FAILURE() << #stmt " threw a non-tern exception: " << e.what();                       \
    }                                                                                           \
    EXPECT_TRUE(tern_caught_) << #stmt " did not throw";                                        \
  } while (0)
