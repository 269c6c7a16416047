#include <tern/core/error.h>
#include <tern/quant/config.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

namespace tern::quant {

using nlohmann::ordered_json;

void Phase4Config::validate() const {
  const char* w = "Phase4Config";
  if (weight_sparsity_threshold) {
    const double t = *weight_sparsity_threshold;
    TERN_CHECK(std::isfinite(t) && t >= 0.0 && t < 1.0, w, "weight_sparsity_threshold must be in [0, 1) or null, got ",
               t);
  }
  for (const auto& p : exclude_patterns) TERN_CHECK(!p.empty(), w, "exclude_patterns: empty pattern");
  TERN_CHECK(qat_steps >= 0, w, "qat_steps must be >= 0, got ", qat_steps);
  TERN_CHECK(std::isfinite(qat_lr) && qat_lr > 0, w, "qat_lr must be > 0, got ", qat_lr);
  TERN_CHECK(std::isfinite(qat_min_lr) && qat_min_lr >= 0 && qat_min_lr <= qat_lr, w,
             "qat_min_lr must be in [0, qat_lr], got ", qat_min_lr);
  TERN_CHECK(qat_warmup_steps >= 0, w, "qat_warmup_steps must be >= 0, got ", qat_warmup_steps);
  TERN_CHECK(qat_batch_size > 0, w, "qat_batch_size must be > 0, got ", qat_batch_size);
  TERN_CHECK(qat_block_size > 0, w, "qat_block_size must be > 0, got ", qat_block_size);
  TERN_CHECK(std::isfinite(qat_weight_decay) && qat_weight_decay >= 0, w, "qat_weight_decay must be >= 0, got ",
             qat_weight_decay);
  TERN_CHECK(std::isfinite(qat_grad_clip) && qat_grad_clip >= 0, w, "qat_grad_clip must be >= 0, got ", qat_grad_clip);
  TERN_CHECK(eval_iters >= 0, w, "eval_iters must be >= 0, got ", eval_iters);
}

BitLinearOptions Phase4Config::bitlinear_options() const {
  BitLinearOptions o;
  o.weight_sparsity_threshold = weight_sparsity_threshold;
  o.input_rmsnorm = input_rmsnorm;
  return o;
}

std::string Phase4Config::to_json() const {
  ordered_json j;
  j["weight_sparsity_threshold"] = weight_sparsity_threshold ? ordered_json(*weight_sparsity_threshold) : nullptr;
  j["input_rmsnorm"] = input_rmsnorm;
  j["exclude_patterns"] = exclude_patterns;
  j["pattern_mode"] = pattern_mode_name(pattern_mode);
  j["packing"] = packing_name(packing);
  j["qat_steps"] = qat_steps;
  j["qat_lr"] = qat_lr;
  j["qat_min_lr"] = qat_min_lr;
  j["qat_warmup_steps"] = qat_warmup_steps;
  j["qat_batch_size"] = qat_batch_size;
  j["qat_block_size"] = qat_block_size;
  j["qat_weight_decay"] = qat_weight_decay;
  j["qat_grad_clip"] = qat_grad_clip;
  j["seed"] = seed;
  j["thinking_tokens"] = thinking_tokens;
  j["eval_iters"] = eval_iters;
  return j.dump(2);
}

namespace {

struct Reader {
  const ordered_json& j;
  const std::string& origin;
  std::set<std::string> seen;

  const ordered_json* get(const char* key) {
    seen.insert(key);
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  }
  [[noreturn]] void bad(const char* key, const char* want, const ordered_json& v) {
    TERN_FAIL(origin, "key '", key, "': expected ", want, ", got ", v.type_name(), " ", v.dump());
  }
  void number(const char* key, double& out) {
    if (auto* v = get(key)) {
      if (!v->is_number()) bad(key, "a number", *v);
      out = v->get<double>();
    }
  }
  void integer(const char* key, int64_t& out) {
    if (auto* v = get(key)) {
      if (!v->is_number_integer()) bad(key, "an integer", *v);
      out = v->get<int64_t>();
    }
  }
  void unsigned_integer(const char* key, uint64_t& out) {
    if (auto* v = get(key)) {
      if (!v->is_number_unsigned()) bad(key, "a non-negative integer", *v);
      out = v->get<uint64_t>();
    }
  }
  void boolean(const char* key, bool& out) {
    if (auto* v = get(key)) {
      if (!v->is_boolean()) bad(key, "true or false", *v);
      out = v->get<bool>();
    }
  }
  void string(const char* key, std::string& out) {
    if (auto* v = get(key)) {
      if (!v->is_string()) bad(key, "a string", *v);
      out = v->get<std::string>();
    }
  }
  void strings(const char* key, std::vector<std::string>& out) {
    if (auto* v = get(key)) {
      if (!v->is_array()) bad(key, "an array of strings", *v);
      std::vector<std::string> r;
      for (const auto& e : *v) {
        if (!e.is_string()) bad(key, "an array of strings", *v);
        r.push_back(e.get<std::string>());
      }
      out = std::move(r);
    }
  }
};

}  // namespace

Phase4Config Phase4Config::from_json(const std::string& json, const std::string& origin) {
  ordered_json j;
  try {
    j = ordered_json::parse(json);
  } catch (const std::exception& e) {
    TERN_FAIL(origin, "invalid JSON: ", e.what());
  }
  TERN_CHECK(j.is_object(), origin, "expected a JSON object, got ", j.type_name());
  Phase4Config c;
  Reader r{j, origin, {}};
  if (auto* v = r.get("weight_sparsity_threshold")) {
    if (v->is_null())
      c.weight_sparsity_threshold.reset();
    else if (v->is_number())
      c.weight_sparsity_threshold = v->get<double>();
    else
      r.bad("weight_sparsity_threshold", "a number or null", *v);
  }
  r.boolean("input_rmsnorm", c.input_rmsnorm);
  r.strings("exclude_patterns", c.exclude_patterns);
  std::string s;
  if (r.get("pattern_mode")) {
    s = pattern_mode_name(c.pattern_mode);
    r.string("pattern_mode", s);
    TERN_CHECK(s == "substring" || s == "glob", origin,
               "key 'pattern_mode': expected \"substring\" or \"glob\", got \"", s, "\"");
    c.pattern_mode = pattern_mode_from_name(s);
  }
  if (r.get("packing")) {
    s = packing_name(c.packing);
    r.string("packing", s);
    TERN_CHECK(s == "base4" || s == "base3", origin, "key 'packing': expected \"base4\" or \"base3\", got \"", s, "\"");
    c.packing = packing_from_name(s);
  }
  r.integer("qat_steps", c.qat_steps);
  r.number("qat_lr", c.qat_lr);
  r.number("qat_min_lr", c.qat_min_lr);
  r.integer("qat_warmup_steps", c.qat_warmup_steps);
  r.integer("qat_batch_size", c.qat_batch_size);
  r.integer("qat_block_size", c.qat_block_size);
  r.number("qat_weight_decay", c.qat_weight_decay);
  r.number("qat_grad_clip", c.qat_grad_clip);
  r.unsigned_integer("seed", c.seed);
  r.strings("thinking_tokens", c.thinking_tokens);
  r.integer("eval_iters", c.eval_iters);
  for (auto it = j.begin(); it != j.end(); ++it)
    TERN_CHECK(r.seen.count(it.key()), origin, "unknown key '", it.key(), "'");
  try {
    c.validate();
  } catch (const Error& e) {
    TERN_FAIL(origin, e.what());
  }
  return c;
}

}  // namespace tern::quant
