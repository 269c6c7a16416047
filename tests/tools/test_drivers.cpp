// tern train / generate / eval, driven in-process: bit-identical resume (plain and after
// SIGINT), the checkpoint layout, metrics.csv, sampling, evaluation and error messages.

#include <unistd.h>

#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <tern/backends/backend.h>
#include <tern/core/error.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/ops.h>
#include <tern/models/gpt2/hf.h>

#include "checkpoint.h"
#include "drivers.h"
#include "driver_test_util.h"
#include "run_common.h"

namespace fs = std::filesystem;
using namespace tern;
using namespace tern::cli;
using namespace tern::cli::testing;


TEST(TrainDriver, ResumeIsBitIdentical) {
  TempDir dir("resume");
  const std::string data = small_text(dir);

  // 10 steps straight through.
  ASSERT_EQ(0, train(small_run(data, dir / "straight", 10)));
  // 5 steps, then resume to 10 (the schedule's horizon is fixed by --lr-decay-steps).
  ASSERT_EQ(0, train(small_run(data, dir / "split", 5)));
  TrainOptions r = small_run(data, dir / "split", 10);
  r.resume = true;
  r.given = {"steps"};
  std::string log;
  ASSERT_EQ(0, train(r, &log));
  EXPECT_NE(log.find("from step 5"), std::string::npos) << log;

  expect_same_tensors(dir / "straight/checkpoint/model.safetensors", dir / "split/checkpoint/model.safetensors");
  expect_same_tensors(dir / "straight/checkpoint/optimizer.safetensors",
                      dir / "split/checkpoint/optimizer.safetensors");
  const auto sa = nlohmann::json::parse(read_file(dir / "straight/checkpoint/tern_state.json"));
  const auto sb = nlohmann::json::parse(read_file(dir / "split/checkpoint/tern_state.json"));
  EXPECT_EQ(sa["step"], 10);
  EXPECT_EQ(sa["train_sampler"], sb["train_sampler"]);
  EXPECT_EQ(sa["dropout_generator"], sb["dropout_generator"]);

  // metrics.csv: the same steps and losses (elapsed and tokens/s aside).
  auto rows = [](const std::string& path) {
    std::vector<std::string> out;
    for (const auto& l : lines(read_file(path))) {
      std::vector<std::string> cols;
      std::istringstream is(l);
      for (std::string c; std::getline(is, c, ',');) cols.push_back(c);
      while (cols.size() < 6) cols.emplace_back();
      out.push_back(cols[0] + "," + cols[1] + "," + cols[2]);  // val rows differ: a run ending at 5 evaluates there
    }
    return out;
  };
  const auto ma = rows(dir / "straight/metrics.csv"), mb = rows(dir / "split/metrics.csv");
  ASSERT_EQ(ma.size(), 12u);  // header, step 0 (val only), steps 1..10
  EXPECT_EQ(ma[0], "step,lr,train_loss");
  EXPECT_EQ(ma, mb);
}

TEST(TrainDriver, NanoGptVariantTrainsResumesAndEvaluates) {
  // --no-bias --activation gelu: the model has no biases and exact GELU, the checkpoint
  // says so, resume keeps it (bit-identically) and eval reloads it.
  TempDir dir("nobias");
  const std::string data = small_text(dir);
  auto variant = [&](const std::string& out, int64_t steps) {
    TrainOptions o = small_run(data, out, steps);
    o.no_bias = true;
    o.activation = "gelu";
    return o;
  };
  std::string log;
  ASSERT_EQ(0, train(variant(dir / "straight", 8), &log));
  EXPECT_NE(log.find("no bias, exact GELU"), std::string::npos) << log;
  ASSERT_EQ(0, train(variant(dir / "split", 4)));
  TrainOptions r = variant(dir / "split", 8);
  r.resume = true;
  r.given = {"steps"};
  ASSERT_EQ(0, train(r));
  expect_same_tensors(dir / "straight/checkpoint/model.safetensors", dir / "split/checkpoint/model.safetensors");

  const auto cfg = nlohmann::json::parse(read_file(dir / "straight/checkpoint/config.json"));
  EXPECT_EQ(cfg.at("bias"), false);
  EXPECT_EQ(cfg.at("activation_function"), "gelu");
  auto model = load_model(dir / "straight/checkpoint", nullptr, "test");
  EXPECT_FALSE(model->config().bias);
  EXPECT_TRUE(model->config().exact_gelu());
  for (auto& [n, t] : model->named_parameters()) EXPECT_EQ(n.find(".bias"), std::string::npos) << n;

  // Resuming with the other architecture is refused, naming the option.
  TrainOptions bad = variant(dir / "split", 10);
  bad.resume = true;
  bad.activation = "gelu_new";
  bad.given = {"steps", "activation"};
  try {
    train(bad);
    ADD_FAILURE() << "resuming with another --activation must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("activation"), std::string::npos) << e.what();
  }
}

TEST(TrainDriver, SigintSavesACheckpointAndResumesExactly) {
  TempDir dir("sigint");
  const std::string data = small_text(dir);
  ASSERT_EQ(0, train(small_run(data, dir / "straight", 9)));

  TrainOptions o = small_run(data, dir / "cut", 9);
  o.on_step = [](int64_t step) {
    if (step == 6) std::raise(SIGINT);  // the real handler: sets the flag, the loop stops after this step
  };
  std::string log;
  EXPECT_EQ(130, train(o, &log));
  EXPECT_NE(log.find("interrupted at step 6"), std::string::npos) << log;
  const auto st = nlohmann::json::parse(read_file(dir / "cut/checkpoint/tern_state.json"));
  EXPECT_EQ(st["step"], 6);
  // The handler is uninstalled again: SIGINT is back to its default disposition.
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);

  TrainOptions r = small_run(data, dir / "cut", 9);
  r.resume = true;
  ASSERT_EQ(0, train(r));
  expect_same_tensors(dir / "straight/checkpoint/model.safetensors", dir / "cut/checkpoint/model.safetensors");
}

TEST(TrainDriver, CheckpointIsAHuggingFaceDirectory) {
  TempDir dir("layout");
  const std::string data = small_text(dir);
  TrainOptions o = small_run(data, dir / "run", 3);
  o.add_tokens = {"<think>", "</think>"};
  ASSERT_EQ(0, train(o));
  const std::string ck = dir / "run/checkpoint";
  for (const char* f : {"config.json", "model.safetensors", "optimizer.safetensors", "tern_state.json",
                        "tern_tokenizer.json"})
    EXPECT_TRUE(fs::exists(ck + "/" + f)) << f;
  // No temporary directories left behind.
  for (const auto& e : fs::directory_iterator(dir / "run"))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  auto model = gpt2::load_hf(ck);
  EXPECT_EQ(model->config().n_layer, 2);
  auto tok = load_tokenizer(ck);
  EXPECT_EQ(tok->kind(), "char");
  EXPECT_EQ(tok->vocab_size(), tok->base_vocab_size() + 2);  // the characters of this text + 2 added tokens
  EXPECT_EQ(model->config().vocab_size, tok->vocab_size());
  EXPECT_EQ(*tok->special_token_id("</think>"), tok->vocab_size() - 1);
  EXPECT_EQ(tok->encode("<think>a").size(), 2u);
  const auto st = nlohmann::json::parse(read_file(ck + "/tern_state.json"));
  EXPECT_EQ(st["options"]["batch"], 4);
  EXPECT_EQ(st["options"]["block"], 16);
  EXPECT_EQ(st["step"], 3);
}

TEST(TrainDriver, InitFromAHuggingFaceCheckpoint) {
  TempDir dir("init");
  const std::string data = small_text(dir);
  TrainOptions o;
  o.init = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/tiny_gpt2";  // vocab 300 >= 65 characters
  o.tokenizer = "char";
  o.data = data;
  o.batch = 2;
  o.steps = 2;
  o.eval_interval = 0;
  o.out = dir / "run";
  ASSERT_EQ(0, train(o));
  auto model = gpt2::load_hf(dir / "run/checkpoint");
  EXPECT_EQ(model->config().n_embd, 48);
  EXPECT_EQ(model->config().vocab_size, 300);
  EXPECT_EQ(model->config().n_positions, 64);
}

TEST(TrainDriver, InitFromATernCheckpointKeepsItsTokenizer) {
  TempDir dir("init_tern");
  const std::string data = small_text(dir);
  TrainOptions a = small_run(data, dir / "a", 2);
  a.add_tokens = {"<think>"};
  ASSERT_EQ(0, train(a));
  TrainOptions b;
  b.init = dir / "a";  // the --out dir resolves to its checkpoint/
  b.data = data;
  b.batch = 2;
  b.block = 8;
  b.steps = 1;
  b.eval_interval = 0;
  b.out = dir / "b";
  ASSERT_EQ(0, train(b));
  auto ta = load_tokenizer(dir / "a/checkpoint"), tb = load_tokenizer(dir / "b/checkpoint");
  EXPECT_EQ(tb->kind(), "char");
  EXPECT_EQ(ta->tag(), tb->tag());
  EXPECT_EQ(gpt2::load_hf(dir / "b/checkpoint")->config().n_embd, 32);
}

// Training text that spells a special token: matched by default and counted in the data summary, or read as plain
// text with --data-special none (a choice the run keeps: eval tokenizes its text the same way).
TEST(TrainDriver, DataSpecialTokensAreCountedOrReadAsText) {
  TempDir dir("data_special");
  std::string text = read_file(small_text(dir));
  text.insert(1000, "<think>");
  text.insert(20000, "<think>");
  write_file(dir / "think.txt", text);
  TrainOptions o = small_run(dir / "think.txt", dir / "all", 1);
  o.add_tokens = {"<think>"};
  o.eval_interval = 0;
  std::string log;
  ASSERT_EQ(0, train(o, &log));
  EXPECT_NE(log.find("2 special token(s) matched in the text (--data-special all)"), std::string::npos) << log;
  o.out = dir / "none";
  o.data_special = "none";
  ASSERT_EQ(0, train(o, &log));
  EXPECT_NE(log.find("special-token text read as plain text (--data-special none)"), std::string::npos) << log;
  EvalOptions e;
  e.checkpoint = dir / "none";
  e.split = "all";
  std::ostringstream out;
  EXPECT_EQ(run_eval(e, out).tokens, static_cast<int64_t>(text.size()) - 1);  // one token per character
  TrainOptions r = o;
  r.resume = true;
  r.steps = 2;
  r.data_special = "all";
  r.given = {"data-special", "steps"};
  try {
    train(r);
    ADD_FAILURE() << "resumed with another --data-special";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("--data-special \"all\" (the run has \"none\")"), std::string::npos)
        << err.what();
  }
}

TEST(TrainDriver, ClearErrors) {
  TempDir dir("errors");
  const std::string data = small_text(dir);
  auto expect_error = [](TrainOptions o, const std::string& needle) {
    try {
      train(std::move(o));
      ADD_FAILURE() << "no error; expected one mentioning: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  TrainOptions r = small_run(data, dir / "none", 4);
  r.resume = true;
  expect_error(r, "nothing to resume");

  TrainOptions bad = small_run(data, dir / "x", 4);
  bad.batch = 0;
  expect_error(bad, "--batch must be positive");
  bad = small_run(dir / "missing.txt", dir / "x", 4);
  expect_error(bad, "does not exist");
  bad = small_run(data, dir / "x", 4);
  bad.n_layer = bad.n_head = bad.n_embd = 0;
  bad.init = dir / "nowhere";
  expect_error(bad, "checkpoint directory");
  bad = small_run(data, dir / "x", 4);
  bad.block = 0;
  bad.model = "huge";
  expect_error(bad, "unknown preset 'huge'");
  if (!cuda_available()) {
    bad = small_run(data, dir / "x", 4);
    bad.device = "cuda";
    expect_error(bad, "CUDA is not available");
  }
  bad = small_run(data, dir / "x", 4);
  bad.precision = "fp16";
  expect_error(bad, "--precision must be fp32, tf32 or bf16, got 'fp16'");

  ASSERT_EQ(0, train(small_run(data, dir / "run", 2)));
  expect_error(small_run(data, dir / "run", 4), "already holds a checkpoint");
  TrainOptions c = small_run(data, dir / "run", 4);
  c.resume = true;
  c.batch = 8;
  c.given = {"batch", "steps"};
  expect_error(c, "--batch 8 (the run has 4)");
  // --overwrite starts over.
  TrainOptions ow = small_run(data, dir / "run", 1);
  ow.overwrite = true;
  EXPECT_EQ(0, train(ow));
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "run/checkpoint/tern_state.json"))["step"], 1);
}

TEST(GenerateDriver, StreamsFromATrainedCheckpoint) {
  TempDir dir("gen");
  const std::string data = small_text(dir);
  ASSERT_EQ(0, train(small_run(data, dir / "run", 2)));
  GenerateCliOptions g;
  g.checkpoint = dir / "run";  // the --out dir resolves to its checkpoint/
  g.prompt = "ROMEO:";
  g.has_prompt = true;
  g.max_new_tokens = 20;
  std::ostringstream out, err;
  run_generate(g, out, err);
  EXPECT_EQ(out.str().rfind("ROMEO:", 0), 0u) << out.str();
  EXPECT_EQ(out.str().size(), 6u + 20u + 1u);  // one byte per character here, plus the final newline
  EXPECT_NE(err.str().find("tokens/s"), std::string::npos) << err.str();
  // Same seed, same text.
  std::ostringstream out2, err2;
  run_generate(g, out2, err2);
  EXPECT_EQ(out.str(), out2.str());

  g.checkpoint = dir / "nowhere";
  EXPECT_THROW(run_generate(g, out, err), Error);
  g.checkpoint = dir / "run";
  g.top_p = 0;
  EXPECT_THROW(run_generate(g, out, err), Error);
}

TEST(GenerateDriver, TransformersDirectoryWithGpt2Tokenizer) {
  // The fixture has no tokenizer files: GPT-2's BPE from the data dir is used; its vocab
  // (50257) exceeds the fixture's 300, which must be a clear error.
  GenerateCliOptions g;
  g.checkpoint = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/tiny_gpt2";
  std::ostringstream out, err;
  try {
    run_generate(g, out, err);
    ADD_FAILURE() << "expected a vocabulary mismatch error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("50257 tokens but the model only 300"), std::string::npos) << e.what();
  }
}

TEST(EvalDriver, LossAndPerplexity) {
  TempDir dir("eval");
  const std::string data = small_text(dir);
  ASSERT_EQ(0, train(small_run(data, dir / "run", 3)));
  EvalOptions e;
  e.checkpoint = dir / "run/checkpoint";
  std::ostringstream out;
  const EvalResult r = run_eval(e, out);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_NEAR(r.perplexity, std::exp(r.loss), 1e-9);
  EXPECT_EQ(r.tokens, 3000 - 1);  // the val split of the run's data, every token after the first
  EXPECT_GT(r.loss, 2.5);  // 3 steps: still near uniform (log 58 = 4.06)
  EXPECT_LT(r.loss, 5.0);
  EXPECT_NE(out.str().find("val loss"), std::string::npos);

  e.split = "all";
  e.json = true;
  e.max_batches = 1;
  e.batch = 2;
  std::ostringstream js;
  const EvalResult r2 = run_eval(e, js);
  EXPECT_EQ(r2.tokens, 2 * 16);
  const auto j = nlohmann::json::parse(js.str());
  EXPECT_EQ(j["tokens"], 32);
  EXPECT_EQ(j["split"], "all");

  e.checkpoint = dir / "nowhere";
  EXPECT_THROW(run_eval(e, out), Error);
}

TEST(Utf8Stream, HoldsBackSplitCharactersAndReplacesInvalidBytes) {
  std::ostringstream os;
  Utf8Stream s(os);
  s.write("caf\xC3");  // é split across two tokens
  EXPECT_EQ(os.str(), "caf");
  s.write("\xA9 \xF0\x9F");
  EXPECT_EQ(os.str(), "café ");
  s.write("\x98\x80!");
  EXPECT_EQ(os.str(), "café \xF0\x9F\x98\x80!");
  s.write("\xFF");  // never valid
  EXPECT_EQ(os.str(), "café \xF0\x9F\x98\x80!\xEF\xBF\xBD");
  s.write("\xE2\x82");
  s.finish();  // an unfinished character at the end
  EXPECT_EQ(os.str(), "café \xF0\x9F\x98\x80!\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(CheckpointDir, ReplacesAtomicallyAndCleansUp) {
  TempDir dir("ckdir");
  {
    CheckpointDir a(dir.path.string());
    write_file(a.path() + "/x", "one");
    a.commit();
  }
  EXPECT_EQ(read_file(dir / "checkpoint/x"), "one");
  {
    CheckpointDir b(dir.path.string());
    write_file(b.path() + "/x", "two");
    EXPECT_EQ(read_file(dir / "checkpoint/x"), "one");  // not visible before commit
    b.commit();
  }
  EXPECT_EQ(read_file(dir / "checkpoint/x"), "two");
  {
    CheckpointDir c(dir.path.string());
    write_file(c.path() + "/x", "three");
  }  // abandoned: removed, the old one stays
  EXPECT_EQ(read_file(dir / "checkpoint/x"), "two");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  EXPECT_EQ(entries, 1);
  // Left by a crashed writer: removed. Another live writer's (the parent process stands in for one): kept.
  const std::string dead = dir / ("checkpoint.tmp-" + std::to_string(dead_pid()) + "-0");
  const std::string aside = dead + ".old";
  const std::string live = dir / ("checkpoint.tmp-" + std::to_string(::getppid()) + "-0");
  for (const auto& d : {dead, aside, live}) fs::create_directories(d);
  remove_stale_checkpoint_temps(dir.path.string());
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(aside));
  EXPECT_TRUE(fs::exists(live));
}
