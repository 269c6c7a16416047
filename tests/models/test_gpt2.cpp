// GPT-2 against the transformers fixture in tests/fixtures/tiny_gpt2: logits, loss,
// every gradient, 10 AdamW steps and a greedy continuation.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <tern/core/io/safetensors.h>
#include <tern/models/gpt2/hf.h>
#include <tern/tern.h>

using namespace tern;

namespace {

const std::string kDir = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/tiny_gpt2";

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b).to(kFloat64))).item<double>(); }
double max_abs(const Tensor& a) { return amax(abs(a.to(kFloat64))).item<double>(); }
nn::Module* find_module(const nn::Module& m, const std::string& dotted) {
  for (auto& [name, mod] : m.named_modules())
    if (name == dotted) return mod;
  return nullptr;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

struct Fixture {
  io::Checkpoint ref = io::load(kDir + "/fwd_bwd.safetensors", {.copy = true});
  Tensor idx = ref.tensors.at("idx");
  Tensor targets = ref.tensors.at("targets");
};

}  // namespace

TEST(GPT2Parity, LogitsAndLoss) {
  Fixture fx;
  auto model = gpt2::load_hf(kDir);
  EXPECT_EQ(model->config().n_layer, 3);
  EXPECT_EQ(model->config().vocab_size, 300);
  auto out = model->forward(fx.idx, fx.targets);
  const Tensor& ref_logits = fx.ref.tensors.at("logits");
  ASSERT_EQ(out.logits.shape(), ref_logits.shape());
  EXPECT_LT(max_abs_diff(out.logits, ref_logits), 1e-5 * max_abs(ref_logits));
  const double ref_loss = fx.ref.tensors.at("loss").item<double>();
  EXPECT_NEAR(out.loss.item<double>(), ref_loss, 1e-5 * std::fabs(ref_loss));
}

TEST(GPT2Parity, EveryGradient) {
  Fixture fx;
  auto model = gpt2::load_hf(kDir);
  model->forward(fx.idx, fx.targets).loss.backward();
  std::map<std::string, Tensor> hf_grads;
  for (auto& [k, t] : fx.ref.tensors)
    if (k.rfind("grad.", 0) == 0) hf_grads[k.substr(5)] = t;
  auto grads = gpt2::from_hf_state(hf_grads, "fwd_bwd.safetensors");
  std::map<std::string, Tensor> params;
  for (auto& [n, p] : model->named_parameters()) params[n] = p;
  ASSERT_EQ(grads.size(), params.size());
  for (auto& [n, g] : grads) {
    ASSERT_TRUE(params.count(n)) << n;
    ASSERT_TRUE(params[n].grad().defined()) << n;
    EXPECT_LT(max_abs_diff(params[n].grad(), g), 1e-4) << n;
  }
}

// The gradients straight into transformers' names and layout, by gpt2::to_hf_names.
TEST(GPT2Parity, GradientsInHfNames) {
  Fixture fx;
  auto model = gpt2::load_hf(kDir);
  model->forward(fx.idx, fx.targets).loss.backward();
  nn::NamedTensors grads;
  for (auto& [n, p] : model->named_parameters()) grads.emplace_back(n, p.grad());
  const auto hf = gpt2::to_hf_names(grads);
  ASSERT_EQ(hf.size(), grads.size());
  for (const auto& [k, g] : hf) {
    const auto it = fx.ref.tensors.find("grad." + k);
    ASSERT_NE(it, fx.ref.tensors.end()) << k;
    ASSERT_EQ(g.shape(), it->second.shape()) << k;
    EXPECT_LT(max_abs_diff(g, it->second), 1e-4) << k;
  }
  EXPECT_EQ(gpt2::hf_name("h.2.mlp.c_fc.weight"), "transformer.h.2.mlp.c_fc.weight");
  EXPECT_THROW(gpt2::to_hf_names({{"wte.weight", Tensor()}}), Error);
}

TEST(GPT2Parity, TenAdamWSteps) {
  Fixture fx;
  auto model = gpt2::load_hf(kDir);
  auto expected = read_json(kDir + "/adamw_10_steps.json")["losses"];
  nn::optim::AdamW opt(nn::optim::weight_decay_groups(model->named_parameters(), 0.1),
                       {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8});
  for (int step = 0; step < 10; ++step) {
    opt.zero_grad();
    Tensor loss = model->forward(fx.idx, fx.targets).loss;
    EXPECT_NEAR(loss.item<double>(), expected[step].get<double>(), 1e-5 * expected[step].get<double>())
        << "step " << step;
    loss.backward();
    nn::optim::clip_grad_norm(model->parameters(), 1.0);
    opt.step();
  }
  auto after = io::load(kDir + "/params_after_10_steps.safetensors", {.copy = true});
  auto ref = gpt2::from_hf_state(after.tensors, "params_after_10_steps.safetensors");
  std::map<std::string, Tensor> params;
  for (auto& [n, p] : model->named_parameters()) params[n] = p;
  for (auto& [n, t] : ref) EXPECT_LT(max_abs_diff(params.at(n), t), 1e-5) << n;
}

TEST(GPT2Parity, GreedyContinuation) {
  auto model = gpt2::load_hf(kDir);
  auto j = read_json(kDir + "/greedy.json");
  std::vector<int64_t> prompt = j["prompt"].get<std::vector<int64_t>>();
  std::vector<int64_t> expect = j["greedy"].get<std::vector<int64_t>>();
  auto got = model->generate(prompt, {.max_new_tokens = 20, .temperature = 0.0});
  EXPECT_EQ(got, expect);
}

TEST(GPT2, SaveHfRoundTrip) {
  auto model = gpt2::load_hf(kDir);
  const std::string out = testing::TempDir() + "/tern_gpt2_roundtrip";
  gpt2::save_hf(*model, out);
  auto f = io::SafetensorsFile::open(out + "/model.safetensors");
  EXPECT_TRUE(f.contains("transformer.h.0.attn.c_attn.weight"));
  EXPECT_EQ(f.info("transformer.h.0.attn.c_attn.weight").shape, (std::vector<int64_t>{48, 144}));
  EXPECT_FALSE(f.contains("lm_head.weight"));
  auto again = gpt2::load_hf(out);
  auto a = model->state_dict(), b = again->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(max_abs_diff(a[i].second, b[i].second), 0.0) << a[i].first;
  std::filesystem::remove_all(out);
}

TEST(GPT2, BiasFreeExactGeluVariantRoundTripsThroughHfLayout) {
  // nanoGPT's variant: no biases, exact GELU. Saved in HF layout it carries zero biases
  // (transformers needs them) and "bias": false, and reloads as the same bias-free model.
  Generator g(3);
  gpt2::Config c{.n_layer = 2, .n_head = 2, .n_embd = 32, .n_positions = 16, .vocab_size = 50};
  c.bias = false;
  c.activation_function = "gelu";
  gpt2::GPT2 m(c, &g);
  for (auto& [n, t] : m.named_parameters()) EXPECT_EQ(n.find(".bias"), std::string::npos) << n;
  gpt2::Config with_bias = c;
  with_bias.bias = true;
  EXPECT_EQ(gpt2::GPT2(with_bias, &g).num_parameters() - m.num_parameters(), 2 * (3 * 32 + 32 + 4 * 32 + 32 + 2 * 32) + 32);
  auto* act = dynamic_cast<nn::GELU*>(find_module(m, "h.0.mlp.gelu"));
  ASSERT_NE(act, nullptr);
  EXPECT_EQ(act->approximate, GeluApproximation::none);

  const std::string out = testing::TempDir() + "/tern_gpt2_nobias";
  gpt2::save_hf(m, out);
  const auto cfg = read_json(out + "/config.json");
  EXPECT_EQ(cfg.at("bias"), false);
  EXPECT_EQ(cfg.at("activation_function"), "gelu");
  auto f = io::SafetensorsFile::open(out + "/model.safetensors");
  for (const char* k : {"transformer.h.1.attn.c_attn.bias", "transformer.h.0.mlp.c_proj.bias", "transformer.h.0.ln_2.bias",
                        "transformer.ln_f.bias"}) {
    ASSERT_TRUE(f.contains(k)) << k;
  }
  EXPECT_EQ(f.info("transformer.h.1.attn.c_attn.bias").shape, (std::vector<int64_t>{96}));
  EXPECT_EQ(f.info("transformer.h.0.mlp.c_fc.bias").shape, (std::vector<int64_t>{128}));

  // Mapping the names adds no biases: they exist only in the file written for transformers.
  for (const auto& [k, t] : gpt2::to_hf_names(m.named_parameters()))
    EXPECT_EQ(k.find(".bias"), std::string::npos) << k;
  EXPECT_EQ(gpt2::to_hf_names(m.named_parameters()).size(), m.named_parameters().size());

  auto again = gpt2::load_hf(out);
  EXPECT_FALSE(again->config().bias);
  EXPECT_TRUE(again->config().exact_gelu());
  Tensor idx = from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  {
    NoGradGuard ng;
    m.eval();
    again->eval();
    EXPECT_EQ(max_abs_diff(m.forward(idx), again->forward(idx)), 0.0);
    // Exact and tanh GELU give different logits from the same weights.
    gpt2::Config tanh_cfg = c;
    tanh_cfg.activation_function = "gelu_new";
    gpt2::GPT2 t(tanh_cfg, &g);
    t.load_state_dict(m.state_dict());
    t.eval();
    EXPECT_GT(max_abs_diff(m.forward(idx), t.forward(idx)), 1e-7);
  }

  // A bias the config calls absent but the file holds as non-zero (the model was
  // trained on elsewhere) is kept: the model is built with biases instead.
  auto st = io::load(out + "/model.safetensors", {.copy = true}).tensors;
  st["transformer.h.0.ln_1.bias"] = full({32}, 0.5);
  io::save(out + "/model.safetensors", st);
  auto kept = gpt2::load_hf(out);
  EXPECT_TRUE(kept->config().bias);
  std::map<std::string, Tensor> p;
  for (auto& [n, t] : kept->named_parameters()) p[n] = t;
  EXPECT_EQ(p.at("h.0.ln_1.bias").select(0, 3).item<float>(), 0.5f);
  std::filesystem::remove_all(out);
}

TEST(GPT2, ConfigRejectsUnknownActivation) {
  try {
    gpt2::Config::from_json(R"({"activation_function": "relu"})", "cfg.json");
    FAIL() << "relu must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("activation_function 'relu'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos) << e.what();
  }
  try {
    gpt2::Config::from_json(R"({"bias": "no"})", "cfg.json");
    FAIL() << "a non-boolean bias must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'bias'"), std::string::npos) << e.what();
  }
}

TEST(GPT2, InitFollowsGpt2) {
  Generator g(1);
  gpt2::Config c{.n_layer = 2, .n_head = 2, .n_embd = 64, .n_positions = 32, .vocab_size = 500};
  gpt2::GPT2 m(c, &g);
  std::map<std::string, Tensor> p;
  for (auto& [n, t] : m.named_parameters()) p[n] = t;
  auto std_of = [](const Tensor& t) { return std::sqrt(var(t, {}, 0).item<double>()); };
  EXPECT_NEAR(std_of(p["wte.weight"]), 0.02, 0.002);
  EXPECT_NEAR(std_of(p["h.0.mlp.c_proj.weight"]), 0.02 / std::sqrt(4.0), 0.002);
  EXPECT_EQ(max_abs(p["h.1.attn.c_attn.bias"]), 0.0);
  EXPECT_EQ(amax(p["ln_f.weight"]).item<double>(), 1.0);
  EXPECT_EQ(p.count("lm_head.weight"), 0u);  // tied to wte
}

TEST(GPT2, ResizeTokenEmbeddingsKeepsRows) {
  Generator g(2);
  gpt2::GPT2 m({.n_layer = 1, .n_head = 2, .n_embd = 8, .n_positions = 16, .vocab_size = 10}, &g);
  Tensor before = m.wte().clone();
  Tensor handle = m.wte();
  m.resize_token_embeddings(12, &g);
  EXPECT_EQ(handle.shape(), (Shape{12, 8}));
  EXPECT_EQ(max_abs_diff(handle.narrow(0, 0, 10), before), 0.0);
  EXPECT_EQ(m.config().vocab_size, 12);
  auto out = m.forward(from_vector<int64_t>({11, 3}, {1, 2}));
  EXPECT_EQ(out.shape(), (Shape{1, 2, 12}));
}

TEST(GPT2, SamplingIsSeededAndRespectsTopK) {
  Generator g(3);
  gpt2::GPT2 m({.n_layer = 1, .n_head = 2, .n_embd = 8, .n_positions = 8, .vocab_size = 20}, &g);
  gpt2::GenerateOptions o{.max_new_tokens = 12, .temperature = 1.0, .top_k = 3, .seed = 42};
  auto a = m.generate({1, 2}, o);
  auto b = m.generate({1, 2}, o);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 14u);  // runs past n_positions: the window slides
  std::vector<float> logits = {0.f, 5.f, 4.f, 3.f, -1.f};
  Generator s(0);
  for (int i = 0; i < 200; ++i) {
    const int64_t t = gpt2::sample_next(logits.data(), 5, {.top_k = 2}, s);
    EXPECT_TRUE(t == 1 || t == 2);
  }
  EXPECT_EQ(gpt2::sample_next(logits.data(), 5, {.temperature = 0.0}, s), 1);
}

TEST(GPT2, BadInputsAreClearErrors) {
  gpt2::GPT2 m({.n_layer = 1, .n_head = 2, .n_embd = 8, .n_positions = 4, .vocab_size = 10});
  try {
    m.forward(zeros({1, 5}, {.dtype = kInt64}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds n_positions 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.generate({10}), Error);
  EXPECT_THROW(gpt2::Config::from_json("{\"n_embd\": 10, \"n_head\": 3}"), Error);
  EXPECT_THROW(gpt2::load_hf("/nonexistent"), Error);
}
