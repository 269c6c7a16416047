// Reductions. The kernel sees a contiguous [outer, r, inner] block; a contiguous
// input whose reduced dims are adjacent is passed as is, anything else is permuted
// (reduced dims last) and made contiguous first.

#include <numeric>

#include "op_helpers.h"

namespace tern {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

struct Plan {
  Tensor block;  // contiguous data to reduce
  int64_t outer = 1, r = 1, inner = 1;
  Shape out_shape;   // without keepdim
  Shape keep_shape;  // with reduced dims as 1
};

Plan plan_reduce(const Tensor& x, const std::vector<int64_t>& dims) {
  Plan p;
  const int64_t nd = x.dim();
  std::vector<bool> red(nd, false);
  for (auto d : dims) red[d] = true;
  for (int64_t i = 0; i < nd; ++i) {
    p.keep_shape.push_back(red[i] ? 1 : x.shape()[i]);
    if (!red[i]) p.out_shape.push_back(x.shape()[i]);
  }
  const bool adjacent = dims.empty() || dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  if (x.is_contiguous() && adjacent) {
    p.block = x;
    if (!dims.empty()) {
      for (int64_t i = 0; i < dims.front(); ++i) p.outer *= x.shape()[i];
      for (auto d : dims) p.r *= x.shape()[d];
      for (int64_t i = dims.back() + 1; i < nd; ++i) p.inner *= x.shape()[i];
    } else {
      p.outer = x.numel();
    }
    return p;
  }
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < nd; ++i)
    if (!red[i]) perm.push_back(i);
  for (auto d : dims) perm.push_back(d);
  {
    NoGradGuard ng;
    p.block = x.permute(perm).contiguous();
  }
  for (int64_t i = 0; i < nd; ++i) (red[i] ? p.r : p.outer) *= x.shape()[i];
  return p;
}

Tensor reduce_kernel(const char* op, ReduceOp rop, const Tensor& x, const std::vector<int64_t>& dims,
                     bool keepdim, Tensor* indices) {
  TERN_CHECK(x.dtype() != kFloat16 && x.dtype() != kBFloat16 && x.dtype() != kBool, op, "no kernel for ",
             x.dtype(), "; convert with to(f32)");
  Plan p = plan_reduce(x, dims);
  const Shape& s = keepdim ? p.keep_shape : p.out_shape;
  Tensor out = empty(s, {.dtype = x.dtype(), .device = x.device()});
  if (indices) *indices = empty(s, {.dtype = kInt64, .device = x.device()});
  if (out.numel() == 0) return out;
  const bool sums = rop == ReduceOp::sum || rop == ReduceOp::sum_squares;  // 0 over an empty dim
  TERN_CHECK(p.r > 0 || sums, op, "cannot reduce over an empty dim of shape ", shape_str(x.shape()));
  if (p.r == 0) return out.zero_();
  detail::backend_of(x, op).reduce(rop, x.dtype(), p.block.raw_data(), out.raw_data(),
                                   indices ? indices->data_ptr<int64_t>() : nullptr, p.outer, p.r, p.inner);
  return out;
}

Shape keep_shape_of(const Shape& in, const std::vector<int64_t>& dims) {
  Shape k = in;
  for (auto d : dims) k[d] = 1;
  return k;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  detail::check_defined(x, "sum");
  TERN_CHECK(x.dtype() != kFloat16 && x.dtype() != kBFloat16, "sum", "no kernel for ", x.dtype(),
             "; convert with to(f32)");
  // Integer and bool sums accumulate in i64, as in torch.
  if (!is_floating(x.dtype()) && x.dtype() != kInt64) return sum(x.to(kInt64), dims_in, keepdim);
  auto dims = detail::normalize_dims(dims_in, x.dim(), "sum");
  Tensor out = reduce_kernel("sum", ReduceOp::sum, x, dims, keepdim, nullptr);
  autograd::record("sum", {x}, out, [xs = x.shape(), dims](const Tensor& g, const Node&) {
    return Grads{g.reshape(keep_shape_of(xs, dims)).expand(xs)};
  });
  return out;
}
TERN_REGISTER_OP("sum");

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  detail::check_defined(x, "mean");
  detail::check_float("mean", x);
  auto dims = detail::normalize_dims(dims_in, x.dim(), "mean");
  int64_t n = 1;
  for (auto d : dims) n *= x.shape()[d];
  return div(sum(x, dims_in, keepdim), static_cast<double>(n));
}

Tensor norm(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  detail::check_defined(x, "norm");
  detail::check_float("norm", x);
  auto dims = detail::normalize_dims(dims_in, x.dim(), "norm");
  // One pass over x (no x*x temporary), accumulating in f64 for f32.
  Tensor out = reduce_kernel("norm", ReduceOp::sum_squares, x, dims, keepdim, nullptr);
  {
    NoGradGuard ng;
    out = sqrt(out);
  }
  autograd::record("norm", {x}, out,
                   [sx = autograd::SavedTensor(x), sy = autograd::SavedTensor(out), dims](const Tensor& g,
                                                                                         const Node&) {
                     // d|x|/dx = x / |x|, and 0 where |x| = 0 (torch's subgradient).
                     Tensor xv = sx.get("norm");
                     const Shape ks = keep_shape_of(xv.shape(), dims);
                     Tensor y = sy.get("norm").reshape(ks);
                     Tensor scale = where(eq(y, 0.0), zeros_like(y), div(g.reshape(ks), y));
                     return Grads{mul(xv, scale)};
                   });
  return out;
}
TERN_REGISTER_OP("norm");

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  detail::check_defined(x, "amax");
  auto dims = detail::normalize_dims(dims_in, x.dim(), "amax");
  Tensor out = reduce_kernel("amax", ReduceOp::max, x, dims, keepdim, nullptr);
  autograd::record("amax", {x}, out,
                   [sx = autograd::SavedTensor(x), sy = autograd::SavedTensor(out), dims](const Tensor& g,
                                                                                         const Node&) {
                     // Ties share the gradient evenly, as in torch.amax.
                     Tensor xv = sx.get("amax");
                     Shape ks = keep_shape_of(xv.shape(), dims);
                     Tensor mask = eq(xv, sy.get("amax").reshape(ks)).to(g.dtype());
                     Tensor count = sum(mask, dims, true);
                     return Grads{div(mul(mask, g.reshape(ks)), count)};
                   });
  return out;
}
TERN_REGISTER_OP("amax");

MaxResult max(const Tensor& x, int64_t dim, bool keepdim) {
  detail::check_defined(x, "max");
  const int64_t d = wrap_dim(dim, x.dim(), "max");
  std::vector<int64_t> dims = x.dim() ? std::vector<int64_t>{d} : std::vector<int64_t>{};
  Tensor idx;
  Tensor out = reduce_kernel("max", ReduceOp::max, x, dims, keepdim, &idx);
  autograd::record("max", {x}, out,
                   [xs = x.shape(), si = autograd::SavedTensor(idx), dims](const Tensor& g, const Node&) {
                     if (dims.empty()) return Grads{g.reshape(xs)};
                     const int64_t dd = dims[0];
                     Shape ks = keep_shape_of(xs, dims);
                     Shape pos_shape(xs.size(), 1);
                     pos_shape[dd] = xs[dd];
                     Tensor pos = arange(0.0, static_cast<double>(xs[dd]), 1.0,
                                         {.dtype = kInt64, .device = g.device()}).reshape(pos_shape);
                     Tensor onehot = eq(pos, si.get("max").reshape(ks)).to(g.dtype());
                     return Grads{mul(onehot, g.reshape(ks))};
                   });
  return {out, idx};
}
TERN_REGISTER_OP("max");

Tensor max(const Tensor& x) { return amax(x, {}, false); }

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard ng;
  return max(x, dim, keepdim).indices;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, int64_t correction, bool keepdim) {
  detail::check_defined(x, "var");
  detail::check_float("var", x);
  TERN_CHECK(correction >= 0, "var", "correction must be non-negative, got ", correction);
  auto dims = detail::normalize_dims(dims_in, x.dim(), "var");
  int64_t n = 1;
  for (auto d : dims) n *= x.shape()[d];
  Tensor d = sub(x, mean(x, dims_in, true));
  return div(sum(mul(d, d), dims_in, keepdim), static_cast<double>(std::max<int64_t>(n - correction, 0)));
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  TERN_CHECK(static_cast<int64_t>(shape.size()) <= x.dim(), "sum_to", "cannot sum ", shape_str(x.shape()),
             " to ", shape_str(shape));
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t want = shape[i - lead];
    TERN_CHECK(want == x.shape()[i] || want == 1, "sum_to", "cannot sum ", shape_str(x.shape()), " to ",
               shape_str(shape));
    if (want == 1 && x.shape()[i] != 1) dims.push_back(i);
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace tern
