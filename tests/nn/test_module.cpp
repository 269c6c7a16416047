#include <gtest/gtest.h>

#include <cmath>

#include <tern/tern.h>

#include "../test_util.h"

using namespace tern;
using namespace tern::nn;

namespace {

using testutil::error_of;

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b).to(kFloat64))).item<double>(); }

class Net : public Module {
 public:
  explicit Net(Generator* g) : Module("Net") {
    register_module("body", std::make_shared<Sequential>(std::vector<ModulePtr>{
                                std::make_shared<Linear>(4, 8, LinearOptions{.gen = g}), std::make_shared<GELU>(),
                                std::make_shared<Linear>(8, 3, LinearOptions{.gen = g})}));
    register_module("norm", std::make_shared<LayerNorm>(3));
    scale = register_parameter("scale", ones({1}));
    register_buffer("steps", zeros({1}, {.dtype = kInt64}));
    register_buffer("scratch", zeros({2}), /*persistent=*/false);
  }
  Tensor forward(const Tensor& x) override { return mul(child("norm")->forward(child("body")->forward(x)), scale); }
  Tensor scale;
};

}  // namespace

TEST(Module, DottedNamesAndCounts) {
  Generator g(1);
  Net net(&g);
  std::vector<std::string> names;
  for (auto& [n, p] : net.named_parameters()) names.push_back(n);
  std::vector<std::string> expect = {"scale",       "body.0.weight", "body.0.bias", "body.2.weight",
                                     "body.2.bias", "norm.weight",   "norm.bias"};
  EXPECT_EQ(names, expect);
  EXPECT_EQ(net.num_parameters(), 1 + 32 + 8 + 24 + 3 + 3 + 3);
  auto mods = net.named_modules();
  ASSERT_EQ(mods.size(), 6u);
  EXPECT_EQ(mods[0].first, "");
  EXPECT_EQ(mods[2].first, "body.0");
  EXPECT_EQ(mods[2].second->type_name(), "Linear");
  EXPECT_EQ(net.children().size(), 2u);
  EXPECT_EQ(net.named_buffers().size(), 2u);
}

TEST(Module, StateDictHasPersistentBuffersOnly) {
  Generator g(1);
  Net net(&g);
  auto sd = net.state_dict();
  EXPECT_EQ(sd.size(), 8u);
  EXPECT_EQ(sd.back().first, "steps");
}

TEST(Module, LoadStateDictRoundTripKeepsHandles) {
  Generator g1(1), g2(2);
  Net a(&g1), b(&g2);
  Tensor handle = b.child_as<Sequential>("body").child_as<Linear>("0").weight;
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(max_abs_diff(handle, a.child_as<Sequential>("body").child_as<Linear>("0").weight), 0.0);
  Tensor x = randn({5, 4}, &g1);
  EXPECT_EQ(max_abs_diff(a(x), b(x)), 0.0);
}

TEST(Module, StrictLoadListsEveryProblem) {
  Generator g(1);
  Net net(&g);
  auto sd = net.state_dict();
  sd.erase(sd.begin());                  // missing "scale"
  sd.emplace_back("extra.weight", zeros({1}));  // unexpected
  for (auto& [n, t] : sd)
    if (n == "norm.bias") t = zeros({4});  // shape mismatch
  const std::string msg = error_of([&] { net.load_state_dict(sd); });
  EXPECT_NE(msg.find("[load_state_dict]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing keys (1): scale"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected keys (1): extra.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("norm.bias: checkpoint (4) vs model (3)"), std::string::npos) << msg;
  // Non-strict ignores missing/unexpected but never a shape mismatch.
  for (auto& [n, t] : sd)
    if (n == "norm.bias") t = zeros({3});
  EXPECT_NO_THROW(net.load_state_dict(sd, /*strict=*/false));
}

TEST(Module, TrainEvalAndApply) {
  Generator g(1);
  Net net(&g);
  EXPECT_TRUE(net.is_training());
  net.eval();
  int count = 0;
  net.apply([&](Module& m) {
    EXPECT_FALSE(m.is_training());
    ++count;
  });
  EXPECT_EQ(count, 6);
  net.train();
  EXPECT_TRUE(net.child("body")->is_training());
}

TEST(Module, ZeroGradAndToDtype) {
  Generator g(1);
  Net net(&g);
  sum(net(randn({2, 4}, &g))).backward();
  for (auto& p : net.parameters()) EXPECT_TRUE(p.grad().defined());
  net.zero_grad();
  for (auto& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
  Tensor handle = net.scale;
  net.to(kFloat64);
  EXPECT_EQ(handle.dtype(), kFloat64);
  EXPECT_TRUE(handle.requires_grad());
  EXPECT_EQ(net.state_dict().back().second.dtype(), kInt64);  // integer buffers keep their dtype
  EXPECT_EQ(net(randn({2, 4}, &g, {.dtype = kFloat64})).dtype(), kFloat64);
}

TEST(Module, RegistrationErrors) {
  Module m("M");
  m.register_parameter("w", zeros({1}));
  EXPECT_NE(error_of([&] { m.register_parameter("w", zeros({1})); }).find("already exists"), std::string::npos);
  EXPECT_NE(error_of([&] { m.register_parameter("a.b", zeros({1})); }).find("contain no '.'"), std::string::npos);
  EXPECT_NE(error_of([&] { m.child("nope"); }).find("[M] has no child module 'nope'"), std::string::npos);
  EXPECT_NE(error_of([&] { m.forward(zeros({1})); }).find("[M] has no single-tensor forward()"), std::string::npos);
}

TEST(ReplaceModules, SwapsMatchingModulesInTheirParents) {
  Generator g(1);
  Net net(&g);
  class Doubler : public Module {
   public:
    explicit Doubler(ModulePtr inner) : Module("Doubler"), inner_(std::move(inner)) { register_module("inner", inner_); }
    Tensor forward(const Tensor& x) override { return mul(inner_->forward(x), 2.0); }
    ModulePtr inner_;
  };
  Tensor x = randn({3, 4}, &g);
  Tensor before = net.child("body")->forward(x);
  auto replaced = replace_modules(
      net, [](const std::string& name, const Module& m) { return m.type_name() == "Linear" && name != "body.0"; },
      [](const std::string&, const ModulePtr& m) { return std::make_shared<Doubler>(m); });
  ASSERT_EQ(replaced.size(), 1u);
  EXPECT_EQ(replaced[0].name, "body.2");
  EXPECT_EQ(replaced[0].before->type_name(), "Linear");
  EXPECT_EQ(net.child("body")->child("2")->type_name(), "Doubler");
  EXPECT_LT(max_abs_diff(net.child("body")->forward(x), mul(before, 2.0)), 1e-6);
  // The replaced module's parameters now live under the wrapper's name.
  bool found = false;
  for (auto& [n, p] : net.named_parameters()) found = found || n == "body.2.inner.weight";
  EXPECT_TRUE(found);
}

TEST(Layers, LinearMatchesManualAndInitBounds) {
  Generator g(3);
  Linear lin(5, 7, {.gen = &g});
  const double bound = 1.0 / std::sqrt(5.0);
  EXPECT_LE(amax(abs(lin.weight)).item<double>(), bound);
  Tensor x = randn({2, 3, 5}, &g);
  Tensor y = lin(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 7}));
  Tensor manual = add(matmul(x, lin.weight.t().contiguous()), lin.bias);
  EXPECT_LT(max_abs_diff(y, manual), 1e-5);
  Linear nobias(5, 2, {.bias = false});
  EXPECT_FALSE(nobias.bias.defined());
  EXPECT_EQ(nobias.named_parameters().size(), 1u);
  EXPECT_NE(error_of([&] { lin(randn({2, 4})); }).find("[Linear] expected input with last dim 5"), std::string::npos);
}

TEST(Layers, DropoutFollowsTrainingMode) {
  Generator g(3);
  Dropout d(0.5, &g);
  Tensor x = ones({1000});
  Tensor y = d(x);
  const double kept = sum(gt(y, 0.0).to(kFloat32)).item<double>();
  EXPECT_GT(kept, 400);
  EXPECT_LT(kept, 600);
  d.eval();
  EXPECT_EQ(max_abs_diff(d(x), x), 0.0);
}

TEST(Transformer, BlockShapesAndGradients) {
  Generator g(5);
  Block block({.n_embd = 16, .n_head = 4});
  Tensor x = randn({2, 6, 16}, &g).requires_grad_();
  Tensor y = block(x);
  EXPECT_EQ(y.shape(), x.shape());
  sum(mul(y, y)).backward();
  for (auto& [n, p] : block.named_parameters()) EXPECT_TRUE(p.grad().defined()) << n;
  EXPECT_TRUE(x.grad().defined());
}

TEST(Transformer, AttentionIsCausal) {
  Generator g(6);
  CausalSelfAttention attn({.n_embd = 8, .n_head = 2});
  Tensor x = randn({1, 5, 8}, &g);
  Tensor y = attn(x);
  // Changing the last position must not change earlier outputs.
  Tensor x2 = x.clone();
  {
    NoGradGuard ng;
    x2.select(1, 4).copy_(randn({8}, &g));
  }
  Tensor y2 = attn(x2);
  EXPECT_LT(max_abs_diff(y.narrow(1, 0, 4), y2.narrow(1, 0, 4)), 1e-6);
  EXPECT_GT(max_abs_diff(y.narrow(1, 4, 1), y2.narrow(1, 4, 1)), 1e-4);
}

TEST(Transformer, KVCacheMatchesFullForward) {
  Generator g(7);
  Block block({.n_embd = 12, .n_head = 3});
  block.eval();
  Tensor x = randn({2, 7, 12}, &g);
  NoGradGuard ng;
  Tensor full = block(x);
  KVCache cache;
  Tensor first = block.forward(x.narrow(1, 0, 4), &cache);  // prefill 4
  Tensor mid = block.forward(x.narrow(1, 4, 2), &cache);    // 2 at once
  Tensor last = block.forward(x.narrow(1, 6, 1), &cache);   // then 1
  EXPECT_EQ(cache.length(), 7);
  EXPECT_LT(max_abs_diff(cat({first, mid, last}, 1), full), 1e-5);
}
