#include <tern/models/gpt2/hf.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <tern/autograd/grad_mode.h>
#include <tern/core/io/file.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/ops.h>
#include <tern/nn/init.h>

namespace tern::gpt2 {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_conv1d_weight(const std::string& key) {
  for (const char* s : {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"})
    if (ends_with(key, s)) return true;
  return false;
}

// The modules whose bias Config::bias switches: every Linear and LayerNorm of the
// transformer (lm_head never has one).
bool is_switchable_bias(const std::string& key) {
  for (const char* s : {".attn.c_attn.bias", ".attn.c_proj.bias", ".mlp.c_fc.bias", ".mlp.c_proj.bias", ".ln_1.bias",
                        ".ln_2.bias"})
    if (ends_with(key, s)) return true;
  return key == "ln_f.bias" || ends_with(key, ".ln_f.bias");
}

bool is_all_zero(const Tensor& t) {
  NoGradGuard ng;
  return t.numel() == 0 || amax(abs(t.to(kFloat32))).item<double>() == 0.0;  // NaN counts as non-zero
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TERN_CHECK(f, path, "cannot open file");
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

}  // namespace

void match_bias_to_state(Config& config, const std::map<std::string, Tensor>& hf) {
  if (config.bias) return;
  for (const auto& [key, t] : hf)
    if (is_switchable_bias(key) && !is_all_zero(t)) {
      config.bias = true;
      return;
    }
}

nn::StateDict from_hf_state(const std::map<std::string, Tensor>& hf, const std::string& source, bool bias) {
  nn::StateDict out;
  for (const auto& [key, t] : hf) {
    std::string k = key.rfind("transformer.", 0) == 0 ? key.substr(12) : key;
    if (ends_with(k, ".attn.bias") || ends_with(k, ".attn.masked_bias")) continue;  // causal-mask buffers
    if (k == "lm_head.weight") continue;  // tied to wte
    if (!bias && is_switchable_bias(k)) {
      TERN_CHECK(is_all_zero(t), source, "'", key,
                 "' is non-zero but the config says bias: false (call match_bias_to_state first)");
      continue;  // the zeros written for transformers
    }
    if (is_conv1d_weight(k)) {
      TERN_CHECK(t.dim() == 2, source, "'", key, "' should be a 2-D Conv1D weight, got shape ", shape_str(t.shape()));
      out.emplace_back(k, t.t());
    } else {
      out.emplace_back(k, t);
    }
  }
  return out;
}

std::string hf_name(const std::string& name) { return "transformer." + name; }

Tensor to_hf_layout(const std::string& name, const Tensor& t) { return is_conv1d_weight(name) ? t.t() : t; }

std::map<std::string, Tensor> to_hf_names(const nn::NamedTensors& tensors) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, t] : tensors) {
    TERN_CHECK(t.defined(), "to_hf_names", "tensor '", k, "' is undefined (a parameter with no gradient yet?)");
    TERN_CHECK(out.emplace(hf_name(k), to_hf_layout(k, t)).second, "to_hf_names", "duplicate name '", k, "'");
  }
  return out;
}

std::map<std::string, Tensor> to_hf_state(const nn::StateDict& state) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, t] : state) out[hf_name(k)] = to_hf_layout(k, t).contiguous();
  // A bias-free model (Config::bias = false) still gives transformers every bias it
  // expects, as zeros: the same function, and no "newly initialized" weights.
  for (const auto& [k, t] : state) {
    if (!ends_with(k, ".weight")) continue;
    const std::string b = k.substr(0, k.size() - 7) + ".bias";
    if (!is_switchable_bias(b) || out.count("transformer." + b)) continue;
    const int64_t n = is_conv1d_weight(k) ? t.size(0) : t.size(-1);  // Linear [out, in]; LayerNorm [n]
    out["transformer." + b] = zeros({n}, {.dtype = t.dtype()});
  }
  return out;
}

void load_hf_state(GPT2& model, const std::map<std::string, Tensor>& hf, const io::SafetensorsFile& file,
                   const HfLoadOptions& options) {
  nn::LoadStateOptions load;
  load.share = options.inference;
  load.copied = [&file](const Tensor& src) { file.release(src); };
  try {
    model.load_state_dict(from_hf_state(hf, file.path(), model.config().bias), load);
  } catch (const Error& e) {
    TERN_FAIL(file.path(), e.what());
  }
}

std::shared_ptr<GPT2> load_hf(const std::string& dir, const HfLoadOptions& options) {
  const std::string cfg_path = dir + "/config.json";
  const std::string st_path = dir + "/model.safetensors";
  TERN_CHECK(std::filesystem::is_directory(dir), dir, "is not a directory");
  TERN_CHECK(std::filesystem::exists(cfg_path), dir, "has no config.json");
  TERN_CHECK(std::filesystem::exists(st_path), dir, "has no model.safetensors");
  Config cfg = Config::from_json(read_text(cfg_path), cfg_path);
  const auto file = io::SafetensorsFile::open(st_path);
  const auto hf = file.views();
  match_bias_to_state(cfg, hf);
  std::shared_ptr<GPT2> model;
  {
    nn::init::SkipInitGuard skip;
    model = std::make_shared<GPT2>(cfg);
  }
  load_hf_state(*model, hf, file, options);
  return model;
}

void save_hf(const GPT2& model, const std::string& dir, const std::map<std::string, std::string>& metadata) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  TERN_CHECK(!ec, dir, "cannot create directory: ", ec.message());
  NoGradGuard ng;
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");
  io::save(dir + "/model.safetensors", to_hf_state(model.state_dict()), meta);
  io::write_file_atomic(dir + "/config.json", model.config().to_json(), dir + "/config.json");
}

}  // namespace tern::gpt2
