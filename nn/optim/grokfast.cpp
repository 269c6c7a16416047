#include <tern/nn/optim/grokfast.h>

#include <cmath>
#include <map>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>

namespace tern::nn::optim {

GrokfastEMA::GrokfastEMA(std::vector<Tensor> params, GrokfastOptions opts)
    : params_(std::move(params)), ema_(params_.size()), opts_(opts) {
  TERN_CHECK(opts.alpha >= 0 && opts.alpha < 1, "GrokfastEMA", "alpha must be in [0, 1), got ", opts.alpha);
  TERN_CHECK(std::isfinite(opts.lamb), "GrokfastEMA", "lamb must be finite, got ", opts.lamb);
  for (size_t i = 0; i < params_.size(); ++i)
    TERN_CHECK(params_[i].defined() && params_[i].is_leaf() && params_[i].requires_grad(), "GrokfastEMA",
               "parameter ", i, " must be a leaf that requires grad");
}

void GrokfastEMA::apply() {
  NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    Tensor& ema = ema_[i];
    if (!ema.defined()) {
      ema = g.contiguous().clone();
    } else {
      ema.mul_(opts_.alpha);
      ema.add_(g, 1.0 - opts_.alpha);
    }
    // A new tensor rather than g.add_(): the gradient may be shared with another handle
    // (an accumulated grad the caller still holds), which must keep the raw value.
    params_[i].set_grad(add(g, mul(ema, opts_.lamb)));
  }
}

NamedTensors GrokfastEMA::state_dict() const {
  NamedTensors out;
  for (size_t i = 0; i < ema_.size(); ++i)
    if (ema_[i].defined()) out.emplace_back("ema." + std::to_string(i), ema_[i]);
  return out;
}

void GrokfastEMA::load_state_dict(const NamedTensors& state) {
  std::map<std::string, Tensor> m(state.begin(), state.end());
  for (size_t i = 0; i < ema_.size(); ++i) {
    auto it = m.find("ema." + std::to_string(i));
    if (it == m.end()) {
      ema_[i] = Tensor();
      continue;
    }
    const Tensor& p = params_[i];
    TERN_CHECK(it->second.shape() == p.shape(), "GrokfastEMA", "EMA for parameter ", i, " has shape ",
               shape_str(it->second.shape()), " but the parameter has ", shape_str(p.shape()));
    ema_[i] = it->second.to(p.dtype()).to(p.device()).clone();
  }
}

}  // namespace tern::nn::optim
