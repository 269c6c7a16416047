// tern eval CHECKPOINT: the mean next-token loss and the perplexity of a checkpoint on a
// text file's val split (the last 10% of its tokens, as in training), its train split,
// or all of it. The split is cut into consecutive windows of --block tokens (the last
// one shorter), so every token but the first is predicted exactly once.
//
//   tern eval out/checkpoint                      the run's data, val split
//   tern eval path/to/gpt2 --data some.txt --split all --block 1024

#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tern/autograd/grad_mode.h>
#include <tern/core/error.h>
#include <tern/core/ops.h>
#include <tern/models/data/text_dataset.h>
#include <tern/models/gpt2/model.h>

#include "checkpoint.h"
#include "commands.h"
#include "drivers.h"
#include "run_common.h"

namespace fs = std::filesystem;

namespace tern::cli {

namespace {
constexpr const char* kWhere = "eval";
}

EvalResult evaluate_tokens(gpt2::GPT2& model, const Tensor& toks, int64_t block, int64_t batch, int64_t max_batches,
                           Device device) {
  const int64_t n = toks.numel();
  TERN_CHECK(n >= 2 && block > 0 && batch > 0, kWhere, "nothing to evaluate: ", n, " token(s), block ", block);
  block = std::min(block, n - 1);
  const Stopwatch sw;
  NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t full = (n - 1) / block, rem = (n - 1) % block;
  double total = 0;
  EvalResult r;
  int64_t batches = 0;
  auto run = [&](int64_t start, int64_t rows, int64_t len) {
    Tensor x = toks.narrow(0, start, rows * len).view({rows, len}).to(device);
    Tensor y = toks.narrow(0, start + 1, rows * len).view({rows, len}).to(device);
    const double loss = model.forward(x, y).loss.item<double>();
    total += loss * static_cast<double>(rows * len);
    r.tokens += rows * len;
    r.windows += rows;
    ++batches;
  };
  for (int64_t w = 0; w < full && (max_batches == 0 || batches < max_batches); w += batch)
    run(w * block, std::min(batch, full - w), block);
  if (rem > 0 && (max_batches == 0 || batches < max_batches)) run(full * block, 1, rem);
  model.train(was_training);
  r.loss = total / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  r.seconds = sw.seconds();
  return r;
}

EvalResult run_eval(const EvalOptions& o, std::ostream& out) {
  TERN_CHECK(o.split == "val" || o.split == "train" || o.split == "all", kWhere,
             "--split must be val, train or all, got '", o.split, "'");
  TERN_CHECK(o.batch > 0, kWhere, "--batch must be positive, got ", o.batch);
  TERN_CHECK(o.block >= 0, kWhere, "--block must be >= 0 (0: the model's n_positions), got ", o.block);
  TERN_CHECK(o.max_batches >= 0, kWhere, "--max-batches must be >= 0 (0: all), got ", o.max_batches);
  const Device device = parse_device(o.device, kWhere);
  InferenceCheckpoint ck = open_for_inference(o.checkpoint, device, kWhere, o.weights);
  const std::string& dir = ck.dir;
  auto& model = ck.model;
  auto& tok = ck.tokenizer;

  // The data file and split point: given, else the training run's, else tinyshakespeare.
  std::string data = o.data;
  double train_fraction = o.train_fraction;
  const bool special_tokens = resolve_training_data(dir, data, train_fraction, kWhere);

  const bool all = o.split == "all";
  data::TextDatasetOptions dopts;
  dopts.train_fraction = all ? 1.0 : train_fraction;
  dopts.special_tokens = special_tokens;
  auto ds = data::TextDataset::load(data, *tok, dopts);
  const data::Split split = o.split == "val" ? data::Split::val : data::Split::train;
  const Tensor toks = ds.tokens(split);
  const int64_t n = toks.numel();
  TERN_CHECK(n >= 2, kWhere, "the ", o.split, " split of ", data, " has ", n, " token(s); need at least 2");
  int64_t block = o.block > 0 ? o.block : model->config().n_positions;
  TERN_CHECK(block <= model->config().n_positions, kWhere, "--block ", block, " exceeds the model's n_positions ",
             model->config().n_positions);
  block = std::min(block, n - 1);

  const EvalResult r = evaluate_tokens(*model, toks, block, o.batch, o.max_batches, device);

  if (o.json) {
    nlohmann::json j = {{"checkpoint", dir},   {"data", data},           {"split", o.split},
                        {"loss", r.loss},      {"perplexity", r.perplexity}, {"tokens", r.tokens},
                        {"windows", r.windows}, {"block", block},         {"seconds", r.seconds},
                        {"weights", ck.weights}, {"lm_head", o.weights.lm_head}};
    out << j.dump() << "\n";
  } else {
    out << o.split << " loss " << fmt("%.4f", r.loss) << ", perplexity " << fmt("%.3f", r.perplexity) << "\n"
        << "  " << dir << " on " << data << " (" << o.split << " split): " << grouped(r.tokens)
        << " predicted tokens in " << grouped(r.windows) << " windows of up to " << block << ", "
        << fmt("%.1f", r.seconds) << " s (" << ck.weights << " weights"
        << (o.weights.lm_head == "int8" ? ", int8 lm_head" : "") << ")\n";
  }
  out.flush();
  return r;
}

void add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Report the loss and perplexity of a checkpoint on a text file's val split (or train split, or "
              "all of it)");
  cmd->add_option("checkpoint", o->checkpoint, "checkpoint directory (tern train's OUT or a transformers GPT-2 dir)")
      ->required();
  cmd->add_option("--data", o->data,
                  "text file (default: the data the checkpoint was trained on, else tinyshakespeare)");
  cmd->add_option("--split", o->split, "val (the last 10% of the tokens), train, or all")
      ->check(CLI::IsMember({"val", "train", "all"}))
      ->capture_default_str();
  cmd->add_option("--train-fraction", o->train_fraction,
                  "where the val split starts (default: the training run's, else 0.9)");
  cmd->add_option("--block", o->block, "window length (default 0: the model's n_positions)");
  cmd->add_option("--batch", o->batch, "windows per forward pass")->capture_default_str();
  cmd->add_option("--max-batches", o->max_batches, "stop after this many batches (0: the whole split)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->add_option("--device", o->device, "cpu, or cuda[:N] when built with CUDA")->capture_default_str();
  add_inference_weight_options(*cmd, o->weights);
  cmd->callback([o] { run_eval(*o, std::cout); });
}

}  // namespace tern::cli
