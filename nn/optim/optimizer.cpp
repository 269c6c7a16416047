#include <tern/nn/optim/optimizer.h>

#include <cmath>
#include <map>
#include <numbers>
#include <optional>

#include <tern/autograd/grad_mode.h>
#include <tern/backends/backend.h>
#include <tern/core/ops.h>

namespace tern::nn::optim {

std::vector<ParamGroup> weight_decay_groups(const NamedTensors& params, double weight_decay) {
  ParamGroup decay{.weight_decay = weight_decay}, no_decay{.weight_decay = 0.0};
  for (auto& [n, p] : params)
    if (p.requires_grad()) (p.dim() >= 2 ? decay : no_decay).params.push_back(p);
  return {decay, no_decay};
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const char* name)
    : groups_(std::move(groups)), name_(name) {
  TERN_CHECK(lr >= 0 && std::isfinite(lr), name, "learning rate must be finite and >= 0, got ", lr);
  TERN_CHECK(weight_decay >= 0, name, "weight_decay must be >= 0, got ", weight_decay);
  for (size_t g = 0; g < groups_.size(); ++g) {
    auto& grp = groups_[g];
    if (!grp.lr) grp.lr = lr;
    if (!grp.weight_decay) grp.weight_decay = weight_decay;
    for (size_t i = 0; i < grp.params.size(); ++i) {
      const Tensor& p = grp.params[i];
      TERN_CHECK(p.defined() && p.is_leaf() && p.requires_grad(), name, "parameter ", i, " of group ", g,
                 " must be a leaf that requires grad");
    }
  }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.lr = lr;
}

double Optimizer::lr(size_t group) const {
  TERN_CHECK(group < groups_.size(), name_, "no param group ", group);
  return *groups_[group].lr;
}

std::map<std::string, Tensor> Optimizer::state(const Tensor& param) const {
  std::string prefix;
  for (size_t g = 0; g < groups_.size() && prefix.empty(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i)
      if (groups_[g].params[i].is_same(param)) {
        prefix = "state." + std::to_string(g) + "." + std::to_string(i) + ".";
        break;
      }
  TERN_CHECK(!prefix.empty(), name_, "the tensor given to state() is not one of this optimizer's parameters");
  std::map<std::string, Tensor> out;
  for (auto& [k, t] : state_dict())
    if (k.rfind(prefix, 0) == 0) out.emplace(k.substr(prefix.size()), t);
  return out;
}

NamedTensors Optimizer::group_state() const {
  NamedTensors out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    out.emplace_back("group." + std::to_string(g) + ".lr", scalar_tensor(*groups_[g].lr, kFloat64));
    out.emplace_back("group." + std::to_string(g) + ".weight_decay",
                     scalar_tensor(*groups_[g].weight_decay, kFloat64));
  }
  return out;
}

namespace {

std::map<std::string, Tensor> to_map(const NamedTensors& state) {
  std::map<std::string, Tensor> m;
  for (auto& [n, t] : state) m[n] = t;
  return m;
}

Tensor take(const std::map<std::string, Tensor>& m, const std::string& key, const char* who) {
  auto it = m.find(key);
  TERN_CHECK(it != m.end(), who, "optimizer state has no '", key, "'");
  return it->second;
}

}  // namespace

void Optimizer::load_group_state(const NamedTensors& state) {
  auto m = to_map(state);
  for (size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].lr = take(m, "group." + std::to_string(g) + ".lr", name_).item<double>();
    groups_[g].weight_decay = take(m, "group." + std::to_string(g) + ".weight_decay", name_).item<double>();
  }
}

void Optimizer::save_param_buffers(NamedTensors& out, const std::vector<std::vector<Tensor>>& bufs,
                                   const std::string& field) const {
  for (size_t g = 0; g < bufs.size(); ++g)
    for (size_t i = 0; i < bufs[g].size(); ++i)
      if (bufs[g][i].defined())
        out.emplace_back("state." + std::to_string(g) + "." + std::to_string(i) + "." + field, bufs[g][i]);
}

void Optimizer::load_param_buffers(const NamedTensors& state, std::vector<std::vector<Tensor>>& bufs,
                                   const std::string& field) const {
  const auto m = to_map(state);
  for (size_t g = 0; g < bufs.size(); ++g)
    for (size_t i = 0; i < bufs[g].size(); ++i) {
      auto it = m.find("state." + std::to_string(g) + "." + std::to_string(i) + "." + field);
      if (it == m.end()) {
        bufs[g][i] = Tensor();
        continue;
      }
      const Tensor& p = groups_[g].params[i];
      TERN_CHECK(it->second.shape() == p.shape(), name_, "state for parameter ", i, " of group ", g, " has shape ",
                 shape_str(it->second.shape()), " but the parameter has ", shape_str(p.shape()));
      bufs[g][i] = it->second.to(p.dtype()).to(p.device()).clone();
    }
}

// ---- AdamW

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions opts)
    : AdamW(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, opts) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions opts)
    : Optimizer(std::move(groups), opts.lr, opts.weight_decay, "AdamW"), opts_(opts) {
  TERN_CHECK(opts.beta1 >= 0 && opts.beta1 < 1 && opts.beta2 >= 0 && opts.beta2 < 1, "AdamW",
             "betas must be in [0, 1), got (", opts.beta1, ", ", opts.beta2, ")");
  TERN_CHECK(opts.eps >= 0, "AdamW", "eps must be >= 0, got ", opts.eps);
  for (auto& g : groups_) state_.emplace_back(g.params.size());
}

void AdamW::step() {
  NoGradGuard ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& grp = groups_[gi];
    for (size_t i = 0; i < grp.params.size(); ++i) {
      Tensor& p = grp.params[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      TERN_CHECK(p.is_contiguous(), "AdamW", "parameter ", i, " of group ", gi, " is not contiguous");
      TERN_CHECK(g.dtype() == p.dtype() && g.device() == p.device(), "AdamW", "gradient of parameter ", i,
                 " is ", g.dtype(), " on ", g.device(), " but the parameter is ", p.dtype(), " on ", p.device());
      g = g.contiguous();
      State& s = state_[gi][i];
      if (!s.exp_avg.defined()) {
        s.exp_avg = zeros_like(p);
        s.exp_avg_sq = zeros_like(p);
      }
      ++s.step;
      p.storage()->bump_version();
      backend_for(p.device(), "AdamW")
          .adamw_step(p.dtype(), p.raw_data(), g.raw_data(), s.exp_avg.raw_data(), s.exp_avg_sq.raw_data(), p.numel(),
                      *grp.lr, opts_.beta1, opts_.beta2, opts_.eps, *grp.weight_decay, s.step);
    }
  }
}

NamedTensors AdamW::state_dict() const {
  NamedTensors out = group_state();
  for (size_t g = 0; g < state_.size(); ++g)
    for (size_t i = 0; i < state_[g].size(); ++i) {
      const State& s = state_[g][i];
      if (!s.exp_avg.defined()) continue;
      const std::string k = "state." + std::to_string(g) + "." + std::to_string(i) + ".";
      out.emplace_back(k + "exp_avg", s.exp_avg);
      out.emplace_back(k + "exp_avg_sq", s.exp_avg_sq);
      out.emplace_back(k + "step", scalar_tensor(static_cast<double>(s.step), kInt64));
    }
  return out;
}

void AdamW::load_state_dict(const NamedTensors& state) {
  load_group_state(state);
  auto m = to_map(state);
  for (size_t g = 0; g < state_.size(); ++g)
    for (size_t i = 0; i < state_[g].size(); ++i) {
      const std::string k = "state." + std::to_string(g) + "." + std::to_string(i) + ".";
      State& s = state_[g][i];
      if (!m.count(k + "step")) {
        s = State{};
        continue;
      }
      const Tensor& p = groups_[g].params[i];
      Tensor ea = take(m, k + "exp_avg", "AdamW"), es = take(m, k + "exp_avg_sq", "AdamW");
      TERN_CHECK(ea.shape() == p.shape() && es.shape() == p.shape(), "AdamW", "state for parameter ", i,
                 " of group ", g, " has shape ", shape_str(ea.shape()), " but the parameter has ",
                 shape_str(p.shape()));
      s.exp_avg = ea.to(p.dtype()).to(p.device()).clone();
      s.exp_avg_sq = es.to(p.dtype()).to(p.device()).clone();
      s.step = take(m, k + "step", "AdamW").item<int64_t>();
    }
}

// ---- SGD

SGD::SGD(std::vector<Tensor> params, SGDOptions opts)
    : SGD(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, opts) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions opts)
    : Optimizer(std::move(groups), opts.lr, opts.weight_decay, "SGD"), opts_(opts) {
  TERN_CHECK(opts.momentum >= 0, "SGD", "momentum must be >= 0, got ", opts.momentum);
  TERN_CHECK(!opts.nesterov || (opts.momentum > 0 && opts.dampening == 0), "SGD",
             "Nesterov momentum needs momentum > 0 and dampening 0");
  for (auto& g : groups_) momentum_.emplace_back(g.params.size());
}

void SGD::step() {
  NoGradGuard ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& grp = groups_[gi];
    for (size_t i = 0; i < grp.params.size(); ++i) {
      Tensor& p = grp.params[i];
      Tensor d = p.grad();
      if (!d.defined()) continue;
      if (*grp.weight_decay != 0) d = add(d, mul(p, *grp.weight_decay));
      if (opts_.momentum != 0) {
        Tensor& buf = momentum_[gi][i];
        if (!buf.defined())
          buf = d.clone();
        else
          buf = add(mul(buf, opts_.momentum), mul(d, 1.0 - opts_.dampening));
        d = opts_.nesterov ? add(d, mul(buf, opts_.momentum)) : buf;
      }
      p.add_(d, -*grp.lr);
    }
  }
}

NamedTensors SGD::state_dict() const {
  NamedTensors out = group_state();
  save_param_buffers(out, momentum_, "momentum_buffer");
  return out;
}

void SGD::load_state_dict(const NamedTensors& state) {
  load_group_state(state);
  load_param_buffers(state, momentum_, "momentum_buffer");
}

// ---- clipping and schedules

namespace {

// The device all defined gradients share (the CPU when there are none).
Device gradient_device(const std::vector<Tensor>& params) {
  std::optional<Device> d;
  for (auto& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    TERN_CHECK(!d || *d == g.device(), "clip_grad_norm", "gradients on ", *d, " and ", g.device(),
               "; clip each device's parameters on their own");
    d = g.device();
  }
  return d.value_or(kCPU);
}

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  TERN_CHECK(max_norm > 0, "clip_grad_norm", "max_norm must be positive, got ", max_norm);
  if (!gradient_device(params).is_cpu()) return clip_grad_norm_on_device(params, max_norm).item<double>();
  NoGradGuard ng;
  double total_sq = 0;
  for (auto& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const double n = norm(g).item<double>();  // one read of g, no g*g temporary
    total_sq += n * n;
  }
  const double total = std::sqrt(total_sq);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0)
    for (auto& p : params) {
      Tensor g = p.grad();
      if (g.defined()) g.mul_(coef);
    }
  return total;
}

Tensor clip_grad_norm_on_device(const std::vector<Tensor>& params, double max_norm) {
  TERN_CHECK(max_norm > 0, "clip_grad_norm", "max_norm must be positive, got ", max_norm);
  const Device device = gradient_device(params);
  if (device.is_cpu()) return scalar_tensor(clip_grad_norm(params, max_norm), kFloat64);
  NoGradGuard ng;
  std::vector<Tensor> norms;
  for (auto& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) norms.push_back(norm(g).to(kFloat64));
  }
  const Tensor n = stack(norms);
  const Tensor total = sqrt(sum(mul(n, n)));
  // Multiplying by exactly 1 under the limit leaves the gradients as the CPU's branch does.
  const Tensor coef = clamp(rdiv(max_norm, add(total, 1e-6)), std::nullopt, 1.0);
  for (auto& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.mul_(coef.to(g.dtype()));
  }
  return total;
}

WarmupCosineLR::WarmupCosineLR(double max_lr, double min_lr, int64_t warmup_steps, int64_t decay_steps)
    : max_lr_(max_lr), min_lr_(min_lr), warmup_(warmup_steps), decay_(decay_steps) {
  TERN_CHECK(warmup_steps >= 0 && decay_steps >= warmup_steps, "WarmupCosineLR",
             "need 0 <= warmup_steps <= decay_steps, got ", warmup_steps, " and ", decay_steps);
}

double WarmupCosineLR::lr(int64_t step) const {
  if (step < warmup_) return max_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_ + 1);
  if (step >= decay_) return min_lr_;
  const double ratio = static_cast<double>(step - warmup_) / static_cast<double>(decay_ - warmup_);
  return min_lr_ + 0.5 * (1.0 + std::cos(std::numbers::pi * ratio)) * (max_lr_ - min_lr_);
}

}  // namespace tern::nn::optim
