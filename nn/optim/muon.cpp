#include <tern/nn/optim/muon.h>

#include <cmath>
#include <map>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>

namespace tern::nn::optim {

Tensor newton_schulz(const Tensor& g, int64_t steps) {
  TERN_CHECK(g.dim() == 2, "newton_schulz", "expects a 2-D matrix, got shape ", shape_str(g.shape()));
  TERN_CHECK(steps >= 0, "newton_schulz", "steps must be >= 0, got ", steps);
  NoGradGuard ng;
  constexpr double a = 3.4445, b = -4.7750, c = 2.0315;
  // The wide orientation keeps A = X·Xᵀ at the smaller of the two sizes.
  const bool tall = g.size(0) > g.size(1);
  Tensor x = tall ? g.t() : g;
  // The norm stays a 0-d tensor on the device: no host read inside the training step.
  x = div(x, add(norm(x), 1e-7));
  for (int64_t i = 0; i < steps; ++i) {
    Tensor A = matmul(x, x.t());
    Tensor B = add(mul(A, b), mul(matmul(A, A), c));
    x = add(mul(x, a), matmul(B, x));
  }
  return tall ? x.t().contiguous() : x;
}

Muon::Muon(std::vector<Tensor> params, MuonOptions opts)
    : Muon(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, opts) {}

Muon::Muon(std::vector<ParamGroup> groups, MuonOptions opts)
    : Optimizer(std::move(groups), opts.lr, opts.weight_decay, "Muon"), opts_(opts) {
  TERN_CHECK(opts.momentum >= 0 && opts.momentum < 1, "Muon", "momentum must be in [0, 1), got ", opts.momentum);
  TERN_CHECK(opts.ns_steps >= 1, "Muon", "ns_steps must be >= 1, got ", opts.ns_steps);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      const Tensor& p = groups_[gi].params[i];
      TERN_CHECK(p.dim() == 2, "Muon", "parameter ", i, " of group ", gi, " has shape ", shape_str(p.shape()),
                 "; Muon updates 2-D matrices only (use AdamW for the others)");
    }
    momentum_.emplace_back(groups_[gi].params.size());
  }
}

void Muon::step() {
  NoGradGuard ng;
  const double beta = opts_.momentum;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& grp = groups_[gi];
    for (size_t i = 0; i < grp.params.size(); ++i) {
      Tensor& p = grp.params[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      TERN_CHECK(g.dtype() == p.dtype() && g.device() == p.device(), "Muon", "gradient of parameter ", i,
                 " is ", g.dtype(), " on ", g.device(), " but the parameter is ", p.dtype(), " on ", p.device());
      Tensor& m = momentum_[gi][i];
      if (!m.defined()) m = zeros_like(p);
      // lerp written as torch evaluates it for these weights (start + w·(end - start) when
      // w < 0.5, end - (end - start)·(1 - w) otherwise), so the rounding matches the reference.
      m.add_(sub(g, m), 1.0 - beta);
      Tensor u = opts_.nesterov ? sub(m, mul(sub(m, g), 1.0 - beta)) : m;
      u = newton_schulz(u, opts_.ns_steps);
      const double shape_scale = std::sqrt(std::max(1.0, static_cast<double>(p.size(0)) / p.size(1)));
      p.mul_(1.0 - *grp.lr * *grp.weight_decay);
      p.add_(u, -*grp.lr * shape_scale);
    }
  }
}

NamedTensors Muon::state_dict() const {
  NamedTensors out = group_state();
  save_param_buffers(out, momentum_, "momentum_buffer");
  return out;
}

void Muon::load_state_dict(const NamedTensors& state) {
  load_group_state(state);
  load_param_buffers(state, momentum_, "momentum_buffer");
}

}  // namespace tern::nn::optim
