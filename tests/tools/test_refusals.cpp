// Inputs the drivers used to guess around and now refuse, naming what is wrong: a checkpoint whose training text
// or tokenizer file is gone, sizes of 0, a directory given as data, --exclude patterns that match nothing; and an
// early error in `tern train` leaves no --out directory behind.

#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include <tern/core/error.h>

#include "checkpoint.h"
#include "driver_test_util.h"
#include "drivers.h"

namespace fs = std::filesystem;
using namespace tern;
using namespace tern::cli;
using namespace tern::cli::testing;

namespace {

// f() must throw a tern::Error containing every needle.
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing " << *needles.begin();
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Refusals, EvalAndGenerateNameWhatTheCheckpointLacks) {
  TempDir dir("refuse_ckpt");
  const std::string data = small_text(dir);
  ASSERT_EQ(0, train(small_run(data, dir / "run", 1)));
  std::ostringstream out, err;

  // The training text is gone: no falling back to tinyshakespeare.
  fs::rename(data, dir / "moved.txt");
  EvalOptions e;
  e.checkpoint = dir / "run";
  expect_error([&] { run_eval(e, out); },
               {"[eval] the checkpoint was trained on '" + data + "', which no longer exists", "pass --data FILE"});
  e.data = dir / "moved.txt";
  EXPECT_EQ(run_eval(e, out).tokens, 3000 - 1);
  e.data = dir.path.string();
  expect_error([&] { run_eval(e, out); }, {"data file '" + dir.path.string() + "' is a directory"});

  // The tokenizer file is gone: no falling back to GPT-2's BPE.
  const std::string tj = dir / ("run/checkpoint/" + std::string(kTokenizerFile));
  fs::remove(tj);
  e.data = dir / "moved.txt";
  expect_error([&] { run_eval(e, out); }, {"[" + tj + "] missing"});
  GenerateCliOptions g;
  g.checkpoint = dir / "run";
  expect_error([&] { run_generate(g, out, err); }, {"[" + tj + "] missing"});
  // A bpe tokenizer file whose vocabulary files are gone.
  fs::create_directories(dir / "bpe");
  expect_error([&] { tokenizer_from_json(R"({"type": "bpe"})", "tok.json", dir / "bpe"); },
               {"[" + (dir / "bpe/vocab.json") + "] missing: the bpe tokenizer of tok.json needs it"});
}

TEST(Refusals, TrainRefusesZeroSizesAndADirectoryAsData) {
  TempDir dir("refuse_train");
  const std::string data = small_text(dir);
  for (const char* name : {"n-layer", "n-embd", "n-head", "block"}) {
    TrainOptions o = small_run(data, dir / "x", 1);
    const std::string n = name;
    (n == "n-layer" ? o.n_layer : n == "n-embd" ? o.n_embd : n == "n-head" ? o.n_head : o.block) = 0;
    o.given = {name};
    expect_error([&] { train(o); }, {"[train] --" + n + " must be positive, got 0"});
  }
  TrainOptions neg = small_run(data, dir / "x", 1);
  neg.n_layer = -2;
  expect_error([&] { train(neg); }, {"--n-layer must be positive, got -2"});
  expect_error([&] { train(small_run(dir.path.string(), dir / "x", 1)); },
               {"[train] data file '" + dir.path.string() + "' is a directory; give a text file"});
}

TEST(Refusals, AnEarlyTrainErrorLeavesNoOutDirectory) {
  TempDir dir("refuse_out");
  const std::string data = small_text(dir);
  expect_error([&] { train(small_run(dir / "missing.txt", dir / "new/run", 1)); }, {"does not exist"});
  EXPECT_FALSE(fs::exists(dir / "new"));
  TrainOptions r = small_run(data, dir / "none", 1);
  r.resume = true;
  expect_error([&] { train(r); }, {"nothing to resume"});
  EXPECT_FALSE(fs::exists(dir / "none"));
  // A directory that was there before stays, and so does what is in it.
  fs::create_directories(dir / "mine");
  write_file(dir / "mine/notes.txt", "keep");
  expect_error([&] { train(small_run(dir / "missing.txt", dir / "mine", 1)); }, {"does not exist"});
  EXPECT_EQ(read_file(dir / "mine/notes.txt"), "keep");
}

TEST(Refusals, QuantizeExcludeThatMatchesNothing) {
  TempDir dir("refuse_exclude");
  const std::string data = small_text(dir);
  TrainOptions t = small_run(data, dir / "p3", 1);
  ASSERT_EQ(0, train(t));
  QuantizeOptions q;
  q.model = dir / "p3";
  q.out = dir / "p4";
  q.config.exclude_patterns = {"wte", "c_porj"};
  q.config.eval_iters = 1;
  q.config.qat_batch_size = 2;
  q.config.qat_block_size = 16;
  q.given = {"exclude", "eval-iters", "batch", "block"};
  std::ostringstream log;
  run_quantize(q, log);
  EXPECT_NE(log.str().find("warning: --exclude 'c_porj' matches no module (substring match); the modules are: "
                           "wte, wpe, drop, h, h.<i>, h.<i>.ln_1, h.<i>.attn"),
            std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find("h.<i>.attn.c_proj"), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find("'wte'"), std::string::npos) << log.str();
  q.strict = true;
  q.overwrite = true;
  expect_error([&] { run_quantize(q, log); }, {"[quantize] --exclude 'c_porj' matches no module"});
}

TEST(Refusals, QuantizeRefusesBlockZero) {
  QuantizeOptions q;
  q.model = "unused";
  q.config.qat_block_size = 0;
  q.given = {"block"};
  std::ostringstream log;
  expect_error([&] { run_quantize(q, log); }, {"[quantize] --block must be positive, got 0"});
}
