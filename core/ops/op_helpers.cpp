#include "op_helpers.h"

#include <algorithm>
#include <mutex>

namespace tern {

namespace {
std::set<std::string>& op_set() {
  static std::set<std::string> ops;
  return ops;
}
}  // namespace

bool register_differentiable_op(const char* name) {
  op_set().insert(name);
  return true;
}
const std::set<std::string>& differentiable_ops() { return op_set(); }

}  // namespace tern

namespace tern::detail {

StridedArg broadcast_arg(const Tensor& t, const Shape& shape) {
  const size_t n = shape.size();
  const size_t lead = n - static_cast<size_t>(t.dim());
  Strides st(n, 0);
  for (size_t i = lead; i < n; ++i)
    st[i] = t.shape()[i - lead] == 1 && shape[i] != 1 ? 0 : t.strides()[i - lead];
  return {t.raw_data(), t.dtype(), std::move(st)};
}

void check_defined(const Tensor& t, const char* op, const char* what) {
  TERN_CHECK(t.defined(), op, what, " is an undefined tensor");
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  TERN_CHECK(a.device() == b.device(), op, "tensors are on different devices: ", a.device(),
             " and ", b.device());
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  TERN_CHECK(a.dtype() == b.dtype(), op, "dtypes differ: ", a.dtype(), " and ", b.dtype(),
             " (convert one with to())");
}

void check_float(const char* op, const Tensor& t) {
  TERN_CHECK(t.dtype() == kFloat32 || t.dtype() == kFloat64, op, "expected f32 or f64, got ",
             t.dtype());
}

void begin_inplace(const char* op, const Tensor& t) {
  check_defined(t, op, "destination");
  TERN_CHECK(!(autograd::grad_mode_enabled() && t.requires_grad()), op,
             "in-place write to a tensor that requires grad; do it under NoGradGuard");
  for (int64_t d = 0; d < t.dim(); ++d)
    TERN_CHECK(t.strides()[d] != 0 || t.shape()[d] <= 1, op, "in-place write to an expanded tensor of shape ",
               shape_str(t.shape()), " (several elements share memory); write to a contiguous copy instead");
  t.storage()->bump_version();
}

Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  return make_tensor(base.storage(), std::move(shape), std::move(strides), offset, base.dtype());
}

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (auto d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  TERN_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, "dim appears twice");
  if (ndim == 0) out.clear();
  return out;
}

}  // namespace tern::detail
