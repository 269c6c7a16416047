// tern quantize (Phase 4) and the Phase 5 hand-off, driven in-process: the output directory,
// its metadata, reloading it through every driver, continuing to train it, and the errors.

#include <csignal>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/ops.h>
#include <tern/quant/bitlinear.h>
#include <tern/quant/compressed_model.h>
#include <tern/quant/phase4.h>

#include "checkpoint.h"
#include "driver_test_util.h"
#include "drivers.h"
#include "file_lock.h"
#include "metrics_csv.h"

namespace fs = std::filesystem;
using namespace tern;
using namespace tern::cli;
using namespace tern::cli::testing;

namespace {

// A Phase 3 model: a few steps of the small run.
std::string phase3(const TempDir& dir, const std::string& data) {
  TrainOptions o = small_run(data, dir / "phase3", 3);
  o.dropout = 0;
  EXPECT_EQ(0, train(o));
  return dir / "phase3";
}

QuantizeOptions quick(const std::string& model, const std::string& out, int64_t qat_steps) {
  QuantizeOptions q;
  q.model = model;
  q.out = out;
  q.config.qat_steps = qat_steps;
  q.config.qat_batch_size = 4;
  q.config.qat_block_size = 16;
  q.config.eval_iters = 2;
  q.given = {"qat-steps", "batch", "block", "eval-iters"};
  return q;
}

int64_t count_bitlinear(const nn::Module& m) {
  int64_t n = 0;
  for (const auto& [name, mod] : m.named_modules()) n += dynamic_cast<const quant::BitLinear*>(mod) != nullptr;
  return n;
}

}  // namespace

TEST(QuantizeDriver, WritesAPhase4DirectoryThatEveryDriverLoads) {
  TempDir dir("quantize");
  const std::string data = small_text(dir);
  const std::string p3 = phase3(dir, data);
  std::ostringstream log;
  const QuantizeReport r = run_quantize(quick(p3, dir / "p4", 4), log);
  EXPECT_TRUE(std::isfinite(r.val_fp32) && std::isfinite(r.val_converted) && std::isfinite(r.val_qat)) << log.str();
  EXPECT_NE(log.str().find("QAT step 4/4"), std::string::npos) << log.str();
  const std::string out = dir / "p4";
  for (const char* f : {"model.safetensors", "model.ternary.safetensors", "config.json", "compression_stats.json",
                        "phase4_config.json", "quantize_report.json", "metrics.csv", kTokenizerFile})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;

  // FP16 dequantized weights with the metadata Phase 5 needs.
  const auto ck = io::load(out + "/model.safetensors");
  for (const auto& [name, t] : ck.tensors) EXPECT_EQ(t.dtype(), kFloat16) << name;
  for (const char* k : {"format_version", "vocab_size", "thinking_tokens", "phase4_config", "compression_stats",
                        quant::kBitNetMetadataKey})
    EXPECT_TRUE(ck.metadata.count(k)) << k;
  EXPECT_EQ(nlohmann::json::parse(ck.metadata.at("thinking_tokens")), nlohmann::json({"<think>", "</think>"}));
  const auto layout = quant::BitNetLayout::from_json(ck.metadata.at(quant::kBitNetMetadataKey), "test");
  EXPECT_EQ(layout.bitlinear.size(), 8u);  // 2 blocks x (c_attn, attn.c_proj, c_fc, mlp.c_proj)
  EXPECT_EQ(layout.weights, "dequantized");

  // The thinking tokens were added and the embeddings resized.
  auto tok = load_tokenizer(out);
  ASSERT_TRUE(tok->special_token_id("<think>"));
  auto model = load_model(out, nullptr, "test");
  EXPECT_EQ(model->config().vocab_size, tok->vocab_size());
  EXPECT_EQ(count_bitlinear(*model), 8);

  // The reloaded model computes what the quantizer evaluated: FP16 storage of the dequantized
  // weights changes the loss by rounding only.
  EvalOptions e;
  e.checkpoint = out;
  e.data = data;
  e.block = 16;
  e.batch = 4;
  e.max_batches = 2;
  std::ostringstream elog;
  EXPECT_NEAR(run_eval(e, elog).loss, r.val_qat, 2e-2);

  // The packed file holds the same ternary weights.
  auto packed = load_model(out, nullptr, "test");
  quant::CompressedModel cm(packed, quant::BitNetQuantizer(), quant::Phase4Config{}, true);
  cm.load(out + "/model.ternary.safetensors");
  std::map<std::string, const quant::BitLinear*> unpacked;
  for (const auto& [name, m] : packed->named_modules())
    if (const auto* b = dynamic_cast<const quant::BitLinear*>(m)) unpacked[name] = b;
  for (const auto& [name, m] : model->named_modules())
    if (const auto* b = dynamic_cast<const quant::BitLinear*>(m)) {
      ASSERT_TRUE(unpacked.count(name)) << name;
      const auto ta = b->ternary_weight(), tb = unpacked[name]->ternary_weight();
      EXPECT_EQ(sum(ne(ta.values, tb.values)).item<int64_t>(), 0) << name;
      EXPECT_NEAR(ta.scale, tb.scale, 1e-3 * std::abs(ta.scale)) << name;  // FP16 vs F32 scale
    }

  // generate accepts it too.
  GenerateCliOptions g;
  g.checkpoint = out;
  g.prompt = "<think>ROMEO:";
  g.has_prompt = true;
  g.max_new_tokens = 8;
  std::ostringstream gout, gerr;
  run_generate(g, gout, gerr);
  EXPECT_GE(gout.str().size(), 13u);
}

// QAT writes metrics.csv as `tern train` does: step 0 holds the converted model's val loss, then a row per step,
// the last with the val loss after QAT.
TEST(QuantizeDriver, QatWritesMetricsCsvLikeTrain) {
  TempDir dir("quantize_metrics");
  const std::string data = small_text(dir);
  const std::string p3 = phase3(dir, data);
  std::ostringstream log;
  QuantizeOptions q = quick(p3, dir / "p4", 5);
  q.log_interval = 2;
  const QuantizeReport r = run_quantize(q, log);
  const auto rows = csv_rows(dir / "p4/metrics.csv");
  ASSERT_EQ(rows.size(), 7u) << log.str();  // header, step 0, steps 1..5
  std::string header;
  for (const auto& c : rows[0]) header += (header.empty() ? "" : ",") + c;
  EXPECT_EQ(header, kMetricsHeader);
  EXPECT_EQ(rows[1][0], "0");
  EXPECT_TRUE(rows[1][1].empty() && rows[1][2].empty());
  EXPECT_NEAR(std::stod(rows[1][3]), r.val_converted, 1e-5);
  for (size_t i = 2; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][0], std::to_string(i - 1));
    EXPECT_GT(std::stod(rows[i][1]), 0) << "lr of step " << i - 1;
    EXPECT_TRUE(std::isfinite(std::stod(rows[i][2]))) << "train loss of step " << i - 1;
    EXPECT_GT(std::stod(rows[i][4]), 0) << "tokens/s of step " << i - 1;
    EXPECT_EQ(rows[i][3].empty(), i + 1 < rows.size()) << "val loss only after the last step";
  }
  EXPECT_NEAR(std::stod(rows.back()[3]), r.val_qat, 1e-5);
  // The progress lines: every second step and the last, in train's format.
  for (const char* l : {"QAT step 2/5 | loss ", "QAT step 4/5 | loss ", "QAT step 5/5 | loss "})
    EXPECT_NE(log.str().find(l), std::string::npos) << l << "\n" << log.str();
  EXPECT_EQ(log.str().find("QAT step 3/5"), std::string::npos) << log.str();
}

// Ctrl-C ends QAT after the step in progress; the Phase 4 directory is still written, with the steps done, and
// trains on as Phase 5.
TEST(QuantizeDriver, SigintEndsQatAndWritesTheStepsDone) {
  TempDir dir("quantize_sigint");
  const std::string data = small_text(dir);
  const std::string p3 = phase3(dir, data);
  QuantizeOptions q = quick(p3, dir / "p4", 6);
  q.on_step = [](int64_t step) {
    if (step == 2) std::raise(SIGINT);  // the real handler: sets the flag, QAT stops after this step
  };
  std::ostringstream log;
  const QuantizeReport r = run_quantize(q, log);
  EXPECT_EQ(r.signal, SIGINT);
  EXPECT_EQ(r.qat_steps, 2);
  EXPECT_TRUE(std::isnan(r.val_qat));
  EXPECT_NE(log.str().find("interrupted at QAT step 2 of 6"), std::string::npos) << log.str();
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL) << "the handler is uninstalled again";

  const auto rows = csv_rows(dir / "p4/metrics.csv");
  ASSERT_EQ(rows.size(), 4u);  // header, steps 0..2
  EXPECT_EQ(rows.back()[0], "2");
  const auto rep = nlohmann::json::parse(read_file(dir / "p4/quantize_report.json"));
  EXPECT_EQ(rep["qat_steps"], 2);
  EXPECT_EQ(rep["qat_interrupted"], true);
  EXPECT_TRUE(rep["val_loss_qat"].is_null());
  for (const auto& f : fs::directory_iterator(dir.path))
    EXPECT_EQ(f.path().filename().string().find(".tmp-"), std::string::npos) << f.path();

  std::string tlog;
  ASSERT_EQ(0, train(phase5_run(dir / "p4", data, dir / "p5"), &tlog)) << tlog;
  EXPECT_EQ(count_bitlinear(*load_model(dir / "p5/checkpoint", nullptr, "test")), 8);
}

TEST(QuantizeDriver, Phase5ContinuesTrainingAsBitNet) {
  TempDir dir("phase5");
  const std::string data = small_text(dir);
  const std::string p3 = phase3(dir, data);
  std::ostringstream log;
  run_quantize(quick(p3, dir / "p4", 0), log);

  TrainOptions o = phase5_run(dir / "p4", data, dir / "p5");
  std::string tlog;
  ASSERT_EQ(0, train(o, &tlog)) << tlog;
  const auto ck = io::load(dir / "p5/checkpoint/model.safetensors");
  ASSERT_TRUE(ck.metadata.count(quant::kBitNetMetadataKey)) << "a Phase 5 checkpoint stays BitNet";
  auto model = load_model(dir / "p5/checkpoint", nullptr, "test");
  EXPECT_EQ(count_bitlinear(*model), 8);

  // And it resumes as BitNet.
  TrainOptions more = o;
  more.steps = 4;
  more.resume = true;
  more.given = {"steps"};
  ASSERT_EQ(0, train(more, &tlog)) << tlog;
}

TEST(QuantizeDriver, TrainFromScratchAsBitNet) {
  TempDir dir("bitnet_scratch");
  const std::string data = small_text(dir);
  TrainOptions o = small_run(data, dir / "run", 2);
  o.bitnet = true;
  std::string tlog;
  ASSERT_EQ(0, train(o, &tlog)) << tlog;
  EXPECT_NE(tlog.find("BitLinear"), std::string::npos) << tlog;
  EXPECT_EQ(count_bitlinear(*load_model(dir / "run/checkpoint", nullptr, "test")), 8);

  // A BitNet training checkpoint has no packed file: --packed packs its latent weights in memory.
  EvalOptions e;
  e.checkpoint = dir / "run";
  e.data = data;
  e.block = 16;
  e.max_batches = 2;
  std::ostringstream elog;
  const double as_trained = run_eval(e, elog).loss;
  e.weights.weights = "packed";
  const double packed = run_eval(e, elog).loss;
  EXPECT_NEAR(packed, as_trained, 1e-4 * as_trained);
  EXPECT_NE(elog.str().find("(packed weights)"), std::string::npos) << elog.str();
}

TEST(QuantizeDriver, ClearErrorsAndNoHalfWrittenOutput) {
  TempDir dir("quantize_err");
  const std::string data = small_text(dir);
  const std::string p3 = phase3(dir, data);
  auto expect_error = [&](QuantizeOptions q, const std::string& needle) {
    std::ostringstream log;
    try {
      run_quantize(q, log);
      ADD_FAILURE() << "expected an error containing: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(q.out)) << "a failed run left " << q.out;
    for (const auto& f : fs::directory_iterator(dir.path))
      EXPECT_EQ(f.path().filename().string().find(".tmp-"), std::string::npos) << f.path();
  };
  expect_error(quick(dir / "nowhere", dir / "o1", 0), "does not exist");
  QuantizeOptions all = quick(p3, dir / "o2", 0);
  all.config.exclude_patterns = {"h."};
  all.given.insert("exclude");
  expect_error(all, "exclude");
  // A corrupt weights file.
  fs::copy(p3 + "/checkpoint", dir / "corrupt", fs::copy_options::recursive);
  write_file(dir / "corrupt/model.safetensors", "not a safetensors file at all");
  expect_error(quick(dir / "corrupt", dir / "o3", 0), "model.safetensors");
  // A tokenizer larger than the model's vocabulary.
  fs::copy(p3 + "/checkpoint", dir / "vocab", fs::copy_options::recursive);
  auto cfg = nlohmann::json::parse(read_file(dir / "vocab/config.json"));
  const int64_t v = cfg["vocab_size"];
  auto sd = io::load(dir / "vocab/model.safetensors", {.copy = true});
  for (auto& [name, t] : sd.tensors)
    if (name.find("wte") != std::string::npos) t = t.narrow(0, 0, v - 5).contiguous();
  cfg["vocab_size"] = v - 5;
  write_file(dir / "vocab/config.json", cfg.dump());
  io::save(dir / "vocab/model.safetensors", sd.tensors);
  expect_error(quick(dir / "vocab", dir / "o4", 0), "vocabulary mismatch");
  // An already converted model, and an output that exists.
  std::ostringstream log;
  run_quantize(quick(p3, dir / "p4", 0), log);
  expect_error(quick(dir / "p4", dir / "o5", 0), "already a BitNet model");
  QuantizeOptions again = quick(p3, dir / "p4", 0);
  try {
    run_quantize(again, log);
    ADD_FAILURE() << "overwrote an existing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
}

TEST(QuantizeDriver, PackedAndDequantizedInferenceAgree) {
  TempDir dir("quantize_packed");
  const std::string data = small_text(dir);
  const std::string p3 = phase3(dir, data);
  std::ostringstream log;
  run_quantize(quick(p3, dir / "p4", 2), log);
  const std::string out = dir / "p4";

  auto eval_with = [&](const std::string& weights, const std::string& lm_head) {
    EvalOptions e;
    e.checkpoint = out;
    e.data = data;
    e.block = 16;
    e.batch = 4;
    e.max_batches = 3;
    e.json = true;
    e.weights = {.weights = weights, .lm_head = lm_head};
    std::ostringstream elog;
    const double loss = run_eval(e, elog).loss;
    EXPECT_NE(elog.str().find("\"weights\":\"" + (weights == "auto" ? std::string("packed") : weights) + "\""),
              std::string::npos)
        << elog.str();
    return loss;
  };
  const double packed = eval_with("auto", "fp32"), deq = eval_with("dequantized", "fp32");
  EXPECT_NEAR(packed, deq, 1e-4 * deq);
  EXPECT_EQ(eval_with("packed", "fp32"), packed);
  EXPECT_NEAR(eval_with("auto", "int8"), packed, 2e-2 * packed);

  auto greedy = [&](const std::string& weights) {
    GenerateCliOptions g;
    g.checkpoint = out;
    g.prompt = "ROMEO:";
    g.has_prompt = true;
    g.max_new_tokens = 24;
    g.temperature = 0;
    g.weights.weights = weights;
    std::ostringstream gout, gerr;
    run_generate(g, gout, gerr);
    EXPECT_NE(gerr.str().find(weights == "dequantized" ? "dequantized weights" : "packed weights"),
              std::string::npos)
        << gerr.str();
    return gout.str();
  };
  EXPECT_EQ(greedy("auto"), greedy("dequantized"));

  // --packed needs BitLinear layers; the Phase 3 model has none.
  EvalOptions plain;
  plain.checkpoint = p3;
  plain.data = data;
  plain.max_batches = 1;
  plain.weights.weights = "packed";
  std::ostringstream plog;
  tern::testutil::expect_error([&] { run_eval(plain, plog); }, "has no BitLinear layers to pack");
}

// Two runs into one --out would delete each other's temporary directory: the second is refused, and the
// cleanup spares a directory whose writer is still alive.
TEST(QuantizeDriver, OneWriterPerOutputAndOnlyDeadWritersTempsAreRemoved) {
  TempDir dir("quantize_lock");
  const std::string data = small_text(dir);
  const std::string p3 = phase3(dir, data);
  std::ostringstream log;
  {
    FileLock other(dir / ".p4.lock", "test", "held");
    try {
      run_quantize(quick(p3, dir / "p4", 0), log);
      ADD_FAILURE() << "ran while another run held the lock";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another `tern quantize` is writing " + (dir / "p4")), std::string::npos)
          << e.what();
    }
  }
  const std::string dead = dir / ("p4.tmp-" + std::to_string(dead_pid()) + "-0");
  const std::string live = dir / ("p4.tmp-" + std::to_string(::getppid()) + "-0");
  fs::create_directories(dead);
  fs::create_directories(live);
  run_quantize(quick(p3, dir / "p4", 0), log);
  EXPECT_TRUE(fs::exists(dir / "p4/model.safetensors"));
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
}
