// Elementwise ops: arithmetic with broadcasting, unary math, activations,
// rounding and selection. Each op: checks, one kernel call, its backward.

#include <cmath>
#include <limits>

#include "op_helpers.h"

namespace tern {

using autograd::Node;
using detail::backend_of;
using detail::broadcast_arg;
using Grads = std::vector<Tensor>;

namespace {

bool is_arith_dtype(DType t) { return t != kFloat16 && t != kBFloat16 && t != kBool; }

Tensor binary_kernel(const char* op, BinaryOp bop, const Tensor& a, const Tensor& b, DType out_dtype) {
  detail::check_defined(a, op);
  detail::check_defined(b, op);
  detail::check_same_device(op, a, b);
  detail::check_same_dtype(op, a, b);
  Shape s = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = empty(s, {.dtype = out_dtype, .device = a.device()});
  backend_of(a, op).binary(bop, s, detail::arg(out), broadcast_arg(a, s), broadcast_arg(b, s));
  return out;
}

Tensor arith(const char* op, BinaryOp bop, const Tensor& a, const Tensor& b) {
  detail::check_defined(a, op);
  detail::check_defined(b, op);
  TERN_CHECK(is_arith_dtype(a.dtype()), op, "no kernel for ", a.dtype(), "; convert with to(f32)");
  return binary_kernel(op, bop, a, b, a.dtype());
}

// A 0-d operand matching `like`; refuses a fractional scalar for an integer tensor
// rather than silently promoting.
Tensor scalar_like(const char* op, const Tensor& like, double v) {
  detail::check_defined(like, op);
  TERN_CHECK(is_floating(like.dtype()) || v == std::floor(v), op, "scalar ", v,
             " is not representable in ", like.dtype());
  return scalar_tensor(v, like.dtype(), like.device());
}

Tensor unary_kernel(const char* op, UnaryOp uop, const Tensor& x, double p0 = 0, double p1 = 0) {
  detail::check_defined(x, op);
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  backend_of(x, op).unary(uop, x.shape(), detail::arg(out), detail::arg(x), p0, p1);
  return out;
}

Tensor float_unary(const char* op, UnaryOp uop, const Tensor& x, double p0 = 0, double p1 = 0) {
  detail::check_defined(x, op);
  detail::check_float(op, x);
  return unary_kernel(op, uop, x, p0, p1);
}

}  // namespace

// ---- arithmetic

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = arith("add", BinaryOp::add, a, b);
  autograd::record("add", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Node& n) {
    return Grads{n.needs_input_grad(0) ? sum_to(g, sa) : Tensor(),
                 n.needs_input_grad(1) ? sum_to(g, sb) : Tensor()};
  });
  return out;
}
TERN_REGISTER_OP("add");

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = arith("sub", BinaryOp::sub, a, b);
  autograd::record("sub", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Node& n) {
    return Grads{n.needs_input_grad(0) ? sum_to(g, sa) : Tensor(),
                 n.needs_input_grad(1) ? sum_to(neg(g), sb) : Tensor()};
  });
  return out;
}
TERN_REGISTER_OP("sub");

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = arith("mul", BinaryOp::mul, a, b);
  autograd::record("mul", {a, b}, out,
                   [sa = autograd::SavedTensor(a), sb = autograd::SavedTensor(b)](const Tensor& g,
                                                                                 const Node& n) {
                     Tensor av = sa.get("mul"), bv = sb.get("mul");
                     return Grads{n.needs_input_grad(0) ? sum_to(mul(g, bv), av.shape()) : Tensor(),
                                  n.needs_input_grad(1) ? sum_to(mul(g, av), bv.shape()) : Tensor()};
                   });
  return out;
}
TERN_REGISTER_OP("mul");

Tensor div(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "div");
  TERN_CHECK(a.dtype() == kFloat32 || a.dtype() == kFloat64, "div",
             "expected f32 or f64, got ", a.dtype(), " (integer division is not supported)");
  Tensor out = arith("div", BinaryOp::div, a, b);
  autograd::record("div", {a, b}, out,
                   [sa = autograd::SavedTensor(a), sb = autograd::SavedTensor(b)](const Tensor& g,
                                                                                 const Node& n) {
                     Tensor av = sa.get("div"), bv = sb.get("div");
                     Tensor ga, gb;
                     if (n.needs_input_grad(0)) ga = sum_to(div(g, bv), av.shape());
                     if (n.needs_input_grad(1)) gb = sum_to(neg(div(mul(g, av), mul(bv, bv))), bv.shape());
                     return Grads{ga, gb};
                   });
  return out;
}
TERN_REGISTER_OP("div");

Tensor add(const Tensor& a, double b) { return add(a, scalar_like("add", a, b)); }
Tensor sub(const Tensor& a, double b) { return sub(a, scalar_like("sub", a, b)); }
Tensor mul(const Tensor& a, double b) { return mul(a, scalar_like("mul", a, b)); }
Tensor div(const Tensor& a, double b) { return div(a, scalar_like("div", a, b)); }
Tensor rsub(double a, const Tensor& b) { return sub(scalar_like("sub", b, a), b); }
Tensor rdiv(double a, const Tensor& b) { return div(scalar_like("div", b, a), b); }

// ---- unary math

Tensor neg(const Tensor& x) {
  detail::check_defined(x, "neg");
  TERN_CHECK(is_arith_dtype(x.dtype()), "neg", "no kernel for ", x.dtype());
  Tensor out = unary_kernel("neg", UnaryOp::neg, x);
  autograd::record("neg", {x}, out, [](const Tensor& g, const Node&) { return Grads{neg(g)}; });
  return out;
}
TERN_REGISTER_OP("neg");

Tensor exp(const Tensor& x) {
  Tensor out = float_unary("exp", UnaryOp::exp, x);
  autograd::record("exp", {x}, out, [sy = autograd::SavedTensor(out)](const Tensor& g, const Node&) {
    return Grads{mul(g, sy.get("exp"))};
  });
  return out;
}
TERN_REGISTER_OP("exp");

Tensor log(const Tensor& x) {
  Tensor out = float_unary("log", UnaryOp::log, x);
  autograd::record("log", {x}, out, [sx = autograd::SavedTensor(x)](const Tensor& g, const Node&) {
    return Grads{div(g, sx.get("log"))};
  });
  return out;
}
TERN_REGISTER_OP("log");

Tensor sqrt(const Tensor& x) {
  Tensor out = float_unary("sqrt", UnaryOp::sqrt, x);
  autograd::record("sqrt", {x}, out, [sy = autograd::SavedTensor(out)](const Tensor& g, const Node&) {
    return Grads{div(mul(g, 0.5), sy.get("sqrt"))};
  });
  return out;
}
TERN_REGISTER_OP("sqrt");

Tensor rsqrt(const Tensor& x) {
  Tensor out = float_unary("rsqrt", UnaryOp::rsqrt, x);
  autograd::record("rsqrt", {x}, out, [sy = autograd::SavedTensor(out)](const Tensor& g, const Node&) {
    return Grads{mul(mul(g, pow(sy.get("rsqrt"), 3.0)), -0.5)};
  });
  return out;
}
TERN_REGISTER_OP("rsqrt");

Tensor pow(const Tensor& x, double p) {
  TERN_CHECK(std::isfinite(p), "pow", "exponent must be finite, got ", p);
  Tensor out = float_unary("pow", UnaryOp::pow, x, p);
  autograd::record("pow", {x}, out, [sx = autograd::SavedTensor(x), p](const Tensor& g, const Node&) {
    if (p == 0.0) return Grads{zeros_like(g)};
    return Grads{mul(g, mul(pow(sx.get("pow"), p - 1.0), p))};
  });
  return out;
}
TERN_REGISTER_OP("pow");

Tensor abs(const Tensor& x) {
  detail::check_defined(x, "abs");
  TERN_CHECK(is_arith_dtype(x.dtype()), "abs", "no kernel for ", x.dtype());
  Tensor out = unary_kernel("abs", UnaryOp::abs, x);
  autograd::record("abs", {x}, out, [sx = autograd::SavedTensor(x)](const Tensor& g, const Node&) {
    return Grads{mul(g, sign(sx.get("abs")))};
  });
  return out;
}
TERN_REGISTER_OP("abs");

Tensor sign(const Tensor& x) {
  detail::check_defined(x, "sign");
  TERN_CHECK(is_arith_dtype(x.dtype()), "sign", "no kernel for ", x.dtype());
  Tensor out = unary_kernel("sign", UnaryOp::sign, x);
  autograd::record("sign", {x}, out, [](const Tensor& g, const Node&) { return Grads{zeros_like(g)}; });
  return out;
}
TERN_REGISTER_OP("sign");

Tensor round(const Tensor& x) {
  Tensor out = float_unary("round", UnaryOp::round, x);
  autograd::record("round", {x}, out, [](const Tensor& g, const Node&) { return Grads{zeros_like(g)}; });
  return out;
}
TERN_REGISTER_OP("round");

// ---- activations

Tensor tanh(const Tensor& x) {
  Tensor out = float_unary("tanh", UnaryOp::tanh, x);
  autograd::record("tanh", {x}, out, [sy = autograd::SavedTensor(out)](const Tensor& g, const Node&) {
    Tensor y = sy.get("tanh");
    return Grads{mul(g, rsub(1.0, mul(y, y)))};
  });
  return out;
}
TERN_REGISTER_OP("tanh");

Tensor relu(const Tensor& x) {
  Tensor out = float_unary("relu", UnaryOp::relu, x);
  autograd::record("relu", {x}, out, [sy = autograd::SavedTensor(out)](const Tensor& g, const Node&) {
    return Grads{mul(g, gt(sy.get("relu"), 0.0).to(g.dtype()))};
  });
  return out;
}
TERN_REGISTER_OP("relu");

Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  const bool exact = approximate == GeluApproximation::none;
  Tensor out = float_unary("gelu", exact ? UnaryOp::gelu_erf : UnaryOp::gelu, x);
  autograd::record("gelu", {x}, out, [sx = autograd::SavedTensor(x), approximate](const Tensor& g, const Node&) {
    return Grads{gelu_backward(sx.get("gelu"), g, approximate)};
  });
  return out;
}
TERN_REGISTER_OP("gelu");

Tensor gelu_backward(const Tensor& x, const Tensor& g, GeluApproximation approximate) {
  detail::check_float("gelu_backward", x);
  TERN_CHECK(x.shape() == g.shape(), "gelu_backward", "shapes differ: ", shape_str(x.shape()), " and ",
             shape_str(g.shape()));
  const BinaryOp op = approximate == GeluApproximation::none ? BinaryOp::gelu_erf_backward : BinaryOp::gelu_backward;
  return binary_kernel("gelu_backward", op, x, g, x.dtype());
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = float_unary("sigmoid", UnaryOp::sigmoid, x);
  autograd::record("sigmoid", {x}, out, [sy = autograd::SavedTensor(out)](const Tensor& g, const Node&) {
    Tensor y = sy.get("sigmoid");
    return Grads{mul(g, mul(y, rsub(1.0, y)))};
  });
  return out;
}
TERN_REGISTER_OP("sigmoid");

// ---- clamp and selection

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  detail::check_defined(x, "clamp");
  TERN_CHECK(is_arith_dtype(x.dtype()), "clamp", "no kernel for ", x.dtype());
  TERN_CHECK(lo || hi, "clamp", "at least one of min and max must be given");
  TERN_CHECK(!lo || !std::isnan(*lo), "clamp", "min is NaN");
  TERN_CHECK(!hi || !std::isnan(*hi), "clamp", "max is NaN");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double l = lo.value_or(nan), h = hi.value_or(nan);
  Tensor out = unary_kernel("clamp", UnaryOp::clamp, x, l, h);
  autograd::record("clamp", {x}, out, [sx = autograd::SavedTensor(x), lo, hi](const Tensor& g, const Node&) {
    Tensor xv = sx.get("clamp");
    Tensor gx = g;
    if (lo) gx = mul(gx, ge(xv, scalar_tensor(*lo, xv.dtype(), xv.device())).to(g.dtype()));
    if (hi) gx = mul(gx, le(xv, scalar_tensor(*hi, xv.dtype(), xv.device())).to(g.dtype()));
    return Grads{gx};
  });
  return out;
}
TERN_REGISTER_OP("clamp");

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined(cond, "where", "condition");
  detail::check_defined(a, "where");
  detail::check_defined(b, "where");
  TERN_CHECK(cond.dtype() == kBool, "where", "condition must be bool, got ", cond.dtype());
  detail::check_same_device("where", cond, a);
  detail::check_same_device("where", a, b);
  detail::check_same_dtype("where", a, b);
  Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(s, {.dtype = a.dtype(), .device = a.device()});
  backend_of(a, "where").where(s, detail::arg(out), broadcast_arg(cond, s), broadcast_arg(a, s),
                               broadcast_arg(b, s));
  autograd::record("where", {cond, a, b}, out,
                   [sc = autograd::SavedTensor(cond), sa = a.shape(), sb = b.shape()](const Tensor& g,
                                                                                      const Node& n) {
                     Tensor c = sc.get("where");
                     Tensor z = scalar_tensor(0.0, g.dtype(), g.device());
                     return Grads{Tensor(), n.needs_input_grad(1) ? sum_to(where(c, g, z), sa) : Tensor(),
                                  n.needs_input_grad(2) ? sum_to(where(c, z, g), sb) : Tensor()};
                   });
  return out;
}
TERN_REGISTER_OP("where");

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  detail::check_defined(x, "masked_fill");
  detail::check_defined(mask, "masked_fill", "mask");
  TERN_CHECK(mask.dtype() == kBool, "masked_fill", "mask must be bool, got ", mask.dtype());
  TERN_CHECK(broadcast_shapes(mask.shape(), x.shape(), "masked_fill") == x.shape(), "masked_fill",
             "mask of shape ", shape_str(mask.shape()), " does not broadcast to ", shape_str(x.shape()));
  return where(mask, scalar_like("masked_fill", x, value), x);
}

// ---- comparisons (no gradient)

Tensor eq(const Tensor& a, const Tensor& b) { return binary_kernel("eq", BinaryOp::eq, a, b, kBool); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_kernel("ne", BinaryOp::ne, a, b, kBool); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_kernel("lt", BinaryOp::lt, a, b, kBool); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_kernel("le", BinaryOp::le, a, b, kBool); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_kernel("gt", BinaryOp::gt, a, b, kBool); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_kernel("ge", BinaryOp::ge, a, b, kBool); }
Tensor eq(const Tensor& a, double b) { return eq(a, scalar_tensor(b, a.dtype(), a.device())); }
Tensor lt(const Tensor& a, double b) { return lt(a, scalar_tensor(b, a.dtype(), a.device())); }
Tensor gt(const Tensor& a, double b) { return gt(a, scalar_tensor(b, a.dtype(), a.device())); }

Tensor logical_not(const Tensor& x) {
  detail::check_defined(x, "logical_not");
  TERN_CHECK(x.dtype() == kBool, "logical_not", "expected bool, got ", x.dtype());
  return unary_kernel("logical_not", UnaryOp::logical_not, x);
}

}  // namespace tern
