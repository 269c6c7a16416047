#include <gtest/gtest.h>

#include <cmath>

#include <tern/core/io/safetensors.h>
#include <tern/tern.h>

using namespace tern;
using namespace tern::nn;

namespace {

const std::string kFixtures = std::string(TERN_SOURCE_DIR) + "/tests/fixtures";

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b).to(kFloat64))).item<double>(); }

}  // namespace

// torch.optim.AdamW(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) on one 7x5 parameter.
TEST(AdamW, MatchesTorchTrajectory) {
  auto ref = io::load(kFixtures + "/adamw_ref.safetensors", {.copy = true});
  Tensor p = ref.tensors.at("p0").clone().requires_grad_();
  optim::AdamW opt({p}, {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01});
  for (int64_t s = 0; s < 10; ++s) {
    p.set_grad(ref.tensors.at("grads").select(0, s).contiguous());
    opt.step();
    EXPECT_LT(max_abs_diff(p, ref.tensors.at("trajectory").select(0, s)), 1e-6) << "step " << s;
  }
  auto state = opt.state_dict();
  for (auto& [n, t] : state) {
    if (n == "state.0.0.exp_avg") EXPECT_LT(max_abs_diff(t, ref.tensors.at("exp_avg")), 1e-6);
    if (n == "state.0.0.exp_avg_sq") EXPECT_LT(max_abs_diff(t, ref.tensors.at("exp_avg_sq")), 1e-6);
    if (n == "state.0.0.step") EXPECT_EQ(t.item<int64_t>(), 10);
  }
}

// A parameter's state by name, without knowing its group and index in state_dict().
TEST(AdamW, StateOfOneParameter) {
  auto ref = io::load(kFixtures + "/adamw_ref.safetensors", {.copy = true});
  Tensor p = ref.tensors.at("p0").clone().requires_grad_();
  Tensor other = zeros({2}).requires_grad_();
  optim::AdamW opt(std::vector<optim::ParamGroup>{{.params = {other}}, {.params = {p}}},
                   {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01});
  EXPECT_TRUE(opt.state(p).empty());  // no step yet
  for (int64_t s = 0; s < 10; ++s) {
    p.set_grad(ref.tensors.at("grads").select(0, s).contiguous());
    opt.step();
  }
  const auto st = opt.state(p);
  EXPECT_EQ(st.size(), 3u);
  EXPECT_LT(max_abs_diff(st.at("exp_avg"), ref.tensors.at("exp_avg")), 1e-6);
  EXPECT_LT(max_abs_diff(st.at("exp_avg_sq"), ref.tensors.at("exp_avg_sq")), 1e-6);
  EXPECT_EQ(st.at("step").item<int64_t>(), 10);
  EXPECT_TRUE(opt.state(other).empty());  // it had no gradient
  EXPECT_THROW(opt.state(zeros({7, 5})), Error);

  Tensor q = tensor({1.0f}).requires_grad_();
  optim::SGD sgd({q}, {.lr = 0.1, .momentum = 0.9});
  q.set_grad(tensor({1.0f}));
  sgd.step();
  EXPECT_EQ(sgd.state(q).at("momentum_buffer").item<float>(), 1.0f);
}

TEST(AdamW, StateRoundTripResumesExactly) {
  Generator g(4);
  Tensor start = randn({6, 3}, &g);
  std::vector<Tensor> grads;
  for (int i = 0; i < 6; ++i) grads.push_back(randn({6, 3}, &g));
  auto run = [&](int split) {
    Tensor p = start.clone().requires_grad_();
    auto opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, optim::AdamWOptions{.lr = 0.1});
    for (int i = 0; i < 6; ++i) {
      if (i == split) {  // simulate a restart: a new optimizer loaded from the saved state
        auto saved = opt->state_dict();
        opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, optim::AdamWOptions{.lr = 0.5});
        opt->load_state_dict(saved);
      }
      p.set_grad(grads[i]);
      opt->step();
    }
    return p.detach();
  };
  EXPECT_EQ(max_abs_diff(run(-1), run(3)), 0.0);
}

TEST(AdamW, WeightDecayGroups) {
  Linear lin(4, 3);
  auto groups = optim::weight_decay_groups(lin.named_parameters(), 0.1);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].params.size(), 1u);  // the weight
  EXPECT_EQ(groups[1].params.size(), 1u);  // the bias
  optim::AdamW opt(groups, {.lr = 1e-3});
  EXPECT_DOUBLE_EQ(*opt.param_groups()[0].weight_decay, 0.1);
  EXPECT_DOUBLE_EQ(*opt.param_groups()[1].weight_decay, 0.0);
  EXPECT_DOUBLE_EQ(opt.lr(1), 1e-3);
}

TEST(SGD, MomentumMatchesHandComputed) {
  Tensor p = tensor({1.0f}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  p.set_grad(tensor({1.0f}));
  opt.step();  // buf = 1, p = 0.9
  p.set_grad(tensor({1.0f}));
  opt.step();  // buf = 1.9, p = 0.71
  EXPECT_NEAR(p.item<double>(), 0.71, 1e-6);
  optim::SGD plain({p}, {.lr = 1.0, .weight_decay = 0.5});
  p.set_grad(tensor({0.0f}));
  plain.step();  // p -= 0.5 p
  EXPECT_NEAR(p.item<double>(), 0.355, 1e-6);
}

TEST(ClipGradNorm, ScalesToMaxNorm) {
  Tensor a = tensor({3.0f}).requires_grad_();
  Tensor b = tensor({4.0f}).requires_grad_();
  a.set_grad(tensor({3.0f}));
  b.set_grad(tensor({4.0f}));
  const double norm = optim::clip_grad_norm({a, b}, 1.0);
  EXPECT_NEAR(norm, 5.0, 1e-6);
  EXPECT_NEAR(a.grad().item<double>(), 0.6, 1e-5);
  EXPECT_NEAR(b.grad().item<double>(), 0.8, 1e-5);
  EXPECT_NEAR(optim::clip_grad_norm({a, b}, 10.0), 1.0, 1e-5);  // under the limit: unchanged
  EXPECT_NEAR(a.grad().item<double>(), 0.6, 1e-5);
}

TEST(Schedules, WarmupCosine) {
  optim::WarmupCosineLR s(1e-3, 1e-4, 10, 110);
  EXPECT_NEAR(s.lr(0), 1e-3 / 11, 1e-12);
  EXPECT_NEAR(s.lr(10), 1e-3, 1e-12);
  EXPECT_NEAR(s.lr(60), 0.5 * (1e-3 + 1e-4), 1e-12);
  EXPECT_NEAR(s.lr(110), 1e-4, 1e-12);
  EXPECT_NEAR(s.lr(1000), 1e-4, 1e-12);
  EXPECT_DOUBLE_EQ(optim::ConstantLR(3e-4).lr(77), 3e-4);
}
