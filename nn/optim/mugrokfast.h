#pragma once
// MuGrokfast: one optimizer for a whole model. Grokfast-EMA filters every gradient, then
// Muon updates the 2-D hidden matrices and AdamW the rest. The split is read from the module
// tree: the weight of every Linear (BitLinear included, whose weight is the latent fp32
// matrix behind the STE) goes to Muon unless its module name matches an exclude pattern;
// embeddings, biases and norms are not Linear weights and go to AdamW. With
// `grokfast = std::nullopt` it is plain Muon + AdamW.

#include <optional>
#include <string>
#include <vector>

#include <tern/nn/optim/grokfast.h>
#include <tern/nn/optim/muon.h>
#include <tern/nn/optim/optimizer.h>

namespace tern::nn::optim {

struct MuGrokfastOptions {
  MuonOptions muon = {};
  // For the embeddings, the head, biases and norms; weight_decay applies to their >= 2-D
  // tensors only, as weight_decay_groups does.
  AdamWOptions adamw = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
  std::optional<GrokfastOptions> grokfast = GrokfastOptions{};
  // Substrings of a Linear's dotted module name that keep its weight on AdamW. The default
  // catches an output head however it is prefixed (lm_head, head); tern's GPT-2 ties its
  // head to wte, an Embedding, so there it matches nothing.
  std::vector<std::string> exclude_patterns = {"head"};
  // Substrings of a parameter name that move a 2-D parameter outside any Linear to Muon.
  std::vector<std::string> muon_patterns = {};
};

class MuGrokfast : public Optimizer {
 public:
  explicit MuGrokfast(const Module& model, MuGrokfastOptions opts = {});

  // Grokfast (when on), then Muon's step, then AdamW's. param_groups() holds three groups,
  // in this order: AdamW with decay, AdamW without, Muon (so lr() is AdamW's, the
  // schedule's); edits to them take effect here.
  void step() override;
  // `lr` is AdamW's rate; Muon's follows in the ratio of the options (muon.lr / adamw.lr),
  // so one schedule drives both.
  void set_lr(double lr) override;

  struct Route {
    std::string name;
    Shape shape;
    bool muon;
  };
  // Every trainable parameter in named_parameters() order, with where it goes.
  const std::vector<Route>& routing() const { return routing_; }
  // One line per parameter: "muon   h.0.mlp.c_fc.weight (3072,768)", then a count.
  std::string routing_table() const;

  // "group.*" for the three groups, then "muon.*", "adamw.*" and "grokfast.*" from the parts.
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;
  const MuGrokfastOptions& options() const { return opts_; }

 private:
  MuGrokfastOptions opts_;
  std::vector<Route> routing_;
  std::unique_ptr<Muon> muon_;
  std::unique_ptr<AdamW> adamw_;
  std::optional<GrokfastEMA> grokfast_;
};

}  // namespace tern::nn::optim
