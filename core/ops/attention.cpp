// Attention. Where the backend prefers it (a GPU, f32, a head dim its kernels cover), one fused
// kernel per direction that never materialises the scores (Backend::attention_forward and
// _backward: O(B·H·T) memory, the logsumexp saved for backward). Elsewhere, and as the
// reference, composed from matmul, masked_fill and softmax, which materialises the
// [..., Tq, Tk] scores and probabilities: O(B·H·T²) memory.

#include <cmath>
#include <limits>

#include <tern/core/autocast.h>

#include "op_helpers.h"

namespace tern {

namespace {

// True where key j lies after query i (top-left aligned, as in torch).
Tensor future_mask(int64_t tq, int64_t tk, Device device) {
  Tensor rows = arange(0.0, static_cast<double>(tq)).reshape({tq, 1});
  Tensor cols = arange(0.0, static_cast<double>(tk)).reshape({1, tk});
  return gt(cols, rows).to(device);
}

// The fused path applies: same leading dims and dtype everywhere, v's feature dim equal to q's,
// no dropout, something to attend to, and a backend that prefers its kernels.
bool fused_applies(const Tensor& q, const Tensor& k, const Tensor& v, double dropout_p) {
  if (dropout_p > 0.0 || q.dtype() != k.dtype() || q.dtype() != v.dtype()) return false;
  if (q.device() != k.device() || q.device() != v.device() || q.dim() != k.dim() || q.dim() != v.dim()) return false;
  for (int64_t i = 0; i + 2 < q.dim(); ++i)
    if (q.size(i) != k.size(i) || q.size(i) != v.size(i)) return false;
  if (v.size(-1) != q.size(-1) || q.size(-2) == 0 || k.size(-2) == 0 || q.size(-1) == 0) return false;
  if (autocast_dtype() && !q.device().is_cpu()) return false;  // autocast runs the products reduced
  return backend_for(q.device(), "scaled_dot_product_attention").fused_attention_preferred(q.dtype(), q.size(-1));
}

}  // namespace

Tensor detail::fused_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, bool is_causal,
                               double scale) {
  const char* op = "scaled_dot_product_attention";
  const int64_t tq = q_in.size(-2), tk = k_in.size(-2), d = q_in.size(-1);
  const int64_t bh = tq ? q_in.numel() / (tq * d) : 0;
  Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  Tensor out = empty(q.shape(), {.dtype = q.dtype(), .device = q.device()});
  Tensor lse = empty({bh, tq}, {.dtype = q.dtype(), .device = q.device()});
  backend_of(q, op).attention_forward(q.dtype(), q.raw_data(), k.raw_data(), v.raw_data(), out.raw_data(),
                                      lse.raw_data(), bh, tq, tk, d, scale, is_causal);
  autograd::record(op, {q_in, k_in, v_in}, out,
                   [sq = autograd::SavedTensor(q), sk = autograd::SavedTensor(k), sv = autograd::SavedTensor(v),
                    so = autograd::SavedTensor(out), sl = autograd::SavedTensor(lse), bh, tq, tk, d, scale,
                    is_causal](const Tensor& g, const autograd::Node&) {
                     const char* name = "scaled_dot_product_attention";
                     Tensor qv = sq.get(name), kv = sk.get(name), vv = sv.get(name);
                     Tensor gc = g.contiguous();
                     Tensor gq = empty_like(qv), gk = empty_like(kv), gv = empty_like(vv);
                     backend_of(qv, name).attention_backward(qv.dtype(), qv.raw_data(), kv.raw_data(), vv.raw_data(),
                                                             so.get(name).raw_data(), sl.get(name).raw_data(),
                                                             gc.raw_data(), gq.raw_data(), gk.raw_data(), gv.raw_data(),
                                                             bh, tq, tk, d, scale, is_causal);
                     return std::vector<Tensor>{gq, gk, gv};
                   });
  return out;
}

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
  if (fused_applies(q, k, v, dropout_p)) return detail::fused_attention(q, k, v, is_causal, s);
  Tensor scores = mul(matmul(q, k.transpose(-2, -1)), s);
  if (is_causal)
    scores = masked_fill(scores, future_mask(q.size(-2), k.size(-2), q.device()),
                         -std::numeric_limits<double>::infinity());
  Tensor attn = softmax(scores, -1);
  if (dropout_p > 0.0) attn = dropout(attn, dropout_p, true, gen);
  return matmul(attn, v);
}

}  // namespace tern
