#pragma once
// Element comparisons for the distributed tests: every value read as f64.

#include <algorithm>
#include <cmath>
#include <vector>

#include <tern/core/ops.h>

namespace tern::testutil {

inline std::vector<double> values(const Tensor& t) {
  const Tensor c = t.detach().to(kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

// The largest |a - b| / (atol + rtol·|b|) over the elements; <= 1 means close. Shapes must agree.
inline double closeness(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return INFINITY;
  const auto x = values(a), y = values(b);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]) / (atol + rtol * std::abs(y[i])));
  return worst;
}
inline bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  return closeness(a, b, rtol, atol) <= 1;
}
inline bool equal(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && values(a) == values(b); }

}  // namespace tern::testutil
