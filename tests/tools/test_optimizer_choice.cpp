// --optimizer adamw|muon|mugrokfast in tern train and tern quantize's QAT: the routing in the
// run's header, the choice in tern_state.json, bit-identical resume with Muon's momentum and
// Grokfast's EMA, a refused switch on --resume, and Phase 5 on a BitNet directory.

#include <cmath>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/core/ops.h>

#include "driver_test_util.h"
#include "drivers.h"

using namespace tern;
using namespace tern::cli;
using namespace tern::cli::testing;

namespace {

TrainOptions with_optimizer(const std::string& data, const std::string& out, int64_t steps, const std::string& name) {
  TrainOptions o = small_run(data, out, steps);
  o.optimizer = name;
  return o;
}

}  // namespace

TEST(TrainOptimizer, MuonAndMuGrokfastResumeBitIdentically) {
  TempDir dir("optim_resume");
  const std::string data = small_text(dir);
  for (std::string name : {"muon", "mugrokfast"}) {
    std::string log;
    ASSERT_EQ(0, train(with_optimizer(data, dir / (name + "_straight"), 8, name), &log));
    // 2 layers x (c_attn, attn.c_proj, c_fc, mlp.c_proj); wte, wpe, biases and LayerNorms on AdamW.
    EXPECT_NE(log.find("Muon lr 0.02 on 8 matrices"), std::string::npos) << log;
    EXPECT_EQ(log.find("Grokfast") != std::string::npos, name == "mugrokfast") << log;
    ASSERT_EQ(0, train(with_optimizer(data, dir / (name + "_split"), 5, name)));
    TrainOptions r = with_optimizer(data, dir / (name + "_split"), 8, name);
    r.resume = true;
    r.given = {"steps"};
    ASSERT_EQ(0, train(r));
    expect_same_tensors(dir / (name + "_straight/checkpoint/model.safetensors"),
                        dir / (name + "_split/checkpoint/model.safetensors"));
    expect_same_tensors(dir / (name + "_straight/checkpoint/optimizer.safetensors"),
                        dir / (name + "_split/checkpoint/optimizer.safetensors"));
    const auto st = nlohmann::json::parse(read_file(dir / (name + "_split/checkpoint/tern_state.json")));
    EXPECT_EQ(st.at("options").at("optimizer"), name);
    EXPECT_EQ(st.at("options").at("muon-lr"), 0.02);
  }
}

TEST(TrainOptimizer, OptimizersDifferAndShowTheirRouting) {
  TempDir dir("optim_differ");
  const std::string data = small_text(dir);
  for (std::string name : {"adamw", "muon"}) {
    TrainOptions o = with_optimizer(data, dir / name, 3, name);
    o.show_routing = true;
    std::string log;
    ASSERT_EQ(0, train(o, &log));
    EXPECT_EQ(log.find("muon   h.0.mlp.c_fc.weight (128,32)") != std::string::npos, name == "muon") << log;
    EXPECT_EQ(log.find("adamw  wte.weight") != std::string::npos, name == "muon") << log;
  }
  const auto a = io::load(dir / "adamw/checkpoint/model.safetensors", {.copy = true});
  const auto m = io::load(dir / "muon/checkpoint/model.safetensors", {.copy = true});
  const std::string key = a.tensors.count("transformer.h.0.mlp.c_fc.weight") ? "transformer.h.0.mlp.c_fc.weight"
                                                                               : "h.0.mlp.c_fc.weight";
  EXPECT_GT(amax(abs(sub(a.tensors.at(key), m.tensors.at(key)))).item<double>(), 1e-4);
}

TEST(TrainOptimizer, ResumeWithAnotherOptimizerIsRefused) {
  TempDir dir("optim_switch");
  const std::string data = small_text(dir);
  ASSERT_EQ(0, train(with_optimizer(data, dir / "run", 2, "muon")));
  TrainOptions r = with_optimizer(data, dir / "run", 4, "adamw");
  r.resume = true;
  r.given = {"steps", "optimizer"};
  testutil::expect_error([&] { train(r); }, "was trained with --optimizer muon; --resume cannot switch it to adamw");
  // Without --optimizer the run's own choice is kept.
  r.given = {"steps"};
  std::string log;
  ASSERT_EQ(0, train(r, &log));
  EXPECT_NE(log.find("Muon lr"), std::string::npos) << log;

  TrainOptions bad = with_optimizer(data, dir / "bad", 2, "mugrokfast");
  bad.grokfast_alpha = 1.0;
  testutil::expect_error([&] { train(bad); }, "[train] --grokfast-alpha must be in [0, 1)");
  bad = with_optimizer(data, dir / "bad", 2, "sgd");
  testutil::expect_error([&] { train(bad); }, "--optimizer must be adamw, muon or mugrokfast");
}

// Phase 4 QAT with MuGrokfast, then Phase 5: the BitNet directory keeps training with it,
// Muon updating the latent weights behind each BitLinear.
TEST(QuantizeOptimizer, QatAndPhase5WithMuGrokfast) {
  TempDir dir("optim_phase5");
  const std::string data = small_text(dir);
  TrainOptions p3 = small_run(data, dir / "phase3", 3);
  p3.dropout = 0;
  ASSERT_EQ(0, train(p3));
  QuantizeOptions q;
  q.model = dir / "phase3";
  q.out = dir / "p4";
  q.config.qat_steps = 3;
  q.config.qat_batch_size = 4;
  q.config.qat_block_size = 16;
  q.config.eval_iters = 2;
  q.optimizer = "mugrokfast";
  q.given = {"qat-steps", "batch", "block", "eval-iters", "optimizer"};
  std::ostringstream qlog;
  const QuantizeReport rep = run_quantize(q, qlog);
  EXPECT_TRUE(std::isfinite(rep.val_qat)) << qlog.str();
  EXPECT_NE(qlog.str().find("QAT optimizer: MuGrokfast: Muon lr 0.002 on 8 matrices"), std::string::npos)
      << qlog.str();
  const auto report = nlohmann::json::parse(read_file(dir / "p4/quantize_report.json"));
  EXPECT_EQ(report.at("qat_optimizer"), "mugrokfast");

  TrainOptions o = phase5_run(dir / "p4", data, dir / "p5");
  o.optimizer = "mugrokfast";
  std::string log;
  ASSERT_EQ(0, train(o, &log)) << log;
  EXPECT_NE(log.find("MuGrokfast: Muon lr 0.02 on 8 matrices"), std::string::npos) << log;
}
