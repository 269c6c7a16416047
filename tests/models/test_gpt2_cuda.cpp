// The transformers fixture in tests/fixtures/tiny_gpt2 on CUDA, to the CPU test's tolerances
// (test_gpt2.cpp): logits, loss, every gradient, 10 AdamW steps and a greedy continuation;
// then checkpoints written on one device and resumed on the other. Skipped without a GPU.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <span>

#include <nlohmann/json.hpp>

#include <tern/core/io/safetensors.h>
#include <tern/models/gpt2/hf.h>
#include <tern/tern.h>

#include "../backends/cuda_test_util.h"
#include "../test_util.h"

using namespace tern;

namespace {

const std::string kDir = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/tiny_gpt2";

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return amax(abs(sub(a.to(kCPU), b.to(kCPU)).to(kFloat64))).item<double>();
}
double max_abs(const Tensor& a) { return amax(abs(a.to(kCPU).to(kFloat64))).item<double>(); }

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

struct Fixture {
  io::Checkpoint ref = io::load(kDir + "/fwd_bwd.safetensors", {.copy = true});
  Tensor idx = ref.tensors.at("idx").to(cuda());
  Tensor targets = ref.tensors.at("targets").to(cuda());
};

std::shared_ptr<gpt2::GPT2> load_on(Device device) {
  auto model = gpt2::load_hf(kDir);
  model->to(device);
  return model;
}

std::map<std::string, Tensor> params_of(const nn::Module& m) {
  std::map<std::string, Tensor> out;
  for (auto& [n, p] : m.named_parameters()) out[n] = p;
  return out;
}

nn::optim::AdamW fixture_optimizer(gpt2::GPT2& model) {
  return nn::optim::AdamW(nn::optim::weight_decay_groups(model.named_parameters(), 0.1),
                          {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8});
}

// One step of the fixture's recipe on (idx, targets) moved to the model's device.
double train_step(gpt2::GPT2& model, nn::optim::AdamW& opt, const Tensor& idx, const Tensor& targets) {
  const Device d = model.wte().device();
  opt.zero_grad();
  Tensor loss = model.forward(idx.to(d), targets.to(d)).loss;
  const double l = loss.item<double>();
  loss.backward();
  nn::optim::clip_grad_norm(model.parameters(), 1.0);
  opt.step();
  return l;
}

}  // namespace

TEST(CudaGPT2Parity, LogitsAndLoss) {
  TERN_SKIP_WITHOUT_CUDA();
  Fixture fx;
  auto model = load_on(cuda());
  auto out = model->forward(fx.idx, fx.targets);
  EXPECT_TRUE(out.logits.device().is_cuda());
  const Tensor& ref_logits = fx.ref.tensors.at("logits");
  ASSERT_EQ(out.logits.shape(), ref_logits.shape());
  EXPECT_LT(max_abs_diff(out.logits, ref_logits), 1e-5 * max_abs(ref_logits));
  const double ref_loss = fx.ref.tensors.at("loss").item<double>();
  EXPECT_NEAR(out.loss.item<double>(), ref_loss, 1e-5 * std::fabs(ref_loss));
}

TEST(CudaGPT2Parity, EveryGradient) {
  TERN_SKIP_WITHOUT_CUDA();
  Fixture fx;
  auto model = load_on(cuda());
  model->forward(fx.idx, fx.targets).loss.backward();
  std::map<std::string, Tensor> hf_grads;
  for (auto& [k, t] : fx.ref.tensors)
    if (k.rfind("grad.", 0) == 0) hf_grads[k.substr(5)] = t;
  auto grads = gpt2::from_hf_state(hf_grads, "fwd_bwd.safetensors");
  auto params = params_of(*model);
  ASSERT_EQ(grads.size(), params.size());
  for (auto& [n, g] : grads) {
    ASSERT_TRUE(params.count(n)) << n;
    ASSERT_TRUE(params[n].grad().defined()) << n;
    EXPECT_TRUE(params[n].grad().device().is_cuda()) << n;
    EXPECT_LT(max_abs_diff(params[n].grad(), g), 1e-4) << n;
  }
}

TEST(CudaGPT2Parity, TenAdamWSteps) {
  TERN_SKIP_WITHOUT_CUDA();
  Fixture fx;
  auto model = load_on(cuda());
  auto expected = read_json(kDir + "/adamw_10_steps.json")["losses"];
  auto opt = fixture_optimizer(*model);
  for (int step = 0; step < 10; ++step) {
    const double loss = train_step(*model, opt, fx.idx, fx.targets);
    EXPECT_NEAR(loss, expected[step].get<double>(), 1e-5 * expected[step].get<double>()) << "step " << step;
  }
  auto after = io::load(kDir + "/params_after_10_steps.safetensors", {.copy = true});
  auto ref = gpt2::from_hf_state(after.tensors, "params_after_10_steps.safetensors");
  auto params = params_of(*model);
  for (auto& [n, t] : ref) {
    EXPECT_TRUE(params.at(n).device().is_cuda()) << n;
    EXPECT_LT(max_abs_diff(params.at(n), t), 1e-5) << n;
  }
}

TEST(CudaGPT2Parity, GreedyContinuation) {
  TERN_SKIP_WITHOUT_CUDA();
  auto model = load_on(cuda());
  auto j = read_json(kDir + "/greedy.json");
  std::vector<int64_t> prompt = j["prompt"].get<std::vector<int64_t>>();
  std::vector<int64_t> expect = j["greedy"].get<std::vector<int64_t>>();
  EXPECT_EQ(model->generate(prompt, {.max_new_tokens = 20, .temperature = 0.0}), expect);
  // Sampling reads the logits on the host: the same seed gives the CPU's tokens.
  const gpt2::GenerateOptions sampled{.max_new_tokens = 12, .temperature = 0.8, .top_k = 40, .seed = 5};
  EXPECT_EQ(model->generate(prompt, sampled), load_on(kCPU)->generate(prompt, sampled));
}

// A checkpoint written from the model on `from` (weights in HF layout, the optimizer's state
// as tern train saves it) resumes on `to`: the weights arrive bit for bit, and the next step
// there matches the step the writer would have taken.
void checkpoint_crosses_devices(Device from, Device to) {
  Fixture fx;
  testutil::TempDir dir("gpt2_cuda_ckpt");
  auto writer = load_on(from);
  auto wopt = fixture_optimizer(*writer);
  for (int s = 0; s < 2; ++s) train_step(*writer, wopt, fx.idx, fx.targets);
  gpt2::save_hf(*writer, dir.path.string());
  const nn::NamedTensors state = wopt.state_dict();
  io::save(dir / "optimizer.safetensors", std::span<const std::pair<std::string, Tensor>>(state));

  auto reader = gpt2::load_hf(dir.path.string());
  reader->to(to);
  auto rp = params_of(*reader);
  for (auto& [n, p] : params_of(*writer)) {
    EXPECT_EQ(rp.at(n).device(), to) << n;
    EXPECT_EQ(max_abs_diff(rp.at(n), p), 0.0) << n;
  }
  auto ropt = fixture_optimizer(*reader);
  const auto saved = io::load(dir / "optimizer.safetensors");
  ropt.load_state_dict(nn::NamedTensors(saved.tensors.begin(), saved.tensors.end()));
  for (auto& [k, t] : ropt.state_dict()) {
    if (t.dim() > 0) {
      EXPECT_EQ(t.device(), to) << k;
    }
  }

  const double lw = train_step(*writer, wopt, fx.idx, fx.targets);
  const double lr = train_step(*reader, ropt, fx.idx, fx.targets);
  EXPECT_NEAR(lr, lw, 1e-5 * std::fabs(lw));
  rp = params_of(*reader);
  for (auto& [n, p] : params_of(*writer)) EXPECT_LT(max_abs_diff(rp.at(n), p), 1e-5) << n;
}

TEST(CudaGPT2Checkpoint, WrittenOnCudaResumesOnCpu) {
  TERN_SKIP_WITHOUT_CUDA();
  checkpoint_crosses_devices(cuda(), kCPU);
}

TEST(CudaGPT2Checkpoint, WrittenOnCpuResumesOnCuda) {
  TERN_SKIP_WITHOUT_CUDA();
  checkpoint_crosses_devices(kCPU, cuda());
}
