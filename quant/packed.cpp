#include <tern/quant/packed.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include <tern/autograd/grad_mode.h>
#include <tern/backends/backend.h>
#include <tern/backends/cpu/ternary/ternary.h>
#include <tern/core/error.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/ops.h>
#include <tern/quant/compressed_model.h>

namespace tern::quant {

namespace tk = cpu::ternary;

namespace {

// x: f32 on the CPU, no gradient wanted; returns it contiguous, viewed as [rows, features].
// `cpu_only`: the layer has no kernel on other devices.
Tensor inference_input(const Tensor& x, int64_t features, const char* who, bool cpu_only = true) {
  TERN_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == features, who, "expected input with last dim ", features,
             ", got shape ", x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  TERN_CHECK(!cpu_only || x.device() == kCPU, who, "runs on the CPU only, got input on ", x.device());
  TERN_CHECK(x.dtype() == kFloat32, who, "expected f32 input, got ", x.dtype());
  TERN_CHECK(!(autograd::grad_mode_enabled() && x.requires_grad()), who,
             "inference only: it has no gradient (train with BitLinear, then pack)");
  return x.contiguous();
}

Shape with_last(Shape s, int64_t last) {
  s.back() = last;
  return s;
}

}  // namespace

// ---- PackedBitLinear

PackedBitLinear::PackedBitLinear(const TernaryWeight& t, const Tensor& bias, PackedBitLinearOptions opts)
    : nn::Module("PackedBitLinear"), opts_(opts) {
  TERN_CHECK(t.values.defined() && t.values.dtype() == kInt8 && t.values.dim() == 2, "PackedBitLinear",
             "expected i8 ternary values [out, in]");
  TERN_CHECK(std::isfinite(t.scale) && t.scale >= 0.0f, "PackedBitLinear", "invalid scale ", t.scale);
  out_ = t.values.size(0);
  in_ = t.values.size(1);
  Tensor v = t.values.to(kCPU).contiguous();
  const std::vector<uint8_t> bytes = tk::pack_i2(v.data_ptr<int8_t>(), out_, in_);
  Tensor packed = empty({out_, tk::i2_row_bytes(in_)}, {.dtype = kUInt8});
  if (!bytes.empty()) std::memcpy(packed.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  packed_ = register_buffer("weight_i2", packed);
  scale_ = register_buffer("weight_scale", from_vector<float>({t.scale}, {1}));
  if (bias.defined()) {
    TERN_CHECK(bias.dim() == 1 && bias.size(0) == out_, "PackedBitLinear", "bias has shape ",
               shape_str(bias.shape()), ", expected [", out_, "]");
    bias_ = register_buffer("bias", bias.detach().to(kCPU).to(kFloat32).contiguous().clone());
  }
}

std::shared_ptr<PackedBitLinear> PackedBitLinear::from_bitlinear(const BitLinear& layer) {
  NoGradGuard ng;
  return std::make_shared<PackedBitLinear>(layer.ternary_weight(), layer.bias.defined() ? layer.bias : Tensor(),
                                           PackedBitLinearOptions{.input_rmsnorm = layer.input_rmsnorm(),
                                                                  .rmsnorm_eps = layer.options().rmsnorm_eps});
}

Tensor PackedBitLinear::forward(const Tensor& x) {
  Tensor xc = inference_input(x, in_, "PackedBitLinear", false);
  TERN_CHECK(packed_.device() == x.device() && scale_.device() == x.device() &&
                 (!bias_.defined() || bias_.device() == x.device()),
             "PackedBitLinear", "the input is on ", x.device(), " but the layer's weights are on ", packed_.device(),
             " (move the model with to())");
  TERN_CHECK(scale_.dtype() == kFloat32 && (!bias_.defined() || bias_.dtype() == kFloat32), "PackedBitLinear",
             "scale and bias must stay f32");
  const int64_t m = xc.numel() / in_;
  Tensor y = empty(with_last(x.shape(), out_), {.device = x.device()});
  if (m == 0) return y;
  backend_for(x.device(), "PackedBitLinear")
      .ternary_linear(xc.data_ptr<float>(), m, in_, packed_.data_ptr<uint8_t>(), out_, scale_.data_ptr<float>(),
                      bias_.defined() ? bias_.data_ptr<float>() : nullptr, opts_.input_rmsnorm, opts_.rmsnorm_eps,
                      y.data_ptr<float>(), nullptr);
  return y;
}

TernaryWeight PackedBitLinear::ternary_weight() const {
  Tensor v = empty({out_, in_}, {.dtype = kInt8});
  const Tensor packed = packed_.to(kCPU);
  tk::unpack_i2(packed.data_ptr<uint8_t>(), out_, in_, v.data_ptr<int8_t>());
  return TernaryWeight{v, weight_scale()};
}

float PackedBitLinear::weight_scale() const { return scale_.to(kCPU).to(kFloat32).data_ptr<float>()[0]; }

int64_t PackedBitLinear::bytes() const {
  return packed_.numel() + 4 + (bias_.defined() ? 4 * bias_.numel() : 0);
}

// ---- Int8Embedding

Int8Embedding::Int8Embedding(const Tensor& table, const std::function<void(const Tensor& rows)>& consumed)
    : nn::Module("Int8Embedding") {
  TERN_CHECK(table.defined() && table.dim() == 2 && is_floating(table.dtype()), "Int8Embedding",
             "expected a floating-point table [num, dim]");
  num_ = table.size(0);
  dim_ = table.size(1);
  const int64_t kp8 = tk::padded_k8(dim_);
  Tensor q = zeros({num_, kp8}, {.dtype = kInt8});
  Tensor scale = empty({num_});
  Tensor sum = empty({num_}, {.dtype = kInt32});
  int8_t* qp = q.data_ptr<int8_t>();
  float* sp = scale.data_ptr<float>();
  int32_t* sump = sum.data_ptr<int32_t>();
  NoGradGuard ng;
  // A chunk of rows at a time, so that an f16 table never exists whole in f32.
  constexpr int64_t kRows = 1024;
  for (int64_t r0 = 0; r0 < num_; r0 += kRows) {
    const int64_t n = std::min(kRows, num_ - r0);
    const Tensor rows = table.narrow(0, r0, n);
    Tensor chunk = rows.to(kCPU).to(kFloat32).contiguous();
    const float* cp = chunk.data_ptr<float>();
    for (int64_t r = 0; r < n; ++r) {
      const float* row = cp + r * dim_;
      float amax = 0;
      for (int64_t c = 0; c < dim_; ++c) amax = std::max(amax, std::abs(row[c]));
      TERN_CHECK(std::isfinite(amax), "Int8Embedding", "row ", r0 + r, " is not finite");
      const float s = amax / 127.0f;
      int8_t* qr = qp + (r0 + r) * kp8;
      int32_t acc = 0;
      for (int64_t c = 0; c < dim_; ++c) {
        const float v = s > 0 ? std::min(std::max(std::nearbyint(row[c] / s), -127.0f), 127.0f) : 0.0f;
        qr[c] = static_cast<int8_t>(v);
        acc += qr[c];
      }
      sp[r0 + r] = s;
      sump[r0 + r] = acc;
    }
    if (consumed) consumed(rows);
  }
  q_ = register_buffer("weight_i8", q);
  scale_ = register_buffer("weight_scale", scale);
  sum_ = register_buffer("weight_sum", sum, /*persistent=*/false);
}

Tensor Int8Embedding::forward(const Tensor& indices) { return rows(indices); }

Tensor Int8Embedding::rows(const Tensor& indices) const {
  TERN_CHECK(indices.defined() && (indices.dtype() == kInt64 || indices.dtype() == kInt32), "Int8Embedding",
             "indices must be i64 or i32");
  Tensor idx = indices.to(kCPU).to(kInt64).contiguous();
  Shape shape = idx.shape();
  shape.push_back(dim_);
  Tensor out = empty(shape);
  const int64_t* ip = idx.data_ptr<int64_t>();
  const int8_t* qp = q_.data_ptr<int8_t>();
  const float* sp = scale_.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t kp8 = q_.size(1);
  for (int64_t i = 0; i < idx.numel(); ++i) {
    TERN_CHECK(ip[i] >= 0 && ip[i] < num_, "Int8Embedding", "index ", ip[i], " is out of range for ", num_,
               " embeddings");
    for (int64_t c = 0; c < dim_; ++c) op[i * dim_ + c] = static_cast<float>(qp[ip[i] * kp8 + c]) * sp[ip[i]];
  }
  return out;
}

Tensor Int8Embedding::project(const Tensor& x) {
  Tensor xc = inference_input(x, dim_, "Int8Embedding");
  const int64_t m = xc.numel() / dim_;
  Tensor y = empty(with_last(x.shape(), num_));
  tk::linear_i8(xc.data_ptr<float>(), m, dim_, dim_, q_.data_ptr<int8_t>(), sum_.data_ptr<int32_t>(),
                scale_.data_ptr<float>(), num_, nullptr, y.data_ptr<float>(), num_);
  return y;
}

Tensor Int8Embedding::dequantized() const {
  return rows(arange(0.0, static_cast<double>(num_), 1.0, {.dtype = kInt64}));
}

int64_t Int8Embedding::bytes() const { return num_ * dim_ + 4 * num_; }

// ---- whole models

namespace {

bool is_named(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

void check_embeddings_found(const std::vector<std::string>& wanted, const std::vector<std::string>& found,
                            const std::string& where) {
  for (const auto& n : wanted)
    TERN_CHECK(is_named(found, n), where, "no nn::Embedding module named '", n, "' to hold as int8");
}

}  // namespace

PackReport pack_for_inference(nn::Module& model, const PackOptions& opts) {
  PackReport rep;
  for (const auto& r : nn::replace_modules(
           model,
           [&](const std::string&, const nn::Module& m) {
             return opts.pack_bitlinear && dynamic_cast<const BitLinear*>(&m);
           },
           [](const std::string&, const nn::ModulePtr& m) {
             return PackedBitLinear::from_bitlinear(static_cast<const BitLinear&>(*m));
           }))
    rep.packed.push_back(r.name);
  for (const auto& r : nn::replace_modules(
           model,
           [&](const std::string& n, const nn::Module& m) {
             return is_named(opts.int8_embeddings, n) && dynamic_cast<const nn::Embedding*>(&m);
           },
           [](const std::string&, const nn::ModulePtr& m) {
             return std::make_shared<Int8Embedding>(static_cast<const nn::Embedding&>(*m).weight.detach());
           }))
    rep.int8.push_back(r.name);
  check_embeddings_found(opts.int8_embeddings, rep.int8, "pack_for_inference");
  return rep;
}

PackReport load_packed(nn::Module& model, const std::string& path, const PackOptions& opts) {
  // Views of the mapping, each given back once it is packed or converted, so that the file
  // is never held whole beside the modules made from it.
  const auto file = io::SafetensorsFile::open(path);
  io::Checkpoint ck;
  ck.tensors = file.views();
  ck.metadata = file.metadata();
  const CompressedFileHeader header = read_compressed_header(ck.metadata, path);
  TERN_CHECK(header.mode == "bitlinear", path, "holds a '", header.mode,
             "' model; packed inference needs BitLinear layers");
  const Packing packing = header.config.packing;

  std::set<std::string> used;
  auto find = [&](const std::string& key) -> const Tensor* {
    auto it = ck.tensors.find(key);
    return it == ck.tensors.end() ? nullptr : &it->second;
  };
  PackReport rep;
  auto packed_layer = [&](const std::string& name, const nn::ModulePtr& m) -> nn::ModulePtr {
    const auto& bl = static_cast<const BitLinear&>(*m);
    TernaryWeight t = read_packed_layer(ck.tensors, name, bl.weight.shape(), packing, path);
    Tensor bias;
    if (bl.bias.defined()) {
      const Tensor* b = find(name + ".bias");
      TERN_CHECK(b, path, "the BitLinear layer '", name, "' has no bias '", name, ".bias'");
      TERN_CHECK(b->shape() == bl.bias.shape(), path, name, ".bias has shape ", shape_str(b->shape()), ", expected ",
                 shape_str(bl.bias.shape()));
      bias = *b;
      used.insert(name + ".bias");
    }
    used.insert(name + ".weight_packed");
    used.insert(name + ".weight_scale");
    auto packed = std::make_shared<PackedBitLinear>(
        t, bias, PackedBitLinearOptions{.input_rmsnorm = bl.input_rmsnorm(), .rmsnorm_eps = bl.options().rmsnorm_eps});
    file.release(*find(name + ".weight_packed"));
    return packed;
  };
  for (const auto& r : nn::replace_modules(
           model, [](const std::string&, const nn::Module& m) { return dynamic_cast<const BitLinear*>(&m); },
           packed_layer))
    rep.packed.push_back(r.name);
  for (const auto& r : nn::replace_modules(
           model,
           [&](const std::string& n, const nn::Module& m) {
             return is_named(opts.int8_embeddings, n) && dynamic_cast<const nn::Embedding*>(&m);
           },
           [&](const std::string& name, const nn::ModulePtr& m) -> nn::ModulePtr {
             const auto& e = static_cast<const nn::Embedding&>(*m);
             const Tensor* t = find(name + ".weight");
             TERN_CHECK(t, path, "has no '", name, ".weight' for the int8 embedding");
             TERN_CHECK(t->shape() == e.weight.shape(), path, name, ".weight has shape ", shape_str(t->shape()),
                        ", the model's is ", shape_str(e.weight.shape()));
             used.insert(name + ".weight");
             return std::make_shared<Int8Embedding>(*t, [&file](const Tensor& rows) { file.release(rows); });
           }))
    rep.int8.push_back(r.name);
  check_embeddings_found(opts.int8_embeddings, rep.int8, path);

  // Everything else loads strictly; the packed modules' own entries are already in place.
  std::vector<std::string> prefixes;
  for (const auto& n : rep.packed) prefixes.push_back(n + ".");
  for (const auto& n : rep.int8) prefixes.push_back(n + ".");
  auto replaced = [&](const std::string& key) {
    return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return key.starts_with(p); });
  };
  nn::StateDict rest;
  std::vector<std::string> unexpected;
  for (const auto& [k, t] : ck.tensors) {
    if (used.count(k)) continue;
    if (replaced(k) || k.ends_with(".weight_packed") || k.ends_with(".weight_scale"))
      unexpected.push_back(k);
    else
      rest.emplace_back(k, t);
  }
  std::set<std::string> have;
  for (const auto& [k, t] : rest) have.insert(k);
  std::vector<std::string> missing;
  std::set<std::string> mine;
  for (const auto& [k, t] : model.state_dict()) {
    if (replaced(k)) continue;
    mine.insert(k);
    if (!have.count(k)) missing.push_back(k);
  }
  for (const auto& [k, t] : rest)
    if (!mine.count(k)) unexpected.push_back(k);
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (!missing.empty() || !unexpected.empty()) {
    std::string msg;
    if (!missing.empty()) msg += "missing tensors: " + list(missing);
    if (!unexpected.empty()) msg += std::string(msg.empty() ? "" : "; ") + "unexpected tensors: " + list(unexpected);
    TERN_FAIL(path, msg, " (does the model have the file's BitNet layout?)");
  }
  try {
    nn::LoadStateOptions load;
    load.strict = false;
    load.copied = [&file](const Tensor& src) { file.release(src); };
    model.load_state_dict(rest, load);
  } catch (const Error& e) {
    TERN_FAIL(path, e.what());
  }
  return rep;
}

}  // namespace tern::quant
