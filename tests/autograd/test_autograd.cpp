#include <gtest/gtest.h>

#include <any>
#include <cmath>
#include <thread>

#include <tern/tern.h>

using namespace tern;

namespace {

double at(const Tensor& t, int64_t i) { return t.reshape({-1}).select(0, i).item<double>(); }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// y = round(x) forward, gradient passed straight through: the STE BitNet uses.
struct RoundSTE : autograd::Function<RoundSTE> {
  static constexpr const char* name = "RoundSTE";
  static Tensor forward(autograd::FunctionCtx&, const Tensor& x) { return round(x); }
  static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) { return {g[0]}; }
};

// y = a * x^2 with a non-tensor argument and saved tensors.
struct ScaledSquare : autograd::Function<ScaledSquare> {
  static constexpr const char* name = "ScaledSquare";
  static Tensor forward(autograd::FunctionCtx& ctx, const Tensor& x, double a) {
    ctx.save_for_backward({x});
    ctx.saved_data["a"] = a;
    return mul(mul(x, x), a);
  }
  static std::vector<Tensor> backward(autograd::FunctionCtx& ctx, const std::vector<Tensor>& g) {
    Tensor x = ctx.get_saved_variables()[0];
    const double a = std::any_cast<double>(ctx.saved_data["a"]);
    return {mul(mul(g[0], x), 2.0 * a)};
  }
};

// Two outputs, two inputs.
struct SumAndDiff : autograd::Function<SumAndDiff> {
  static std::vector<Tensor> forward(autograd::FunctionCtx&, const Tensor& a, const Tensor& b) {
    return {add(a, b), sub(a, b)};
  }
  static std::vector<Tensor> backward(autograd::FunctionCtx& ctx, const std::vector<Tensor>& g) {
    Tensor gs = g[0], gd = g[1];
    if (!gs.defined()) gs = zeros_like(gd);
    if (!gd.defined()) gd = zeros_like(gs);
    return {add(gs, gd), ctx.needs_input_grad(1) ? sub(gs, gd) : Tensor()};
  }
};

struct BadCount : autograd::Function<BadCount> {
  static constexpr const char* name = "BadCount";
  static Tensor forward(autograd::FunctionCtx&, const Tensor& x) { return mul(x, 1.0); }
  static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) {
    return {g[0], g[0]};
  }
};
struct BadShape : autograd::Function<BadShape> {
  static constexpr const char* name = "BadShape";
  static Tensor forward(autograd::FunctionCtx&, const Tensor& x) { return mul(x, 1.0); }
  static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>&) {
    return {zeros({7})};
  }
};

}  // namespace

TEST(Autograd, ChainRuleAndAccumulation) {
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  Tensor y = sum(mul(x, x));  // dy/dx = 2x
  y.backward();
  EXPECT_DOUBLE_EQ(at(x.grad(), 2), 6.0);
  sum(mul(x, 3.0)).backward();  // accumulates into grad
  EXPECT_DOUBLE_EQ(at(x.grad(), 2), 9.0);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, LeavesNeverShareAGradientTensor) {
  // add's backward hands the same tensor to both inputs; each leaf must own its .grad,
  // or scaling one (clip_grad_norm) would scale the other too.
  Tensor a = tensor({1, 2}).requires_grad_(), b = tensor({3, 4}).requires_grad_();
  sum(add(a, b)).backward();
  EXPECT_NE(a.grad().storage(), b.grad().storage());
  a.grad().mul_(5.0);
  EXPECT_DOUBLE_EQ(at(a.grad(), 0), 5.0);
  EXPECT_DOUBLE_EQ(at(b.grad(), 0), 1.0);
}

TEST(Autograd, AccumulationLeavesAHeldGradientAlone) {
  Tensor x = tensor({1, 2}).requires_grad_();
  sum(mul(x, 2.0)).backward();
  Tensor first = x.grad();  // the caller keeps the first gradient
  sum(mul(x, 3.0)).backward();
  EXPECT_DOUBLE_EQ(at(first, 0), 2.0);
  EXPECT_DOUBLE_EQ(at(x.grad(), 0), 5.0);
  // An unheld gradient is accumulated in place, into the same memory.
  first = Tensor();
  const void* before = x.grad().raw_data();
  sum(mul(x, 4.0)).backward();
  EXPECT_EQ(x.grad().raw_data(), before);
  EXPECT_DOUBLE_EQ(at(x.grad(), 1), 9.0);
}

TEST(Autograd, LinearWeightGradientArrivesContiguous) {
  // matmul(x, W.t()) returns dW in W's own layout, so the leaf keeps it without a copy.
  Generator g(5);
  Tensor w = randn({6, 4}, &g).requires_grad_();
  Tensor x = randn({2, 3, 4}, &g);
  sum(matmul(x, w.t())).backward();
  EXPECT_TRUE(w.grad().is_contiguous());
  // d sum(x W^T) / dW[o, i] = sum over rows of x[:, i], for every o.
  Tensor expect = sum(x.reshape({6, 4}), {0}, true).expand({6, 4});
  EXPECT_LT(max(abs(sub(w.grad(), expect))).item<double>(), 1e-5);
}

TEST(Autograd, DiamondGraphSumsBranches) {
  Tensor x = tensor({2}).requires_grad_();
  Tensor a = mul(x, 3.0), b = exp(x);
  Tensor y = sum(add(mul(a, b), a));  // 3x e^x + 3x
  y.backward();
  const double e2 = std::exp(2.0);
  EXPECT_NEAR(at(x.grad(), 0), 3 * e2 + 6 * e2 + 3, 1e-4);
}

TEST(Autograd, BackwardWithExplicitGradient) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = mul(x, 4.0);
  y.backward(tensor({1, 10}));
  EXPECT_DOUBLE_EQ(at(x.grad(), 1), 40.0);
}

TEST(Autograd, NonScalarBackwardNeedsGradient) {
  Tensor x = tensor({1, 2}).requires_grad_();
  auto msg = error_of([&] { mul(x, 2.0).backward(); });
  EXPECT_NE(msg.find("[backward] grad can be implicitly created only for one-element"), std::string::npos) << msg;
}

TEST(Autograd, SecondBackwardWithoutRetainFails) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward();
  auto msg = error_of([&] { y.backward(); });
  EXPECT_NE(msg.find("[backward]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("retain_graph"), std::string::npos) << msg;
}

TEST(Autograd, RetainGraphAllowsSecondBackward) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_NEAR(at(x.grad(), 0), 2 * std::exp(1.0), 1e-5);
}

TEST(Autograd, GraphIsFreedAfterBackward) {
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  std::weak_ptr<Storage> saved;
  Tensor y;
  {
    Tensor e = exp(x);  // exp saves its output for backward
    saved = e.storage();
    y = sum(e);
  }
  EXPECT_FALSE(saved.expired()) << "the graph keeps the saved output alive before backward";
  y.backward();
  EXPECT_TRUE(saved.expired()) << "backward must free saved tensors";
}

TEST(Autograd, RetainGradOnIntermediate) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor h = mul(x, 3.0);
  h.retain_grad();
  Tensor y = sum(mul(h, h));
  y.backward();
  ASSERT_TRUE(h.grad().defined());
  EXPECT_DOUBLE_EQ(at(h.grad(), 1), 12.0);  // 2h
  EXPECT_DOUBLE_EQ(at(x.grad(), 1), 36.0);
}

TEST(Autograd, NonLeafWithoutRetainGradHasNoGrad) {
  Tensor x = tensor({1}).requires_grad_();
  Tensor h = mul(x, 2.0);
  sum(h).backward();
  EXPECT_FALSE(h.grad().defined());
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor d = mul(x, 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor y = sum(add(mul(d, x), x));  // d is a constant: dy/dx = d + 1
  y.backward();
  EXPECT_DOUBLE_EQ(at(x.grad(), 1), 5.0);
}

TEST(Autograd, DetachSharesStorage) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor d = x.detach();
  EXPECT_EQ(d.raw_data(), x.raw_data());
  EXPECT_TRUE(d.is_leaf());
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = tensor({1, 2}).requires_grad_();
  {
    NoGradGuard ng;
    Tensor y = mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(autograd::grad_mode_enabled());
    {
      EnableGradGuard eg;
      EXPECT_TRUE(mul(x, 2.0).requires_grad());
    }
    EXPECT_FALSE(autograd::grad_mode_enabled());
  }
  EXPECT_TRUE(autograd::grad_mode_enabled());
  EXPECT_TRUE(mul(x, 2.0).requires_grad());
}

TEST(Autograd, GradModeIsThreadLocal) {
  NoGradGuard ng;
  bool other = false;
  std::thread t([&] { other = autograd::grad_mode_enabled(); });
  t.join();
  EXPECT_TRUE(other);
}

TEST(Autograd, RequiresGradPropagatesAndLeavesAreLeaves) {
  Tensor x = tensor({1}).requires_grad_();
  Tensor c = tensor({2});
  Tensor y = mul(x, c);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn()->name(), "mul");
  EXPECT_FALSE(mul(c, c).requires_grad());
  y.backward();
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, InPlaceChangeOfSavedTensorIsDetected) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor h = mul(x, 1.0);
  Tensor y = sum(mul(h, h));  // mul saves h
  {
    NoGradGuard ng;
    h.add_(ones({2}));
  }
  auto msg = error_of([&] { y.backward(); });
  EXPECT_NE(msg.find("modified in place"), std::string::npos) << msg;
}

TEST(Autograd, GradientThroughViews) {
  Tensor x = arange(0.0, 6.0, 1.0, {.dtype = kFloat64}).requires_grad_();
  Tensor v = x.view({2, 3}).t().slice(0, 0, 3, 2);  // rows 0 and 2 of the transpose
  sum(mul(v, v)).backward();
  // v covers x[0], x[3], x[2], x[5]
  std::vector<double> expect = {0, 0, 4, 6, 0, 10};
  for (int i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(at(x.grad(), i), expect[i]) << i;
}

TEST(CustomFunction, StraightThroughEstimator) {
  Tensor x = tensor({0.2f, 1.7f, -0.6f}).requires_grad_();
  Tensor y = RoundSTE::apply(x);
  EXPECT_DOUBLE_EQ(at(y, 1), 2.0);
  EXPECT_EQ(y.grad_fn()->name(), "RoundSTE");
  sum(mul(y, tensor({1, 2, 3}))).backward();
  EXPECT_DOUBLE_EQ(at(x.grad(), 0), 1.0);
  EXPECT_DOUBLE_EQ(at(x.grad(), 2), 3.0);
}

TEST(CustomFunction, SavedTensorsAndData) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = ScaledSquare::apply(x, 3.0);
  EXPECT_DOUBLE_EQ(at(y, 1), 12.0);
  sum(y).backward();
  EXPECT_DOUBLE_EQ(at(x.grad(), 1), 12.0);
  auto res = autograd::gradcheck([](const std::vector<Tensor>& in) { return ScaledSquare::apply(in[0], 0.5); },
                                 {randn({4}, nullptr, {.dtype = kFloat64}).requires_grad_()});
  EXPECT_TRUE(res.ok) << res.message;
}

TEST(CustomFunction, MultipleOutputsAndInputs) {
  Tensor a = tensor({1, 2}).requires_grad_();
  Tensor b = tensor({5, 7}).requires_grad_();
  auto outs = SumAndDiff::apply(a, b);
  ASSERT_EQ(outs.size(), 2u);
  sum(add(mul(outs[0], 2.0), outs[1])).backward();
  EXPECT_DOUBLE_EQ(at(a.grad(), 0), 3.0);
  EXPECT_DOUBLE_EQ(at(b.grad(), 0), 1.0);
  // Only one output used: the other's gradient arrives undefined.
  Tensor a2 = tensor({1}).requires_grad_();
  Tensor b2 = tensor({1});
  sum(SumAndDiff::apply(a2, b2)[1]).backward();
  EXPECT_DOUBLE_EQ(at(a2.grad(), 0), 1.0);
}

TEST(CustomFunction, NoGraphWhenNothingNeedsGrad) {
  Tensor x = tensor({1.4f});
  Tensor y = RoundSTE::apply(x);
  EXPECT_FALSE(y.requires_grad());
  Tensor z = tensor({1.4f}).requires_grad_();
  NoGradGuard ng;
  EXPECT_FALSE(RoundSTE::apply(z).requires_grad());
}

TEST(CustomFunction, ReturningTheInputDoesNotRewireIt) {
  struct Identity : autograd::Function<Identity> {
    static Tensor forward(autograd::FunctionCtx&, const Tensor& x) { return x; }
    static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) {
      return {mul(g[0], 2.0)};
    }
  };
  Tensor x = tensor({1}).requires_grad_();
  Tensor y = Identity::apply(x);
  EXPECT_TRUE(x.is_leaf());
  sum(y).backward();
  EXPECT_DOUBLE_EQ(at(x.grad(), 0), 2.0);
}

TEST(CustomFunction, WrongGradientCountOrShapeIsAnError) {
  Tensor x = tensor({1, 2}).requires_grad_();
  auto m1 = error_of([&] { sum(BadCount::apply(x)).backward(); });
  EXPECT_NE(m1.find("[BadCount] backward returned 2 gradients, expected 1"), std::string::npos) << m1;
  auto m2 = error_of([&] { sum(BadShape::apply(x)).backward(); });
  EXPECT_NE(m2.find("[BadShape] backward returned a gradient of shape (7) for input 0 of shape (2)"),
            std::string::npos)
      << m2;
}

TEST(CustomFunction, SecondBackwardFailsClearly) {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = ScaledSquare::apply(x, 1.0);
  y.backward(ones({2}));
  auto msg = error_of([&] { y.backward(ones({2})); });
  EXPECT_NE(msg.find("ScaledSquare"), std::string::npos) << msg;
  EXPECT_NE(msg.find("retain_graph"), std::string::npos) << msg;
}
