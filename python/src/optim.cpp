// tern.optim: AdamW, SGD, Muon, MuGrokfast, gradient clipping and the warmup-cosine schedule.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace tern::py {
namespace {

using namespace nn::optim;

// A list of tensors, or torch-style groups: [{"params": [...], "lr": ..., "weight_decay": ...}].
std::vector<ParamGroup> groups_from(nb::handle params) {
  std::vector<ParamGroup> groups;
  std::vector<Tensor> loose;
  for (nb::handle h : params) {
    if (nb::isinstance<nb::dict>(h)) {
      nb::dict d = nb::borrow<nb::dict>(h);
      ParamGroup g;
      g.params = nb::cast<std::vector<Tensor>>(d["params"]);
      if (d.contains("lr")) g.lr = nb::cast<double>(d["lr"]);
      if (d.contains("weight_decay")) g.weight_decay = nb::cast<double>(d["weight_decay"]);
      groups.push_back(std::move(g));
    } else {
      loose.push_back(nb::cast<Tensor>(h));
    }
  }
  TERN_CHECK(groups.empty() || loose.empty(), "optim", "pass either tensors or parameter groups (dicts), not both");
  if (groups.empty()) groups.push_back({.params = std::move(loose)});
  return groups;
}

nb::dict state_to_dict(const nn::NamedTensors& s) {
  nb::dict d;
  for (const auto& [n, t] : s) d[nb::str(n.c_str(), n.size())] = t;
  return d;
}

nn::NamedTensors state_from_dict(const nb::dict& d) {
  nn::NamedTensors out;
  for (auto [k, v] : d) out.emplace_back(nb::cast<std::string>(k), nb::cast<Tensor>(v));
  return out;
}

}  // namespace

void bind_optim(nb::module_& m) {
  nb::class_<Optimizer>(m, "Optimizer")
      .def("step",
           [](Optimizer& o) {
             nb::gil_scoped_release unlocked;
             o.step();
           })
      .def("zero_grad", &Optimizer::zero_grad)
      .def_prop_rw(
          "lr", [](const Optimizer& o) { return o.lr(); }, &Optimizer::set_lr,
          "The learning rate of the first group; setting it sets every group's")
      .def("state_dict", [](const Optimizer& o) { return state_to_dict(o.state_dict()); })
      .def(
          "load_state_dict", [](Optimizer& o, const nb::dict& d) { o.load_state_dict(state_from_dict(d)); },
          "state_dict"_a)
      .def(
          "state", [](const Optimizer& o, const Tensor& p) { return o.state(p); }, "param"_a);

  nb::class_<AdamW, Optimizer>(m, "AdamW", "torch.optim.AdamW: decoupled weight decay, bias-corrected moments")
      .def(
          "__init__",
          [](AdamW* self, nb::handle params, double lr, std::pair<double, double> betas, double eps,
             double weight_decay) {
            new (self) AdamW(
                groups_from(params),
                {.lr = lr, .beta1 = betas.first, .beta2 = betas.second, .eps = eps, .weight_decay = weight_decay});
          },
          "params"_a, "lr"_a = 1e-3, "betas"_a = std::make_pair(0.9, 0.999), "eps"_a = 1e-8, "weight_decay"_a = 1e-2);
  nb::class_<SGD, Optimizer>(m, "SGD", "torch.optim.SGD")
      .def(
          "__init__",
          [](SGD* self, nb::handle params, double lr, double momentum, double dampening, double weight_decay,
             bool nesterov) {
            new (self) SGD(groups_from(params), {.lr = lr,
                                                 .momentum = momentum,
                                                 .dampening = dampening,
                                                 .weight_decay = weight_decay,
                                                 .nesterov = nesterov});
          },
          "params"_a, "lr"_a = 1e-2, "momentum"_a = 0.0, "dampening"_a = 0.0, "weight_decay"_a = 0.0,
          "nesterov"_a = false);
  nb::class_<Muon, Optimizer>(m, "Muon", "Momentum orthogonalised by Newton-Schulz, for 2-D hidden weights")
      .def(
          "__init__",
          [](Muon* self, nb::handle params, double lr, double momentum, bool nesterov, int64_t ns_steps,
             double weight_decay) {
            new (self) Muon(groups_from(params), {.lr = lr,
                                                  .momentum = momentum,
                                                  .nesterov = nesterov,
                                                  .ns_steps = ns_steps,
                                                  .weight_decay = weight_decay});
          },
          "params"_a, "lr"_a = 0.02, "momentum"_a = 0.95, "nesterov"_a = true, "ns_steps"_a = 5,
          "weight_decay"_a = 0.01);
  nb::class_<MuGrokfast, Optimizer>(m, "MuGrokfast",
                                    "Grokfast-EMA filtering, then Muon on Linear weights and AdamW on the rest")
      .def(
          "__init__",
          [](MuGrokfast* self, const nn::Module& model, double lr, double muon_lr, std::pair<double, double> betas,
             double weight_decay, double muon_weight_decay, std::optional<double> grokfast_alpha, double grokfast_lamb,
             std::vector<std::string> exclude_patterns) {
            MuGrokfastOptions o;
            o.adamw = {
                .lr = lr, .beta1 = betas.first, .beta2 = betas.second, .eps = 1e-8, .weight_decay = weight_decay};
            o.muon.lr = muon_lr;
            o.muon.weight_decay = muon_weight_decay;
            o.grokfast = grokfast_alpha
                             ? std::optional<GrokfastOptions>(GrokfastOptions{*grokfast_alpha, grokfast_lamb})
                             : std::nullopt;
            o.exclude_patterns = std::move(exclude_patterns);
            new (self) MuGrokfast(model, o);
          },
          "model"_a, "lr"_a = 1e-3, "muon_lr"_a = 0.02, "betas"_a = std::make_pair(0.9, 0.95), "weight_decay"_a = 0.1,
          "muon_weight_decay"_a = 0.01, "grokfast_alpha"_a.none() = 0.98, "grokfast_lamb"_a = 2.0,
          "exclude_patterns"_a = std::vector<std::string>{"head"}, nb::keep_alive<1, 2>(),
          "grokfast_alpha=None turns Grokfast off (plain Muon + AdamW)")
      .def("routing_table", &MuGrokfast::routing_table);

  m.def("newton_schulz", &newton_schulz, "g"_a, "steps"_a = 5);
  m.def(
      "clip_grad_norm_",
      [](const std::vector<Tensor>& params, double max_norm) {
        nb::gil_scoped_release unlocked;
        return clip_grad_norm(params, max_norm);
      },
      "parameters"_a, "max_norm"_a,
      "Scales gradients so that their global L2 norm is at most max_norm; returns the norm before");
  nb::class_<WarmupCosineLR>(m, "WarmupCosineLR", "Linear warmup, then cosine decay to min_lr (nanoGPT's schedule)")
      .def(nb::init<double, double, int64_t, int64_t>(), "max_lr"_a, "min_lr"_a, "warmup_steps"_a, "decay_steps"_a)
      .def("lr", &WarmupCosineLR::lr, "step"_a)
      .def("__call__", &WarmupCosineLR::lr, "step"_a);
}

}  // namespace tern::py
