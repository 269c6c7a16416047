#pragma once
// Shared helpers for the quant tests.

#include <tern/tern.h>

#include <cstdint>
#include <string>
#include <vector>

namespace quant_test {

inline double max_abs_diff(const tern::Tensor& a, const tern::Tensor& b) {
  return tern::amax(tern::abs(tern::sub(a.to(tern::kFloat64), b.to(tern::kFloat64)))).item<double>();
}

inline bool same_values(const tern::Tensor& a, const tern::Tensor& b) {
  if (a.shape() != b.shape()) return false;
  return max_abs_diff(a, b) == 0.0;
}

inline int64_t count_zeros(const tern::Tensor& t) {
  return tern::sum(tern::eq(t.to(tern::kFloat64), 0.0).to(tern::kInt64)).item<int64_t>();
}

inline std::vector<int8_t> to_i8(const tern::Tensor& t) {
  tern::Tensor c = t.contiguous();
  const int8_t* p = c.data_ptr<int8_t>();
  return std::vector<int8_t>(p, p + c.numel());
}

inline std::string fixture_path(const std::string& name) {
  return std::string(TERN_SOURCE_DIR) + "/tests/fixtures/" + name;
}

}  // namespace quant_test
