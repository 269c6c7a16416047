#include <tern/quant/phase4.h>

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/nn/layers.h>
#include <tern/quant/bitlinear.h>

namespace tern::quant {

using json = nlohmann::json;

std::string BitNetLayout::to_json() const {
  json layers = json::array();
  for (const auto& l : bitlinear) {
    json j = {{"name", l.name},
              {"weight_sparsity_threshold",
               l.weight_sparsity_threshold ? json(*l.weight_sparsity_threshold) : json(nullptr)},
              {"input_rmsnorm", l.input_rmsnorm},
              {"rmsnorm_eps", l.rmsnorm_eps}};
    layers.push_back(std::move(j));
  }
  const json j = {{"format_version", format_version}, {"weights", weights}, {"bitlinear", layers},
                  {"excluded", excluded}};
  return j.dump();
}

BitNetLayout BitNetLayout::from_json(const std::string& text, const std::string& origin) {
  const std::string where = origin + ": " + kBitNetMetadataKey;
  BitNetLayout l;
  try {
    const json j = json::parse(text);
    TERN_CHECK(j.is_object(), where, "expected a JSON object");
    l.format_version = j.at("format_version").get<int>();
    TERN_CHECK(l.format_version == kBitNetFormatVersion, where, "format_version ", l.format_version,
               " is not supported (this tern reads version ", kBitNetFormatVersion, ")");
    l.weights = j.at("weights").get<std::string>();
    TERN_CHECK(l.weights == "latent" || l.weights == "dequantized", where, "\"weights\" must be latent or dequantized, got '",
               l.weights, "'");
    std::set<std::string> seen;
    for (const auto& e : j.at("bitlinear")) {
      BitLinearLayer b;
      b.name = e.at("name").get<std::string>();
      TERN_CHECK(seen.insert(b.name).second, where, "layer '", b.name, "' is listed twice");
      const auto& t = e.at("weight_sparsity_threshold");
      if (!t.is_null()) {
        const double tau = t.get<double>();
        TERN_CHECK(tau >= 0 && tau < 1, where, "layer '", b.name, "': weight_sparsity_threshold must be in [0, 1), got ",
                   tau);
        b.weight_sparsity_threshold = tau;
      }
      b.input_rmsnorm = e.at("input_rmsnorm").get<bool>();
      b.rmsnorm_eps = e.at("rmsnorm_eps").get<double>();
      TERN_CHECK(b.rmsnorm_eps > 0, where, "layer '", b.name, "': rmsnorm_eps must be positive");
      l.bitlinear.push_back(std::move(b));
    }
    l.excluded = j.at("excluded").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    TERN_FAIL(where, "malformed layout: ", e.what());
  }
  return l;
}

BitNetLayout bitnet_layout(const nn::Module& model) {
  BitNetLayout l;
  for (const auto& [name, m] : model.named_modules()) {
    if (const auto* b = dynamic_cast<const BitLinear*>(m)) {
      const BitLinearOptions& o = b->options();
      l.bitlinear.push_back({name, o.weight_sparsity_threshold, o.input_rmsnorm, o.rmsnorm_eps});
    } else if (dynamic_cast<const nn::Linear*>(m)) {
      l.excluded.push_back(name);
    }
  }
  return l;
}

void apply_bitnet_layout(nn::Module& model, const BitNetLayout& layout, const std::string& origin) {
  std::map<std::string, const BitLinearLayer*> wanted;
  for (const auto& l : layout.bitlinear) wanted[l.name] = &l;
  const auto replaced = nn::replace_modules(
      model,
      [&](const std::string& name, const nn::Module& m) {
        return wanted.count(name) && dynamic_cast<const nn::Linear*>(&m) && !dynamic_cast<const BitLinear*>(&m);
      },
      [&](const std::string& name, const nn::ModulePtr& m) -> nn::ModulePtr {
        const BitLinearLayer& l = *wanted.at(name);
        BitLinearOptions o;
        o.weight_sparsity_threshold = l.weight_sparsity_threshold;
        o.input_rmsnorm = l.input_rmsnorm;
        o.rmsnorm_eps = l.rmsnorm_eps;
        return BitLinear::from_linear(dynamic_cast<const nn::Linear&>(*m), o);
      });
  if (replaced.size() == wanted.size()) return;
  std::set<std::string> done;
  for (const auto& r : replaced) done.insert(r.name);
  for (const auto& l : layout.bitlinear)
    TERN_CHECK(done.count(l.name), origin, "the BitNet layout names layer '", l.name,
               "', which is not a Linear layer of this model");
}

std::optional<BitNetLayout> bitnet_layout_from_metadata(const io::Metadata& metadata,
                                                        const std::string& origin) {
  const auto it = metadata.find(kBitNetMetadataKey);
  if (it == metadata.end()) return std::nullopt;
  return BitNetLayout::from_json(it->second, origin);
}

nn::StateDict dequantized_state(const nn::Module& model, DType dtype) {
  std::map<std::string, const BitLinear*> bit;
  for (const auto& [name, m] : model.named_modules())
    if (const auto* b = dynamic_cast<const BitLinear*>(m)) bit[name + ".weight"] = b;
  nn::StateDict sd;
  for (auto [name, t] : model.state_dict()) {
    if (const auto it = bit.find(name); it != bit.end()) t = it->second->dequantized_weight();
    sd.emplace_back(name, is_floating(t.dtype()) ? t.to(dtype) : t);
  }
  return sd;
}

}  // namespace tern::quant
