#include <tern/autograd/grad_mode.h>
#include <tern/core/error.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/ops.h>
#include <tern/core/storage.h>
#include <tern/quant/compressed_model.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

namespace tern::quant {

using nlohmann::ordered_json;

namespace {

const char* kWhere = "CompressedModel";

std::string json_shape(const Shape& s) {
  ordered_json j = ordered_json::array();
  for (int64_t d : s) j.push_back(d);
  return j.dump();
}

int64_t fp32_size(const Tensor& t) { return is_floating(t.dtype()) ? 4 * t.numel() : static_cast<int64_t>(t.nbytes()); }

}  // namespace

// ---- CompressionStats

std::string CompressionStats::to_json() const {
  ordered_json j;
  j["original_bytes"] = original_bytes;
  j["compressed_bytes"] = compressed_bytes;
  j["ratio"] = ratio;
  j["mean_sparsity"] = mean_sparsity;
  j["quantized"] = quantized;
  j["excluded"] = excluded;
  ordered_json ls = ordered_json::array();
  for (const auto& l : layers) {
    ordered_json e;
    e["name"] = l.name;
    e["quantized"] = l.quantized;
    e["shape"] = ordered_json::parse(json_shape(l.shape));
    e["num_weights"] = l.num_weights;
    e["original_bytes"] = l.original_bytes;
    e["packed_bytes"] = l.packed_bytes;
    e["ratio"] = l.ratio;
    e["sparsity"] = l.sparsity;
    e["rel_error"] = l.rel_error;
    e["scale"] = l.scale;
    ls.push_back(std::move(e));
  }
  j["layers"] = std::move(ls);
  return j.dump(2);
}

std::string CompressionStats::table() const {
  size_t w = 5;
  for (const auto& l : layers) w = std::max(w, l.name.size());
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-*s  %-5s  %-12s  %12s  %12s  %7s  %8s  %9s  %10s\n", static_cast<int>(w), "layer",
                "quant", "shape", "fp32 bytes", "stored bytes", "ratio", "sparsity", "rel error", "scale");
  out += buf;
  for (const auto& l : layers) {
    std::string shape;
    for (size_t i = 0; i < l.shape.size(); ++i) {
      if (i) shape += 'x';
      shape += std::to_string(l.shape[i]);
    }
    std::snprintf(buf, sizeof buf, "%-*s  %-5s  %-12s  %12lld  %12lld  %6.2fx  %7.2f%%  %9.4f  %10.4g\n",
                  static_cast<int>(w), l.name.c_str(), l.quantized ? "yes" : "no", shape.c_str(),
                  static_cast<long long>(l.original_bytes), static_cast<long long>(l.packed_bytes), l.ratio,
                  100.0 * l.sparsity, l.rel_error, static_cast<double>(l.scale));
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "model: %lld bytes at fp32 -> %lld bytes (%.2fx); %zu layers quantized, %zu excluded; "
                "mean sparsity %.2f%%\n",
                static_cast<long long>(original_bytes), static_cast<long long>(compressed_bytes), ratio,
                quantized.size(), excluded.size(), 100.0 * mean_sparsity);
  out += buf;
  return out;
}

// ---- CompressedModel

CompressedModel::CompressedModel(nn::ModulePtr base, BitNetQuantizer quantizer, Phase4Config config, bool use_bitlinear)
    : base_(std::move(base)),
      quantizer_(std::move(quantizer)),
      config_(std::move(config)),
      use_bitlinear_(use_bitlinear) {
  TERN_CHECK(base_, kWhere, "base model is null");
  config_.validate();
  const Phase4Config& qc = quantizer_.config();
  TERN_CHECK(qc.weight_sparsity_threshold == config_.weight_sparsity_threshold && qc.packing == config_.packing, kWhere,
             "the quantizer's config and the model's config disagree on weight_sparsity_threshold or packing");
  if (use_bitlinear_) {
    // A model that already has BitLinear layers (a reloaded Phase 4 model, say) is adopted as
    // it is; any plain Linear the patterns do not exclude is converted as well.
    std::vector<std::string> existing;
    for (const auto& [name, m] : base_->named_modules())
      if (dynamic_cast<const BitLinear*>(m)) existing.push_back(name);
    if (existing.empty()) {
      conversion_ = replace_linear_with_bitlinear(*base_, config_.bitlinear_options(), config_.exclude_patterns,
                                                  config_.pattern_mode);
      return;
    }
    const ConversionResult rest = find_linear_layers(*base_, config_.exclude_patterns, config_.pattern_mode);
    if (!rest.replaced.empty())
      replace_linear_with_bitlinear(*base_, config_.bitlinear_options(), config_.exclude_patterns, config_.pattern_mode);
    conversion_.excluded = rest.excluded;
    for (const auto& [name, m] : base_->named_modules())
      if (dynamic_cast<const BitLinear*>(m)) conversion_.replaced.push_back(name);
    return;
  }
  conversion_ = find_linear_layers(*base_, config_.exclude_patterns, config_.pattern_mode);
  TERN_CHECK(!conversion_.replaced.empty() || !conversion_.excluded.empty(), kWhere, "the model (", base_->type_name(),
             ") has no nn::Linear module to quantize");
  TERN_CHECK(!conversion_.replaced.empty(), kWhere, "the exclude patterns exclude all ", conversion_.excluded.size(),
             " Linear layers; nothing would be quantized");
  NoGradGuard ng;
  for (const auto& name : conversion_.replaced) {
    nn::Linear& l = linear(name);
    PtqLayer p;
    p.ternary = quantizer_.quantize(l.weight);
    p.stats = quantizer_.layer_stats(name, l.weight, l.bias, p.ternary);
    l.weight.copy_(p.ternary.dequantize(l.weight.dtype()));
    p.storage = l.weight.storage();
    p.version = l.weight.storage()->version();
    ptq_[name] = std::move(p);
  }
}

nn::Linear& CompressedModel::linear(const std::string& name) const {
  for (const auto& [n, m] : base_->named_modules())
    if (n == name) {
      auto* l = dynamic_cast<nn::Linear*>(m);
      TERN_CHECK(l, kWhere, "module '", name, "' is ", m->type_name(), ", not a Linear");
      return *l;
    }
  TERN_FAIL(kWhere, "no module named '", name, "'");
}

bool CompressedModel::ptq_current(const std::string& name) const {
  auto it = ptq_.find(name);
  if (it == ptq_.end()) return false;
  const nn::Linear& l = linear(name);
  return it->second.storage == l.weight.storage() && it->second.version == l.weight.storage()->version();
}

TernaryWeight CompressedModel::current_ternary(const std::string& name) const {
  if (use_bitlinear_) {
    auto* b = dynamic_cast<const BitLinear*>(&linear(name));
    TERN_CHECK(b, kWhere, "layer '", name, "' is no longer a BitLinear");
    return b->ternary_weight();
  }
  if (ptq_current(name)) return ptq_.at(name).ternary;
  return quantizer_.quantize(linear(name).weight);
}

Tensor CompressedModel::forward(const Tensor& x) { return base_->forward(x); }

std::vector<Tensor> CompressedModel::parameters() const { return base_->parameters(); }

nn::NamedTensors CompressedModel::named_parameters() const { return base_->named_parameters(); }

CompressionStats CompressedModel::compression_stats() const {
  CompressionStats s;
  std::set<std::string> q(conversion_.replaced.begin(), conversion_.replaced.end());
  std::set<std::string> ex(conversion_.excluded.begin(), conversion_.excluded.end());
  int64_t zeros = 0, weights = 0;
  for (const auto& [name, m] : base_->named_modules()) {
    if (q.count(name)) {
      const nn::Linear& l = linear(name);
      LayerStats ls = !use_bitlinear_ && ptq_current(name)
                          ? ptq_.at(name).stats
                          : quantizer_.layer_stats(name, l.weight, l.bias, current_ternary(name));
      zeros += std::llround(ls.sparsity * static_cast<double>(ls.num_weights));
      weights += ls.num_weights;
      s.quantized.push_back(name);
      s.layers.push_back(std::move(ls));
    } else if (ex.count(name)) {
      const nn::Linear& l = linear(name);
      s.excluded.push_back(name);
      s.layers.push_back(BitNetQuantizer::unquantized_stats(name, l.weight, l.bias));
    }
  }
  for (const auto& [name, t] : base_->state_dict()) s.original_bytes += fp32_size(t);
  s.compressed_bytes = s.original_bytes;
  for (const auto& l : s.layers)
    if (l.quantized) s.compressed_bytes += l.packed_bytes - l.original_bytes;
  s.ratio =
      s.compressed_bytes > 0 ? static_cast<double>(s.original_bytes) / static_cast<double>(s.compressed_bytes) : 1.0;
  s.mean_sparsity = weights ? static_cast<double>(zeros) / static_cast<double>(weights) : 0.0;
  return s;
}

void CompressedModel::save(const std::string& path, const std::map<std::string, std::string>& extra_metadata,
                           std::optional<DType> other_dtype) const {
  NoGradGuard ng;
  std::set<std::string> q(conversion_.replaced.begin(), conversion_.replaced.end());
  nn::NamedTensors out;
  ordered_json shapes = ordered_json::object();
  for (const auto& [key, t] : base_->state_dict()) {
    const auto dot = key.rfind('.');
    const std::string layer = dot == std::string::npos ? std::string() : key.substr(0, dot);
    if (dot != std::string::npos && key.substr(dot + 1) == "weight" && q.count(layer)) {
      TernaryWeight tw = current_ternary(layer);
      std::vector<uint8_t> bytes = quantizer_.pack(tw);
      Tensor packed = empty({static_cast<int64_t>(bytes.size())}, {.dtype = kUInt8});
      if (!bytes.empty()) std::memcpy(packed.data_ptr<uint8_t>(), bytes.data(), bytes.size());
      out.emplace_back(layer + ".weight_packed", packed);
      out.emplace_back(layer + ".weight_scale", from_vector<float>({tw.scale}, {1}));
      shapes[layer] = ordered_json::parse(json_shape(t.shape()));
      continue;
    }
    out.emplace_back(key, other_dtype && is_floating(t.dtype()) ? t.to(*other_dtype) : t);
  }
  std::map<std::string, std::string> meta = extra_metadata;
  meta["format"] = kCompressedFormat;
  meta["format_version"] = kCompressedFormatVersion;
  meta["phase4_config"] = config_.to_json();
  meta["mode"] = use_bitlinear_ ? "bitlinear" : "ptq";
  meta["bitlinear_layers"] = ordered_json(conversion_.replaced).dump();
  meta["layer_shapes"] = shapes.dump();
  io::save(path, out, meta);
}

CompressedFileHeader read_compressed_header(const io::Metadata& metadata, const std::string& path) {
  auto meta = [&](const char* key) -> const std::string& {
    auto it = metadata.find(key);
    TERN_CHECK(it != metadata.end(), path, "not a tern compressed model: metadata key '", key, "' is missing");
    return it->second;
  };
  TERN_CHECK(meta("format") == kCompressedFormat, path, "format is '", meta("format"), "', expected '",
             kCompressedFormat, "'");
  TERN_CHECK(meta("format_version") == kCompressedFormatVersion, path, "format_version ", meta("format_version"),
             " is not supported (this build reads ", kCompressedFormatVersion, ")");
  CompressedFileHeader h;
  h.mode = meta("mode");
  h.config = Phase4Config::from_json(meta("phase4_config"), path + ": phase4_config");
  try {
    h.layers = ordered_json::parse(meta("bitlinear_layers")).get<std::vector<std::string>>();
    const ordered_json shapes = ordered_json::parse(meta("layer_shapes"));
    TERN_CHECK(shapes.is_object(), path, "layer_shapes must be a JSON object");
    for (const auto& [layer, shape] : shapes.items()) h.shapes[layer] = shape.dump();
  } catch (const nlohmann::json::exception& e) {
    TERN_FAIL(path, "invalid bitlinear_layers / layer_shapes metadata: ", e.what());
  }
  return h;
}

TernaryWeight read_packed_layer(const std::map<std::string, Tensor>& tensors, const std::string& layer,
                                const Shape& shape, Packing packing, const std::string& path) {
  auto pk = tensors.find(layer + ".weight_packed");
  auto sc = tensors.find(layer + ".weight_scale");
  TERN_CHECK(pk != tensors.end() && sc != tensors.end(), path, "missing '", layer, ".weight_packed' or '", layer,
             ".weight_scale'");
  TERN_CHECK(pk->second.dtype() == kUInt8 && pk->second.dim() == 1, path, layer,
             ".weight_packed must be a 1-D U8 tensor");
  TERN_CHECK(sc->second.numel() == 1 && is_floating(sc->second.dtype()), path, layer,
             ".weight_scale must hold one float");
  const float scale = static_cast<float>(sc->second.to(kFloat32).item<double>());
  TERN_CHECK(std::isfinite(scale) && scale >= 0.0f, path, layer, ".weight_scale is invalid: ", scale);
  Tensor bytes = pk->second.contiguous();
  try {
    return TernaryWeight{
        unpack_ternary(bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel()), shape, packing), scale};
  } catch (const Error& e) {
    TERN_FAIL(path, layer, ".weight_packed: ", e.what());
  }
}

void CompressedModel::load(const std::string& path) {
  io::LoadOptions lo;
  lo.copy = true;
  io::Checkpoint ck = io::load(path, lo);
  const CompressedFileHeader h = read_compressed_header(ck.metadata, path);
  const std::string mode = use_bitlinear_ ? "bitlinear" : "ptq";
  TERN_CHECK(h.mode == mode, path, "was saved in '", h.mode, "' mode, this model uses '", mode, "'");
  const std::set<std::string> file_layers(h.layers.begin(), h.layers.end());
  const std::set<std::string> mine(conversion_.replaced.begin(), conversion_.replaced.end());
  for (const auto& l : file_layers)
    TERN_CHECK(mine.count(l), path, "quantizes layer '", l, "', which this model does not");
  for (const auto& l : mine) TERN_CHECK(file_layers.count(l), path, "lacks quantized layer '", l, "'");

  NoGradGuard ng;
  std::map<std::string, TernaryWeight> ternary;
  nn::StateDict sd;
  for (const auto& name : conversion_.replaced) {
    nn::Linear& l = linear(name);
    auto stored = h.shapes.find(name);
    TERN_CHECK(stored != h.shapes.end() && stored->second == json_shape(l.weight.shape()), path, "layer '", name,
               "': stored shape ", stored != h.shapes.end() ? stored->second : "?", " differs from the model's ",
               shape_str(l.weight.shape()));
    TernaryWeight t = read_packed_layer(ck.tensors, name, l.weight.shape(), h.config.packing, path);
    sd.emplace_back(name + ".weight", t.dequantize(l.weight.dtype()));
    ternary[name] = std::move(t);
    ck.tensors.erase(name + ".weight_packed");
    ck.tensors.erase(name + ".weight_scale");
  }
  for (auto& [k, t] : ck.tensors) sd.emplace_back(k, t);
  base_->load_state_dict(sd, true);

  for (const auto& name : conversion_.replaced) {
    nn::Linear& l = linear(name);
    const TernaryWeight& t = ternary.at(name);
    if (use_bitlinear_) {
      auto* b = dynamic_cast<BitLinear*>(&l);
      TERN_CHECK(b, kWhere, "layer '", name, "' is no longer a BitLinear");
      b->load_ternary(t);
    } else {
      PtqLayer p;
      p.ternary = t;
      p.stats = quantizer_.layer_stats(name, l.weight, l.bias, t);
      p.storage = l.weight.storage();
      p.version = l.weight.storage()->version();
      ptq_[name] = std::move(p);
    }
  }
}

}  // namespace tern::quant
