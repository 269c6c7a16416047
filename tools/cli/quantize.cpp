// tern quantize: the Phase 4 pipeline. Loads a trained GPT-2 (the "Phase 3" model: a tern
// checkpoint or a transformers directory), adds the thinking tokens, swaps its linear layers
// for BitLinear, optionally fine-tunes through the quantization (QAT), and writes a Phase 4
// directory that Phase 5 (`tern train --init DIR`), `tern generate` and `tern eval` load:
//
//   model.safetensors          FP16 state dict, BitLinear weights dequantized (ternary x scale),
//                              Hugging Face layout; __metadata__ holds the format version,
//                              vocab_size, thinking_tokens, the Phase4Config, the compression
//                              stats and the BitNet layout (which layers are BitLinear)
//   model.ternary.safetensors  the BitLinear weights packed (2 bits or 1.6 bits each) with their
//                              scales; every other tensor in FP16
//   config.json, compression_stats.json, phase4_config.json, quantize_report.json,
//   tokenizer files, metrics.csv (with QAT: a row per step, as `tern train` writes)
//
// The directory is written beside its final name and renamed into place when complete, so
// an error or a crash never leaves a half-written Phase 4 directory under that name. A lock file
// beside it (.<name>.lock) turns a second `tern quantize` into the same --out away while one runs.
// The QAT loop is `tern train`'s (step_loop.h): its progress line, and Ctrl-C, which ends QAT after
// the step in progress and writes the directory with the steps done, a model `tern train --init`
// continues.
//
//   tern quantize --model out/checkpoint --out phase4
//   tern quantize --model out --out phase4 --qat-steps 300 --threshold 0.1
//   tern quantize --model hf-gpt2 --out phase4 --absmean --exclude lm_head,wte,wpe,c_proj

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tern/autograd/grad_mode.h>
#include <tern/core/error.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/ops.h>
#include <tern/core/io/file.h>
#include <tern/models/data/text_dataset.h>
#include <tern/models/gpt2/hf.h>
#include <tern/models/gpt2/model.h>
#include <tern/nn/optim/optimizer.h>
#include <tern/quant/bitlinear.h>
#include <tern/quant/compressed_model.h>
#include <tern/quant/convert.h>
#include <tern/quant/phase4.h>

#include "checkpoint.h"
#include "commands.h"
#include "drivers.h"
#include "layer_stats.h"  // layer_stats.json: per BitLinear, the weight histogram, cut, sparsity and scale
#include "file_lock.h"
#include "given_options.h"
#include "metrics_csv.h"
#include "optimizer_choice.h"
#include "run_common.h"
#include "step_loop.h"
#include "stop_signals.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tern::cli {
namespace {

constexpr const char* kWhere = "quantize";
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// The Phase4Config: the --config file's (or the defaults), then every flag the user gave.
quant::Phase4Config resolve_config(const QuantizeOptions& o) {
  quant::Phase4Config c;
  if (!o.config_file.empty()) c = quant::Phase4Config::from_json(io::read_file(o.config_file, kWhere), o.config_file);
  const quant::Phase4Config& f = o.config;
  auto given = [&](const char* n) { return o.given.count(n) > 0; };
  TERN_CHECK(!(given("threshold") && given("absmean")), kWhere, "give either --threshold or --absmean, not both");
  if (given("threshold")) c.weight_sparsity_threshold = f.weight_sparsity_threshold;
  if (given("absmean")) c.weight_sparsity_threshold.reset();
  if (given("rmsnorm")) c.input_rmsnorm = f.input_rmsnorm;
  if (given("exclude")) c.exclude_patterns = f.exclude_patterns;
  if (given("glob")) c.pattern_mode = f.pattern_mode;
  if (given("packing")) c.packing = f.packing;
  if (given("add-tokens")) {
    c.thinking_tokens.clear();
    for (const auto& t : f.thinking_tokens)
      if (!t.empty()) c.thinking_tokens.push_back(t);  // --add-tokens '' adds none
  }
  if (given("qat-steps")) c.qat_steps = f.qat_steps;
  if (given("lr")) c.qat_lr = f.qat_lr;
  if (given("min-lr")) c.qat_min_lr = f.qat_min_lr;
  if (given("warmup-steps")) c.qat_warmup_steps = f.qat_warmup_steps;
  if (given("batch")) c.qat_batch_size = f.qat_batch_size;
  if (given("block")) {
    TERN_CHECK(f.qat_block_size > 0, kWhere, "--block must be positive, got ", f.qat_block_size);
    c.qat_block_size = f.qat_block_size;
  }
  if (given("weight-decay")) c.qat_weight_decay = f.qat_weight_decay;
  if (given("grad-clip")) c.qat_grad_clip = f.qat_grad_clip;
  if (given("seed")) c.seed = f.seed;
  if (given("eval-iters")) c.eval_iters = f.eval_iters;
  c.validate();
  return c;
}

std::string join_json(const std::vector<std::string>& v) { return json(v).dump(); }

class Quantizer {
 public:
  Quantizer(QuantizeOptions opts, std::ostream& out) : o_(std::move(opts)), out_(out) {}

  QuantizeReport run() {
    cfg_ = resolve_config(o_);
    check_optimizer_spec(qat_optimizer_spec(), kWhere);
    device_ = parse_device(o_.device, kWhere);
    check_output();
    load();
    check_exclude_patterns();
    QuantizeReport r;
    r.val_fp32 = evaluate("fp32 (Phase 3)");
    convert();
    r.val_converted = evaluate("converted, no fine-tune");
    r.val_qat = kNaN;
    remove_stale_checkpoint_temps(parent_, name_);
    staging_.emplace(parent_, name_);
    // From here on, Ctrl-C ends QAT early and the directory is still written.
    std::optional<StopSignals> signals;
    if (cfg_.qat_steps > 0) {
      signals.emplace();
      qat(r);
      r.signal = stop_signal();
    }
    r.stats = cm_->compression_stats();
    out_ << "\n" << r.stats.table() << "\n";
    r.out = write(r);
    out_ << "wrote " << r.out << "\n";
    if (r.signal)
      out_ << "interrupted at QAT step " << r.qat_steps << " of " << cfg_.qat_steps << "; continue training it with: "
           << "tern train --init " << r.out << " --out RUN_DIR\n";
    out_.flush();
    return r;
  }

 private:
  void check_output() {
    TERN_CHECK(!o_.out.empty(), kWhere, "--out is empty");
    fs::path p = fs::absolute(o_.out).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    parent_ = p.parent_path().string();
    name_ = p.filename().string();
    std::error_code ec;
    TERN_CHECK(!fs::exists(p, ec) || o_.overwrite, kWhere, "'", o_.out,
               "' already exists; pass --overwrite to replace it");
    TERN_CHECK(!fs::exists(p, ec) || fs::is_directory(p, ec), kWhere, "'", o_.out, "' exists and is not a directory");
    // The lock sits beside --out, since --out itself is replaced when the new directory is complete.
    fs::create_directories(parent_, ec);
    TERN_CHECK(!ec, kWhere, "cannot create ", parent_, ": ", ec.message());
    const std::string lock_path = parent_ + "/." + name_ + ".lock";
    lock_.emplace(lock_path, kWhere,
                  "another `tern quantize` is writing " + o_.out + " (" + lock_path + " is locked)");
  }

  void load() {
    TERN_CHECK(!o_.model.empty(), kWhere, "--model is required: a tern checkpoint or a transformers GPT-2 directory");
    dir_ = resolve_checkpoint_dir(o_.model, kWhere);
    TERN_CHECK(fs::absolute(dir_).lexically_normal() != fs::absolute(parent_ + "/" + name_).lexically_normal(), kWhere,
               "--out must differ from the input checkpoint");
    gen_.manual_seed(cfg_.seed);
    model_ = load_model(dir_, &gen_, kWhere);
    TERN_CHECK(quant::bitnet_layout(*model_).empty(), kWhere, "'", dir_,
               "' is already a BitNet model; continue training it with `tern train --init ", dir_, "`");
    tok_ = load_tokenizer(dir_);
    TERN_CHECK(tok_->vocab_size() <= model_->config().vocab_size, kWhere, "vocabulary mismatch: the tokenizer of ",
               dir_, " has ", tok_->vocab_size(), " tokens but the model only ", model_->config().vocab_size);
    int64_t added = 0;
    for (const auto& t : cfg_.thinking_tokens) {
      if (!tok_->special_token_id(t)) ++added;
      tok_->add_special_token(t);
    }
    if (tok_->vocab_size() > model_->config().vocab_size) {
      out_ << "resizing the token embeddings from " << model_->config().vocab_size << " to " << tok_->vocab_size()
           << " for " << added << " thinking token" << (added == 1 ? "" : "s") << "\n";
      model_->resize_token_embeddings(tok_->vocab_size(), &gen_);
    }
    model_->to(device_);

    std::string data = o_.data;
    double fraction = o_.train_fraction;
    const bool special_tokens = resolve_training_data(dir_, data, fraction, kWhere);
    data_ = data;
    data::TextDatasetOptions dopts;
    dopts.train_fraction = fraction;
    dopts.special_tokens = special_tokens;
    ds_ = std::make_unique<data::TextDataset>(data::TextDataset::load(data, *tok_, dopts));
    block_ = cfg_.qat_block_size > 0 ? std::min(cfg_.qat_block_size, model_->config().n_positions)
                                     : model_->config().n_positions;
    if (o_.given.count("block"))
      TERN_CHECK(cfg_.qat_block_size <= model_->config().n_positions, kWhere, "--block ", cfg_.qat_block_size,
                 " exceeds the model's n_positions ", model_->config().n_positions);
    TERN_CHECK(ds_->size(data::Split::val) >= 2, kWhere, "the val split of ", data, " is too short to evaluate");
    if (cfg_.qat_steps > 0)
      TERN_CHECK(ds_->size(data::Split::train) >= block_ + 1, kWhere, "the train split of ", data, " has ",
                 ds_->size(data::Split::train), " tokens; --block ", block_, " needs at least ", block_ + 1);
    out_ << "Phase 3 model: " << dir_ << " (" << human_count(static_cast<double>(model_->num_parameters()))
         << " parameters, vocab " << model_->config().vocab_size << ")\ndata: " << data << "\n";
  }

  // An --exclude pattern that matches no module is most likely a typo that leaves layers quantized which the user
  // meant to keep: warn, listing the names there are (layer numbers folded), or refuse under --strict. Only the
  // flag's patterns are checked: the defaults name lm_head, which tern's GPT-2 ties to wte rather than holding.
  void check_exclude_patterns() {
    if (!o_.given.count("exclude")) return;
    std::vector<std::string> names, unmatched;
    for (const auto& [name, m] : model_->named_modules())
      if (!name.empty()) names.push_back(name);
    for (const auto& p : o_.config.exclude_patterns)
      if (std::none_of(names.begin(), names.end(),
                       [&](const std::string& n) { return quant::matches_pattern(n, p, cfg_.pattern_mode); }))
        unmatched.push_back("'" + p + "'");
    if (unmatched.empty()) return;
    std::vector<std::string> folded;  // h.0.attn, h.1.attn, ... -> h.<i>.attn
    for (const auto& n : names) {
      std::string f;
      std::istringstream parts(n);
      for (std::string part; std::getline(parts, part, '.');)
        f += (f.empty() ? "" : ".") + (part.find_first_not_of("0123456789") == std::string::npos ? "<i>" : part);
      if (std::find(folded.begin(), folded.end(), f) == folded.end()) folded.push_back(f);
    }
    std::string msg = "--exclude " + join(unmatched, ", ") + " matches no module (" +
                      quant::pattern_mode_name(cfg_.pattern_mode) + " match); the modules are: " + join(folded, ", ");
    TERN_CHECK(!o_.strict, kWhere, msg);
    out_ << "warning: " << msg << "\n";
  }

  static std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
  }

  // Mean next-token loss over the val split in consecutive windows (eval_iters > 0: the first
  // eval_iters batches of them), as `tern eval` computes it.
  double evaluate(const std::string& stage) {
    const Stopwatch sw;
    const EvalResult r = evaluate_tokens(*model_, ds_->tokens(data::Split::val), block_, cfg_.qat_batch_size,
                                         cfg_.eval_iters, device_);
    const std::string s = "val loss " + fmt("%.4f", r.loss) + "  " + stage + "  (" + grouped(r.tokens) +
                          " tokens, " + fmt("%.1f", sw.seconds()) + " s)";
    if (loop_) {
      loop_->line(s);
    } else {
      out_ << s << "\n";
      out_.flush();
    }
    return r.loss;
  }

  void convert() {
    cm_ = std::make_unique<quant::CompressedModel>(model_, quant::BitNetQuantizer(cfg_), cfg_, true);
    const auto& c = cm_->conversion();
    out_ << "converted " << c.replaced.size() << " linear layers to BitLinear ("
         << (cfg_.weight_sparsity_threshold ? "sparsity threshold " + fmt("%.3g", *cfg_.weight_sparsity_threshold)
                                            : std::string("absmean rounding"))
         << "), kept " << c.excluded.size() << " at full precision\n";
  }

  // Fine-tunes through the quantization; the val loss after the last step goes to r.val_qat, the steps done to
  // r.qat_steps (fewer when a signal stopped it).
  void qat(QuantizeReport& r) {
    model_->train();
    const OptimizerSpec spec = qat_optimizer_spec();
    // After the conversion, so that Muon's routing sees the BitLinear modules.
    auto opt = create_optimizer(*model_, spec);
    out_ << "QAT optimizer: " << describe_optimizer(spec, *opt) << "\n";
    const int64_t warmup = std::min(cfg_.qat_warmup_steps, cfg_.qat_steps);
    nn::optim::WarmupCosineLR sched(cfg_.qat_lr, cfg_.qat_min_lr, warmup, cfg_.qat_steps);
    data::BatchSampler sampler(*ds_, data::Split::train, cfg_.qat_batch_size, block_, cfg_.seed);
    const auto params = model_->parameters();
    const StepParts parts{.model = *model_, .opt = *opt, .params = params, .sampler = sampler, .device = device_,
                          .grad_clip = cfg_.qat_grad_clip};

    MetricsCsv csv(staging_->path() + "/metrics.csv", std::nullopt, out_);
    const Stopwatch clock;
    StepLoop loop({.label = "QAT step", .steps = cfg_.qat_steps, .tokens_per_step = cfg_.qat_batch_size * block_,
                   .log_interval = o_.log_interval > 0 ? o_.log_interval : std::max<int64_t>(1, cfg_.qat_steps / 20),
                   .last_val = r.val_converted},
                  out_, &csv, [&clock] { return clock.seconds(); });
    loop.record_val(0, r.val_converted);
    loop_ = &loop;
    StepHooks hooks;
    hooks.step = [&](int64_t s) {
      const double lr = sched.lr(s - 1);
      const double loss = optimizer_step(parts, lr);
      TERN_CHECK(std::isfinite(loss), kWhere, "the QAT loss is ", loss, " at step ", s,
                 "; lower --lr or raise --warmup-steps");
      return StepHooks::Result{.lr = lr, .train_loss = loss};
    };
    hooks.evaluate = [&](int64_t s) {
      if (s == cfg_.qat_steps) r.val_qat = evaluate("after " + std::to_string(s) + " QAT steps");
      return s == cfg_.qat_steps ? r.val_qat : kNaN;
    };
    hooks.after = [&](int64_t s) {
      if (o_.on_step) o_.on_step(s);
    };
    r.qat_steps = loop.run(0, hooks);
    loop_ = nullptr;
    csv.sync();
    model_->eval();
  }

  OptimizerSpec qat_optimizer_spec() const {
    return {.name = o_.optimizer, .lr = cfg_.qat_lr, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = cfg_.qat_weight_decay,
            .muon_lr = o_.muon_lr, .grokfast_alpha = o_.grokfast_alpha, .grokfast_lamb = o_.grokfast_lamb};
  }

  std::string write(const QuantizeReport& r) {
    CheckpointDir& cd = *staging_;
    const std::string d = cd.path();
    const std::string stats_json = r.stats.to_json();
    const std::string cfg_json = cfg_.to_json();

    quant::BitNetLayout layout = quant::bitnet_layout(*model_);
    layout.weights = "dequantized";
    std::map<std::string, std::string> meta = {
        {"format", "tern-phase4"},
        {"format_version", "1"},
        {"vocab_size", std::to_string(model_->config().vocab_size)},
        {"thinking_tokens", join_json(cfg_.thinking_tokens)},
        {"phase4_config", cfg_json},
        {"compression_stats", stats_json},
        {quant::kBitNetMetadataKey, layout.to_json()},
    };
    io::save(d + "/model.safetensors", gpt2::to_hf_state(quant::dequantized_state(*model_, kFloat16)), meta);
    cm_->save(d + "/model.ternary.safetensors", meta, kFloat16);
    io::write_file_atomic(d + "/config.json", model_->config().to_json(), "config.json");
    io::write_file_atomic(d + "/compression_stats.json", json::parse(stats_json).dump(1) + "\n",
                            "compression_stats.json");
    io::write_file_atomic(d + "/phase4_config.json", json::parse(cfg_json).dump(1) + "\n", "phase4_config.json");
    write_layer_stats(d + "/layer_stats.json", *model_);
    json rep = {{"phase3_model", dir_},
                {"data", data_},
                {"val_loss_fp32", r.val_fp32},
                {"val_loss_converted", r.val_converted},
                {"val_loss_qat", std::isnan(r.val_qat) ? json(nullptr) : json(r.val_qat)},
                {"qat_steps", r.qat_steps},
                {"qat_interrupted", r.signal != 0},
                {"qat_optimizer", r.qat_steps > 0 ? json(o_.optimizer) : json(nullptr)},
                {"eval_block", block_}};
    io::write_file_atomic(d + "/quantize_report.json", rep.dump(1) + "\n", "quantize_report.json");
    write_tokenizer_files(tokenizer_files(*tok_, dir_), d);
    cd.commit();
    return cd.final_path();
  }

  QuantizeOptions o_;
  std::ostream& out_;
  quant::Phase4Config cfg_;
  Device device_ = kCPU;
  std::string parent_, name_, dir_, data_;
  Generator gen_{0};
  std::shared_ptr<gpt2::GPT2> model_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<data::TextDataset> ds_;
  std::unique_ptr<quant::CompressedModel> cm_;
  int64_t block_ = 0;
  std::optional<FileLock> lock_;
  std::optional<CheckpointDir> staging_;  // the directory being written, renamed to --out when complete
  StepLoop* loop_ = nullptr;              // while QAT runs: prints lines around its progress line
};

}  // namespace

QuantizeReport run_quantize(QuantizeOptions opts, std::ostream& out) {
  Quantizer q(std::move(opts), out);
  return q.run();
}

void add_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Phase 4: convert a trained GPT-2 (a tern checkpoint or a transformers directory) to BitNet b1.58, add "
      "thinking tokens, optionally fine-tune through the quantization (QAT), and write a Phase 4 directory "
      "(FP16 dequantized model.safetensors for Phase 5, packed model.ternary.safetensors, compression stats).");
  GivenOptions add;
  quant::Phase4Config& c = o->config;
  add(cmd->add_option("--model", o->model, "the Phase 3 checkpoint: tern's (a run dir or its checkpoint/) or a "
                                           "transformers GPT-2 directory"))
      ->required()
      ->group("Input");
  add(cmd->add_option("--config", o->config_file, "a Phase4Config JSON file (phase4_config.json); flags override it"))
      ->group("Input");
  add(cmd->add_option("--data", o->data, "text for QAT and the val losses (default: the model's training data, "
                                         "else tinyshakespeare)"))
      ->group("Input");
  add(cmd->add_option("--train-fraction", o->train_fraction, "leading fraction of the tokens used for training "
                                                             "(default: the training run's, else 0.9)"))
      ->group("Input");
  add(cmd->add_option("--add-tokens", c.thinking_tokens, "comma-separated thinking tokens to add (default "
                                                         "'<think>,</think>'; '' for none)"))
      ->delimiter(',')
      ->group("Input");
  add(cmd->add_option("--threshold", c.weight_sparsity_threshold,
                      "weight_sparsity_threshold: this fraction of each weight matrix becomes 0 (default 0.1)"))
      ->group("Quantization");
  add(cmd->add_flag("--absmean", o->absmean, "the paper's absmean rounding instead of a sparsity threshold"))
      ->group("Quantization");
  add(cmd->add_flag("--rmsnorm", c.input_rmsnorm, "a parameter-free RMSNorm before each BitLinear's activation "
                                                  "quantization"))
      ->group("Quantization");
  add(cmd->add_option("--exclude", c.exclude_patterns, "comma-separated name patterns kept at full precision "
                                                       "(default 'lm_head,wte,wpe')"))
      ->delimiter(',')
      ->group("Quantization");
  add(cmd->add_flag("--strict", o->strict, "an --exclude pattern that matches no module is an error, not a warning"))
      ->group("Quantization");
  add(cmd->add_flag_function("--glob", [&c](int64_t) { c.pattern_mode = quant::PatternMode::glob; },
                    "match --exclude as globs over the whole dotted name instead of substrings"))
      ->group("Quantization");
  add(cmd->add_option_function<std::string>(
          "--packing",
          [&c](const std::string& s) { c.packing = s == "base3" ? quant::Packing::base3 : quant::Packing::base4; },
          "base4 (2 bits per weight) or base3 (5 weights per byte, 1.6 bits) in model.ternary.safetensors"))
      ->check(CLI::IsMember({"base4", "base3"}))
      ->group("Quantization");
  add(cmd->add_option("--qat-steps", c.qat_steps, "QAT fine-tune steps (default 0: convert only)"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--lr", c.qat_lr, "peak QAT learning rate"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--min-lr", c.qat_min_lr, "final QAT learning rate (cosine)"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--warmup-steps", c.qat_warmup_steps, "QAT warmup steps"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--batch", c.qat_batch_size, "sequences per QAT step and per val batch"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--block", c.qat_block_size, "tokens per sequence (default: the model's n_positions)"))
      ->group("QAT");
  add(cmd->add_option("--weight-decay", c.qat_weight_decay, "AdamW weight decay (>= 2-D weights)"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--optimizer", o->optimizer,
                      "adamw, muon (Muon on the BitLinear latent weights, AdamW on the rest) or mugrokfast (muon "
                      "after a Grokfast-EMA gradient filter)"))
      ->check(CLI::IsMember({"adamw", "muon", "mugrokfast"}))
      ->capture_default_str()
      ->group("QAT");
  add(cmd->add_option("--muon-lr", o->muon_lr, "Muon's peak QAT learning rate (follows the schedule as --lr)"))
      ->capture_default_str()
      ->group("QAT");
  add(cmd->add_option("--grokfast-alpha", o->grokfast_alpha, "mugrokfast: EMA momentum of the gradient filter"))
      ->capture_default_str()
      ->group("QAT");
  add(cmd->add_option("--grokfast-lamb", o->grokfast_lamb, "mugrokfast: weight of the filtered gradient added back"))
      ->capture_default_str()
      ->group("QAT");
  add(cmd->add_option("--grad-clip", c.qat_grad_clip, "clip the global gradient norm (0: off)"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--seed", c.seed, "seeds the new embedding rows and the QAT batches"))->capture_default_str()->group("QAT");
  add(cmd->add_option("--eval-iters", c.eval_iters, "val batches per val loss (0: the whole val split)"))
      ->capture_default_str()->group("Output");
  add(cmd->add_option("--device", o->device, "cpu, or cuda[:N] when built with CUDA"))->capture_default_str()->group("Output");
  add(cmd->add_option("--out", o->out, "the Phase 4 directory to write"))->capture_default_str()->group("Output");
  add(cmd->add_flag("--overwrite", o->overwrite, "replace --out if it exists (atomically, once the new one is complete)"))
      ->group("Output");
  add(cmd->add_option("--log-interval", o->log_interval,
                      "QAT steps between progress lines when stdout is not a terminal (default: a twentieth of them)"))
      ->group("Output");
  cmd->callback([o, add] {
    o->given = add.names();
    const QuantizeReport r = run_quantize(*o, std::cout);
    if (r.signal) throw CLI::RuntimeError(128 + r.signal);
  });
}

}  // namespace tern::cli
