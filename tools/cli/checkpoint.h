#pragma once
// Checkpoint directories as `tern train` writes them and `tern generate` / `tern eval` /
// `tern train --resume` read them:
//
//   <out>/checkpoint/
//     config.json            Hugging Face GPT2Config           } a transformers GPT-2
//     model.safetensors      HF-layout weights (save_hf)       } directory, loadable by
//     vocab.json, merges.txt GPT-2 BPE files (bpe only)        } GPT2LMHeadModel/GPT2Tokenizer
//     tern_tokenizer.json    {"type": "char"|"bpe", ...}: the char vocabulary, special tokens
//     optimizer.safetensors  AdamW::state_dict() (moments, steps, group lrs)
//     tern_state.json        step, options, data-sampler and dropout-generator states
//
// The directory appears atomically: it is written as <out>/checkpoint.tmp-<pid>-<n>, every
// file fsync'ed, then swapped in with renameat2(RENAME_EXCHANGE) (or renamed when there
// was none) and the old one removed. A reader therefore sees the previous complete
// checkpoint or the new complete one, never a mix.

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include <tern/core/generator.h>
#include <tern/models/gpt2/model.h>
#include <tern/models/tokenizer/tokenizer.h>

#include "drivers.h"

namespace tern::cli {

inline constexpr const char* kStateFile = "tern_state.json";
inline constexpr const char* kTokenizerFile = "tern_tokenizer.json";
inline constexpr const char* kOptimizerFile = "optimizer.safetensors";
inline constexpr const char* kCheckpointName = "checkpoint";
inline constexpr const char* kTernaryFile = "model.ternary.safetensors";  // Phase 4's packed weights

// `dir` itself when it holds config.json; else dir/checkpoint when that does (so the
// --out directory of a run works too). Throws a clear error otherwise.
std::string resolve_checkpoint_dir(const std::string& dir, const std::string& where);

gpt2::Config read_config(const std::string& dir, const std::string& where);
// config.json + model.safetensors (either HF key style) into a GPT2 whose dropout
// masks come from `gen` (may be null).
// `adjust` (optional) may change the config first (e.g. dropout). `inference` (generate, eval) builds without
// initialising and makes the weights views of the file's mapping (gpt2::HfLoadOptions::inference).
std::shared_ptr<gpt2::GPT2> load_model(const std::string& dir, Generator* gen, const std::string& where,
                                       const std::function<void(gpt2::Config&)>& adjust = {}, bool inference = false);

// The tokenizer's kind, char vocabulary and special tokens as JSON (tern_tokenizer.json).
std::string tokenizer_to_json(const Tokenizer& tok);
// `bpe_dir` holds encoder.json + vocab.bpe ("" = the data dir's gpt2/).
std::unique_ptr<Tokenizer> tokenizer_from_json(const std::string& text, const std::string& origin,
                                               const std::string& bpe_dir = "");
// The tokenizer of a checkpoint directory: tern_tokenizer.json (with vocab.json +
// merges.txt for bpe, which must be there), else vocab.json + merges.txt (a transformers
// directory), else GPT-2's from the data dir. A tern checkpoint (tern_state.json or
// quantize_report.json) without tern_tokenizer.json is an error naming the file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

// A checkpoint opened for inference (eval, generate): dir resolved, model on `device` in eval
// mode, and its tokenizer, checked to fit the model's vocabulary.
struct InferenceCheckpoint {
  std::string dir;
  std::shared_ptr<gpt2::GPT2> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string weights;  // "packed", "dequantized" (BitLinear on fp32 weights) or "fp32" (no BitNet layers)
};
InferenceCheckpoint open_for_inference(const std::string& path, Device device, const std::string& where,
                                       const InferenceWeights& how = {});
// Adds --packed / --dequantized / --lm-head to an inference subcommand.
void add_inference_weight_options(CLI::App& cmd, InferenceWeights& how);

// The text a checkpoint was trained on and its train fraction: the given ones, else the run
// state's (tern_state.json), else tinyshakespeare and 0.9. Checks the file and the fraction. A
// recorded file that is gone is an error naming it, never a reason to use other text.
// Returns whether the run matched special tokens in its text (train's --data-special; true
// when not recorded), so that its text is tokenized the same way again.
bool resolve_training_data(const std::string& dir, std::string& data, double& train_fraction,
                           const std::string& where);
// A text file to read: "<what> 'path' does not exist", "... is a directory", "... is not a regular file".
void check_text_file(const std::string& path, const std::string& where, const std::string& what);
// The tokenizer files a checkpoint holds, read once so that every save can write them:
// tern_tokenizer.json, and for bpe vocab.json + merges.txt from `bpe_dir` (a tern data
// dir with encoder.json + vocab.bpe, or a checkpoint with vocab.json + merges.txt;
// "" = the data dir's gpt2/).
struct TokenizerFiles {
  std::string tern_json, vocab_json, merges_txt;
};
TokenizerFiles tokenizer_files(const Tokenizer& tok, const std::string& bpe_dir);
void write_tokenizer_files(const TokenizerFiles& files, const std::string& dir);

// A checkpoint directory being written: files go into path(); commit() puts it in place
// as parent/name atomically. Destroying it uncommitted removes the temporary directory.
class CheckpointDir {
 public:
  CheckpointDir(std::string parent, std::string name = kCheckpointName);
  ~CheckpointDir();
  CheckpointDir(const CheckpointDir&) = delete;
  CheckpointDir& operator=(const CheckpointDir&) = delete;

  const std::string& path() const { return tmp_; }
  std::string final_path() const { return parent_ + "/" + name_; }
  void commit();

 private:
  std::string parent_, name_, tmp_;
  bool committed_ = false;
};

// Removes parent/name.tmp-<pid>-* left behind by a crashed writer: only those whose process is gone, so that a
// concurrent writer's directory is never pulled from under it.
void remove_stale_checkpoint_temps(const std::string& parent, const std::string& name = kCheckpointName);

// fsync of a directory (its entries); throws on failure.
void fsync_dir(const std::string& dir);

}  // namespace tern::cli
