// tern generate CHECKPOINT: samples text from a checkpoint (tern's, or a transformers
// GPT-2 directory), streaming it token by token; decode speed goes to stderr.
//
//   tern generate out/checkpoint --prompt "ROMEO:" --max-new-tokens 300
//   tern generate path/to/gpt2 --prompt "Hello, I'm a language model," --top-k 50 --seed 1

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tern/core/error.h>
#include <tern/models/gpt2/model.h>

#include "checkpoint.h"
#include "commands.h"
#include "drivers.h"
#include "run_common.h"

namespace tern::cli {

namespace {
constexpr const char* kWhere = "generate";
}

void run_generate(const GenerateCliOptions& o, std::ostream& out, std::ostream& err) {
  TERN_CHECK(o.max_new_tokens >= 0, kWhere, "--max-new-tokens must be >= 0, got ", o.max_new_tokens);
  TERN_CHECK(o.temperature >= 0, kWhere, "--temperature must be >= 0 (0: greedy), got ", o.temperature);
  TERN_CHECK(o.top_k >= 0, kWhere, "--top-k must be >= 0 (0: off), got ", o.top_k);
  TERN_CHECK(o.top_p > 0 && o.top_p <= 1, kWhere, "--top-p must be in (0, 1], got ", o.top_p);
  TERN_CHECK(o.num_samples > 0, kWhere, "--num-samples must be positive, got ", o.num_samples);
  const Device device = parse_device(o.device, kWhere);
  InferenceCheckpoint ck = open_for_inference(o.checkpoint, device, kWhere, o.weights);
  auto& model = ck.model;
  auto& tok = ck.tokenizer;

  std::vector<int64_t> prompt;
  std::string prompt_text = o.prompt;
  if (o.has_prompt) {
    prompt = tok->encode(o.prompt);
    TERN_CHECK(!prompt.empty(), kWhere, "the prompt is empty; give some text, or leave --prompt out to start from ",
               tok->eot_id() ? "<|endoftext|>" : "a newline");
  } else if (auto eot = tok->eot_id()) {
    prompt = {*eot};
    prompt_text.clear();  // don't echo <|endoftext|>
  } else {
    prompt_text = "\n";
    try {
      prompt = tok->encode(prompt_text);
    } catch (const Error&) {
      prompt = {0};
      prompt_text = tok->decode(prompt);
    }
  }

  gpt2::GenerateOptions g{.max_new_tokens = o.max_new_tokens,
                          .temperature = o.temperature,
                          .top_k = o.top_k,
                          .top_p = o.top_p};
  if (o.stop_at_eot && tok->eot_id()) g.stop_token = *tok->eot_id();

  // A sample that cannot be written (a full disk behind a redirect) stops the run instead of vanishing.
  auto checked = [&out](auto&& write) {
    errno = 0;
    write();
    const int err = errno;
    TERN_CHECK(out.good(), kWhere, "cannot write the sample to the output",
               err != 0 ? std::string(": ") + std::strerror(err) : std::string());
  };
  int64_t total_tokens = 0;
  double total_decode_s = 0, first_token_s = 0;
  int64_t decode_tokens = 0;
  for (int64_t i = 0; i < o.num_samples; ++i) {
    if (i > 0) out << "\n---------------\n";
    if (o.echo_prompt) out << prompt_text;
    checked([&] { out.flush(); });
    g.seed = o.seed + static_cast<uint64_t>(i);
    Utf8Stream stream(out);
    const Stopwatch sw;
    double t_first = -1, t_last = 0;
    int64_t n = 0;
    model->generate(prompt, g, [&](int64_t id) {
      const double t = sw.seconds();
      if (t_first < 0) t_first = t;
      t_last = t;
      ++n;
      if (id == g.stop_token) return;
      checked([&] { stream.write(tok->token_bytes(id)); });
    });
    checked([&] { stream.finish(); });
    total_tokens += n;
    if (n > 0) first_token_s += t_first;
    if (n > 1) {
      total_decode_s += t_last - t_first;
      decode_tokens += n - 1;
    }
  }
  out << "\n";
  checked([&] { out.flush(); });
  err << "[generate] " << total_tokens << " tokens";
  if (o.num_samples > 1) err << " in " << o.num_samples << " samples";
  err << "; prompt " << prompt.size() << " token" << (prompt.size() == 1 ? "" : "s") << ", first token after "
      << fmt("%.1f", 1e3 * first_token_s / static_cast<double>(o.num_samples)) << " ms";
  if (decode_tokens > 0 && total_decode_s > 0)
    err << ", decode " << fmt("%.1f", static_cast<double>(decode_tokens) / total_decode_s) << " tokens/s";
  err << " (" << device << ", " << ck.weights << " weights";
  if (o.weights.lm_head == "int8") err << ", int8 lm_head";
  err << ", " << num_threads() << (num_threads() == 1 ? " thread)\n" : " threads)\n");
  err.flush();
}

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "generate",
      "Sample text from a checkpoint directory (tern train's OUT or OUT/checkpoint, or a transformers GPT-2 "
      "directory with config.json + model.safetensors), streaming it as it is produced");
  cmd->add_option("checkpoint", o->checkpoint, "checkpoint directory")->required();
  cmd->add_option("--prompt,-p", o->prompt,
                  "text to continue (default: <|endoftext|> for GPT-2's tokenizer, a newline for char)");
  cmd->add_option("--max-new-tokens,-n", o->max_new_tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--temperature,-t", o->temperature, "softmax temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", o->top_k, "sample from the k most likely tokens (0: all)")->capture_default_str();
  cmd->add_option("--top-p", o->top_p, "nucleus sampling: the smallest set with this much probability (1: off)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "sampling seed (sample i uses seed + i)")->capture_default_str();
  cmd->add_option("--num-samples", o->num_samples, "independent samples")->capture_default_str();
  cmd->add_flag("!--no-echo", o->echo_prompt, "do not print the prompt before the continuation");
  cmd->add_flag("!--no-stop", o->stop_at_eot, "keep going after <|endoftext|>");
  cmd->add_option("--device", o->device, "cpu, or cuda[:N] when built with CUDA")->capture_default_str();
  add_inference_weight_options(*cmd, o->weights);
  cmd->callback([o, cmd] {
    o->has_prompt = cmd->count("--prompt") > 0;
    run_generate(*o, std::cout, std::cerr);
  });
}

}  // namespace tern::cli
