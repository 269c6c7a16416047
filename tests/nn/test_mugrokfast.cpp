#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <tern/core/io/safetensors.h>
#include <tern/tern.h>

#include "../test_util.h"

using namespace tern;
using namespace tern::nn;

// The reference trajectories in optim_ref.safetensors (generate_optim_fixtures.py): a small
// per-position model, 8 full-batch updates with Muon + AdamW, Grokfast + AdamW and MuGrokfast.

namespace {

const std::string kFixture = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/optim_ref.safetensors";

// Embedding -> Linear -> tanh-GELU -> Linear -> LayerNorm -> Linear head without bias.
class RefNet : public Module {
 public:
  RefNet(int64_t V, int64_t C) : Module("RefNet") {
    emb = register_module("emb", std::make_shared<Embedding>(V, C));
    fc = register_module("fc", std::make_shared<Linear>(C, 4 * C));
    proj = register_module("proj", std::make_shared<Linear>(4 * C, C));
    ln = register_module("ln", std::make_shared<LayerNorm>(C));
    head = register_module("head", std::make_shared<Linear>(C, V, LinearOptions{.bias = false}));
  }
  Tensor forward(const Tensor& idx) override {
    return (*head)((*ln)((*proj)(gelu((*fc)((*emb)(idx))))));
  }
  std::shared_ptr<Embedding> emb;
  std::shared_ptr<Linear> fc, proj, head;
  std::shared_ptr<LayerNorm> ln;
};

struct Reference {
  io::Checkpoint ckpt;
  nlohmann::json hyper, losses;
  const Tensor& at(const std::string& k) const { return ckpt.tensors.at(k); }
};

const Reference& reference() {
  static const Reference ref = [] {
    Reference r{io::load(kFixture, {.copy = true}), {}, {}};
    r.hyper = nlohmann::json::parse(r.ckpt.metadata.at("hyper"));
    r.losses = nlohmann::json::parse(r.ckpt.metadata.at("losses"));
    return r;
  }();
  return ref;
}

std::shared_ptr<RefNet> reference_model() {
  const auto& ref = reference();
  auto net = std::make_shared<RefNet>(ref.at("init.emb.weight").size(0), ref.at("init.emb.weight").size(1));
  StateDict init;
  for (auto& [n, t] : ref.ckpt.tensors)
    if (n.starts_with("init.")) init.emplace_back(n.substr(5), t);
  net->load_state_dict(init);
  return net;
}

// max |a - b| / max |b|: the error relative to the tensor's scale, so that entries near
// zero do not dominate.
double rel_err(const Tensor& a, const Tensor& b) {
  const double scale = amax(abs(b.to(kFloat64))).item<double>();
  return amax(abs(sub(a.to(kFloat64), b.to(kFloat64)))).item<double>() / std::max(scale, 1e-30);
}

optim::AdamWOptions reference_adamw() {
  const auto& h = reference().hyper;
  return {.lr = h["adam_lr"], .beta1 = h["b1"], .beta2 = h["b2"], .eps = h["eps"], .weight_decay = h["adam_wd"]};
}

optim::MuonOptions reference_muon() {
  const auto& h = reference().hyper;
  return {.lr = h["muon_lr"], .momentum = h["muon_beta"], .weight_decay = h["muon_wd"]};
}

optim::GrokfastOptions reference_grokfast() {
  const auto& h = reference().hyper;
  return {.alpha = h["alpha"], .lamb = h["lamb"]};
}

// Runs the 8 updates; `step` is the optimizer's whole update after backward.
void check_trajectory(const std::string& variant, RefNet& net, const std::function<void()>& step) {
  const auto& ref = reference();
  const auto& losses = ref.losses[variant];
  const int64_t steps = static_cast<int64_t>(losses.size());
  ASSERT_EQ(steps, 8) << variant;
  for (int64_t s = 0; s < steps; ++s) {
    net.zero_grad();
    Tensor loss = cross_entropy(net(ref.at("idx")), ref.at("targets"));
    loss.backward();
    const double want = losses[s];
    EXPECT_LT(std::abs(loss.item<double>() - want) / want, 1e-5) << variant << " loss before update " << s + 1;
    step();
    if (s == 0 || s == steps - 1)
      for (auto& [n, p] : net.named_parameters()) {
        const std::string key = variant + ".step" + std::to_string(s + 1) + "." + n;
        EXPECT_LT(rel_err(p, ref.at(key)), 1e-5) << key;
      }
  }
}

optim::MuGrokfastOptions reference_mugrokfast(bool grokfast) {
  optim::MuGrokfastOptions o{.muon = reference_muon(), .adamw = reference_adamw()};
  if (!grokfast) o.grokfast = std::nullopt;
  return o;
}

}  // namespace

TEST(NewtonSchulz, MatchesReferenceWideAndTall) {
  const auto& ref = reference();
  for (std::string nm : {"wide", "tall"}) {
    Tensor out = optim::newton_schulz(ref.at("ns5." + nm + ".in"));
    EXPECT_EQ(out.shape(), ref.at("ns5." + nm + ".out").shape());
    EXPECT_LT(rel_err(out, ref.at("ns5." + nm + ".out")), 1e-5) << nm;
  }
}

TEST(NewtonSchulz, RefusesNonMatrices) {
  testutil::expect_error([] { optim::newton_schulz(zeros({2, 3, 4})); }, "[newton_schulz] expects a 2-D matrix");
}

TEST(Muon, WithAdamWMatchesReference) {
  auto net = reference_model();
  optim::MuGrokfast opt(*net, reference_mugrokfast(false));
  check_trajectory("muon", *net, [&] { opt.step(); });
}

TEST(Grokfast, WithAdamWMatchesReference) {
  auto net = reference_model();
  optim::GrokfastEMA filter(net->parameters(), reference_grokfast());
  optim::AdamW adamw(optim::weight_decay_groups(net->named_parameters(), reference_adamw().weight_decay),
                     reference_adamw());
  check_trajectory("grokfast_adamw", *net, [&] {
    filter.apply();
    adamw.step();
  });
}

TEST(MuGrokfast, MatchesReference) {
  auto net = reference_model();
  optim::MuGrokfast opt(*net, reference_mugrokfast(true));
  check_trajectory("mugrokfast", *net, [&] { opt.step(); });
}

TEST(MuGrokfast, RoutesHiddenLinearWeightsToMuon) {
  auto net = reference_model();
  optim::MuGrokfast opt(*net);
  std::vector<std::string> muon;
  for (auto& r : opt.routing())
    if (r.muon) muon.push_back(r.name);
  const auto want = nlohmann::json::parse(reference().ckpt.metadata.at("muon_params")).get<std::vector<std::string>>();
  EXPECT_EQ(muon, want);
  EXPECT_NE(opt.routing_table().find("muon   fc.weight (64,16)"), std::string::npos) << opt.routing_table();
  EXPECT_NE(opt.routing_table().find("adamw  head.weight (50,16)"), std::string::npos) << opt.routing_table();
  EXPECT_EQ(opt.param_groups().size(), 3u);
  EXPECT_EQ(opt.param_groups()[0].params.size(), 2u);  // emb, head weights: decayed
  EXPECT_EQ(opt.param_groups()[1].params.size(), 4u);  // biases and LayerNorm
  EXPECT_EQ(opt.param_groups()[2].params.size(), 2u);  // Muon: fc, proj weights
}

TEST(MuGrokfast, PatternsOverrideTheRouting) {
  auto net = reference_model();
  optim::MuGrokfast opt(*net, {.exclude_patterns = {"fc"}, .muon_patterns = {"emb.weight"}});
  std::vector<std::string> muon;
  for (auto& r : opt.routing())
    if (r.muon) muon.push_back(r.name);
  // "fc" excludes fc only; the head is no longer excluded once the default list is replaced.
  EXPECT_EQ(muon, (std::vector<std::string>{"emb.weight", "proj.weight", "head.weight"}));
  testutil::expect_error([&] { optim::MuGrokfast(*net, {.muon_patterns = {"ln.weight"}}); },
                         "[MuGrokfast] muon pattern matches 'ln.weight'");
}

TEST(MuGrokfast, BitLinearLatentWeightsGoToMuon) {
  auto net = reference_model();
  quant::replace_linear_with_bitlinear(*net, 0.1, {"head"});
  optim::MuGrokfast opt(*net);
  int64_t n_muon = 0;
  for (auto& r : opt.routing()) n_muon += r.muon;
  EXPECT_EQ(n_muon, 2);
  EXPECT_NE(dynamic_cast<quant::BitLinear*>(net->child("fc").get()), nullptr);
}

TEST(MuGrokfast, SetLrKeepsTheMuonRatio) {
  auto net = reference_model();
  optim::MuGrokfast opt(*net, {.muon = {.lr = 0.02}, .adamw = {.lr = 1e-3}});
  opt.set_lr(5e-4);
  EXPECT_DOUBLE_EQ(opt.lr(0), 5e-4);
  EXPECT_DOUBLE_EQ(opt.lr(1), 5e-4);
  EXPECT_DOUBLE_EQ(opt.lr(2), 0.01);
}

TEST(Muon, RefusesNonMatrices) {
  Tensor b = zeros({4}).requires_grad_();
  testutil::expect_error([&] { optim::Muon({b}); }, "[Muon] parameter 0 of group 0 has shape (4)");
}

// A run split at every step by a save and a load into fresh objects ends bit-identical to
// the run in one piece, with Grokfast's EMA, Muon's momentum and AdamW's moments restored.
TEST(MuGrokfast, StateRoundTripResumesExactly) {
  const auto& ref = reference();
  auto run = [&](int split) {
    auto net = reference_model();
    auto opt = std::make_unique<optim::MuGrokfast>(*net, reference_mugrokfast(true));
    for (int s = 0; s < 5; ++s) {
      if (s == split) {
        auto saved = opt->state_dict();
        opt = std::make_unique<optim::MuGrokfast>(*net, reference_mugrokfast(true));
        opt->load_state_dict(saved);
      }
      net->zero_grad();
      cross_entropy((*net)(ref.at("idx")), ref.at("targets")).backward();
      opt->step();
    }
    return net->state_dict();
  };
  auto whole = run(-1);
  for (int split : {1, 3}) {
    auto resumed = run(split);
    ASSERT_EQ(whole.size(), resumed.size());
    for (size_t i = 0; i < whole.size(); ++i)
      EXPECT_EQ(amax(abs(sub(whole[i].second, resumed[i].second))).item<double>(), 0.0)
          << whole[i].first << " split at " << split;
  }
}

TEST(MuGrokfast, RefusesStateOfAnotherRouting) {
  auto net = reference_model();
  optim::MuGrokfast opt(*net);
  net->zero_grad();
  cross_entropy((*net)(reference().at("idx")), reference().at("targets")).backward();
  opt.step();
  optim::MuGrokfast other(*net, {.exclude_patterns = {"head", "fc"}});
  testutil::expect_error([&] { other.load_state_dict(opt.state_dict()); },
                         "[MuGrokfast] the state routes 2 of 8 tensors to Muon, this model 1 of 8");
  optim::AdamW adamw(net->parameters());
  testutil::expect_error([&] { other.load_state_dict(adamw.state_dict()); }, "not a MuGrokfast state");
}

TEST(Grokfast, StateRoundTripAndFirstGradient) {
  Tensor p = zeros({3}).requires_grad_();
  optim::GrokfastEMA f({p}, {.alpha = 0.5, .lamb = 2.0});
  p.set_grad(tensor({1.0f, 2.0f, 3.0f}));
  f.apply();  // ema = g; g <- 3 g
  EXPECT_EQ(amax(abs(sub(p.grad(), tensor({3.0f, 6.0f, 9.0f})))).item<double>(), 0.0);
  optim::GrokfastEMA g({p}, {.alpha = 0.5, .lamb = 2.0});
  g.load_state_dict(f.state_dict());
  p.set_grad(tensor({3.0f, 2.0f, 1.0f}));
  g.apply();  // ema = (2, 2, 2); g <- g + 4
  EXPECT_EQ(amax(abs(sub(p.grad(), tensor({7.0f, 6.0f, 5.0f})))).item<double>(), 0.0);
}
