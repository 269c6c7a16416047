// Phase 4 directories from Python, in the layout `tern quantize` writes, so that `tern generate`,
// `tern eval` and `tern train --init` read what Python saves and the other way round:
//   model.safetensors          FP16 state dict in Hugging Face layout, BitLinear weights dequantized,
//                              the BitNet layout and the Phase4Config in its metadata
//   model.ternary.safetensors  the packed checkpoint of CompressedModel (when one is given)
//   config.json, phase4_config.json, compression_stats.json
#include <filesystem>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <tern/core/io/file.h>

#include "bindings.h"

namespace tern::py {
namespace {

namespace fs = std::filesystem;
constexpr const char* kWhere = "phase4";

void save_phase4(const gpt2::GPT2& model, const std::string& dir, const quant::Phase4Config& config,
                 const quant::CompressedModel* compressed) {
  NoGradGuard no_grad;
  std::error_code ec;
  fs::create_directories(dir, ec);
  TERN_CHECK(!ec, kWhere, "cannot create '", dir, "': ", ec.message());
  quant::BitNetLayout layout = quant::bitnet_layout(model);
  TERN_CHECK(!layout.empty(), kWhere, "the model has no BitLinear layers; convert it first");
  layout.weights = "dequantized";
  std::map<std::string, std::string> meta = {
      {"format", "tern-phase4"},
      {"format_version", "1"},
      {"vocab_size", std::to_string(model.config().vocab_size)},
      {"phase4_config", config.to_json()},
      {quant::kBitNetMetadataKey, layout.to_json()},
  };
  if (compressed) meta["compression_stats"] = compressed->compression_stats().to_json();
  io::save(dir + "/model.safetensors", gpt2::to_hf_state(quant::dequantized_state(model, kFloat16)), meta);
  if (compressed) {
    compressed->save(dir + "/model.ternary.safetensors", meta, kFloat16);
    io::write_file_atomic(dir + "/compression_stats.json", meta["compression_stats"], kWhere);
  }
  io::write_file_atomic(dir + "/config.json", model.config().to_json(), kWhere);
  io::write_file_atomic(dir + "/phase4_config.json", config.to_json(), kWhere);
}

std::shared_ptr<gpt2::GPT2> load_phase4(const std::string& dir) {
  const std::string st = dir + "/model.safetensors";
  TERN_CHECK(fs::exists(dir + "/config.json"), kWhere, "'", dir, "' has no config.json");
  TERN_CHECK(fs::exists(st), kWhere, "'", dir, "' has no model.safetensors");
  gpt2::Config cfg = gpt2::Config::from_json(io::read_file(dir + "/config.json", kWhere), dir + "/config.json");
  io::Checkpoint ckpt = io::load(st);
  gpt2::match_bias_to_state(cfg, ckpt.tensors);
  auto model = std::make_shared<gpt2::GPT2>(cfg);
  const auto layout = quant::bitnet_layout_from_metadata(ckpt.metadata, st);
  TERN_CHECK(layout, kWhere, "'", st, "' has no BitNet layout: not a Phase 4 checkpoint");
  quant::apply_bitnet_layout(*model, *layout, st);
  model->load_state_dict(gpt2::from_hf_state(ckpt.tensors, st, cfg.bias));
  return model;
}

}  // namespace

void bind_phase4(nb::module_& m) {
  m.def(
      "save_phase4_model",
      [](const gpt2::GPT2& model, const std::string& dir, std::optional<quant::Phase4Config> config,
         const quant::CompressedModel* compressed) {
        nb::gil_scoped_release unlocked;
        save_phase4(model, dir, config.value_or(compressed ? compressed->config() : quant::Phase4Config{}), compressed);
      },
      "model"_a, "path"_a, "config"_a = nb::none(), "compressed"_a = nb::none(),
      "Writes a Phase 4 directory (as `tern quantize` does) for a converted GPT2");
  m.def(
      "load_phase4_model",
      [](const std::string& dir) {
        nb::gil_scoped_release unlocked;
        return load_phase4(dir);
      },
      "path"_a, "A GPT2 with its BitLinear layers, from a Phase 4 directory (Python's or `tern quantize`'s)");
  m.def(
      "load_phase4_config",
      [](const std::string& dir) {
        const std::string p = dir + "/phase4_config.json";
        return quant::Phase4Config::from_json(io::read_file(p, kWhere), p);
      },
      "path"_a);
}

}  // namespace tern::py
