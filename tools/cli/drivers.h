#pragma once
// The training, sampling and evaluation drivers behind `tern train`, `tern generate` and
// `tern eval`, callable in-process (the CLI files only parse options into these structs;
// tests/tools drives them directly).

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include <tern/core/device.h>
#include <tern/core/tensor.h>
#include <tern/quant/compressed_model.h>
#include <tern/quant/config.h>

namespace tern::gpt2 {
class GPT2;
}

namespace tern::cli {

// ---- tern train

struct TrainOptions {
  // What to train.
  std::string model = "tiny";  // preset (tiny|gpt2|medium|large|xl) or a Hugging Face config.json
  int64_t n_layer = 0, n_head = 0, n_embd = 0;  // > 0: override the preset (fresh models only)
  bool no_bias = false;        // fresh models: no biases in linears and LayerNorms (nanoGPT's bias=False)
  std::string activation;      // fresh models: gelu_new (tanh) | gelu (exact); "" = the config's
  std::string init;            // a Hugging Face-layout checkpoint directory to start from
  std::string data;            // text file; "" = default_data_dir()/tinyshakespeare/input.txt
  std::string tokenizer;       // bpe | char; "" = the --init checkpoint's, else bpe with --init, else char
  std::string vocab;           // bpe: dir with encoder.json + vocab.bpe; char: vocab .json or a text file
  std::vector<std::string> add_tokens;  // special tokens to add (e.g. <think>, </think>)
  std::string data_special = "all";     // all: special-token text in --data becomes the token; none: plain text
  double train_fraction = 0.9;

  // Batches.
  int64_t batch = 12;
  int64_t block = 0;           // 0 = the model's n_positions
  int64_t grad_accum = 1;      // micro-batches per optimizer step
  int64_t steps = 2000;        // total optimizer steps of the run (a resumed run may raise it)

  // Optimizer and schedule.
  std::string schedule = "cosine";  // cosine (linear warmup, cosine decay to min_lr) | constant
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_steps = 100;
  int64_t lr_decay_steps = 0;  // 0 = steps (resolved when the run starts; kept on resume)
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.99;
  double grad_clip = 1.0;      // 0 = off
  std::string optimizer = "adamw";  // adamw | muon | mugrokfast (see optimizer_choice.h)
  double muon_lr = 0.02;       // Muon's peak lr; the schedule scales it with --lr's
  double grokfast_alpha = 0.98, grokfast_lamb = 2.0;
  bool show_routing = false;   // print which parameters Muon and AdamW update
  double dropout = -1;         // < 0 = the model config's
  bool bitnet = false;         // train BitNet b1.58: linears -> BitLinear (Phase4Config defaults)

  // Evaluation, logging, checkpoints.
  int64_t eval_interval = 250;  // 0 = never
  int64_t eval_iters = 20;
  int64_t final_eval_iters = 0;  // val batches for the estimate at the last step; 0 = eval_iters
  int64_t log_interval = 10;    // plain progress lines (when stdout is not a terminal)
  int64_t checkpoint_interval = 500;  // 0 = only at the end (and on Ctrl-C)
  uint64_t seed = 1337;
  std::string device = "cpu";
  bool tf32 = false;  // fp32 matrix products on a GPU in TF32 (set_matmul_precision("high")); the CPU ignores it
  // fp32, tf32 (as --tf32) or bf16 (the forward pass under AutocastGuard: bf16 products, f32 accumulation and
  // master weights); a GPU setting, which the CPU ignores.
  std::string precision = "fp32";
  std::string out = "out";
  bool resume = false;
  bool overwrite = false;  // allow a fresh run into an --out that already holds a checkpoint

  // Option names (as in `--name`, without dashes) that the user gave explicitly. On
  // --resume, an explicit option that would change the run is an error; the others
  // (steps, intervals, ...) override the checkpoint's.
  std::set<std::string> given;

  // Test hook: called after each optimizer step with the step count.
  std::function<void(int64_t)> on_step;
};

// Returns the process exit code: 0 when done, 130 when interrupted by SIGINT (after
// saving a checkpoint). Throws tern::Error on bad options or I/O failures.
int run_train(TrainOptions opts, std::ostream& out);

// ---- tern generate

// How tern generate / tern eval hold a checkpoint's weights:
//   weights "auto"         packed when the directory has model.ternary.safetensors (a Phase 4
//                          output), else as stored
//           "packed"       BitLinear layers as PackedBitLinear (2-bit weights, integer kernels):
//                          from model.ternary.safetensors, else packed from the loaded model
//           "dequantized"  model.safetensors as stored (BitLinear on fp32 weights)
//   lm_head "fp32" | "int8"  int8 holds the tied wte/lm_head as quant::Int8Embedding (lossy)
struct InferenceWeights {
  std::string weights = "auto";
  std::string lm_head = "fp32";
};

struct GenerateCliOptions {
  std::string checkpoint;  // tern's checkpoint dir or a transformers GPT-2 dir
  std::string prompt;      // "" = the tokenizer's <|endoftext|>, or "\n"
  bool has_prompt = false;
  int64_t max_new_tokens = 200;
  double temperature = 0.8;
  int64_t top_k = 200;
  double top_p = 1.0;
  uint64_t seed = 1337;
  int64_t num_samples = 1;
  bool echo_prompt = true;
  bool stop_at_eot = true;
  std::string device = "cpu";
  InferenceWeights weights;
};

// Streams the text to `out` (flushed per token) and the timing to `err`.
void run_generate(const GenerateCliOptions& opts, std::ostream& out, std::ostream& err);

// ---- tern eval

struct EvalOptions {
  std::string checkpoint;
  std::string data;             // "" = the checkpoint's training data, else tinyshakespeare
  std::string split = "val";    // val | train | all
  double train_fraction = -1;   // where the val split starts; <= 0: the training run's, else 0.9
  int64_t block = 0;            // 0 = n_positions
  int64_t batch = 8;
  int64_t max_batches = 0;      // 0 = the whole split
  bool json = false;
  std::string device = "cpu";
  InferenceWeights weights;
};

struct EvalResult {
  double loss = 0;
  double perplexity = 0;
  int64_t tokens = 0;   // predicted tokens
  int64_t windows = 0;
  double seconds = 0;
};

EvalResult run_eval(const EvalOptions& opts, std::ostream& out);

// The mean next-token loss of `model` over `tokens` (1-D i64) cut into consecutive windows of
// `block` (the last one shorter), `batch` windows per forward; max_batches > 0 stops early.
EvalResult evaluate_tokens(gpt2::GPT2& model, const Tensor& tokens, int64_t block, int64_t batch,
                           int64_t max_batches, Device device);


// ---- tern quantize (Phase 4)

struct QuantizeOptions {
  std::string model;        // the Phase 3 checkpoint: tern's or a transformers GPT-2 directory
  std::string out = "phase4";
  std::string config_file;  // a Phase4Config JSON file; "" = the defaults
  quant::Phase4Config config;  // flag values; only the flags named in `given` override
  bool absmean = false;        // --absmean: the paper's rounding (no sparsity threshold)
  std::string data;         // "" = the model's training data, else tinyshakespeare
  double train_fraction = -1;  // <= 0: the training run's, else 0.9
  std::string device = "cpu";
  bool overwrite = false;
  bool strict = false;      // an --exclude pattern that matches no module is an error, not a warning
  // The QAT optimizer (adamw | muon | mugrokfast); Muon's lr defaults to 20x --lr's default,
  // as in `tern train`, and follows the QAT schedule.
  std::string optimizer = "adamw";
  double muon_lr = 2e-3;
  double grokfast_alpha = 0.98, grokfast_lamb = 2.0;
  int64_t log_interval = 0;     // QAT progress lines when stdout is not a terminal; 0 = a twentieth of the steps
  std::set<std::string> given;  // flag names without dashes

  // Test hook: called after each QAT step with the step count.
  std::function<void(int64_t)> on_step;
};

struct QuantizeReport {
  double val_fp32 = 0, val_converted = 0, val_qat = 0;  // val_qat is NaN without QAT
  int64_t qat_steps = 0;  // done: fewer than asked when a signal ended QAT
  int signal = 0;         // SIGINT or SIGTERM when one ended QAT early (the directory is still written)
  quant::CompressionStats stats;
  std::string out;  // the Phase 4 directory written
};

// Throws tern::Error on bad input; --out is then left as it was.
QuantizeReport run_quantize(QuantizeOptions opts, std::ostream& out);

}  // namespace tern::cli
