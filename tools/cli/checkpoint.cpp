#include "checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/io/file.h>
#include <tern/models/gpt2/hf.h>
#include <tern/models/tokenizer/char_tokenizer.h>
#include <tern/models/tokenizer/gpt2_tokenizer.h>
#include <tern/nn/init.h>
#include <tern/quant/bitlinear.h>
#include <tern/quant/packed.h>
#include <tern/quant/phase4.h>

namespace fs = std::filesystem;

namespace tern::cli {

std::string resolve_checkpoint_dir(const std::string& dir, const std::string& where) {
  std::error_code ec;
  TERN_CHECK(!dir.empty(), where, "no checkpoint directory given");
  TERN_CHECK(fs::exists(dir, ec), where, "checkpoint directory '", dir, "' does not exist");
  TERN_CHECK(fs::is_directory(dir, ec), where, "'", dir,
             "' is not a directory (expected a checkpoint directory with config.json and model.safetensors)");
  if (fs::exists(dir + "/config.json", ec)) return dir;
  const std::string sub = dir + "/" + kCheckpointName;
  if (fs::exists(sub + "/config.json", ec)) return sub;
  TERN_FAIL(where, "'", dir, "' is not a checkpoint: it has no config.json (nor has ", sub, ")");
}

gpt2::Config read_config(const std::string& dir, const std::string& where) {
  const std::string path = dir + "/config.json";
  std::error_code ec;
  TERN_CHECK(fs::exists(path, ec), where, "'", dir, "' has no config.json");
  return gpt2::Config::from_json(io::read_file(path, where), path);
}

std::shared_ptr<gpt2::GPT2> load_model(const std::string& dir, Generator* gen, const std::string& where,
                                       const std::function<void(gpt2::Config&)>& adjust, bool inference) {
  gpt2::Config cfg = read_config(dir, where);
  if (adjust) adjust(cfg);
  const std::string st = dir + "/model.safetensors";
  std::error_code ec;
  TERN_CHECK(fs::exists(st, ec), where, "'", dir, "' has no model.safetensors");
  const auto file = io::SafetensorsFile::open(st);
  const auto hf = file.views();
  gpt2::match_bias_to_state(cfg, hf);
  std::shared_ptr<gpt2::GPT2> model;
  {
    // For inference the strict load below fills every tensor, so the initialisers are skipped; training keeps
    // them, since they advance `gen` as a fresh run's would.
    std::optional<nn::init::SkipInitGuard> skip;
    if (inference) skip.emplace();
    model = std::make_shared<gpt2::GPT2>(cfg, gen);
  }
  try {
    // A BitNet checkpoint (Phase 4 output, or a QAT run's) says which layers are BitLinear.
    if (const auto layout = quant::bitnet_layout_from_metadata(file.metadata(), st))
      quant::apply_bitnet_layout(*model, *layout, st);
  } catch (const Error& e) {
    TERN_FAIL(st, e.what());
  }
  gpt2::load_hf_state(*model, hf, file, {.inference = inference});
  return model;
}

namespace {

bool has_bitlinear(const nn::Module& m) {
  for (const auto& [n, mod] : m.named_modules())
    if (dynamic_cast<const quant::BitLinear*>(mod)) return true;
  return false;
}

// A Phase 4 directory straight into packed modules: the model is built without initialising
// (every tensor comes from the file), so the fp32 BitLinear weights are never touched or kept.
std::shared_ptr<gpt2::GPT2> load_model_packed(const std::string& dir, const std::string& where,
                                              const quant::PackOptions& opts) {
  const gpt2::Config cfg = read_config(dir, where);
  const std::string st = dir + "/" + kTernaryFile;
  std::shared_ptr<gpt2::GPT2> model;
  try {
    nn::init::SkipInitGuard skip;
    model = std::make_shared<gpt2::GPT2>(cfg, nullptr);
    const auto meta = io::SafetensorsFile::open(st).metadata();
    const auto layout = quant::bitnet_layout_from_metadata(meta, st);
    TERN_CHECK(layout, st, "has no BitNet layout (metadata '", quant::kBitNetMetadataKey, "')");
    quant::apply_bitnet_layout(*model, *layout, st);
  } catch (const Error& e) {
    TERN_FAIL(where, e.what());
  }
  quant::load_packed(*model, st, opts);
  return model;
}

}  // namespace

void add_inference_weight_options(CLI::App& cmd, InferenceWeights& how) {
  auto* packed = cmd.add_flag_callback(
      "--packed", [&how] { how.weights = "packed"; },
      "hold BitLinear layers packed (2 bits per weight, integer kernels); the default for a Phase 4 directory");
  auto* deq = cmd.add_flag_callback(
      "--dequantized", [&how] { how.weights = "dequantized"; },
      "hold BitLinear layers as fp32 dequantized weights (model.safetensors), as in training");
  packed->excludes(deq);
  cmd.add_option(
         "--lm-head", how.lm_head,
         "fp32, or int8: hold the tied wte/lm_head as int8 per row (smaller and faster, slightly lossy; CPU only)")
      ->check(CLI::IsMember({"fp32", "int8"}))
      ->capture_default_str();
}

InferenceCheckpoint open_for_inference(const std::string& path, Device device, const std::string& where,
                                       const InferenceWeights& how) {
  InferenceCheckpoint c;
  c.dir = resolve_checkpoint_dir(path, where);
  std::error_code ec;
  const bool has_ternary = fs::exists(c.dir + "/" + kTernaryFile, ec);
  const bool packed = how.weights == "packed" || (how.weights == "auto" && has_ternary);
  quant::PackOptions popts;
  if (how.lm_head == "int8") popts.int8_embeddings = {"wte"};
  // Packed BitLinear layers run on a GPU too (the W2A8 kernel); the int8 lm_head has no GPU kernel.
  TERN_CHECK(device == kCPU || how.lm_head == "fp32", where,
             "--lm-head int8 runs on the CPU only; use --lm-head fp32 on ", device);
  if (packed && has_ternary) {
    c.model = load_model_packed(c.dir, where, popts);
  } else {
    c.model = load_model(c.dir, nullptr, where, {}, /*inference=*/true);
    TERN_CHECK(!packed || has_bitlinear(*c.model), where, "'", c.dir,
               "' has no BitLinear layers to pack (--packed needs a BitNet checkpoint)");
    popts.pack_bitlinear = packed;
    if (packed || !popts.int8_embeddings.empty()) quant::pack_for_inference(*c.model, popts);
  }
  c.weights = packed ? "packed" : has_bitlinear(*c.model) ? "dequantized" : "fp32";
  if (device != kCPU) c.model->to(device);
  c.model->eval();
  c.tokenizer = load_tokenizer(c.dir);
  TERN_CHECK(c.tokenizer->vocab_size() <= c.model->config().vocab_size, where, "the tokenizer of ", c.dir, " has ",
             c.tokenizer->vocab_size(), " tokens but the model only ", c.model->config().vocab_size);
  return c;
}

void check_text_file(const std::string& path, const std::string& where, const std::string& what) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  TERN_CHECK(fs::exists(st), where, what, " '", path, "' does not exist");
  TERN_CHECK(!fs::is_directory(st), where, what, " '", path, "' is a directory; give a text file");
  TERN_CHECK(fs::is_regular_file(st), where, what, " '", path, "' is not a regular file");
}

bool resolve_training_data(const std::string& dir, std::string& data, double& train_fraction,
                           const std::string& where) {
  std::error_code ec;
  const std::string state = dir + "/" + kStateFile;
  bool special_tokens = true;
  if (fs::exists(state, ec)) {
    std::string recorded;
    try {
      const auto st = nlohmann::json::parse(io::read_file(state, where));
      const auto& opts = st.at("options");
      recorded = opts.at("data").get<std::string>();
      if (train_fraction <= 0) train_fraction = opts.at("train-fraction").get<double>();
      special_tokens = opts.value("data-special", std::string("all")) == "all";
    } catch (const nlohmann::json::exception& e) {
      TERN_CHECK(!data.empty(), where, state, " does not say which text the model was trained on (", e.what(),
                 "); pass --data FILE");
    }
    // Other text would give numbers that look like the run's and are not: say so instead of guessing.
    if (data.empty()) {
      TERN_CHECK(fs::exists(recorded, ec), where, "the checkpoint was trained on '", recorded,
                 "', which no longer exists (", state, "); pass --data FILE to use another text file");
      data = recorded;
    }
  }
  if (data.empty()) data = default_data_dir() + "/tinyshakespeare/input.txt";
  if (train_fraction <= 0) train_fraction = 0.9;
  check_text_file(data, where, "data file");
  TERN_CHECK(train_fraction > 0 && train_fraction < 1, where, "--train-fraction must be in (0, 1), got ",
             train_fraction);
  return special_tokens;
}

// ---- tokenizers

std::string tokenizer_to_json(const Tokenizer& tok) {
  if (const auto* c = dynamic_cast<const CharTokenizer*>(&tok)) return c->to_json();
  nlohmann::json j;
  j["type"] = tok.kind();
  j["version"] = 1;
  nlohmann::json specials = nlohmann::json::array();
  for (const auto& s : tok.special_tokens()) specials.push_back({{"text", s.text}, {"id", s.id}});
  j["special_tokens"] = std::move(specials);
  return j.dump(1) + "\n";
}

std::unique_ptr<Tokenizer> tokenizer_from_json(const std::string& text, const std::string& origin,
                                               const std::string& bpe_dir) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    TERN_FAIL(origin, "not valid JSON: ", e.what());
  }
  TERN_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), origin,
             "expected an object with a \"type\" (char or bpe)");
  const std::string type = j["type"];
  if (type == "char") return std::make_unique<CharTokenizer>(CharTokenizer::from_json(text, origin));
  TERN_CHECK(type == "bpe", origin, "unknown tokenizer type '", type, "' (expected char or bpe)");
  std::unique_ptr<Tokenizer> tok;
  std::error_code ec;
  // A checkpoint's bpe tokenizer keeps its vocabulary beside it; GPT-2's from the data dir is no stand-in.
  if (!bpe_dir.empty() && !fs::exists(bpe_dir + "/encoder.json", ec))
    for (const char* f : {"vocab.json", "merges.txt"})
      TERN_CHECK(fs::exists(bpe_dir + "/" + f, ec), bpe_dir + "/" + f, "missing: the bpe tokenizer of ", origin,
                 " needs it");
  if (!bpe_dir.empty() && fs::exists(bpe_dir + "/vocab.json", ec) && fs::exists(bpe_dir + "/merges.txt", ec))
    tok = std::make_unique<GPT2Tokenizer>(
        GPT2Tokenizer::from_files(bpe_dir + "/vocab.json", bpe_dir + "/merges.txt"));
  else
    tok = make_tokenizer("bpe", !bpe_dir.empty() && fs::exists(bpe_dir + "/encoder.json", ec) ? bpe_dir : "");
  if (j.contains("special_tokens")) {
    TERN_CHECK(j["special_tokens"].is_array(), origin, "\"special_tokens\" must be an array");
    for (const auto& s : j["special_tokens"]) {
      TERN_CHECK(s.is_object() && s.contains("text") && s["text"].is_string() && s.contains("id") &&
                     s["id"].is_number_integer(),
                 origin, "each special token needs \"text\" and \"id\"");
      const TokenId id = tok->add_special_token(s["text"].get<std::string>());
      TERN_CHECK(id == s["id"].get<TokenId>(), origin, "special token \"", s["text"].get<std::string>(),
                 "\" has id ", s["id"].get<TokenId>(), " but gets ", id, " from the vocabulary");
    }
  }
  return tok;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  std::error_code ec;
  const std::string tj = dir + "/" + kTokenizerFile;
  if (fs::exists(tj, ec)) return tokenizer_from_json(io::read_file(tj, tj), tj, dir);
  // tern writes tern_tokenizer.json into every checkpoint and Phase 4 directory. Without it a guess (GPT-2's BPE)
  // would fail later on a vocabulary mismatch, or silently tokenize differently.
  for (const char* marker : {kStateFile, "quantize_report.json"})
    TERN_CHECK(!fs::exists(dir + "/" + marker, ec), tj,
               "missing: this tern checkpoint's tokenizer file was removed (copy it back from the run)");
  if (fs::exists(dir + "/vocab.json", ec) && fs::exists(dir + "/merges.txt", ec))
    return std::make_unique<GPT2Tokenizer>(GPT2Tokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt"));
  return make_tokenizer("bpe");
}

TokenizerFiles tokenizer_files(const Tokenizer& tok, const std::string& bpe_dir) {
  TokenizerFiles f;
  f.tern_json = tokenizer_to_json(tok);
  if (tok.kind() != "bpe") return f;
  const std::string src = bpe_dir.empty() ? default_data_dir() + "/gpt2" : bpe_dir;
  std::error_code ec;
  const bool hf = fs::exists(src + "/vocab.json", ec) && fs::exists(src + "/merges.txt", ec);
  f.vocab_json = io::read_file(src + (hf ? "/vocab.json" : "/encoder.json"), "checkpoint");
  f.merges_txt = io::read_file(src + (hf ? "/merges.txt" : "/vocab.bpe"), "checkpoint");
  return f;
}

void write_tokenizer_files(const TokenizerFiles& f, const std::string& dir) {
  io::write_file_atomic(dir + "/" + kTokenizerFile, f.tern_json, kTokenizerFile);
  if (!f.vocab_json.empty()) io::write_file_atomic(dir + "/vocab.json", f.vocab_json, "checkpoint");
  if (!f.merges_txt.empty()) io::write_file_atomic(dir + "/merges.txt", f.merges_txt, "checkpoint");
}

// ---- atomic directories

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TERN_CHECK(fd >= 0, "checkpoint", "cannot open directory ", dir, ": ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  TERN_CHECK(rc == 0, "checkpoint", "fsync of directory ", dir, " failed: ", std::strerror(err));
}

namespace {
std::atomic<int> g_counter{0};
const std::string kTmpInfix = ".tmp-";
}  // namespace

CheckpointDir::CheckpointDir(std::string parent, std::string name) : parent_(std::move(parent)), name_(std::move(name)) {
  std::error_code ec;
  fs::create_directories(parent_, ec);
  TERN_CHECK(!ec, "checkpoint", "cannot create directory ", parent_, ": ", ec.message());
  tmp_ = parent_ + "/" + name_ + kTmpInfix + std::to_string(::getpid()) + "-" + std::to_string(g_counter++);
  fs::remove_all(tmp_, ec);
  fs::create_directory(tmp_, ec);
  TERN_CHECK(!ec, "checkpoint", "cannot create directory ", tmp_, ": ", ec.message());
}

CheckpointDir::~CheckpointDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void CheckpointDir::commit() {
  TERN_CHECK(!committed_, "checkpoint", "already committed");
  fsync_dir(tmp_);
  const std::string dst = final_path();
  std::error_code ec;
  bool exchanged = false;
  if (fs::exists(dst, ec)) {
    // Swap the complete new directory with the old one in a single step.
    if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, dst.c_str(), RENAME_EXCHANGE) == 0) {
      exchanged = true;
    } else {
      // No RENAME_EXCHANGE (old kernel or file system): move the old one aside first.
      // In between there is no `dst`, but both complete copies exist on disk.
      const std::string aside = tmp_ + ".old";
      TERN_CHECK(::rename(dst.c_str(), aside.c_str()) == 0, "checkpoint", "cannot move ", dst, " aside: ",
                 std::strerror(errno));
      TERN_CHECK(::rename(tmp_.c_str(), dst.c_str()) == 0, "checkpoint", "cannot rename ", tmp_, " to ", dst, ": ",
                 std::strerror(errno));
      fsync_dir(parent_);
      committed_ = true;
      fs::remove_all(aside, ec);
      return;
    }
  } else {
    TERN_CHECK(::rename(tmp_.c_str(), dst.c_str()) == 0, "checkpoint", "cannot rename ", tmp_, " to ", dst, ": ",
               std::strerror(errno));
  }
  fsync_dir(parent_);
  committed_ = true;
  if (exchanged) fs::remove_all(tmp_, ec);  // the previous checkpoint now lives at tmp_
}

namespace {
// Whether the process that named a temporary directory "<name>.tmp-<pid>-<n>[.old]" may still be writing it. A
// name without a readable PID is left alone: it is not ours to delete.
bool owner_may_be_alive(const std::string& suffix) {
  const size_t dash = suffix.find('-');
  if (dash == 0 || dash == std::string::npos || dash > 9) return true;
  pid_t pid = 0;
  for (size_t i = 0; i < dash; ++i) {
    if (suffix[i] < '0' || suffix[i] > '9') return true;
    pid = pid * 10 + (suffix[i] - '0');
  }
  if (pid == ::getpid()) return true;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}
}  // namespace

void remove_stale_checkpoint_temps(const std::string& parent, const std::string& name) {
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) return;
  const std::string prefix = name + kTmpInfix;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && !owner_may_be_alive(n.substr(prefix.size()))) fs::remove_all(e.path(), ec);
  }
}

}  // namespace tern::cli
