// tern.quant: BitNet b1.58 under the BitNet quick-start guide's Python names and keywords
// (BitLinear(..., weight_sparsity_threshold=0.1), get_memory_footprint(), get_quantized_state(),
// replace_linear_with_bitlinear(model, exclude_patterns=[...]), CompressedModel(...)
// .get_compression_stats(), BitNetQuantizer, Phase4Config), as thin aliases of quant/.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace tern::py {
namespace {

using namespace quant;

nb::object json_loads(const std::string& s) { return nb::module_::import_("json").attr("loads")(s); }

nb::dict footprint_dict(const MemoryFootprint& f, Packing p) {
  nb::dict d;
  // The guide's keys: what the layer takes at full precision and packed, and their ratio.
  d["full_precision_bytes"] = f.fp32_bytes;
  d["quantized_bytes"] = f.packed_bytes;
  d["compression_ratio"] = f.packed_ratio;
  d["theoretical_compression_ratio"] = f.theoretical_ratio;
  // tern's own accounting (MemoryFootprint).
  d["num_weights"] = f.num_weights;
  d["fp32_bytes"] = f.fp32_bytes;
  d["int8_bytes"] = f.int8_bytes;
  d["packed_bytes"] = f.packed_bytes;
  d["theoretical_bytes"] = f.theoretical_bytes;
  d["int8_ratio"] = f.int8_ratio;
  d["packed_ratio"] = f.packed_ratio;
  d["theoretical_ratio"] = f.theoretical_ratio;
  d["packing"] = packing_name(p);
  return d;
}

nb::dict state_dict_of(const QuantizedState& s) {
  nb::dict d;
  d["packing"] = packing_name(s.packing);
  d["shape"] = nb::make_tuple(s.shape.at(0), s.shape.at(1));
  d["packed_weight"] = nb::bytes(reinterpret_cast<const char*>(s.packed.data()), s.packed.size());
  d["weight_scale"] = s.scale;
  d["bias"] = s.bias.defined() ? nb::cast(s.bias) : nb::none();
  d["weight_sparsity_threshold"] = s.weight_sparsity_threshold ? nb::cast(*s.weight_sparsity_threshold) : nb::none();
  return d;
}

QuantizedState state_from_dict(const nb::dict& d) {
  QuantizedState s;
  for (const char* key : {"packing", "shape", "packed_weight", "weight_scale"})
    if (!d.contains(key)) throw nb::key_error((std::string("quantized state has no '") + key + "'").c_str());
  s.packing = packing_from_name(nb::cast<std::string>(d["packing"]));
  s.shape = nb::cast<Shape>(d["shape"]);
  nb::bytes b = nb::cast<nb::bytes>(d["packed_weight"]);
  s.packed.assign(static_cast<const uint8_t*>(b.data()), static_cast<const uint8_t*>(b.data()) + b.size());
  s.scale = nb::cast<float>(d["weight_scale"]);
  if (d.contains("bias") && !d["bias"].is_none()) s.bias = nb::cast<Tensor>(d["bias"]);
  if (d.contains("weight_sparsity_threshold") && !d["weight_sparsity_threshold"].is_none())
    s.weight_sparsity_threshold = nb::cast<double>(d["weight_sparsity_threshold"]);
  return s;
}

nb::dict layer_stats_dict(const LayerStats& s) {
  nb::dict d;
  d["name"] = s.name;
  d["quantized"] = s.quantized;
  d["shape"] = nb::cast(s.shape);
  d["num_weights"] = s.num_weights;
  d["original_bytes"] = s.original_bytes;
  d["packed_bytes"] = s.packed_bytes;
  d["ratio"] = s.ratio;
  d["sparsity"] = s.sparsity;
  d["rel_error"] = s.rel_error;
  d["scale"] = s.scale;
  return d;
}

nb::tuple ternary_tuple(const TernaryWeight& t) { return nb::make_tuple(t.values, t.scale); }

nb::dict conversion_dict(const ConversionResult& r) {
  nb::dict d;
  d["replaced"] = nb::cast(r.replaced);
  d["excluded"] = nb::cast(r.excluded);
  return d;
}

}  // namespace

void bind_quant(nb::module_& m) {
  // ---- the quantizers and their straight-through estimators
  m.def("activation_quant", &activation_quant, "x"_a, "8-bit per-token fake quantization (forward value)");
  m.def("weight_quant", &weight_quant, "w"_a, "weight_sparsity_threshold"_a = nb::none(),
        "Ternary fake quantization: absmean (None) or exactly round(t*numel) zeros");
  m.def("apply_ste", &apply_ste, "x"_a, "q"_a, "q in the forward pass, the identity in the backward pass");
  m.def("rms_norm", &rms_norm, "x"_a, "eps"_a = 1e-6);
  m.def(
      "ternarize", [](const Tensor& w, std::optional<double> tau) { return ternary_tuple(ternarize(w, tau)); }, "w"_a,
      "weight_sparsity_threshold"_a = nb::none(), "(values int8 in {-1, 0, 1}, scale)");
  m.def(
      "pack_ternary",
      [](const Tensor& values, const std::string& packing) {
        auto v = pack_ternary(values, packing_from_name(packing));
        return nb::bytes(reinterpret_cast<const char*>(v.data()), v.size());
      },
      "values"_a, "packing"_a = "base4");
  m.def(
      "unpack_ternary",
      [](nb::bytes data, const Shape& shape, const std::string& packing) {
        return unpack_ternary(static_cast<const uint8_t*>(data.data()), data.size(), shape, packing_from_name(packing));
      },
      "data"_a, "shape"_a, "packing"_a = "base4");

  // ---- BitLinear
  nb::class_<BitLinear, nn::Linear>(m, "BitLinear",
                                    "A drop-in Linear with BitNet b1.58 quantization: 8-bit activations, ternary "
                                    "weights, straight-through gradients to the latent weight")
      .def(
          "__init__",
          [](BitLinear* self, int64_t in, int64_t out, bool bias, std::optional<double> tau, bool input_rmsnorm,
             Generator* gen) {
            new (self) BitLinear(
                in, out, {.bias = bias, .weight_sparsity_threshold = tau, .input_rmsnorm = input_rmsnorm, .gen = gen});
          },
          "in_features"_a, "out_features"_a, "bias"_a = true, "weight_sparsity_threshold"_a.none() = 0.1,
          "input_rmsnorm"_a = false, "generator"_a = nb::none())
      .def_static(
          "from_linear",
          [](const nn::Linear& l, std::optional<double> tau, bool input_rmsnorm) {
            return BitLinear::from_linear(l, {.weight_sparsity_threshold = tau, .input_rmsnorm = input_rmsnorm});
          },
          "linear"_a, "weight_sparsity_threshold"_a.none() = 0.1, "input_rmsnorm"_a = false,
          "A BitLinear sharing the Linear's weight and bias tensors")
      .def_prop_ro("weight_sparsity_threshold", &BitLinear::weight_sparsity_threshold)
      .def_prop_ro("input_rmsnorm", &BitLinear::input_rmsnorm)
      .def("ternary_weight", [](const BitLinear& b) { return ternary_tuple(b.ternary_weight()); })
      .def("dequantized_weight", &BitLinear::dequantized_weight)
      .def(
          "get_memory_footprint",
          [](const BitLinear& b, const std::string& packing) {
            const Packing p = packing_from_name(packing);
            return footprint_dict(b.memory_footprint(p), p);
          },
          "packing"_a = "base4")
      .def(
          "get_quantized_state",
          [](const BitLinear& b, const std::string& packing) {
            return state_dict_of(b.quantized_state(packing_from_name(packing)));
          },
          "packing"_a = "base4", "The packed ternary weight, its scale and the bias: what a deployment stores")
      .def(
          "load_quantized_state", [](BitLinear& b, const nb::dict& d) { b.load_quantized_state(state_from_dict(d)); },
          "state"_a);

  // ---- conversion
  m.def(
      "replace_linear_with_bitlinear",
      [](nb::handle module, std::optional<double> tau, std::optional<std::vector<std::string>> exclude,
         const std::string& mode, bool input_rmsnorm) {
        nn::Module& root = nb::cast<nn::Module&>(module);
        replace_linear_with_bitlinear(root, tau, exclude.value_or(std::vector<std::string>{}),
                                      pattern_mode_from_name(mode), input_rmsnorm);
        return nb::borrow(module);
      },
      "module"_a, "weight_sparsity_threshold"_a.none() = 0.1, "exclude_patterns"_a = nb::none(),
      "pattern_mode"_a = "substring", "input_rmsnorm"_a = false,
      "Swaps every Linear (not excluded by a pattern on its dotted name) for a BitLinear sharing its "
      "weights, in place; returns the module");
  m.def(
      "find_linear_layers",
      [](const nn::Module& root, std::vector<std::string> exclude, const std::string& mode) {
        return conversion_dict(find_linear_layers(root, exclude, pattern_mode_from_name(mode)));
      },
      "module"_a, "exclude_patterns"_a = std::vector<std::string>{}, "pattern_mode"_a = "substring",
      "{'replaced': [...], 'excluded': [...]}: the Linear layers a conversion would replace and keep");

  // ---- Phase4Config
  nb::class_<Phase4Config>(m, "Phase4Config", "Every knob of BitNet conversion, QAT and packing; JSON round trip")
      .def("__init__",
           [](nb::pointer_and_handle<Phase4Config> v, nb::kwargs kw) {
             new (v.p) Phase4Config();
             set_fields(v.h, kw, "Phase4Config");
             v.p->validate();
           })
      .def_rw("weight_sparsity_threshold", &Phase4Config::weight_sparsity_threshold, nb::arg().none())
      .def_rw("input_rmsnorm", &Phase4Config::input_rmsnorm)
      .def_rw("exclude_patterns", &Phase4Config::exclude_patterns)
      .def_prop_rw(
          "pattern_mode", [](const Phase4Config& c) { return pattern_mode_name(c.pattern_mode); },
          [](Phase4Config& c, const std::string& s) { c.pattern_mode = pattern_mode_from_name(s); })
      .def_prop_rw(
          "packing", [](const Phase4Config& c) { return packing_name(c.packing); },
          [](Phase4Config& c, const std::string& s) { c.packing = packing_from_name(s); })
      .def_rw("qat_steps", &Phase4Config::qat_steps)
      .def_rw("qat_lr", &Phase4Config::qat_lr)
      .def_rw("qat_min_lr", &Phase4Config::qat_min_lr)
      .def_rw("qat_warmup_steps", &Phase4Config::qat_warmup_steps)
      .def_rw("qat_batch_size", &Phase4Config::qat_batch_size)
      .def_rw("qat_block_size", &Phase4Config::qat_block_size)
      .def_rw("qat_weight_decay", &Phase4Config::qat_weight_decay)
      .def_rw("qat_grad_clip", &Phase4Config::qat_grad_clip)
      .def_rw("seed", &Phase4Config::seed)
      .def_rw("thinking_tokens", &Phase4Config::thinking_tokens)
      .def_rw("eval_iters", &Phase4Config::eval_iters)
      .def("validate", &Phase4Config::validate)
      .def("to_json", &Phase4Config::to_json)
      .def_static("from_json", &Phase4Config::from_json, "text"_a, "origin"_a = "Phase4Config")
      .def("to_dict", [](const Phase4Config& c) { return json_loads(c.to_json()); })
      .def_static(
          "from_dict",
          [](nb::dict d) {
            std::string text = nb::cast<std::string>(nb::module_::import_("json").attr("dumps")(d));
            return Phase4Config::from_json(text, "Phase4Config");
          },
          "d"_a)
      .def("__eq__", [](const Phase4Config& a, const Phase4Config& b) { return a.to_json() == b.to_json(); })
      .def("__repr__", [](const Phase4Config& c) {
        nb::object d = json_loads(c.to_json());
        std::string s = "Phase4Config(";
        bool first = true;
        for (auto [k, v] : nb::cast<nb::dict>(d)) {
          s += (first ? "" : ", ") + nb::cast<std::string>(k) + "=" + nb::cast<std::string>(nb::repr(v));
          first = false;
        }
        return s + ")";
      });

  // ---- BitNetQuantizer
  nb::class_<BitNetQuantizer>(m, "BitNetQuantizer", "The per-tensor math of BitNet b1.58 under one Phase4Config")
      .def(
          "__init__",
          [](BitNetQuantizer* self, std::optional<Phase4Config> c) {
            new (self) BitNetQuantizer(c.value_or(Phase4Config{}));
          },
          "config"_a = nb::none())
      .def_prop_ro("config", &BitNetQuantizer::config)
      .def(
          "quantize", [](const BitNetQuantizer& q, const Tensor& w) { return ternary_tuple(q.quantize(w)); }, "w"_a,
          "(values int8 in {-1, 0, 1}, scale)")
      .def(
          "pack",
          [](const BitNetQuantizer& q, const Tensor& values, float scale) {
            auto v = q.pack(TernaryWeight{values, scale});
            return nb::bytes(reinterpret_cast<const char*>(v.data()), v.size());
          },
          "values"_a, "scale"_a)
      .def(
          "unpack",
          [](const BitNetQuantizer& q, nb::bytes data, const Shape& shape, float scale) {
            return ternary_tuple(q.unpack(static_cast<const uint8_t*>(data.data()), data.size(), shape, scale));
          },
          "data"_a, "shape"_a, "scale"_a)
      .def(
          "layer_stats",
          [](const BitNetQuantizer& q, const std::string& name, const Tensor& w, std::optional<Tensor> bias) {
            return layer_stats_dict(q.layer_stats(name, w, bias.value_or(Tensor())));
          },
          "name"_a, "weight"_a, "bias"_a = nb::none());

  // ---- CompressedModel
  nb::class_<CompressedModel>(m, "CompressedModel",
                              "A model converted to BitNet b1.58 under a Phase4Config, with compression statistics "
                              "and a packed checkpoint format")
      .def(
          "__init__",
          [](CompressedModel* self, nn::ModulePtr model, std::optional<BitNetQuantizer> q,
             std::optional<Phase4Config> c, bool use_bitlinear) {
            const Phase4Config cfg = c.value_or(q ? q->config() : Phase4Config{});
            new (self) CompressedModel(model, q.value_or(BitNetQuantizer(cfg)), cfg, use_bitlinear);
          },
          "model"_a, "quantizer"_a = nb::none(), "config"_a = nb::none(), "use_bitlinear"_a = true)
      .def(
          "forward",
          [](CompressedModel& c, const Tensor& x) {
            nb::gil_scoped_release unlocked;
            return c.forward(x);
          },
          "input"_a)
      .def(
          "__call__",
          [](CompressedModel& c, const Tensor& x) {
            nb::gil_scoped_release unlocked;
            return c.forward(x);
          },
          "input"_a)
      .def_prop_ro("model", &CompressedModel::module_ptr)
      .def_prop_ro("config", &CompressedModel::config)
      .def_prop_ro("quantizer", &CompressedModel::quantizer)
      .def_prop_ro("conversion", [](const CompressedModel& c) { return conversion_dict(c.conversion()); })
      .def("parameters", &CompressedModel::parameters)
      .def("named_parameters", &CompressedModel::named_parameters)
      .def(
          "get_compression_stats", [](const CompressedModel& c) { return json_loads(c.compression_stats().to_json()); },
          "Totals (original_bytes, compressed_bytes, ratio, mean_sparsity) and one entry per Linear layer")
      .def("compression_table", [](const CompressedModel& c) { return c.compression_stats().table(); })
      .def(
          "save",
          [](const CompressedModel& c, const std::string& path, std::optional<std::map<std::string, std::string>> meta,
             std::optional<DType> other_dtype) {
            nb::gil_scoped_release unlocked;
            c.save(path, meta.value_or(std::map<std::string, std::string>{}), other_dtype);
          },
          "path"_a, "metadata"_a = nb::none(), "other_dtype"_a = nb::none())
      .def(
          "load",
          [](CompressedModel& c, const std::string& path) {
            nb::gil_scoped_release unlocked;
            c.load(path);
          },
          "path"_a);
}

}  // namespace tern::py
