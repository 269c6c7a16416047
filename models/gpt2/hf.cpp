#include <tern/models/gpt2/hf.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <tern/autograd/grad_mode.h>
#include <tern/core/io/safetensors.h>
#include <tern/models/data/atomic_file.h>

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

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TERN_CHECK(f, path, "cannot open file");
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

}  // namespace

nn::StateDict from_hf_state(const std::map<std::string, Tensor>& hf, const std::string& source) {
  nn::StateDict out;
  for (const auto& [key, t] : hf) {
    std::string k = key.rfind("transformer.", 0) == 0 ? key.substr(12) : key;
    if (ends_with(k, ".attn.bias") || ends_with(k, ".attn.masked_bias")) continue;  // causal-mask buffers
    if (k == "lm_head.weight") continue;  // tied to wte
    if (is_conv1d_weight(k)) {
      TERN_CHECK(t.dim() == 2, source, "'", key, "' should be a 2-D Conv1D weight, got shape ", shape_str(t.shape()));
      out.emplace_back(k, t.t());
    } else {
      out.emplace_back(k, t);
    }
  }
  return out;
}

std::map<std::string, Tensor> to_hf_state(const nn::StateDict& state) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, t] : state) out["transformer." + k] = (is_conv1d_weight(k) ? t.t() : t).contiguous();
  return out;
}

std::shared_ptr<GPT2> load_hf(const std::string& dir) {
  const std::string cfg_path = dir + "/config.json";
  const std::string st_path = dir + "/model.safetensors";
  TERN_CHECK(std::filesystem::is_directory(dir), dir, "is not a directory");
  TERN_CHECK(std::filesystem::exists(cfg_path), dir, "has no config.json");
  TERN_CHECK(std::filesystem::exists(st_path), dir, "has no model.safetensors");
  Config cfg = Config::from_json(read_text(cfg_path), cfg_path);
  auto model = std::make_shared<GPT2>(cfg);
  auto ckpt = io::load(st_path);
  try {
    model->load_state_dict(from_hf_state(ckpt.tensors, st_path));
  } catch (const Error& e) {
    TERN_FAIL(st_path, e.what());
  }
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
  data::write_file_atomic(dir + "/config.json", model.config().to_json(), dir + "/config.json");
}

}  // namespace tern::gpt2
