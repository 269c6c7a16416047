#pragma once
// The op table that two suites share: the gradcheck suite (test_gradcheck.cpp) checks each
// row's backward against central differences in f64 on the CPU, and the CPU-vs-CUDA parity
// suite (tests/backends/test_cuda_parity.cpp) runs each row on both devices in f64 and f32.
// One row per registered op and variant, with broadcast and non-contiguous (transposed,
// sliced) inputs; both suites fail when a registered op has no row.
//
// A row's inputs come from a Maker: values are drawn in f64 on the CPU from a seed derived
// from the row's name, then converted to the placement's dtype and moved to its device, and
// only then viewed (transposed, sliced). So every placement sees the same numbers (rounded to
// its dtype) in the same layout. Constants a row's function needs (indices, masks) are made
// on its first input's device with i64() and mask().

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <tern/tern.h>

namespace tern::optable {

using autograd::GradcheckOptions;
using Inputs = std::vector<Tensor>;
using Fn = std::function<Tensor(const Inputs&)>;

// Where a row's inputs live.
struct Placement {
  DType dtype = kFloat64;
  Device device = kCPU;
};

// How far the CUDA result of a row may be from the CPU's: the largest, over the output and
// every input gradient, of |cuda - cpu| / max(1, |cpu|) (an absolute error for values below
// 1, a relative one above), per dtype. Both NaN, or the same infinity, count as equal.
struct Tolerance {
  double f32 = 1e-5;
  double f64 = 1e-12;
  double of(DType t) const { return t == kFloat64 ? f64 : f32; }
};

class Maker {
 public:
  Maker(Placement p, uint64_t seed) : p_(p), seed_(seed) {}
  const Placement& placement() const { return p_; }

  Tensor leaf(const Shape& shape) {
    Generator g(next());
    return place(randn(shape, &g, {.dtype = kFloat64})).requires_grad_();
  }
  // Values in [lo, lo + 1): away from the kinks and poles of log, sqrt, div, abs.
  Tensor positive(const Shape& shape, double lo = 0.5) {
    Generator g(next());
    return place(add(rand(shape, &g, {.dtype = kFloat64}), lo)).requires_grad_();
  }
  // A transposed (non-contiguous) leaf of the given 2-D shape.
  Tensor leaf_t(const Shape& shape) {
    Generator g(next());
    return place(randn({shape[1], shape[0]}, &g, {.dtype = kFloat64})).t().requires_grad_();
  }
  // A strided (every other column) leaf of the given 2-D shape.
  Tensor leaf_sliced(const Shape& shape) {
    Generator g(next());
    return place(randn({shape[0], shape[1] * 2}, &g, {.dtype = kFloat64}))
        .slice(1, 0, shape[1] * 2, 2)
        .requires_grad_();
  }
  // Kink-free inputs for relu/abs/sign/clamp: |x| >= 0.1 and away from +-0.5.
  Tensor away_from_kinks(const Shape& shape) {
    Generator g(next());
    Tensor u = rand(shape, &g, {.dtype = kFloat64});
    Tensor v = add(mul(u, 0.3), 0.1);  // [0.1, 0.4)
    Tensor s = sub(mul(gt(rand(shape, &g, {.dtype = kFloat64}), 0.5).to(kFloat64), 2.0), 1.0);
    return place(mul(v, s)).requires_grad_();
  }

 private:
  Tensor place(const Tensor& cpu_f64) const { return cpu_f64.to(p_.dtype).to(p_.device).detach(); }
  uint64_t next() { return ++seed_; }

  Placement p_;
  uint64_t seed_;
};

// Constants on the device of `like`.
inline Tensor i64(const Tensor& like, std::vector<int64_t> v, Shape shape = {}) {
  return from_vector(v, shape).to(like.device());
}
inline Tensor mask(const Tensor& like, std::vector<bool> v, Shape shape) {
  return from_vector(v, shape).to(like.device());
}

using Make = std::function<Inputs(Maker&)>;

struct Row {
  std::string op;  // the registered op this row covers
  std::string variant;
  Fn fn;
  Make make;
  GradcheckOptions opts = {};
  Tolerance tol = {};

  std::string name() const { return variant.empty() ? op : op + "/" + variant; }
  // The row's inputs at `p`; the seed depends on the row's name only, so rows added or
  // reordered leave the others' inputs alone.
  Inputs inputs(Placement p = {}) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : name()) h = (h ^ c) * 1099511628211ull;
    Maker m(p, h);
    return make(m);
  }
};

// A gtest-safe name for row i: letters, digits and '_'.
inline std::string test_name(const Row& r, size_t i) {
  std::string n = r.op + "_" + r.variant;
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n + "_" + std::to_string(i);
}

// One row per call, laid out by hand: the formatter would split every lambda over four lines.
// clang-format off
inline std::vector<Row> table() {
  std::vector<Row> t;
  auto row = [&](std::string op, std::string variant, Make make, Fn fn, GradcheckOptions o = {},
                 Tolerance tol = {}) { t.push_back({op, variant, fn, make, o, tol}); };

  // ---- arithmetic, with broadcasting and non-contiguous operands
  row("add", "broadcast", [](Maker& m) { return Inputs{m.leaf({3, 4}), m.leaf({4})}; },
      [](const Inputs& x) { return add(x[0], x[1]); });
  row("add", "transposed+column", [](Maker& m) { return Inputs{m.leaf_t({3, 4}), m.leaf({3, 1})}; },
      [](const Inputs& x) { return add(x[0], x[1]); });
  row("add", "scalar", [](Maker& m) { return Inputs{m.leaf({2, 3})}; }, [](const Inputs& x) { return add(x[0], 2.5); });
  row("sub", "broadcast", [](Maker& m) { return Inputs{m.leaf({2, 3, 4}), m.leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return sub(x[0], x[1]); });
  row("sub", "rsub", [](Maker& m) { return Inputs{m.leaf({3})}; }, [](const Inputs& x) { return rsub(1.0, x[0]); });
  row("mul", "broadcast", [](Maker& m) { return Inputs{m.leaf({4, 1}), m.leaf({1, 5})}; },
      [](const Inputs& x) { return mul(x[0], x[1]); });
  row("mul", "same-input", [](Maker& m) { return Inputs{m.leaf_t({3, 2})}; }, [](const Inputs& x) { return mul(x[0], x[0]); });
  row("div", "broadcast", [](Maker& m) { return Inputs{m.leaf({3, 4}), m.positive({4})}; },
      [](const Inputs& x) { return div(x[0], x[1]); });
  row("div", "rdiv", [](Maker& m) { return Inputs{m.positive({2, 2})}; }, [](const Inputs& x) { return rdiv(3.0, x[0]); });

  // ---- unary math and activations
  row("neg", "", [](Maker& m) { return Inputs{m.leaf_sliced({2, 3})}; }, [](const Inputs& x) { return neg(x[0]); });
  row("exp", "", [](Maker& m) { return Inputs{m.leaf_t({2, 3})}; }, [](const Inputs& x) { return exp(x[0]); });
  row("log", "", [](Maker& m) { return Inputs{m.positive({5})}; }, [](const Inputs& x) { return log(x[0]); });
  row("sqrt", "", [](Maker& m) { return Inputs{m.positive({2, 3})}; }, [](const Inputs& x) { return sqrt(x[0]); });
  row("rsqrt", "", [](Maker& m) { return Inputs{m.positive({2, 3})}; }, [](const Inputs& x) { return rsqrt(x[0]); });
  row("pow", "fractional", [](Maker& m) { return Inputs{m.positive({4})}; }, [](const Inputs& x) { return pow(x[0], 2.5); });
  row("pow", "cube", [](Maker& m) { return Inputs{m.leaf_t({2, 2})}; }, [](const Inputs& x) { return pow(x[0], 3.0); });
  row("abs", "", [](Maker& m) { return Inputs{m.away_from_kinks({3, 3})}; }, [](const Inputs& x) { return abs(x[0]); });
  row("sign", "", [](Maker& m) { return Inputs{m.away_from_kinks({4})}; },
      [](const Inputs& x) { return add(sign(x[0]), x[0]); });
  row("round", "", [](Maker& m) { return Inputs{m.away_from_kinks({4})}; },
      [](const Inputs& x) { return add(round(mul(x[0], 3.0)), x[0]); });
  row("tanh", "", [](Maker& m) { return Inputs{m.leaf_sliced({2, 2})}; }, [](const Inputs& x) { return tanh(x[0]); });
  row("relu", "", [](Maker& m) { return Inputs{m.away_from_kinks({3, 4})}; }, [](const Inputs& x) { return relu(x[0]); });
  row("gelu", "", [](Maker& m) { return Inputs{m.leaf_t({3, 4})}; }, [](const Inputs& x) { return gelu(x[0]); });
  row("gelu", "exact", [](Maker& m) { return Inputs{m.leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return gelu(x[0], GeluApproximation::none); });
  row("sigmoid", "", [](Maker& m) { return Inputs{m.leaf({5})}; }, [](const Inputs& x) { return sigmoid(x[0]); });
  row("clamp", "both", [](Maker& m) { return Inputs{m.away_from_kinks({3, 4})}; },
      [](const Inputs& x) { return clamp(mul(x[0], 2.0), -0.5, 0.5); });
  row("clamp", "min-only", [](Maker& m) { return Inputs{m.away_from_kinks({6})}; },
      [](const Inputs& x) { return clamp(x[0], 0.0, std::nullopt); });

  // ---- selection
  row("where", "broadcast", [](Maker& m) { return Inputs{m.leaf({3, 4}), m.leaf({4})}; }, [](const Inputs& x) {
    Tensor c = mask(x[0], {true, false, true, false, false, true, true, false, true, true, false, false}, {3, 4});
    return where(c, x[0], x[1]);
  });
  row("where", "masked_fill", [](Maker& m) { return Inputs{m.leaf_t({2, 3})}; }, [](const Inputs& x) {
    return masked_fill(x[0], mask(x[0], {false, true, false}, {1, 3}), -2.0);
  });

  // ---- reductions
  row("sum", "all", [](Maker& m) { return Inputs{m.leaf_t({3, 4})}; }, [](const Inputs& x) { return sum(x[0]); });
  row("sum", "dims-keepdim", [](Maker& m) { return Inputs{m.leaf({2, 3, 4})}; },
      [](const Inputs& x) { return sum(x[0], {0, 2}, true); });
  row("sum", "mean", [](Maker& m) { return Inputs{m.leaf_sliced({3, 4})}; }, [](const Inputs& x) { return mean(x[0], {1}); });
  row("sum", "var", [](Maker& m) { return Inputs{m.leaf({3, 5})}; }, [](const Inputs& x) { return var(x[0], {1}, 1, true); });
  row("sum", "var-biased-all", [](Maker& m) { return Inputs{m.leaf_t({3, 4})}; }, [](const Inputs& x) { return var(x[0], {}, 0); });
  row("amax", "dims", [](Maker& m) { return Inputs{m.leaf({3, 4, 2})}; }, [](const Inputs& x) { return amax(x[0], {1}); });
  row("amax", "all-transposed", [](Maker& m) { return Inputs{m.leaf_t({3, 4})}; }, [](const Inputs& x) { return max(x[0]); });
  row("norm", "all-transposed", [](Maker& m) { return Inputs{m.leaf_t({3, 4})}; }, [](const Inputs& x) { return norm(x[0]); });
  row("norm", "dims-keepdim", [](Maker& m) { return Inputs{m.leaf({2, 3, 4})}; },
      [](const Inputs& x) { return norm(x[0], {0, 2}, true); });
  row("norm", "dim-sliced", [](Maker& m) { return Inputs{m.leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return norm(x[0], {1}); });
  row("max", "dim", [](Maker& m) { return Inputs{m.leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return max(x[0], 0, true).values; });

  // ---- matmul
  row("matmul", "2d", [](Maker& m) { return Inputs{m.leaf({3, 4}), m.leaf({4, 5})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "transposed", [](Maker& m) { return Inputs{m.leaf_t({3, 4}), m.leaf_t({4, 2})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  // Linear's pattern: a weight [out, in] used through W.t(), from 2-D and 3-D inputs.
  row("matmul", "linear-2d", [](Maker& m) { return Inputs{m.leaf({3, 4}), m.leaf({5, 4})}; },
      [](const Inputs& x) { return matmul(x[0], x[1].t()); });
  row("matmul", "linear-3d", [](Maker& m) { return Inputs{m.leaf({2, 3, 4}), m.leaf({5, 4})}; },
      [](const Inputs& x) { return matmul(x[0], x[1].t()); });
  row("matmul", "batched-broadcast", [](Maker& m) { return Inputs{m.leaf({2, 1, 3, 4}), m.leaf({3, 4, 2})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "batched-shared-weight", [](Maker& m) { return Inputs{m.leaf({2, 3, 4}), m.leaf_t({4, 5})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "vector", [](Maker& m) { return Inputs{m.leaf({4}), m.leaf_sliced({4, 3})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });

  // ---- views and copies
  row("view", "", [](Maker& m) { return Inputs{m.leaf({2, 6})}; }, [](const Inputs& x) { return x[0].view({3, 4}); });
  row("view", "reshape-noncontiguous", [](Maker& m) { return Inputs{m.leaf_t({3, 4})}; },
      [](const Inputs& x) { return x[0].reshape({12}); });
  row("view", "flatten", [](Maker& m) { return Inputs{m.leaf({2, 3, 2})}; }, [](const Inputs& x) { return x[0].flatten(1); });
  row("permute", "", [](Maker& m) { return Inputs{m.leaf({2, 3, 4})}; },
      [](const Inputs& x) { return x[0].permute({2, 0, 1}); });
  row("permute", "transpose", [](Maker& m) { return Inputs{m.leaf({2, 3})}; },
      [](const Inputs& x) { return mul(x[0].transpose(0, 1), x[0].t()); });
  row("slice", "step", [](Maker& m) { return Inputs{m.leaf({3, 7})}; },
      [](const Inputs& x) { return x[0].slice(1, 1, 7, 2); });
  row("slice", "narrow+select", [](Maker& m) { return Inputs{m.leaf({4, 3})}; },
      [](const Inputs& x) { return add(x[0].narrow(0, 1, 2), x[0].select(0, 3)); });
  row("expand", "", [](Maker& m) { return Inputs{m.leaf({3, 1})}; }, [](const Inputs& x) { return x[0].expand({2, 3, 4}); });
  row("squeeze", "", [](Maker& m) { return Inputs{m.leaf({3, 1, 2})}; }, [](const Inputs& x) { return x[0].squeeze(1); });
  row("unsqueeze", "", [](Maker& m) { return Inputs{m.leaf_t({3, 2})}; },
      [](const Inputs& x) { return x[0].unsqueeze(1); });
  row("clone", "contiguous", [](Maker& m) { return Inputs{m.leaf_t({3, 2})}; },
      [](const Inputs& x) { return x[0].contiguous(); });
  row("to_dtype", "f32-roundtrip", [](Maker& m) { return Inputs{m.leaf({4})}; },
      [](const Inputs& x) { return x[0].to(kFloat32).to(kFloat64); }, {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-3});

  // ---- assembling
  row("cat", "dim1", [](Maker& m) { return Inputs{m.leaf({2, 3}), m.leaf_t({2, 2})}; },
      [](const Inputs& x) { return cat({x[0], x[1]}, 1); });
  row("cat", "stack", [](Maker& m) { return Inputs{m.leaf({2, 3}), m.leaf({2, 3})}; },
      [](const Inputs& x) { return stack({x[0], x[1]}, 1); });
  row("slice", "split+chunk", [](Maker& m) { return Inputs{m.leaf({5, 2})}; }, [](const Inputs& x) {
    auto parts = split(x[0], 2, 0);
    auto halves = chunk(x[0], 2, 1);
    return add(parts[1], mul(halves[0], halves[1]).narrow(0, 0, 2));
  });
  row("index_select", "repeated", [](Maker& m) { return Inputs{m.leaf({4, 3})}; },
      [](const Inputs& x) { return index_select(x[0], 0, i64(x[0], {3, 0, 3, 1})); });
  row("index_select", "dim1", [](Maker& m) { return Inputs{m.leaf_t({3, 4})}; },
      [](const Inputs& x) { return index_select(x[0], 1, i64(x[0], {2, 2, 0})); });
  row("index_select", "embedding", [](Maker& m) { return Inputs{m.leaf({5, 3})}; },
      [](const Inputs& x) { return embedding(x[0], i64(x[0], {1, 4, 1, 0, 2, 4}, {2, 3})); });

  // ---- fused nn ops
  row("softmax", "last", [](Maker& m) { return Inputs{m.leaf({3, 5})}; }, [](const Inputs& x) { return softmax(x[0], -1); });
  row("softmax", "dim0-transposed", [](Maker& m) { return Inputs{m.leaf_t({4, 3})}; },
      [](const Inputs& x) { return softmax(x[0], 0); });
  row("log_softmax", "", [](Maker& m) { return Inputs{m.leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return log_softmax(x[0], 1); });
  row("layer_norm", "affine", [](Maker& m) { return Inputs{m.leaf({2, 3, 5}), m.leaf({5}), m.leaf({5})}; },
      [](const Inputs& x) { return layer_norm(x[0], {5}, x[1], x[2]); });
  row("layer_norm", "plain-transposed", [](Maker& m) { return Inputs{m.leaf_t({4, 6})}; },
      [](const Inputs& x) { return layer_norm(x[0], {6}); });
  row("layer_norm", "two-dims", [](Maker& m) { return Inputs{m.leaf({2, 2, 3}), m.leaf({2, 3})}; },
      [](const Inputs& x) { return layer_norm(x[0], {2, 3}, x[1]); });
  row("cross_entropy", "ignore_index", [](Maker& m) { return Inputs{m.leaf({5, 4})}; },
      [](const Inputs& x) { return cross_entropy(x[0], i64(x[0], {1, -100, 3, 0, -100})); });
  row("cross_entropy", "3d", [](Maker& m) { return Inputs{m.leaf({2, 3, 6})}; },
      [](const Inputs& x) { return cross_entropy(x[0], i64(x[0], {5, 0, 2, 2, 1, 4}, {2, 3})); });
  row("mul", "dropout", [](Maker& m) { return Inputs{m.leaf({4, 5})}; }, [](const Inputs& x) {
    Generator g(7);  // the same mask on every evaluation
    return dropout(x[0], 0.4, true, &g);
  });
  row("matmul", "sdpa-causal", [](Maker& m) { return Inputs{m.leaf({2, 4, 3}), m.leaf({2, 4, 3}), m.leaf({2, 4, 2})}; },
      [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); });
  row("softmax", "sdpa-cross", [](Maker& m) { return Inputs{m.leaf({3, 2}), m.leaf_t({5, 2}), m.leaf({5, 3})}; },
      [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], false, 0.7); });
  return t;
}
// clang-format on

}  // namespace tern::optable
