#pragma once
// Grokfast-EMA (Lee et al. 2024, "Grokfast: Accelerated Grokking by Amplifying Slow Gradients"):
// a low-pass filter on each parameter's gradient history whose output is added back to the
// gradient, so the slow components weigh more. It is a gradient filter, not an optimizer:
// call apply() between backward() and the optimizer's step().

#include <vector>

#include <tern/nn/module.h>

namespace tern::nn::optim {

struct GrokfastOptions {
  double alpha = 0.98;  // EMA momentum
  double lamb = 2.0;    // amplification of the filtered gradient
};

class GrokfastEMA {
 public:
  explicit GrokfastEMA(std::vector<Tensor> params, GrokfastOptions opts = {});

  // For every parameter with a gradient g: ema <- g on its first gradient, else
  // ema <- alpha*ema + (1-alpha)*g; then g <- g + lamb*ema, in place.
  void apply();

  const GrokfastOptions& options() const { return opts_; }
  const std::vector<Tensor>& params() const { return params_; }

  // "ema.<index>" for every parameter whose EMA has started. alpha and lamb are options,
  // not state, as AdamW's betas are.
  NamedTensors state_dict() const;
  void load_state_dict(const NamedTensors& state);

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> ema_;  // undefined until the parameter's first gradient
  GrokfastOptions opts_;
};

}  // namespace tern::nn::optim
