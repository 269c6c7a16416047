// Neural-network ops with fused kernels: softmax, log_softmax, layer_norm,
// cross_entropy; and embedding and dropout, composed from other ops.

#include <cmath>

#include "op_helpers.h"

namespace tern {

using autograd::Node;
using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {

Tensor softmax_impl(const char* op, bool log, const Tensor& x, int64_t dim) {
  detail::check_defined(x, op);
  detail::check_float(op, x);
  const int64_t d = wrap_dim(dim, x.dim(), op);
  Tensor xc = x.contiguous();
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  if (x.numel() == 0) return out;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.shape()[i];
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  const int64_t n = x.dim() ? x.shape()[d] : 1;
  detail::backend_of(x, op).softmax(log, x.dtype(), xc.raw_data(), out.raw_data(), outer, n, inner);
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor out = softmax_impl("softmax", false, x, dim);
  autograd::record("softmax", {x}, out, [sy = SavedTensor(out), dim](const Tensor& g, const Node&) {
    Tensor y = sy.get("softmax");
    return Grads{mul(y, sub(g, sum(mul(g, y), {dim}, true)))};
  });
  return out;
}
TERN_REGISTER_OP("softmax");

Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor out = softmax_impl("log_softmax", true, x, dim);
  autograd::record("log_softmax", {x}, out, [sy = SavedTensor(out), dim](const Tensor& g, const Node&) {
    return Grads{sub(g, mul(exp(sy.get("log_softmax")), sum(g, {dim}, true)))};
  });
  return out;
}
TERN_REGISTER_OP("log_softmax");

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  detail::check_defined(x, "layer_norm");
  detail::check_float("layer_norm", x);
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  TERN_CHECK(k >= 1 && k <= x.dim() &&
                 std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - k),
             "layer_norm", "normalized_shape ", shape_str(normalized_shape),
             " does not match the trailing dims of input ", shape_str(x.shape()));
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    TERN_CHECK(p->shape() == normalized_shape, "layer_norm", p == &weight ? "weight" : "bias",
               " has shape ", shape_str(p->shape()), ", expected ", shape_str(normalized_shape));
    detail::check_same_dtype("layer_norm", x, *p);
    detail::check_same_device("layer_norm", x, *p);
  }
  TERN_CHECK(eps >= 0 && std::isfinite(eps), "layer_norm", "eps must be finite and >= 0, got ", eps);
  const int64_t cols = numel_of(normalized_shape);
  const int64_t rows = cols ? x.numel() / cols : 0;
  Tensor xc = x.contiguous();
  Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  Tensor mu = empty({rows}, {.dtype = x.dtype(), .device = x.device()});
  Tensor rstd = empty({rows}, {.dtype = x.dtype(), .device = x.device()});
  if (rows && cols)
    detail::backend_of(x, "layer_norm")
        .layer_norm_forward(x.dtype(), xc.raw_data(), w.defined() ? w.raw_data() : nullptr,
                            b.defined() ? b.raw_data() : nullptr, out.raw_data(), mu.raw_data(),
                            rstd.raw_data(), rows, cols, eps);
  autograd::record("layer_norm", {x, weight, bias}, out,
                   [sx = SavedTensor(xc), sw = SavedTensor(w), smu = SavedTensor(mu), sr = SavedTensor(rstd),
                    rows, cols, xs = x.shape()](const Tensor& g, const Node& n) {
                     Tensor xv = sx.get("layer_norm"), wv = sw.get("layer_norm");
                     Tensor gc = g.contiguous();
                     Tensor gx = empty(xs, {.dtype = g.dtype(), .device = g.device()});
                     Tensor gw, gb;
                     // With no rows the weight and bias gradients are sums over nothing: zeros.
                     const auto param_grad = [&](const Shape& shape) {
                       return rows ? empty(shape, {.dtype = g.dtype(), .device = g.device()})
                                   : zeros(shape, {.dtype = g.dtype(), .device = g.device()});
                     };
                     if (n.needs_input_grad(1)) gw = param_grad(wv.shape());
                     if (n.needs_input_grad(2)) gb = param_grad(wv.defined() ? wv.shape() : Shape{cols});
                     if (rows && cols)
                       detail::backend_of(g, "layer_norm")
                           .layer_norm_backward(g.dtype(), gc.raw_data(), xv.raw_data(),
                                                wv.defined() ? wv.raw_data() : nullptr,
                                                smu.get("layer_norm").raw_data(), sr.get("layer_norm").raw_data(),
                                                gx.raw_data(), gw.defined() ? gw.raw_data() : nullptr,
                                                gb.defined() ? gb.raw_data() : nullptr, rows, cols);
                     return Grads{gx, gw, gb};
                   });
  return out;
}
TERN_REGISTER_OP("layer_norm");

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  detail::check_defined(logits, "cross_entropy", "logits");
  detail::check_defined(targets, "cross_entropy", "targets");
  detail::check_float("cross_entropy", logits);
  detail::check_same_device("cross_entropy", logits, targets);
  TERN_CHECK(targets.dtype() == kInt64 || targets.dtype() == kInt32, "cross_entropy",
             "targets must be i64 or i32, got ", targets.dtype());
  TERN_CHECK(logits.dim() >= 1, "cross_entropy", "logits must have a class dim, got shape ",
             shape_str(logits.shape()));
  Shape expect(logits.shape().begin(), logits.shape().end() - 1);
  TERN_CHECK(targets.shape() == expect, "cross_entropy", "targets of shape ", shape_str(targets.shape()),
             " do not match logits of shape ", shape_str(logits.shape()), " (expected ",
             shape_str(expect), ")");
  const int64_t classes = logits.shape().back();
  TERN_CHECK(classes > 0, "cross_entropy", "logits have no classes");
  const int64_t rows = targets.numel();
  Tensor lc = logits.contiguous();
  Tensor tc = targets.to(kInt64).contiguous();
  Tensor lse = empty({rows}, {.dtype = logits.dtype(), .device = logits.device()});
  Tensor loss = empty({}, {.dtype = logits.dtype(), .device = logits.device()});
  // The count of non-ignored rows stays on the device with the loss: reading it here would
  // make the host wait for the forward pass.
  Tensor count = empty({}, {.dtype = kInt64, .device = logits.device()});
  detail::backend_of(logits, "cross_entropy")
      .cross_entropy_forward(logits.dtype(), lc.raw_data(), tc.data_ptr<int64_t>(), lse.raw_data(), loss.raw_data(),
                             count.data_ptr<int64_t>(), rows, classes, ignore_index,
                             RangeCheck{"cross_entropy", "target", "for " + std::to_string(classes) + " classes"});
  autograd::record("cross_entropy", {logits}, loss,
                   [sl = SavedTensor(lc), st = SavedTensor(tc), slse = SavedTensor(lse), count, rows, classes,
                    ignore_index, ls = logits.shape()](const Tensor& g, const Node&) {
                     Tensor gl = empty(ls, {.dtype = g.dtype(), .device = g.device()});
                     Tensor gc = g.contiguous();
                     detail::backend_of(g, "cross_entropy")
                         .cross_entropy_backward(g.dtype(), sl.get("cross_entropy").raw_data(),
                                                 st.get("cross_entropy").data_ptr<int64_t>(),
                                                 slse.get("cross_entropy").raw_data(), gc.raw_data(),
                                                 count.data_ptr<int64_t>(), gl.raw_data(), rows, classes, ignore_index);
                     return Grads{gl};
                   });
  return loss;
}
TERN_REGISTER_OP("cross_entropy");

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  detail::check_defined(weight, "embedding", "weight");
  detail::check_defined(indices, "embedding", "indices");
  TERN_CHECK(weight.dim() == 2, "embedding", "weight must be 2-D [num_embeddings, dim], got ",
             shape_str(weight.shape()));
  TERN_CHECK(indices.dtype() == kInt64 || indices.dtype() == kInt32, "embedding", "indices must be i64 or i32, got ",
             indices.dtype());
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.shape()[1]);
  const RangeCheck check{"embedding", "index", "for " + std::to_string(weight.shape()[0]) + " embeddings"};
  return detail::index_select_checked(weight, 0, indices.reshape({-1}), &check).view(out_shape);
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  detail::check_defined(x, "dropout");
  TERN_CHECK(p >= 0.0 && p <= 1.0, "dropout", "probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  detail::check_float("dropout", x);
  if (p == 1.0) return mul(x, 0.0);
  Tensor keep = ge(rand(x.shape(), gen, {.dtype = x.dtype()}), scalar_tensor(p, x.dtype())).to(x.dtype());
  return mul(x, mul(keep.to(x.device()), 1.0 / (1.0 - p)));
}

}  // namespace tern
