// tern.nn.GPT2 and GPT2Config, with Hugging Face checkpoint I/O and KV-cache generation.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace tern::py {

void set_fields(nb::handle self, const nb::kwargs& kw, const char* type_name) {
  nb::inst_mark_ready(self);
  for (auto [k, v] : kw) {
    if (!nb::hasattr(self.type(), k))
      throw nb::type_error((std::string(type_name) + " has no field '" + nb::cast<std::string>(k) + "'").c_str());
    nb::setattr(self, k, v);
  }
}

void bind_gpt2(nb::module_& m) {
  using gpt2::Config;
  nb::class_<Config>(m, "GPT2Config", "GPT-2 hyper-parameters (Hugging Face GPT2Config names)")
      .def("__init__",
           [](nb::pointer_and_handle<Config> v, nb::kwargs kw) {
             new (v.p) Config();
             set_fields(v.h, kw, "GPT2Config");
             v.p->validate();
           })
      .def_rw("n_layer", &Config::n_layer)
      .def_rw("n_head", &Config::n_head)
      .def_rw("n_embd", &Config::n_embd)
      .def_rw("n_positions", &Config::n_positions)
      .def_rw("vocab_size", &Config::vocab_size)
      .def_rw("layer_norm_epsilon", &Config::layer_norm_epsilon)
      .def_rw("dropout", &Config::dropout)
      .def_rw("activation_function", &Config::activation_function)
      .def_rw("bias", &Config::bias)
      .def_static("tiny", &Config::tiny)
      .def_static("gpt2", &Config::gpt2)
      .def_static("preset", &Config::preset, "name"_a)
      .def_static("from_json", &Config::from_json, "text"_a, "source"_a = "config.json")
      .def("to_json", &Config::to_json)
      .def("validate", &Config::validate)
      .def("__repr__", [](const Config& c) {
        return "GPT2Config(n_layer=" + std::to_string(c.n_layer) + ", n_head=" + std::to_string(c.n_head) +
               ", n_embd=" + std::to_string(c.n_embd) + ", n_positions=" + std::to_string(c.n_positions) +
               ", vocab_size=" + std::to_string(c.vocab_size) + ")";
      });

  nb::class_<gpt2::GPT2, nn::Module>(m, "GPT2", "GPT-2 with an lm_head tied to wte; parameter names are Hugging Face's")
      .def(nb::init<const Config&, Generator*>(), "config"_a, "generator"_a = nb::none())
      .def_prop_ro("config", &gpt2::GPT2::config)
      .def(
          "forward",
          [](gpt2::GPT2& g, const Tensor& idx, std::optional<Tensor> targets) -> nb::object {
            gpt2::Output out;
            {
              nb::gil_scoped_release unlocked;
              out = g.forward(idx, targets.value_or(Tensor()));
            }
            if (!targets) return nb::cast(out.logits);
            return nb::make_tuple(out.logits, out.loss);
          },
          "idx"_a, "targets"_a = nb::none(), "Logits [B, T, vocab]; with targets, (logits, mean cross-entropy loss)")
      .def(
          "generate",
          [](gpt2::GPT2& g, std::vector<int64_t> prompt, int64_t max_new_tokens, double temperature, int64_t top_k,
             double top_p, uint64_t seed, int64_t stop_token) {
            nb::gil_scoped_release unlocked;
            return g.generate(prompt, {.max_new_tokens = max_new_tokens,
                                       .temperature = temperature,
                                       .top_k = top_k,
                                       .top_p = top_p,
                                       .seed = seed,
                                       .stop_token = stop_token});
          },
          "prompt"_a, "max_new_tokens"_a = 100, "temperature"_a = 1.0, "top_k"_a = 0, "top_p"_a = 1.0, "seed"_a = 0,
          "stop_token"_a = -1, "The prompt followed by sampled tokens (temperature 0: greedy)")
      .def("resize_token_embeddings", &gpt2::GPT2::resize_token_embeddings, "new_vocab_size"_a,
           "generator"_a = nb::none())
      .def_static(
          "from_pretrained",
          [](const std::string& dir) {
            nb::gil_scoped_release unlocked;
            return gpt2::load_hf(dir);
          },
          "directory"_a, "Loads a Hugging Face directory (config.json + model.safetensors)")
      .def(
          "save_pretrained",
          [](const gpt2::GPT2& g, const std::string& dir, std::map<std::string, std::string> meta) {
            nb::gil_scoped_release unlocked;
            gpt2::save_hf(g, dir, meta);
          },
          "directory"_a, "metadata"_a = std::map<std::string, std::string>{});
}

}  // namespace tern::py
