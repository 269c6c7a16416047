// The gradcheck table: every differentiable op, checked against central
// differences in f64, with broadcast and non-contiguous (transposed, sliced) inputs.
// Coverage.EveryRegisteredOpHasARow fails when an op is registered without a row.

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include <tern/tern.h>

using namespace tern;
using autograd::GradcheckOptions;
using Inputs = std::vector<Tensor>;
using Fn = std::function<Tensor(const Inputs&)>;

namespace {

uint64_t next_seed() {
  static uint64_t s = 1000;
  return ++s;
}

Tensor leaf(const Shape& shape) {
  Generator g(next_seed());
  return randn(shape, &g, {.dtype = kFloat64}).requires_grad_();
}
// Values in [lo, lo + 1): away from the kinks and poles of log, sqrt, div, abs.
Tensor positive(const Shape& shape, double lo = 0.5) {
  Generator g(next_seed());
  return add(rand(shape, &g, {.dtype = kFloat64}), lo).requires_grad_();
}
// A transposed (non-contiguous) leaf of the given shape.
Tensor leaf_t(const Shape& shape) {
  Generator g(next_seed());
  Tensor base = randn({shape[1], shape[0]}, &g, {.dtype = kFloat64});
  return base.t().requires_grad_();
}
// A strided (every other column) leaf of the given 2-D shape.
Tensor leaf_sliced(const Shape& shape) {
  Generator g(next_seed());
  Tensor base = randn({shape[0], shape[1] * 2}, &g, {.dtype = kFloat64});
  return base.slice(1, 0, shape[1] * 2, 2).requires_grad_();
}
// Kink-free inputs for relu/abs/sign/clamp: |x| >= 0.1 and away from +-0.5.
Tensor away_from_kinks(const Shape& shape) {
  Generator g(next_seed());
  Tensor u = rand(shape, &g, {.dtype = kFloat64});
  Tensor v = add(mul(u, 0.3), 0.1);  // [0.1, 0.4)
  Tensor s = sub(mul(gt(rand(shape, &g, {.dtype = kFloat64}), 0.5).to(kFloat64), 2.0), 1.0);
  return mul(v, s).detach().requires_grad_();
}
Tensor i64(std::vector<int64_t> v, Shape shape = {}) { return from_vector(v, shape); }

struct Row {
  std::string op;      // the registered op this row covers
  std::string variant;
  Fn fn;
  std::function<Inputs()> make;
  GradcheckOptions opts = {};
};

std::vector<Row> table() {
  std::vector<Row> t;
  auto row = [&](std::string op, std::string variant, std::function<Inputs()> make, Fn fn,
                 GradcheckOptions o = {}) { t.push_back({op, variant, fn, make, o}); };

  // ---- arithmetic, with broadcasting and non-contiguous operands
  row("add", "broadcast", [] { return Inputs{leaf({3, 4}), leaf({4})}; },
      [](const Inputs& x) { return add(x[0], x[1]); });
  row("add", "transposed+column", [] { return Inputs{leaf_t({3, 4}), leaf({3, 1})}; },
      [](const Inputs& x) { return add(x[0], x[1]); });
  row("add", "scalar", [] { return Inputs{leaf({2, 3})}; }, [](const Inputs& x) { return add(x[0], 2.5); });
  row("sub", "broadcast", [] { return Inputs{leaf({2, 3, 4}), leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return sub(x[0], x[1]); });
  row("sub", "rsub", [] { return Inputs{leaf({3})}; }, [](const Inputs& x) { return rsub(1.0, x[0]); });
  row("mul", "broadcast", [] { return Inputs{leaf({4, 1}), leaf({1, 5})}; },
      [](const Inputs& x) { return mul(x[0], x[1]); });
  row("mul", "same-input", [] { return Inputs{leaf_t({3, 2})}; }, [](const Inputs& x) { return mul(x[0], x[0]); });
  row("div", "broadcast", [] { return Inputs{leaf({3, 4}), positive({4})}; },
      [](const Inputs& x) { return div(x[0], x[1]); });
  row("div", "rdiv", [] { return Inputs{positive({2, 2})}; }, [](const Inputs& x) { return rdiv(3.0, x[0]); });

  // ---- unary math and activations
  row("neg", "", [] { return Inputs{leaf_sliced({2, 3})}; }, [](const Inputs& x) { return neg(x[0]); });
  row("exp", "", [] { return Inputs{leaf_t({2, 3})}; }, [](const Inputs& x) { return exp(x[0]); });
  row("log", "", [] { return Inputs{positive({5})}; }, [](const Inputs& x) { return log(x[0]); });
  row("sqrt", "", [] { return Inputs{positive({2, 3})}; }, [](const Inputs& x) { return sqrt(x[0]); });
  row("rsqrt", "", [] { return Inputs{positive({2, 3})}; }, [](const Inputs& x) { return rsqrt(x[0]); });
  row("pow", "fractional", [] { return Inputs{positive({4})}; }, [](const Inputs& x) { return pow(x[0], 2.5); });
  row("pow", "cube", [] { return Inputs{leaf_t({2, 2})}; }, [](const Inputs& x) { return pow(x[0], 3.0); });
  row("abs", "", [] { return Inputs{away_from_kinks({3, 3})}; }, [](const Inputs& x) { return abs(x[0]); });
  row("sign", "", [] { return Inputs{away_from_kinks({4})}; },
      [](const Inputs& x) { return add(sign(x[0]), x[0]); });
  row("round", "", [] { return Inputs{away_from_kinks({4})}; },
      [](const Inputs& x) { return add(round(mul(x[0], 3.0)), x[0]); });
  row("tanh", "", [] { return Inputs{leaf_sliced({2, 2})}; }, [](const Inputs& x) { return tanh(x[0]); });
  row("relu", "", [] { return Inputs{away_from_kinks({3, 4})}; }, [](const Inputs& x) { return relu(x[0]); });
  row("gelu", "", [] { return Inputs{leaf_t({3, 4})}; }, [](const Inputs& x) { return gelu(x[0]); });
  row("gelu", "exact", [] { return Inputs{leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return gelu(x[0], GeluApproximation::none); });
  row("sigmoid", "", [] { return Inputs{leaf({5})}; }, [](const Inputs& x) { return sigmoid(x[0]); });
  row("clamp", "both", [] { return Inputs{away_from_kinks({3, 4})}; },
      [](const Inputs& x) { return clamp(mul(x[0], 2.0), -0.5, 0.5); });
  row("clamp", "min-only", [] { return Inputs{away_from_kinks({6})}; },
      [](const Inputs& x) { return clamp(x[0], 0.0, std::nullopt); });

  // ---- selection
  row("where", "broadcast", [] { return Inputs{leaf({3, 4}), leaf({4})}; }, [](const Inputs& x) {
    Tensor c = from_vector(std::vector<bool>{true, false, true, false, false, true, true, false, true, true, false,
                                             false},
                           {3, 4});
    return where(c, x[0], x[1]);
  });
  row("where", "masked_fill", [] { return Inputs{leaf_t({2, 3})}; }, [](const Inputs& x) {
    Tensor m = from_vector(std::vector<bool>{false, true, false}, {1, 3});
    return masked_fill(x[0], m, -2.0);
  });

  // ---- reductions
  row("sum", "all", [] { return Inputs{leaf_t({3, 4})}; }, [](const Inputs& x) { return sum(x[0]); });
  row("sum", "dims-keepdim", [] { return Inputs{leaf({2, 3, 4})}; },
      [](const Inputs& x) { return sum(x[0], {0, 2}, true); });
  row("sum", "mean", [] { return Inputs{leaf_sliced({3, 4})}; }, [](const Inputs& x) { return mean(x[0], {1}); });
  row("sum", "var", [] { return Inputs{leaf({3, 5})}; }, [](const Inputs& x) { return var(x[0], {1}, 1, true); });
  row("sum", "var-biased-all", [] { return Inputs{leaf_t({3, 4})}; }, [](const Inputs& x) { return var(x[0], {}, 0); });
  row("amax", "dims", [] { return Inputs{leaf({3, 4, 2})}; }, [](const Inputs& x) { return amax(x[0], {1}); });
  row("amax", "all-transposed", [] { return Inputs{leaf_t({3, 4})}; }, [](const Inputs& x) { return max(x[0]); });
  row("norm", "all-transposed", [] { return Inputs{leaf_t({3, 4})}; }, [](const Inputs& x) { return norm(x[0]); });
  row("norm", "dims-keepdim", [] { return Inputs{leaf({2, 3, 4})}; },
      [](const Inputs& x) { return norm(x[0], {0, 2}, true); });
  row("norm", "dim-sliced", [] { return Inputs{leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return norm(x[0], {1}); });
  row("max", "dim", [] { return Inputs{leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return max(x[0], 0, true).values; });

  // ---- matmul
  row("matmul", "2d", [] { return Inputs{leaf({3, 4}), leaf({4, 5})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "transposed", [] { return Inputs{leaf_t({3, 4}), leaf_t({4, 2})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  // Linear's pattern: a weight [out, in] used through W.t(), from 2-D and 3-D inputs.
  row("matmul", "linear-2d", [] { return Inputs{leaf({3, 4}), leaf({5, 4})}; },
      [](const Inputs& x) { return matmul(x[0], x[1].t()); });
  row("matmul", "linear-3d", [] { return Inputs{leaf({2, 3, 4}), leaf({5, 4})}; },
      [](const Inputs& x) { return matmul(x[0], x[1].t()); });
  row("matmul", "batched-broadcast", [] { return Inputs{leaf({2, 1, 3, 4}), leaf({3, 4, 2})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "batched-shared-weight", [] { return Inputs{leaf({2, 3, 4}), leaf_t({4, 5})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "vector", [] { return Inputs{leaf({4}), leaf_sliced({4, 3})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });

  // ---- views and copies
  row("view", "", [] { return Inputs{leaf({2, 6})}; }, [](const Inputs& x) { return x[0].view({3, 4}); });
  row("view", "reshape-noncontiguous", [] { return Inputs{leaf_t({3, 4})}; },
      [](const Inputs& x) { return x[0].reshape({12}); });
  row("view", "flatten", [] { return Inputs{leaf({2, 3, 2})}; }, [](const Inputs& x) { return x[0].flatten(1); });
  row("permute", "", [] { return Inputs{leaf({2, 3, 4})}; },
      [](const Inputs& x) { return x[0].permute({2, 0, 1}); });
  row("permute", "transpose", [] { return Inputs{leaf({2, 3})}; },
      [](const Inputs& x) { return mul(x[0].transpose(0, 1), x[0].t()); });
  row("slice", "step", [] { return Inputs{leaf({3, 7})}; },
      [](const Inputs& x) { return x[0].slice(1, 1, 7, 2); });
  row("slice", "narrow+select", [] { return Inputs{leaf({4, 3})}; },
      [](const Inputs& x) { return add(x[0].narrow(0, 1, 2), x[0].select(0, 3)); });
  row("expand", "", [] { return Inputs{leaf({3, 1})}; }, [](const Inputs& x) { return x[0].expand({2, 3, 4}); });
  row("squeeze", "", [] { return Inputs{leaf({3, 1, 2})}; }, [](const Inputs& x) { return x[0].squeeze(1); });
  row("unsqueeze", "", [] { return Inputs{leaf_t({3, 2})}; },
      [](const Inputs& x) { return x[0].unsqueeze(1); });
  row("clone", "contiguous", [] { return Inputs{leaf_t({3, 2})}; },
      [](const Inputs& x) { return x[0].contiguous(); });
  row("to_dtype", "f32-roundtrip", [] { return Inputs{leaf({4})}; },
      [](const Inputs& x) { return x[0].to(kFloat32).to(kFloat64); }, {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-3});

  // ---- assembling
  row("cat", "dim1", [] { return Inputs{leaf({2, 3}), leaf_t({2, 2})}; },
      [](const Inputs& x) { return cat({x[0], x[1]}, 1); });
  row("cat", "stack", [] { return Inputs{leaf({2, 3}), leaf({2, 3})}; },
      [](const Inputs& x) { return stack({x[0], x[1]}, 1); });
  row("slice", "split+chunk", [] { return Inputs{leaf({5, 2})}; }, [](const Inputs& x) {
    auto parts = split(x[0], 2, 0);
    auto halves = chunk(x[0], 2, 1);
    return add(parts[1], mul(halves[0], halves[1]).narrow(0, 0, 2));
  });
  row("index_select", "repeated", [] { return Inputs{leaf({4, 3})}; },
      [](const Inputs& x) { return index_select(x[0], 0, i64({3, 0, 3, 1})); });
  row("index_select", "dim1", [] { return Inputs{leaf_t({3, 4})}; },
      [](const Inputs& x) { return index_select(x[0], 1, i64({2, 2, 0})); });
  row("index_select", "embedding", [] { return Inputs{leaf({5, 3})}; },
      [](const Inputs& x) { return embedding(x[0], i64({1, 4, 1, 0, 2, 4}, {2, 3})); });

  // ---- fused nn ops
  row("softmax", "last", [] { return Inputs{leaf({3, 5})}; }, [](const Inputs& x) { return softmax(x[0], -1); });
  row("softmax", "dim0-transposed", [] { return Inputs{leaf_t({4, 3})}; },
      [](const Inputs& x) { return softmax(x[0], 0); });
  row("log_softmax", "", [] { return Inputs{leaf_sliced({3, 4})}; },
      [](const Inputs& x) { return log_softmax(x[0], 1); });
  row("layer_norm", "affine", [] { return Inputs{leaf({2, 3, 5}), leaf({5}), leaf({5})}; },
      [](const Inputs& x) { return layer_norm(x[0], {5}, x[1], x[2]); });
  row("layer_norm", "plain-transposed", [] { return Inputs{leaf_t({4, 6})}; },
      [](const Inputs& x) { return layer_norm(x[0], {6}); });
  row("layer_norm", "two-dims", [] { return Inputs{leaf({2, 2, 3}), leaf({2, 3})}; },
      [](const Inputs& x) { return layer_norm(x[0], {2, 3}, x[1]); });
  row("cross_entropy", "ignore_index", [] { return Inputs{leaf({5, 4})}; },
      [](const Inputs& x) { return cross_entropy(x[0], i64({1, -100, 3, 0, -100})); });
  row("cross_entropy", "3d", [] { return Inputs{leaf({2, 3, 6})}; },
      [](const Inputs& x) { return cross_entropy(x[0], i64({5, 0, 2, 2, 1, 4}, {2, 3})); });
  row("mul", "dropout", [] { return Inputs{leaf({4, 5})}; }, [](const Inputs& x) {
    Generator g(7);  // the same mask on every evaluation
    return dropout(x[0], 0.4, true, &g);
  });
  row("matmul", "sdpa-causal", [] { return Inputs{leaf({2, 4, 3}), leaf({2, 4, 3}), leaf({2, 4, 2})}; },
      [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); });
  row("softmax", "sdpa-cross", [] { return Inputs{leaf({3, 2}), leaf_t({5, 2}), leaf({5, 3})}; },
      [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], false, 0.7); });
  return t;
}

class Gradcheck : public ::testing::TestWithParam<size_t> {};

}  // namespace

TEST_P(Gradcheck, MatchesCentralDifferences) {
  static const std::vector<Row> rows = table();
  const Row& r = rows[GetParam()];
  SCOPED_TRACE(r.op + "/" + r.variant);
  Inputs in = r.make();
  auto res = autograd::gradcheck(r.fn, in, r.opts);
  EXPECT_TRUE(res.ok) << r.op << "/" << r.variant << ": " << res.message << " (max abs error "
                      << res.max_abs_error << ")";
}

INSTANTIATE_TEST_SUITE_P(Table, Gradcheck, ::testing::Range<size_t>(0, table().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           static const std::vector<Row> rows = table();
                           std::string n = rows[info.param].op + "_" + rows[info.param].variant;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n + "_" + std::to_string(info.param);
                         });

TEST(Coverage, EveryRegisteredOpHasARow) {
  std::set<std::string> covered;
  for (const auto& r : table()) covered.insert(r.op);
  for (const auto& op : differentiable_ops())
    EXPECT_TRUE(covered.count(op)) << "op '" << op << "' is registered as differentiable but has no gradcheck row";
  for (const auto& op : covered)
    EXPECT_TRUE(differentiable_ops().count(op)) << "gradcheck row names unregistered op '" << op << "'";
}

TEST(Coverage, RegistryIsPopulated) { EXPECT_GE(differentiable_ops().size(), 35u); }

TEST(Gradcheck, DetectsAWrongBackward) {
  struct Wrong : autograd::Function<Wrong> {
    static Tensor forward(autograd::FunctionCtx&, const Tensor& x) { return mul(x, x); }
    static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) {
      return {g[0]};  // should be 2x·g
    }
  };
  auto res = autograd::gradcheck([](const Inputs& x) { return Wrong::apply(x[0]); }, {leaf({3})});
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.message.find("analytic"), std::string::npos);
}
