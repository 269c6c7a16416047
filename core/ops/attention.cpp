// Attention, composed from matmul, masked_fill and softmax. It materialises the
// [..., Tq, Tk] score and probability tensors (plus their gradients in backward),
// so memory grows as O(B·H·T²); a fused kernel can replace it behind the same API.

#include <cmath>
#include <limits>

#include "op_helpers.h"

namespace tern {

namespace {

// True where key j lies after query i (top-left aligned, as in torch).
Tensor future_mask(int64_t tq, int64_t tk, Device device) {
  Tensor rows = arange(0.0, static_cast<double>(tq)).reshape({tq, 1});
  Tensor cols = arange(0.0, static_cast<double>(tk)).reshape({1, tk});
  return gt(cols, rows).to(device);
}

}  // namespace

Tensor causal_mask(int64_t t, Device device) {
  TERN_CHECK(t >= 0, "causal_mask", "length must be non-negative, got ", t);
  return future_mask(t, t, device);
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal,
                                    std::optional<double> scale, double dropout_p, Generator* gen) {
  const char* op = "scaled_dot_product_attention";
  for (const Tensor* t : {&q, &k, &v}) {
    detail::check_defined(*t, op);
    TERN_CHECK(t->dim() >= 2, op, "q, k and v need at least 2 dims, got ", shape_str(t->shape()));
  }
  TERN_CHECK(q.size(-1) == k.size(-1), op, "q and k feature dims differ: ", shape_str(q.shape()), " and ",
             shape_str(k.shape()));
  TERN_CHECK(k.size(-2) == v.size(-2), op, "k and v lengths differ: ", shape_str(k.shape()), " and ",
             shape_str(v.shape()));
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(q.size(-1), 1))));
  Tensor scores = mul(matmul(q, k.transpose(-2, -1)), s);
  if (is_causal)
    scores = masked_fill(scores, future_mask(q.size(-2), k.size(-2), q.device()),
                         -std::numeric_limits<double>::infinity());
  Tensor attn = softmax(scores, -1);
  if (dropout_p > 0.0) attn = dropout(attn, dropout_p, true, gen);
  return matmul(attn, v);
}

}  // namespace tern
