#include <tern/models/gpt2/config.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include <tern/core/error.h>

namespace tern::gpt2 {

Config Config::tiny() { return {.n_layer = 4, .n_head = 4, .n_embd = 128, .n_positions = 64}; }
Config Config::gpt2() { return {}; }
Config Config::medium() { return {.n_layer = 24, .n_head = 16, .n_embd = 1024}; }
Config Config::large() { return {.n_layer = 36, .n_head = 20, .n_embd = 1280}; }
Config Config::xl() { return {.n_layer = 48, .n_head = 25, .n_embd = 1600}; }

Config Config::preset(const std::string& name) {
  if (name == "tiny") return tiny();
  if (name == "gpt2") return gpt2();
  if (name == "gpt2-medium" || name == "medium") return medium();
  if (name == "gpt2-large" || name == "large") return large();
  if (name == "gpt2-xl" || name == "xl") return xl();
  TERN_FAIL("gpt2", "unknown preset '", name, "' (expected tiny, gpt2, medium, large or xl)");
}

void Config::validate() const {
  TERN_CHECK(n_layer > 0, "gpt2", "n_layer must be positive, got ", n_layer);
  TERN_CHECK(n_head > 0, "gpt2", "n_head must be positive, got ", n_head);
  TERN_CHECK(n_embd > 0 && n_embd % n_head == 0, "gpt2", "n_embd ", n_embd, " must be a positive multiple of n_head ",
             n_head);
  TERN_CHECK(n_positions > 0, "gpt2", "n_positions must be positive, got ", n_positions);
  TERN_CHECK(vocab_size > 0, "gpt2", "vocab_size must be positive, got ", vocab_size);
  TERN_CHECK(layer_norm_epsilon > 0 && std::isfinite(layer_norm_epsilon), "gpt2",
             "layer_norm_epsilon must be positive, got ", layer_norm_epsilon);
  TERN_CHECK(dropout >= 0 && dropout < 1, "gpt2", "dropout must be in [0, 1), got ", dropout);
  TERN_CHECK(activation_function == "gelu_new" || activation_function == "gelu_pytorch_tanh" ||
                 activation_function == "gelu",
             "gpt2", "activation_function '", activation_function,
             "' is not supported (gelu_new or gelu_pytorch_tanh: tanh GELU; gelu: exact GELU)");
}

Config Config::from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    TERN_FAIL(source, "invalid JSON: ", e.what());
  }
  TERN_CHECK(j.is_object(), source, "expected a JSON object");
  Config c;
  auto get_int = [&](const char* key, int64_t& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    TERN_CHECK(j[key].is_number_integer(), source, "'", key, "' must be an integer");
    out = j[key].get<int64_t>();
  };
  auto get_num = [&](const char* key, double& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    TERN_CHECK(j[key].is_number(), source, "'", key, "' must be a number");
    out = j[key].get<double>();
  };
  get_int("n_layer", c.n_layer);
  get_int("n_head", c.n_head);
  get_int("n_embd", c.n_embd);
  get_int("n_positions", c.n_positions);
  get_int("vocab_size", c.vocab_size);
  get_num("layer_norm_epsilon", c.layer_norm_epsilon);
  get_num("resid_pdrop", c.dropout);
  if (j.contains("activation_function") && !j["activation_function"].is_null()) {
    TERN_CHECK(j["activation_function"].is_string(), source, "'activation_function' must be a string");
    c.activation_function = j["activation_function"].get<std::string>();
  }
  if (j.contains("bias") && !j["bias"].is_null()) {
    TERN_CHECK(j["bias"].is_boolean(), source, "'bias' must be true or false");
    c.bias = j["bias"].get<bool>();
  }
  if (j.contains("n_inner") && !j["n_inner"].is_null())
    TERN_CHECK(j["n_inner"].is_number_integer() && j["n_inner"].get<int64_t>() == 4 * c.n_embd, source,
               "n_inner other than 4 * n_embd is not supported");
  try {
    c.validate();
  } catch (const Error& e) {
    TERN_FAIL(source, e.what());
  }
  return c;
}

std::string Config::to_json() const {
  nlohmann::ordered_json j;
  j["activation_function"] = activation_function;
  j["architectures"] = {"GPT2LMHeadModel"};
  j["attn_pdrop"] = dropout;
  if (!bias) j["bias"] = false;
  j["bos_token_id"] = 50256;
  j["embd_pdrop"] = dropout;
  j["eos_token_id"] = 50256;
  j["initializer_range"] = 0.02;
  j["layer_norm_epsilon"] = layer_norm_epsilon;
  j["model_type"] = "gpt2";
  j["n_embd"] = n_embd;
  j["n_head"] = n_head;
  j["n_inner"] = nullptr;
  j["n_layer"] = n_layer;
  j["n_positions"] = n_positions;
  j["resid_pdrop"] = dropout;
  j["scale_attn_weights"] = true;
  j["tie_word_embeddings"] = true;
  j["torch_dtype"] = "float32";
  j["vocab_size"] = vocab_size;
  return j.dump(2) + "\n";
}

}  // namespace tern::gpt2
