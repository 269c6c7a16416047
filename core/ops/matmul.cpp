// matmul: every f32/f64 product is one strided-batched gemm (or one plain gemm when
// the batch folds into the rows; a loop of gemms when the batch is not evenly spaced). Transposed operands are passed
// to BLAS with the transpose flag, never copied.

#include <climits>
#include <optional>

#include <tern/core/autocast.h>

#include "op_helpers.h"

namespace tern {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

struct Layout {
  bool trans;
  int64_t ld;
};

// How BLAS can read a rows x cols matrix with element strides (sr, sc), if at all.
std::optional<Layout> blas_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if ((cols == 1 || sc == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1)))
    return Layout{false, rows == 1 ? std::max<int64_t>(cols, 1) : sr};
  if ((rows == 1 || sr == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1)))
    return Layout{true, cols == 1 ? std::max<int64_t>(rows, 1) : sc};
  return std::nullopt;
}

void check_blas_int(int64_t v, const Tensor& a, const Tensor& b) {
  TERN_CHECK(v <= INT_MAX, "matmul", "dimension ", v, " exceeds BLAS's 32-bit limit for ",
             shape_str(a.shape()), " @ ", shape_str(b.shape()));
}

// a [..., M, K] @ b [..., K, N], both at least 2-D. With `reduced` (autocast), the operands are
// read in that dtype and the f32 result accumulates in f32.
Tensor matmul_nd(const Tensor& a_f, const Tensor& b_f, std::optional<DType> reduced) {
  Tensor a_in = a_f, b_in = b_f;
  if (reduced) {
    NoGradGuard ng;  // matmul records its own node over the f32 operands
    a_in = a_f.to(*reduced);
    b_in = b_f.to(*reduced);
  }
  const DType out_dtype = a_f.dtype();
  const int64_t M = a_in.size(-2), K = a_in.size(-1), N = b_in.size(-1);
  Shape ba(a_in.shape().begin(), a_in.shape().end() - 2);
  Shape bb(b_in.shape().begin(), b_in.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, {.dtype = out_dtype, .device = a_in.device()});
  const GemmTypes types = reduced ? GemmTypes{*reduced, out_dtype, kFloat32} : GemmTypes::of(out_dtype);
  if (out.numel() == 0) return out;
  if (K == 0) return out.zero_();

  auto la = blas_layout(M, K, a_in.stride(-2), a_in.stride(-1));
  auto lb = blas_layout(K, N, b_in.stride(-2), b_in.stride(-1));
  Tensor a = la ? a_in : a_in.contiguous();
  Tensor b = lb ? b_in : b_in.contiguous();
  if (!la) la = blas_layout(M, K, a.stride(-2), a.stride(-1));
  if (!lb) lb = blas_layout(K, N, b.stride(-2), b.stride(-1));
  Backend& be = detail::backend_of(a, "matmul");
  const size_t es = a.element_size();
  for (int64_t v : {M, N, K, la->ld, lb->ld}) check_blas_int(v, a_in, b_in);

  // Fold a's batch into its rows when b is shared and a's rows are evenly spaced.
  bool b_shared = true;
  for (size_t i = 0; i < bb.size(); ++i) b_shared = b_shared && bb[i] == 1;
  if (b_shared && !la->trans && !ba.empty()) {
    bool foldable = true;
    for (int64_t i = a.dim() - 3; i >= 0; --i)
      foldable = foldable && (a.shape()[i] == 1 || a.stride(i) == a.stride(i + 1) * a.shape()[i + 1]);
    if (foldable && a.numel() / K <= INT_MAX) {
      be.gemm_batched(types, false, lb->trans, a.numel() / K, N, K, 1.0, a.raw_data(), la->ld, b.raw_data(), lb->ld,
                      0.0, out.raw_data(), N, GemmBatch{});
      return out;
    }
  }

  const int64_t nb = numel_of(batch);
  Shape bshape = batch.empty() ? Shape{1} : batch;
  Tensor av = a, bv = b;
  // Broadcast strides of the batch dims only.
  auto batch_strides = [&](const Tensor& t) {
    Strides st(bshape.size(), 0);
    const int64_t tb = t.dim() - 2;
    const int64_t lead = static_cast<int64_t>(bshape.size()) - tb;
    for (int64_t i = 0; i < tb; ++i) st[lead + i] = t.shape()[i] == 1 ? 0 : t.stride(i);
    return st;
  };
  Strides sta = batch_strides(av), stb = batch_strides(bv);
  char* pa = static_cast<char*>(av.raw_data());
  char* pb = static_cast<char*>(bv.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  // One strided-batched product when each operand's batch is evenly spaced (attention's
  // [B, H] heads are), instead of one launch per product.
  const auto linear_stride = [&](const Strides& st) -> std::optional<int64_t> {
    std::optional<int64_t> step;
    int64_t span = 1;  // elements of the batch inside dims d+1..
    for (size_t d = bshape.size(); d-- > 0;) {
      if (bshape[d] == 1) continue;
      if (!step) step = st[d];
      if (st[d] != *step * span) return std::nullopt;
      span *= bshape[d];
    }
    return step.value_or(0);
  };
  auto lsa = linear_stride(sta), lsb = linear_stride(stb);
  if (!a.device().is_cpu() && (!lsa || !lsb)) {
    // On a GPU one batched launch beats a launch per product, even after copying an operand
    // whose batch is not evenly spaced (attention's heads, viewed out of the qkv projection).
    if (!lsa) {
      av = av.contiguous();
      la = blas_layout(M, K, av.stride(-2), av.stride(-1));
      sta = batch_strides(av);
      pa = static_cast<char*>(av.raw_data());
      lsa = linear_stride(sta);
    }
    if (!lsb) {
      bv = bv.contiguous();
      lb = blas_layout(K, N, bv.stride(-2), bv.stride(-1));
      stb = batch_strides(bv);
      pb = static_cast<char*>(bv.raw_data());
      lsb = linear_stride(stb);
    }
  }
  if (lsa && lsb) {
    be.gemm_batched(types, la->trans, lb->trans, M, N, K, 1.0, pa, la->ld, pb, lb->ld, 0.0, po, N,
                    GemmBatch{nb, *lsa, *lsb, M * N});
    return out;
  }
  std::vector<int64_t> idx(bshape.size(), 0);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < idx.size(); ++d) {
      oa += idx[d] * sta[d];
      ob += idx[d] * stb[d];
    }
    be.gemm_batched(types, la->trans, lb->trans, M, N, K, 1.0, pa + oa * es, la->ld, pb + ob * es, lb->ld, 0.0,
                    po + i * M * N * out.element_size(), N, GemmBatch{});
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < bshape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "matmul");
  detail::check_defined(b, "matmul");
  detail::check_same_device("matmul", a, b);
  TERN_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "both operands need at least 1 dim, got ",
             shape_str(a.shape()), " @ ", shape_str(b.shape()));
  TERN_CHECK(a.dtype() == b.dtype(), "matmul", "dtypes differ: ", a.dtype(), " @ ", b.dtype());
  detail::check_float("matmul", a);
  TERN_CHECK(a.size(-1) == b.size(b.dim() == 1 ? 0 : -2), "matmul", "inner dimensions differ: ",
             shape_str(a.shape()), " @ ", shape_str(b.shape()));
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).squeeze(1).squeeze(0);
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(-1)).squeeze(-1);
  // Autocast: f32 products on a GPU read their operands in the reduced dtype (core/autocast.h).
  std::optional<DType> reduced = autocast_dtype();
  if (a.dtype() != kFloat32 || a.device().is_cpu()) reduced.reset();
  Tensor out = matmul_nd(a, b, reduced);
  autograd::record(
      "matmul", {a, b}, out,
      [sa = autograd::SavedTensor(a), sb = autograd::SavedTensor(b), reduced](const Tensor& g, const Node& n) {
        AutocastGuard same_precision(reduced);  // the backward products run as the forward did
        Tensor av = sa.get("matmul"), bv = sb.get("matmul");
        Tensor ga, gb;
        if (n.needs_input_grad(0)) ga = sum_to(matmul(g, bv.transpose(-1, -2)), av.shape());
        if (n.needs_input_grad(1)) {
          if (bv.dim() == 2 && av.dim() >= 2) {  // one gemm over all rows, no batch sum
            // Rows spelled out: with a zero inner dim, reshape could not infer a -1.
            int64_t rows = 1;
            for (int64_t i = 0; i + 1 < av.dim(); ++i) rows *= av.size(i);
            const Tensor a2 = av.reshape({rows, av.size(-1)}), g2 = g.reshape({rows, g.size(-1)});
            // b = W.t() of a contiguous W (Linear): compute dW itself, contiguous, so
            // that the gradient reaching W is a plain tensor the leaf keeps without
            // a transposing copy.
            const bool b_is_transposed = bv.stride(0) == 1 && bv.stride(1) == bv.size(0);
            gb = b_is_transposed ? matmul(g2.t(), a2).t() : matmul(a2.t(), g2);
          } else {
            gb = sum_to(matmul(av.transpose(-1, -2), g), bv.shape());
          }
        }
        return Grads{ga, gb};
      });
  return out;
}
TERN_REGISTER_OP("matmul");

}  // namespace tern
