// View ops: new shape/strides/offset over the same storage. Each backward
// maps the gradient back onto the input's shape.

#include <algorithm>
#include <numeric>
#include <optional>

#include "op_helpers.h"

namespace tern {

using autograd::Node;
using detail::make_view;

namespace {

Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
  Shape out = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TERN_CHECK(infer < 0, op, "only one dimension can be -1 in ", shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      TERN_CHECK(out[i] >= 0, op, "invalid shape ", shape_str(requested));
      TERN_CHECK(!__builtin_mul_overflow(known, out[i], &known), op, "shape ", shape_str(requested),
                 " has too many elements");
    }
  }
  if (infer >= 0) {
    TERN_CHECK(known != 0 && numel % known == 0, op, "shape ", shape_str(requested),
               " is invalid for input of size ", numel);
    out[infer] = numel / known;
  }
  TERN_CHECK(numel_of(out) == numel, op, "shape ", shape_str(requested),
             " is invalid for input of size ", numel);
  return out;
}

// Strides giving `new_shape` over the same memory, if the layout allows it.
std::optional<Strides> view_strides(const Shape& old_shape, const Strides& old_strides,
                                    const Shape& new_shape) {
  if (old_shape.empty() || numel_of(old_shape) == 0) return contiguous_strides(new_shape);
  Strides out(new_shape.size());
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

Tensor record_view(const char* op, const Tensor& in, Tensor out,
                   std::function<Tensor(const Tensor&)> grad_fn) {
  autograd::record(op, {in}, out, [grad_fn = std::move(grad_fn)](const Tensor& g, const Node&) {
    return std::vector<Tensor>{grad_fn(g)};
  });
  return out;
}

}  // namespace

Tensor Tensor::view(const Shape& shape_req) const {
  Shape s = infer_shape(shape_req, numel(), "view");
  auto st = view_strides(shape(), strides(), s);
  TERN_CHECK(st.has_value(), "view", "shape ", shape_str(s), " is not compatible with the strides of ",
             shape_str(shape()), "; use reshape()");
  Shape in_shape = shape();
  return record_view("view", *this, make_view(*this, s, *st, offset()),
                     [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}
TERN_REGISTER_OP("view");

Tensor Tensor::reshape(const Shape& shape_req) const {
  Shape s = infer_shape(shape_req, numel(), "reshape");
  if (view_strides(shape(), strides(), s)) return view(s);
  return clone().view(s);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  TERN_CHECK(start_dim <= end_dim, "flatten", "start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape s(shape().begin(), shape().begin() + start_dim);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= shape()[i];
  s.push_back(m);
  s.insert(s.end(), shape().begin() + end_dim + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  TERN_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute", "got ", dims.size(),
             " dims for a tensor of shape ", shape_str(shape()));
  std::vector<int64_t> d(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape s(dims.size());
  Strides st(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    d[i] = wrap_dim(dims[i], dim(), "permute");
    TERN_CHECK(!seen[d[i]], "permute", "dim ", d[i], " repeated");
    seen[d[i]] = true;
    s[i] = shape()[d[i]];
    st[i] = strides()[d[i]];
  }
  std::vector<int64_t> inverse(d.size());
  for (size_t i = 0; i < d.size(); ++i) inverse[d[i]] = static_cast<int64_t>(i);
  return record_view("permute", *this, make_view(*this, s, st, offset()),
                     [inverse](const Tensor& g) { return g.permute(inverse); });
}
TERN_REGISTER_OP("permute");

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> p(dim());
  std::iota(p.begin(), p.end(), 0);
  if (dim() == 0) return *this;
  std::swap(p[wrap_dim(d0, dim(), "transpose")], p[wrap_dim(d1, dim(), "transpose")]);
  return permute(p);
}

Tensor Tensor::t() const {
  TERN_CHECK(dim() <= 2, "t", "expects a tensor with <= 2 dims, got ", shape_str(shape()));
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  TERN_CHECK(dim() > 0, "slice", "cannot slice a 0-d tensor");
  d = wrap_dim(d, dim(), "slice");
  TERN_CHECK(step > 0, "slice", "step must be positive, got ", step);
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape();
  Strides st = strides();
  s[d] = end == start ? 0 : (end - start - 1) / step + 1;  // no overflow for huge steps
  if (s[d] > 1) st[d] *= step;  // two or more elements: step < n, so no overflow
  Shape in_shape = shape();
  return record_view("slice", *this, make_view(*this, s, st, offset() + start * strides()[d]),
                     [in_shape, d, start, end, step, dt = dtype()](const Tensor& g) {
                       Tensor gx = zeros(in_shape, {.dtype = dt, .device = g.device()});
                       gx.slice(d, start, end, step).copy_(g);
                       return gx;
                     });
}
TERN_REGISTER_OP("slice");

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  TERN_CHECK(dim() > 0, "narrow", "cannot narrow a 0-d tensor");
  d = wrap_dim(d, dim(), "narrow");
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  TERN_CHECK(start >= 0 && length >= 0 && start <= n - length, "narrow", "range [", start, ", ",
             static_cast<int64_t>(static_cast<uint64_t>(start) + static_cast<uint64_t>(length)),  // no UB
             ") is out of bounds for dim ", d, " of size ", n);
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  TERN_CHECK(dim() > 0, "select", "cannot select from a 0-d tensor");
  d = wrap_dim(d, dim(), "select");
  const int64_t n = shape()[d];
  TERN_CHECK(index >= -n && index < n, "select", "index ", index, " is out of range for dim ", d,
             " of size ", n);
  if (index < 0) index += n;
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& target) const {
  TERN_CHECK(static_cast<int64_t>(target.size()) >= dim(), "expand", "cannot expand ",
             shape_str(shape()), " to fewer dims ", shape_str(target));
  const size_t lead = target.size() - static_cast<size_t>(dim());
  Shape s(target.size());
  Strides st(target.size(), 0);
  for (size_t i = 0; i < target.size(); ++i) {
    if (i < lead) {
      TERN_CHECK(target[i] >= 0, "expand", "invalid target ", shape_str(target));
      s[i] = target[i];
      continue;
    }
    const int64_t have = shape()[i - lead];
    const int64_t want = target[i] == -1 ? have : target[i];
    TERN_CHECK(have == want || have == 1, "expand", "cannot expand ", shape_str(shape()), " to ",
               shape_str(target));
    s[i] = want;
    st[i] = have == want ? strides()[i - lead] : 0;
  }
  Shape in_shape = shape();
  return record_view("expand", *this, make_view(*this, s, st, offset()),
                     [in_shape](const Tensor& g) { return sum_to(g, in_shape); });
}
TERN_REGISTER_OP("expand");

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape s = shape();
  Strides st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Shape in_shape = shape();
  return record_view("squeeze", *this, make_view(*this, s, st, offset()),
                     [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}
TERN_REGISTER_OP("squeeze");

Tensor Tensor::squeeze() const {
  Tensor out = *this;
  for (int64_t d = dim() - 1; d >= 0; --d)
    if (shape()[d] == 1) out = out.squeeze(d);
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape();
  Strides st = strides();
  const int64_t new_stride = d < dim() ? shape()[d] * strides()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  return record_view("unsqueeze", *this, make_view(*this, s, st, offset()),
                     [d](const Tensor& g) { return g.squeeze(d); });
}
TERN_REGISTER_OP("unsqueeze");

}  // namespace tern
