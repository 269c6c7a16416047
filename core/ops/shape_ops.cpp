// Ops that assemble or pick apart tensors: cat, stack, split, chunk, index_select.

#include "op_helpers.h"

namespace tern {

using autograd::Node;
using Grads = std::vector<Tensor>;

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TERN_CHECK(!tensors.empty(), "cat", "expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  detail::check_defined(first, "cat");
  TERN_CHECK(first.dim() > 0, "cat", "zero-dimensional tensors cannot be concatenated");
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    detail::check_defined(t, "cat");
    detail::check_same_device("cat", first, t);
    detail::check_same_dtype("cat", first, t);
    TERN_CHECK(t.dim() == first.dim(), "cat", "tensor ", i, " has shape ", shape_str(t.shape()),
               " but tensor 0 has ", shape_str(first.shape()));
    for (int64_t j = 0; j < t.dim(); ++j)
      TERN_CHECK(j == d || t.shape()[j] == first.shape()[j], "cat", "sizes differ outside dim ", d, ": ",
                 shape_str(first.shape()), " and ", shape_str(t.shape()));
    out_shape[d] += t.shape()[d];
  }
  Tensor out = empty(out_shape, {.dtype = first.dtype(), .device = first.device()});
  std::vector<int64_t> sizes;
  {
    NoGradGuard ng;
    int64_t off = 0;
    for (const auto& t : tensors) {
      out.narrow(d, off, t.shape()[d]).copy_(t);
      off += t.shape()[d];
      sizes.push_back(t.shape()[d]);
    }
  }
  autograd::record("cat", tensors, out, [d, sizes](const Tensor& g, const Node& n) {
    Grads gs;
    int64_t off = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      gs.push_back(n.needs_input_grad(i) ? g.narrow(d, off, sizes[i]) : Tensor());
      off += sizes[i];
    }
    return gs;
  });
  return out;
}
TERN_REGISTER_OP("cat");

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TERN_CHECK(!tensors.empty(), "stack", "expected a non-empty list of tensors");
  detail::check_defined(tensors[0], "stack");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    detail::check_defined(tensors[i], "stack");
    TERN_CHECK(tensors[i].shape() == tensors[0].shape(), "stack", "tensor ", i, " has shape ",
               shape_str(tensors[i].shape()), " but tensor 0 has ", shape_str(tensors[0].shape()));
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  detail::check_defined(x, "split");
  TERN_CHECK(x.dim() > 0, "split", "cannot split a 0-d tensor");
  TERN_CHECK(split_size > 0, "split", "split_size must be positive, got ", split_size);
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  std::vector<Tensor> out;
  for (int64_t off = 0; off < x.shape()[d]; off += split_size)
    out.push_back(x.narrow(d, off, std::min(split_size, x.shape()[d] - off)));
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  detail::check_defined(x, "chunk");
  TERN_CHECK(chunks > 0, "chunk", "chunks must be positive, got ", chunks);
  TERN_CHECK(x.dim() > 0, "chunk", "cannot chunk a 0-d tensor");
  const int64_t n = x.size(dim);
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  return detail::index_select_checked(x, dim, index, nullptr);
}
TERN_REGISTER_OP("index_select");

Tensor detail::index_select_checked(const Tensor& x, int64_t dim, const Tensor& index, const RangeCheck* check) {
  detail::check_defined(x, "index_select");
  detail::check_defined(index, "index_select", "index");
  detail::check_same_device("index_select", x, index);
  TERN_CHECK(index.dim() <= 1, "index_select", "index must be 1-D, got shape ", shape_str(index.shape()));
  TERN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, "index_select",
             "index must be i64 or i32, got ", index.dtype());
  TERN_CHECK(x.dim() > 0, "index_select", "cannot index a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = index.to(kInt64).contiguous();
  Tensor src = x.contiguous();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.shape()[i];
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  const int64_t n = idx.numel();
  Shape out_shape = x.shape();
  out_shape[d] = n;
  Tensor out = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  detail::backend_of(x, "index_select")
      .index_select(x.dtype(), src.raw_data(), idx.data_ptr<int64_t>(), out.raw_data(), outer, x.shape()[d], n, inner,
                    check ? *check
                          : RangeCheck{"index_select", "index",
                                       "for dim " + std::to_string(d) + " of size " + std::to_string(x.shape()[d])});
  autograd::record("index_select", {x}, out,
                   [xs = x.shape(), d, outer, inner, n, si = autograd::SavedTensor(idx)](const Tensor& g,
                                                                                        const Node&) {
                     Tensor gx = zeros(xs, {.dtype = g.dtype(), .device = g.device()});
                     Tensor gc = g.contiguous();
                     detail::backend_of(g, "index_select").index_add(
                         g.dtype(), gx.raw_data(), si.get("index_select").data_ptr<int64_t>(), gc.raw_data(),
                         outer, xs[d], n, inner);
                     return Grads{gx};
                   });
  return out;
}

}  // namespace tern
