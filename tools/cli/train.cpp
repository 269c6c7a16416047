// tern train: trains a GPT-2 on a text file, nanoGPT style.
//
//   tern train                                        tiny GPT, char-level tinyshakespeare, 2000 steps -> out/
//   tern train --steps 300 --out runs/demo            shorter
//   tern train --out runs/demo --resume --steps 600   continue it, bit-identically
//   tern train --model gpt2 --tokenizer bpe --block 256 --batch 4
//   tern train --init path/to/hf-gpt2 --lr 3e-5 --steps 100
//   mpirun -np 2 tern train --batch 12                 data parallel, 6 sequences per rank (docs/distributed.md)
//
// Every step appends a row to <out>/metrics.csv (the loop is step_loop.h's, shared with `tern quantize`);
// <out>/checkpoint/ (see checkpoint.h) is replaced atomically every --checkpoint-interval steps, at the end, and
// on Ctrl-C.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tern/autograd/grad_mode.h>
#include <tern/core/autocast.h>
#include <tern/core/error.h>
#include <tern/core/io/file.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/ops.h>
#include <tern/models/data/text_dataset.h>
#include <tern/models/gpt2/hf.h>
#include <tern/models/gpt2/model.h>
#include <tern/nn/optim/optimizer.h>
#include <tern/quant/config.h>
#include <tern/quant/convert.h>
#include <tern/quant/phase4.h>

#include "checkpoint.h"
#include "commands.h"
#include "drivers.h"
#include "file_lock.h"
#include "given_options.h"
#include "metrics_csv.h"
#include "optimizer_choice.h"
#include "ranks.h"
#include "run_common.h"
#include "step_loop.h"
#include "stop_signals.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tern::cli {
namespace {

constexpr const char* kWhere = "train";

// ---- options <-> JSON, and which of them may change on --resume

struct Field {
  const char* name;
  bool fixed;  // changing it would change the run: an error on --resume
  std::function<json(const TrainOptions&)> get;
  std::function<void(TrainOptions&, const json&)> set;
};

template <typename T>
Field field(const char* name, bool fixed, T TrainOptions::*m) {
  return {name, fixed, [m](const TrainOptions& o) { return json(o.*m); },
          [m](TrainOptions& o, const json& j) { o.*m = j.get<T>(); }};
}

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      field("model", true, &TrainOptions::model),
      field("n-layer", true, &TrainOptions::n_layer),
      field("n-head", true, &TrainOptions::n_head),
      field("n-embd", true, &TrainOptions::n_embd),
      field("no-bias", true, &TrainOptions::no_bias),
      field("activation", true, &TrainOptions::activation),
      field("init", true, &TrainOptions::init),
      field("data", true, &TrainOptions::data),
      field("tokenizer", true, &TrainOptions::tokenizer),
      field("vocab", true, &TrainOptions::vocab),
      field("add-tokens", true, &TrainOptions::add_tokens),
      field("data-special", true, &TrainOptions::data_special),
      field("train-fraction", true, &TrainOptions::train_fraction),
      field("batch", true, &TrainOptions::batch),
      field("block", true, &TrainOptions::block),
      field("grad-accum", true, &TrainOptions::grad_accum),
      field("schedule", true, &TrainOptions::schedule),
      field("lr", true, &TrainOptions::lr),
      field("min-lr", true, &TrainOptions::min_lr),
      field("warmup-steps", true, &TrainOptions::warmup_steps),
      field("weight-decay", true, &TrainOptions::weight_decay),
      field("beta1", true, &TrainOptions::beta1),
      field("beta2", true, &TrainOptions::beta2),
      field("grad-clip", true, &TrainOptions::grad_clip),
      field("optimizer", true, &TrainOptions::optimizer),
      field("muon-lr", true, &TrainOptions::muon_lr),
      field("grokfast-alpha", true, &TrainOptions::grokfast_alpha),
      field("grokfast-lamb", true, &TrainOptions::grokfast_lamb),
      field("dropout", true, &TrainOptions::dropout),
      field("bitnet", true, &TrainOptions::bitnet),
      field("seed", true, &TrainOptions::seed),
      // These may change when resuming.
      field("steps", false, &TrainOptions::steps),
      field("lr-decay-steps", false, &TrainOptions::lr_decay_steps),
      field("eval-interval", false, &TrainOptions::eval_interval),
      field("eval-iters", false, &TrainOptions::eval_iters),
      field("final-eval-iters", false, &TrainOptions::final_eval_iters),
      field("log-interval", false, &TrainOptions::log_interval),
      field("checkpoint-interval", false, &TrainOptions::checkpoint_interval),
      field("device", false, &TrainOptions::device),
      field("tf32", false, &TrainOptions::tf32),
      field("precision", false, &TrainOptions::precision),
  };
  return f;
}

json options_to_json(const TrainOptions& o) {
  json j = json::object();
  for (const auto& f : fields()) j[f.name] = f.get(o);
  return j;
}

// Independent streams from one --seed.
uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
enum : uint64_t { kStreamInit = 0, kStreamDropout = 1, kStreamTrain = 2, kStreamVal = 3 };

std::string absolute_path(const std::string& p) {
  if (p.empty()) return p;
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Trainer {
  TrainOptions o;
  TrainRanks& ranks;
  std::ostream& out;

  std::string ckpt_dir;
  Device device = kCPU;
  std::unique_ptr<Tokenizer> tok;
  TokenizerFiles tok_files;
  std::optional<data::TextDataset> ds;
  Generator gen{0};  // GPT-2 init, then dropout masks
  std::shared_ptr<gpt2::GPT2> model;
  std::unique_ptr<nn::optim::Optimizer> opt;
  std::unique_ptr<nn::optim::LRSchedule> sched;
  std::unique_ptr<data::BatchSampler> sampler;
  std::vector<Tensor> params;

  int64_t step = 0;
  int64_t saved_step = -1;  // the step of the checkpoint on disk (-1: none yet)
  double elapsed_before = 0;  // wall time of this run before its last --resume
  double last_val = kNaN;
  Stopwatch clock;

  Trainer(TrainOptions opts, TrainRanks& r, std::ostream& os) : o(std::move(opts)), ranks(r), out(os) {}

  bool given(const char* name) const { return o.given.count(name) > 0; }
  OptimizerSpec optimizer_spec() const {
    return {.name = o.optimizer, .lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .weight_decay = o.weight_decay,
            .muon_lr = o.muon_lr, .grokfast_alpha = o.grokfast_alpha, .grokfast_lamb = o.grokfast_lamb};
  }
  double elapsed() const { return elapsed_before + clock.seconds(); }

  void validate_options() const {
    auto positive = [](const char* name, int64_t v) {
      TERN_CHECK(v > 0, kWhere, "--", name, " must be positive, got ", v);
    };
    auto non_negative = [](const char* name, double v) {
      TERN_CHECK(v >= 0 && std::isfinite(v), kWhere, "--", name, " must be >= 0, got ", v);
    };
    positive("batch", o.batch);
    positive("grad-accum", o.grad_accum);
    positive("steps", o.steps);
    positive("eval-iters", o.eval_iters);
    TERN_CHECK(o.final_eval_iters >= 0, kWhere, "--final-eval-iters must be >= 0, got ", o.final_eval_iters);
    positive("log-interval", o.log_interval);
    // 0 stands for "not given" in TrainOptions; a 0 the user typed is refused, not read as the preset's value.
    for (const auto& [name, v] : {std::pair{"n-layer", o.n_layer}, std::pair{"n-head", o.n_head},
                                  std::pair{"n-embd", o.n_embd}, std::pair{"block", o.block}})
      TERN_CHECK(v > 0 || (v == 0 && !given(name)), kWhere, "--", name, " must be positive, got ", v);
    TERN_CHECK(o.lr > 0 && std::isfinite(o.lr), kWhere, "--lr must be positive, got ", o.lr);
    TERN_CHECK(o.precision == "fp32" || o.precision == "tf32" || o.precision == "bf16", kWhere,
               "--precision must be fp32, tf32 or bf16, got '", o.precision, "'");
    non_negative("min-lr", o.min_lr);
    non_negative("weight-decay", o.weight_decay);
    non_negative("grad-clip", o.grad_clip);
    TERN_CHECK(o.warmup_steps >= 0, kWhere, "--warmup-steps must be >= 0, got ", o.warmup_steps);
    TERN_CHECK(o.lr_decay_steps >= 0, kWhere, "--lr-decay-steps must be >= 0, got ", o.lr_decay_steps);
    TERN_CHECK(o.eval_interval >= 0, kWhere, "--eval-interval must be >= 0, got ", o.eval_interval);
    TERN_CHECK(o.checkpoint_interval >= 0, kWhere, "--checkpoint-interval must be >= 0, got ",
               o.checkpoint_interval);
    TERN_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, kWhere,
               "--beta1 and --beta2 must be in [0, 1)");
    check_optimizer_spec(optimizer_spec(), kWhere);
    TERN_CHECK(o.dropout < 1, kWhere, "--dropout must be in [0, 1), got ", o.dropout);
    TERN_CHECK(o.train_fraction > 0 && o.train_fraction < 1, kWhere, "--train-fraction must be in (0, 1), got ",
               o.train_fraction);
    TERN_CHECK(o.schedule == "cosine" || o.schedule == "constant", kWhere, "--schedule must be cosine or constant, got '",
               o.schedule, "'");
    TERN_CHECK(o.data_special == "all" || o.data_special == "none", kWhere,
               "--data-special must be all or none, got '", o.data_special, "'");
    TERN_CHECK(o.tokenizer.empty() || o.tokenizer == "bpe" || o.tokenizer == "char", kWhere,
               "--tokenizer must be bpe or char, got '", o.tokenizer, "'");
    TERN_CHECK(!o.out.empty(), kWhere, "--out must not be empty");
    if (o.schedule == "cosine" && o.lr_decay_steps > 0)
      TERN_CHECK(o.lr_decay_steps >= o.warmup_steps, kWhere, "--lr-decay-steps (", o.lr_decay_steps,
                 ") must be at least --warmup-steps (", o.warmup_steps, ")");
  }

  // ---- setting up a fresh run

  void setup_fresh() {
    std::error_code ec;
    if (fs::exists(ckpt_dir, ec)) {
      TERN_CHECK(o.overwrite, kWhere, o.out, " already holds a checkpoint (", ckpt_dir,
                 "); pass --resume to continue it, --overwrite to start over, or choose another --out");
      fs::remove_all(ckpt_dir, ec);
      TERN_CHECK(!ec, kWhere, "cannot remove ", ckpt_dir, ": ", ec.message());
    }
    if (o.data.empty()) o.data = default_data_dir() + "/tinyshakespeare/input.txt";
    o.data = absolute_path(o.data);
    if (!o.init.empty()) o.init = absolute_path(resolve_checkpoint_dir(o.init, kWhere));
    if (!o.vocab.empty()) o.vocab = absolute_path(o.vocab);
    check_text_file(o.data, kWhere, "data file");

    // The tokenizer.
    std::string bpe_dir = o.vocab;
    const bool init_has_tok = !o.init.empty() && fs::exists(o.init + "/" + kTokenizerFile, ec);
    if (o.tokenizer.empty()) {
      if (init_has_tok)
        o.tokenizer = tokenizer_from_json(io::read_file(o.init + "/" + kTokenizerFile, kWhere),
                                          o.init + "/" + kTokenizerFile, o.init)
                          ->kind();
      else
        o.tokenizer = o.init.empty() ? "char" : "bpe";
    }
    if (!o.init.empty() && o.vocab.empty() &&
        (init_has_tok || (fs::exists(o.init + "/vocab.json", ec) && fs::exists(o.init + "/merges.txt", ec)))) {
      auto t = load_tokenizer(o.init);
      if (t->kind() == o.tokenizer) {
        tok = std::move(t);
        bpe_dir = o.init;
      }
    }
    if (!tok) {
      // char: the vocabulary comes from --vocab, else from the training text itself.
      const std::string path = o.tokenizer == "char" && o.vocab.empty() ? o.data : o.vocab;
      tok = make_tokenizer(o.tokenizer, path);
    }
    for (const auto& t : o.add_tokens)
      if (!t.empty()) tok->add_special_token(t);
    tok_files = tokenizer_files(*tok, o.tokenizer == "bpe" ? bpe_dir : "");

    load_data();

    // The model.
    const bool have_overrides = o.n_layer > 0 || o.n_head > 0 || o.n_embd > 0 || o.no_bias || !o.activation.empty();
    gen.manual_seed(derive_seed(o.seed, kStreamInit));
    if (!o.init.empty()) {
      TERN_CHECK(o.model == "tiny" || !given("model"), kWhere, "give either --model or --init, not both");
      TERN_CHECK(!have_overrides, kWhere,
                 "--n-layer/--n-head/--n-embd/--no-bias/--activation apply to a fresh model, not to --init");
      model = load_model(o.init, &gen, kWhere, [&](gpt2::Config& c) {
        if (o.dropout >= 0) c.dropout = o.dropout;
      });
      if (tok->vocab_size() > model->config().vocab_size) {
        out << "resizing the token embeddings from " << model->config().vocab_size << " to " << tok->vocab_size()
            << " to fit the tokenizer\n";
        model->resize_token_embeddings(tok->vocab_size(), &gen);
      }
    } else {
      gpt2::Config c;
      if (o.model.size() > 5 && o.model.compare(o.model.size() - 5, 5, ".json") == 0) {
        TERN_CHECK(fs::is_regular_file(o.model, ec), kWhere, "model config '", o.model, "' does not exist");
        o.model = absolute_path(o.model);
        c = gpt2::Config::from_json(io::read_file(o.model, kWhere), o.model);
        if (c.vocab_size < tok->vocab_size()) {
          out << "note: vocab_size " << c.vocab_size << " of " << o.model << " is raised to the tokenizer's "
              << tok->vocab_size() << "\n";
          c.vocab_size = tok->vocab_size();
        }
      } else {
        c = gpt2::Config::preset(o.model);
        c.vocab_size = tok->vocab_size();
        if (o.block > 0) c.n_positions = o.block;
      }
      if (o.n_layer > 0) c.n_layer = o.n_layer;
      if (o.n_head > 0) c.n_head = o.n_head;
      if (o.n_embd > 0) c.n_embd = o.n_embd;
      if (o.no_bias) c.bias = false;
      if (!o.activation.empty()) c.activation_function = o.activation;
      if (o.dropout >= 0) c.dropout = o.dropout;
      try {
        c.validate();
      } catch (const Error& e) {
        TERN_FAIL(kWhere, "bad model config: ", e.what());
      }
      model = std::make_shared<gpt2::GPT2>(c, &gen);
    }
    TERN_CHECK(tok->vocab_size() <= model->config().vocab_size, kWhere, "the tokenizer has ", tok->vocab_size(),
               " tokens but the model's vocabulary only ", model->config().vocab_size);
    if (o.bitnet && quant::bitnet_layout(*model).empty()) {
      const quant::Phase4Config pc;
      const auto conv = quant::replace_linear_with_bitlinear(*model, pc.weight_sparsity_threshold, pc.exclude_patterns,
                                                             pc.pattern_mode, pc.input_rmsnorm);
      out << "BitNet b1.58: " << conv.replaced.size() << " linear layers are BitLinear, " << conv.excluded.size()
          << " kept at full precision\n";
    }
    // Resolve the defaults that a --resume must keep.
    o.dropout = model->config().dropout;
    if (o.block == 0) o.block = model->config().n_positions;
    TERN_CHECK(o.block <= model->config().n_positions, kWhere, "--block ", o.block, " exceeds the model's n_positions ",
               model->config().n_positions);
    if (o.lr_decay_steps == 0) o.lr_decay_steps = o.steps;
    if (o.schedule == "cosine" && o.warmup_steps > o.lr_decay_steps && !given("warmup-steps")) {
      o.warmup_steps = o.lr_decay_steps / 10;
      out << "note: --warmup-steps defaults to a tenth of this short run: " << o.warmup_steps << "\n";
    }
    if (o.schedule == "cosine")
      TERN_CHECK(o.lr_decay_steps >= o.warmup_steps, kWhere, "--warmup-steps (", o.warmup_steps,
                 ") exceeds the decay horizon (", o.lr_decay_steps, " steps)");
    // Dropout masks get their own stream, independent of how much the init drew.
    gen.manual_seed(derive_seed(o.seed, kStreamDropout));
    check_data_sizes();
    make_optimizer();
    sampler = std::make_unique<data::BatchSampler>(*ds, data::Split::train, o.batch, o.block,
                                                   derive_seed(o.seed, kStreamTrain));
  }

  void load_data() {
    data::TextDatasetOptions dopts;
    dopts.train_fraction = o.train_fraction;
    dopts.special_tokens = o.data_special == "all";
    ds = data::TextDataset::load(o.data, *tok, dopts);
  }

  void check_data_sizes() const {
    TERN_CHECK(ds->size(data::Split::train) >= o.block + 1, kWhere, "the train split of ", o.data, " has ",
               ds->size(data::Split::train), " tokens; --block ", o.block, " needs at least ", o.block + 1);
    if (o.eval_interval > 0)
      TERN_CHECK(ds->size(data::Split::val) >= o.block + 1, kWhere, "the val split of ", o.data, " has ",
                 ds->size(data::Split::val), " tokens; --block ", o.block, " needs at least ", o.block + 1,
                 " (or pass --eval-interval 0)");
  }

  void make_optimizer() {
    if (device != kCPU) model->to(device);
    params = model->parameters();
    opt = create_optimizer(*model, optimizer_spec());
    if (o.schedule == "cosine")
      sched = std::make_unique<nn::optim::WarmupCosineLR>(o.lr, o.min_lr, o.warmup_steps, o.lr_decay_steps);
    else
      sched = std::make_unique<nn::optim::ConstantLR>(o.lr);
  }

  // ---- resuming

  void setup_resume() {
    std::error_code ec;
    const std::string state_path = ckpt_dir + "/" + kStateFile;
    TERN_CHECK(fs::exists(state_path, ec), kWhere, "nothing to resume: ", state_path,
               " does not exist (run without --resume to start)");
    json st;
    try {
      st = json::parse(io::read_file(state_path, kWhere));
    } catch (const json::exception& e) {
      TERN_FAIL(kWhere, state_path, ": not valid JSON: ", e.what());
    }
    TERN_CHECK(st.is_object() && st.value("format", "") == "tern-train-state" && st.value("version", 0) == 1,
               kWhere, state_path, ": not a tern training state (format tern-train-state, version 1)");
    try {
      merge_saved_options(st.at("options"));
      step = st.at("step").get<int64_t>();
      elapsed_before = st.at("elapsed_s").get<double>();
      if (st.contains("last_val_loss") && st["last_val_loss"].is_number()) last_val = st["last_val_loss"];

      tok = load_tokenizer(ckpt_dir);
      TERN_CHECK(tok->tag() == st.at("tokenizer").at("tag").get<std::string>(), kWhere,
                 "the checkpoint's tokenizer does not match the one it was trained with");
      tok_files = tokenizer_files(*tok, ckpt_dir);
      TERN_CHECK(fs::is_regular_file(o.data, ec), kWhere, "the run's data file '", o.data, "' no longer exists");
      load_data();
      TERN_CHECK(ds->size() == st.at("data_tokens").get<int64_t>(), kWhere, o.data, " now has ", ds->size(),
                 " tokens but had ", st.at("data_tokens").get<int64_t>(),
                 " when the run started; the data changed, so the run cannot resume exactly");

      model = load_model(ckpt_dir, &gen, kWhere);
      check_data_sizes();
      make_optimizer();
      const auto optim = io::load(ckpt_dir + "/" + kOptimizerFile);
      opt->load_state_dict(nn::NamedTensors(optim.tensors.begin(), optim.tensors.end()));
      sampler = std::make_unique<data::BatchSampler>(*ds, data::Split::train, o.batch, o.block, 0);
      sampler->set_state(st.at("train_sampler").get<std::string>());
      gen.set_state(st.at("dropout_generator").get<std::string>());
    } catch (const json::exception& e) {
      TERN_FAIL(kWhere, state_path, ": ", e.what());
    }
    saved_step = step;
    if (step >= o.steps)
      out << "the checkpoint is already at step " << step << " of " << o.steps
          << "; pass a larger --steps to train further\n";
    if (o.schedule == "cosine" && o.steps > o.lr_decay_steps && step < o.steps)
      out << "note: the LR schedule decays to --min-lr " << o.min_lr << " at step " << o.lr_decay_steps
          << " (--lr-decay-steps) and stays there\n";
  }

  void merge_saved_options(const json& saved) {
    TERN_CHECK(saved.is_object(), kWhere, "the checkpoint's options are not an object");
    // Each optimizer keeps other state, so a switch cannot resume; runs saved before
    // --optimizer existed used AdamW.
    const std::string saved_optimizer = saved.value("optimizer", "adamw");
    TERN_CHECK(!given("optimizer") || o.optimizer == saved_optimizer, kWhere, "the run in ", o.out,
               " was trained with --optimizer ", saved_optimizer, "; --resume cannot switch it to ", o.optimizer,
               " (the optimizer state does not carry over). Start a new run from its weights with --init ", ckpt_dir,
               " --optimizer ", o.optimizer, " --out OTHER_DIR");
    if (!saved.contains("optimizer")) o.optimizer = "adamw";
    TrainOptions cur = o;
    if (!cur.data.empty()) cur.data = absolute_path(cur.data);
    if (!cur.init.empty()) cur.init = absolute_path(cur.init);
    if (!cur.vocab.empty()) cur.vocab = absolute_path(cur.vocab);
    if (!cur.model.empty() && cur.model.find(".json") != std::string::npos) cur.model = absolute_path(cur.model);
    const json now = options_to_json(cur);
    std::string conflicts;
    for (const auto& f : fields()) {
      if (!saved.contains(f.name)) continue;
      if (f.fixed && given(f.name) && now[f.name] != saved[f.name])
        conflicts += std::string("\n  --") + f.name + " " + now[f.name].dump() + " (the run has " +
                     saved[f.name].dump() + ")";
      if (f.fixed || !given(f.name)) f.set(o, saved[f.name]);
    }
    TERN_CHECK(conflicts.empty(), kWhere, "--resume continues the run as it was started; these options differ:",
               conflicts, "\ndrop them, or start a new run in another --out");
  }

  // ---- the loop

  // bf16 runs evaluate in bf16 too, so that train and val losses compare.
  std::optional<DType> autocast_dtype_of_run() const {
    return o.precision == "bf16" && !device.is_cpu() ? std::optional<DType>(kBFloat16) : std::nullopt;
  }

  double evaluate(int64_t iters) {
    NoGradGuard ng;
    AutocastGuard precision(autocast_dtype_of_run());
    model->eval();
    data::BatchSampler vs(*ds, data::Split::val, o.batch, o.block, derive_seed(o.seed, kStreamVal));
    double sum = 0;
    int64_t n = 0;
    for (; n < iters && !stop_signal(); ++n) {
      data::Batch b = ranks.shard(vs.next(device));
      sum += model->forward(b.x, b.y).loss.item<double>();
    }
    model->train();
    return ranks.mean(n == iters ? sum / static_cast<double>(n) : kNaN);
  }

  // What a failed write leaves on disk, for its message.
  std::string checkpoint_status() const {
    return saved_step >= 0 ? "the previous checkpoint, at step " + std::to_string(saved_step) + ", is intact in " +
                                 ckpt_dir
                           : std::string("no checkpoint has been written yet");
  }

  void save_checkpoint() {
    if (!ranks.writer()) {
      saved_step = step;
      return;
    }
    try {
      write_checkpoint();
    } catch (const Error& e) {
      TERN_FAIL(kWhere, "cannot save the checkpoint of step ", step, ": ", e.what(), "; ", checkpoint_status());
    }
  }

  // A row of metrics.csv was lost (disk full, say): training on would leave no record, so stop, keeping the
  // steps done in a checkpoint if there is room for one.
  [[noreturn]] void stop_on_metrics_failure(const Error& e) {
    std::string kept;
    try {
      if (saved_step != step) save_checkpoint();
      kept = "checkpoint saved at step " + std::to_string(step) + " in " + ckpt_dir + "; free some space and " +
             "resume with: tern train --out " + o.out + " --resume";
    } catch (const Error& ce) {
      kept = ce.what();
      const std::string prefix = std::string("[") + kWhere + "] ";
      if (kept.rfind(prefix, 0) == 0) kept.erase(0, prefix.size());
    }
    TERN_FAIL(kWhere, "stopped at step ", step, ": ", e.what(), "; ", kept);
  }

  void write_checkpoint() {
    CheckpointDir cd(o.out);
    std::map<std::string, std::string> meta = {{"tern.step", std::to_string(step)}};
    if (const auto layout = quant::bitnet_layout(*model); !layout.empty())
      meta[quant::kBitNetMetadataKey] = layout.to_json();
    gpt2::save_hf(*model, cd.path(), meta);
    const nn::NamedTensors os = opt->state_dict();
    io::save(cd.path() + "/" + kOptimizerFile, std::span<const std::pair<std::string, Tensor>>(os), meta);
    write_tokenizer_files(tok_files, cd.path());
    json st;
    st["format"] = "tern-train-state";
    st["version"] = 1;
    st["step"] = step;
    st["elapsed_s"] = elapsed();
    st["tokens_seen"] = step * o.batch * o.block * o.grad_accum;
    st["last_val_loss"] = std::isnan(last_val) ? json(nullptr) : json(last_val);
    st["train_sampler"] = sampler->state();
    st["dropout_generator"] = gen.state();
    st["tokenizer"] = {{"kind", tok->kind()}, {"tag", tok->tag()}, {"vocab_size", tok->vocab_size()}};
    st["data_tokens"] = ds->size();
    st["options"] = options_to_json(o);
    io::write_file_atomic(cd.path() + "/" + kStateFile, st.dump(1) + "\n", kStateFile);
    cd.commit();
    saved_step = step;
  }

  // Creates --out; returns the directories that did not exist before, deepest first.
  std::vector<fs::path> make_out_dir() const {
    std::vector<fs::path> made;
    std::error_code ec;
    fs::path p = fs::absolute(o.out, ec).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    for (; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      made.push_back(p);
      if (p == p.parent_path()) break;
    }
    fs::create_directories(o.out, ec);
    TERN_CHECK(!ec, kWhere, "cannot create --out directory ", o.out, ": ", ec.message());
    return made;
  }

  int run() {
    validate_options();
    ckpt_dir = o.out + "/" + kCheckpointName;
    device = parse_device(o.device, kWhere);
    // For this run only: a process that trains again (tests, the Python bindings) gets its own setting back.
    struct RestorePrecision {
      std::string precision;
      ~RestorePrecision() { set_matmul_precision(precision); }
    } restore{matmul_precision()};
    if (o.tf32 || o.precision == "tf32") set_matmul_precision("high");
    std::error_code ec;
    ranks.before_setup();
    const std::vector<fs::path> made = ranks.writer() ? make_out_dir() : std::vector<fs::path>{};
    const std::string lock_path = o.out + "/.train.lock";
    std::optional<FileLock> lock;
    try {
      if (ranks.writer()) {
        lock.emplace(lock_path, kWhere, "another `tern train` is using " + o.out + " (" + lock_path + " is locked)");
        remove_stale_checkpoint_temps(o.out);
      }
      if (o.resume) setup_resume();
      else setup_fresh();
      validate_options();
      ranks.check_batch(o.batch, kWhere);  // --batch may come from the checkpoint
    } catch (...) {
      // A run that never started leaves no trace: the directories it made go again, if still empty.
      if (lock && !made.empty()) {
        fs::remove(lock_path, ec);
        lock.reset();
        for (const auto& d : made)
          if (!fs::remove(d, ec)) break;
      }
      throw;
    }
    ranks.after_setup();
    ranks.attach(model);
    // Each rank its own dropout masks; rank 0 keeps the stream the checkpoint records.
    if (ranks.rank() > 0) gen.manual_seed(derive_seed(derive_seed(o.seed, kStreamDropout) + step, ranks.rank()));

    const auto& cfg = model->config();
    const int64_t tokens_per_step = o.batch * o.block * o.grad_accum;
    out << (o.resume ? "resuming " : "training ") << "GPT-2 (" << cfg.n_layer << " layers, " << cfg.n_head
        << " heads, " << cfg.n_embd << " wide, " << cfg.n_positions << " positions, vocab " << cfg.vocab_size
        << (cfg.bias ? "" : ", no bias") << (cfg.exact_gelu() ? ", exact GELU" : "")
        << "): " << human_count(static_cast<double>(model->num_parameters())) << " parameters"
        << (o.resume ? " from step " + std::to_string(step) : o.init.empty() ? "" : ", from " + o.init) << "\n";
    out << "data: " << o.data << ", " << tok->kind() << " tokenizer (" << tok->vocab_size() << " tokens): "
        << grouped(ds->size(data::Split::train)) << " train / " << grouped(ds->size(data::Split::val))
        << " val tokens, "
        << (o.data_special == "all" ? grouped(ds->special_count()) + " special token(s) matched in the text"
                                    : std::string("special-token text read as plain text"))
        << " (--data-special " << o.data_special << ")\n";
    out << "batch " << o.batch << " x " << o.block << (o.grad_accum > 1 ? " x " + std::to_string(o.grad_accum) : "")
        << " = " << grouped(tokens_per_step) << " tokens/step, " << o.steps << " steps; "
        << describe_optimizer(optimizer_spec(), *opt);
    if (o.schedule == "cosine")
      out << "; schedule: warmup " << o.warmup_steps << ", cosine to " << o.min_lr << " at " << o.lr_decay_steps;
    else
      out << "; constant lr";
    out << "; AdamW betas " << o.beta1 << "/" << o.beta2 << ", wd " << o.weight_decay << ", clip " << o.grad_clip
        << ", dropout " << cfg.dropout << ", seed " << o.seed << ", " << device
        << (device.is_cpu()                   ? ""
            : o.precision == "bf16"           ? " (bf16 autocast)"
            : o.tf32 || o.precision == "tf32" ? " (TF32 matmuls)"
                                              : "")
        << " x" << num_threads() << " threads" << ranks.describe(o.batch) << "\n";
    if (o.show_routing) out << optimizer_routing(*opt);
    out << "out: " << o.out << "/ (metrics.csv; checkpoint/ "
        << (o.checkpoint_interval > 0 ? "every " + std::to_string(o.checkpoint_interval) + " steps, " : "")
        << "at the end and on Ctrl-C)\n";
    out.flush();

    std::optional<MetricsCsv> csv;
    if (ranks.writer())
      csv.emplace(o.out + "/metrics.csv", o.resume ? std::optional<int64_t>(step) : std::nullopt, out);
    StopSignals signals;
    StepLoop loop({.steps = o.steps, .tokens_per_step = tokens_per_step, .log_interval = o.log_interval,
                   .last_val = last_val},
                  out, csv ? &*csv : nullptr, [this] { return elapsed(); });
    loop.on_metrics_failure = [this](const Error& e) { stop_on_metrics_failure(e); };
    // A signal may reach the ranks at different steps; they act on it together, or their collectives would part.
    loop.should_stop = [this] {
      if (ranks.any(stop_signal() != 0) && !stop_signal()) note_stop_signal(SIGTERM);
      return stop_signal() != 0;
    };
    model->train();

    auto eval_due = [&](int64_t s) { return o.eval_interval > 0 && (s % o.eval_interval == 0 || s == o.steps); };
    if (!o.resume && eval_due(0)) {
      last_val = evaluate(o.eval_iters);
      loop.record_val(0, last_val);
      if (!std::isnan(last_val)) loop.line("step 0: val loss " + fmt("%.4f", last_val));
    }

    const StepParts parts{.model = *model,
                          .opt = *opt,
                          .params = params,
                          .sampler = *sampler,
                          .device = device,
                          .grad_accum = o.grad_accum,
                          .grad_clip = o.grad_clip,
                          .ranks = &ranks,
                          .autocast = autocast_dtype_of_run()};
    double last_loss = kNaN;
    StepHooks hooks;
    hooks.step = [&](int64_t s) {
      const double lr = sched->lr(s - 1);
      const double loss = optimizer_step(parts, lr);
      TERN_CHECK(std::isfinite(loss), kWhere, "the loss is ", loss, " at step ", s,
                 "; training diverged (try a lower --lr or --grad-clip); the last checkpoint is ",
                 saved_step >= 0 ? "at step " + std::to_string(saved_step) : std::string("not written yet"));
      step = s;
      last_loss = loss;
      return StepHooks::Result{.lr = lr, .train_loss = loss};
    };
    hooks.evaluate = [&](int64_t s) {
      if (!eval_due(s)) return kNaN;
      const double val = evaluate(s == o.steps && o.final_eval_iters > 0 ? o.final_eval_iters : o.eval_iters);
      if (!std::isnan(val)) last_val = val;
      return val;
    };
    hooks.after = [&](int64_t s) {
      if (o.on_step) o.on_step(s);
      if (o.checkpoint_interval > 0 && s % o.checkpoint_interval == 0 && s < o.steps && !stop_signal())
        save_checkpoint();
    };
    loop.run(step, hooks);
    if (saved_step != step || !fs::exists(ckpt_dir + "/" + kStateFile, ec)) save_checkpoint();
    if (const int sig = stop_signal()) {
      out << "\ninterrupted at step " << step << " of " << o.steps << "; checkpoint saved to " << ckpt_dir
          << "\nresume with: tern train --out " << o.out << " --resume\n";
      out.flush();
      return 128 + sig;
    }
    out << ranks.comm_summary();
    out << "done: " << step << " steps"
        << (std::isnan(last_loss) ? "" : ", train loss " + fmt("%.4f", last_loss))
        << (std::isnan(last_val) ? "" : ", val loss " + fmt("%.4f", last_val)) << " in "
        << format_duration(elapsed()) << " (" << fmt("%.1f", elapsed()) << " s); checkpoint: " << ckpt_dir << "\n";
    out.flush();
    return 0;
  }
};

}  // namespace

int run_train(TrainOptions opts, std::ostream& out) {
  TrainRanks ranks(dist::init_process_group());
  Trainer t(std::move(opts), ranks, ranks.writer() ? out : null_stream());
  return t.run();
}

void add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train a GPT-2 on a text file (default: a tiny GPT on char-level tinyshakespeare, nanoGPT's CPU config). "
      "Writes OUT/metrics.csv and an atomic OUT/checkpoint/ (Hugging Face layout + optimizer and data state); "
      "Ctrl-C saves a checkpoint, --resume continues bit-identically.");
  GivenOptions add;
  add(cmd->add_option("--model", o->model,
                      "a preset (tiny, gpt2, medium, large, xl) or a Hugging Face config.json for a fresh model"))
      ->capture_default_str()
      ->group("Model");
  add(cmd->add_option("--n-layer", o->n_layer, "override the preset's layer count"))->group("Model");
  add(cmd->add_option("--n-head", o->n_head, "override the preset's head count"))->group("Model");
  add(cmd->add_option("--n-embd", o->n_embd, "override the preset's width"))->group("Model");
  add(cmd->add_flag("--no-bias", o->no_bias, "no biases in the linear layers and LayerNorms (nanoGPT's bias=False)"))
      ->group("Model");
  add(cmd->add_option("--activation", o->activation,
                      "gelu_new (GPT-2's tanh GELU, the presets') or gelu (exact erf GELU, nanoGPT's)"))
      ->check(CLI::IsMember({"gelu_new", "gelu_pytorch_tanh", "gelu"}))
      ->group("Model");
  add(cmd->add_option("--init", o->init, "start from this checkpoint directory (config.json + model.safetensors)"))
      ->group("Model");
  add(cmd->add_flag("--bitnet", o->bitnet,
                    "train as BitNet b1.58: every linear but lm_head/wte/wpe becomes BitLinear (τ = 0.1); a BitNet "
                    "--init (a Phase 4 directory) stays BitNet without it"))
      ->group("Model");
  add(cmd->add_option("--dropout", o->dropout, "dropout probability (default: the model config's; presets 0)"))
      ->group("Model");
  add(cmd->add_option("--data", o->data, "training text file (default: the data dir's tinyshakespeare/input.txt)"))
      ->group("Data");
  add(cmd->add_option("--tokenizer", o->tokenizer,
                      "bpe (GPT-2) or char (default: --init's tokenizer; else char, or bpe with --init)"))
      ->check(CLI::IsMember({"bpe", "char"}))
      ->group("Data");
  add(cmd->add_option("--vocab", o->vocab,
                      "bpe: a directory with encoder.json + vocab.bpe; char: a vocab .json or a text file "
                      "(default: the characters of --data)"))
      ->group("Data");
  add(cmd->add_option("--add-tokens", o->add_tokens, "comma-separated special tokens to add, e.g. '<think>,</think>'"))
      ->delimiter(',')
      ->group("Data");
  add(cmd->add_option("--data-special", o->data_special,
                      "all: special-token text in --data (<|endoftext|>, --add-tokens) becomes that token, as Hugging "
                      "Face's tokenizer does; none: it is read as plain text (tiktoken's encode_ordinary)"))
      ->check(CLI::IsMember({"all", "none"}))
      ->capture_default_str()
      ->group("Data");
  add(cmd->add_option("--train-fraction", o->train_fraction, "leading fraction of the tokens used for training"))
      ->capture_default_str()
      ->group("Data");
  add(cmd->add_option("--batch", o->batch, "sequences per micro-batch (under mpirun/srun: all ranks together)"))->capture_default_str()->group("Batches");
  add(cmd->add_option("--block", o->block, "tokens per sequence (default: the model's n_positions)"))
      ->group("Batches");
  add(cmd->add_option("--grad-accum", o->grad_accum, "micro-batches per optimizer step"))
      ->capture_default_str()
      ->group("Batches");
  add(cmd->add_option("--steps", o->steps, "optimizer steps in total (a resumed run may raise it)"))
      ->capture_default_str()
      ->group("Batches");
  add(cmd->add_option("--schedule", o->schedule, "cosine (linear warmup, cosine decay to --min-lr) or constant"))
      ->check(CLI::IsMember({"cosine", "constant"}))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_option("--lr", o->lr, "peak learning rate"))->capture_default_str()->group("Optimizer");
  add(cmd->add_option("--min-lr", o->min_lr, "final learning rate of the cosine schedule"))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_option("--warmup-steps", o->warmup_steps, "linear warmup steps"))->capture_default_str()->group("Optimizer");
  add(cmd->add_option("--lr-decay-steps", o->lr_decay_steps, "step where the cosine reaches --min-lr (default: --steps)"))
      ->group("Optimizer");
  add(cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay (>= 2-D weights only)"))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_option("--beta1", o->beta1, "AdamW beta1"))->capture_default_str()->group("Optimizer");
  add(cmd->add_option("--beta2", o->beta2, "AdamW beta2"))->capture_default_str()->group("Optimizer");
  add(cmd->add_option("--grad-clip", o->grad_clip, "clip the global gradient norm to this (0: off)"))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_option("--optimizer", o->optimizer,
                      "adamw; muon (Muon on the hidden Linear/BitLinear weights, AdamW on embeddings, biases and "
                      "norms); mugrokfast (muon after a Grokfast-EMA gradient filter). A run keeps its optimizer"))
      ->check(CLI::IsMember({"adamw", "muon", "mugrokfast"}))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_option("--muon-lr", o->muon_lr, "Muon's peak learning rate (the schedule scales it as --lr)"))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_option("--grokfast-alpha", o->grokfast_alpha, "mugrokfast: EMA momentum of the gradient filter"))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_option("--grokfast-lamb", o->grokfast_lamb, "mugrokfast: weight of the filtered gradient added back"))
      ->capture_default_str()
      ->group("Optimizer");
  add(cmd->add_flag("--show-routing", o->show_routing, "print which optimizer updates each parameter"))
      ->group("Optimizer");
  add(cmd->add_option("--eval-interval", o->eval_interval, "estimate the val loss every N steps and at the end (0: never)"))
      ->capture_default_str()
      ->group("Progress");
  add(cmd->add_option("--eval-iters", o->eval_iters, "val batches per estimate"))->capture_default_str()->group("Progress");
  add(cmd->add_option("--final-eval-iters", o->final_eval_iters, "val batches for the last step's estimate (default: --eval-iters)"))
      ->group("Progress");
  add(cmd->add_option("--log-interval", o->log_interval, "steps between progress lines when stdout is not a terminal"))
      ->capture_default_str()
      ->group("Progress");
  add(cmd->add_option("--checkpoint-interval", o->checkpoint_interval,
                      "checkpoint every N steps (0: only at the end and on Ctrl-C)"))
      ->capture_default_str()
      ->group("Progress");
  add(cmd->add_option("--seed", o->seed, "seeds the init, the batches and the dropout masks"))
      ->capture_default_str()
      ->group("Run");
  add(cmd->add_option("--device", o->device, "cpu, or cuda[:N] when built with CUDA"))->capture_default_str()->group("Run");
  add(cmd->add_option("--precision", o->precision,
                      "fp32; tf32 (as --tf32); or bf16: products in bf16 with f32 accumulation, f32 master weights, "
                      "LayerNorm, softmax, loss and optimizer (torch.autocast's split). On a GPU; the CPU ignores it")
          ->check(CLI::IsMember({"fp32", "tf32", "bf16"})))
      ->capture_default_str()
      ->group("Run");
  add(cmd->add_flag("--tf32", o->tf32,
                    "let fp32 matrix products on the GPU use TF32 tensor cores (10-bit mantissa, as PyTorch's "
                    "set_float32_matmul_precision('high')); the CPU always computes in full fp32"))
      ->group("Run");
  add(cmd->add_option("--out", o->out, "output directory (metrics.csv, checkpoint/)"))->capture_default_str()->group("Run");
  add(cmd->add_flag("--resume", o->resume, "continue the run in --out from its checkpoint, bit-identically"))
      ->group("Run");
  add(cmd->add_flag("--overwrite", o->overwrite, "start a fresh run even if --out holds a checkpoint (deletes it)"))
      ->group("Run");
  cmd->callback([o, add] {
    o->given = add.names();
    const int rc = run_train(*o, std::cout);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tern::cli
