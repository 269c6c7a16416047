#pragma once
// Optimizers with PyTorch semantics, gradient clipping and LR schedules.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <tern/nn/module.h>

namespace tern::nn::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  std::optional<double> lr;            // the optimizer's default when unset
  std::optional<double> weight_decay;  // likewise
};

// Two groups as GPT-2 training uses them: >= 2-D tensors (matmul weights,
// embeddings) decay, 1-D ones (biases, LayerNorm) do not.
std::vector<ParamGroup> weight_decay_groups(const NamedTensors& params, double weight_decay);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  std::vector<ParamGroup>& param_groups() { return groups_; }
  // Sets every group's learning rate (what schedules call each step). Optimizers whose
  // groups keep different rates (MuGrokfast) scale them together instead.
  virtual void set_lr(double lr);
  double lr(size_t group = 0) const;

  // Everything needed to resume bit-identically, as named tensors, torch.optim's state_dict
  // flattened:
  //   group.<g>.lr, group.<g>.weight_decay        f64 scalars, one pair per param group
  //   state.<g>.<i>.<field>                       the state of parameter i of group g:
  //     AdamW  exp_avg, exp_avg_sq (the moments, shaped like the parameter), step (i64 scalar)
  //     SGD    momentum_buffer (with momentum > 0)
  // A parameter has no state entries until a step() has updated it. io::save writes the list
  // as it is (tern train's optimizer.safetensors); load_state_dict takes it back.
  virtual NamedTensors state_dict() const = 0;
  // The state of one parameter by field name, e.g. opt.state(w).at("exp_avg"): the fields
  // above, the moments as the live tensors. Empty before the first step() that updates it;
  // throws when `param` is not one of this optimizer's parameters.
  std::map<std::string, Tensor> state(const Tensor& param) const;
  virtual void load_state_dict(const NamedTensors& state) = 0;

 protected:
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const char* name);
  std::vector<ParamGroup> groups_;
  NamedTensors group_state() const;
  void load_group_state(const NamedTensors& state);
  // One buffer per parameter (bufs[g][i]) as state.<g>.<i>.<field> entries, and back. Undefined
  // buffers are not written; absent entries load as undefined; a present entry must have its
  // parameter's shape and takes its dtype and device.
  void save_param_buffers(NamedTensors& out, const std::vector<std::vector<Tensor>>& bufs,
                          const std::string& field) const;
  void load_param_buffers(const NamedTensors& state, std::vector<std::vector<Tensor>>& bufs,
                          const std::string& field) const;
  const char* name_;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

// Decoupled weight decay (p *= 1 - lr*wd), bias-corrected moments, eps outside the
// square root: torch.optim.AdamW. The update is one fused kernel per tensor.
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions opts = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions opts = {});
  void step() override;
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;
  const AdamWOptions& options() const { return opts_; }

 private:
  struct State {
    Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
  };
  AdamWOptions opts_;
  std::vector<std::vector<State>> state_;
};

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// torch.optim.SGD: L2 weight decay added to the gradient, then (Nesterov) momentum.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions opts = {});
  SGD(std::vector<ParamGroup> groups, SGDOptions opts = {});
  void step() override;
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;

 private:
  SGDOptions opts_;
  std::vector<std::vector<Tensor>> momentum_;
};

// Scales all gradients together so that their global L2 norm is at most max_norm
// (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
// The same without waiting for a GPU: the norm stays a 0-d f64 tensor on the gradients' device
// and the scale min(1, max_norm / (norm + 1e-6)) is applied there, so a training step reads
// nothing back for clipping. Gradients on the CPU get clip_grad_norm, bit for bit.
Tensor clip_grad_norm_on_device(const std::vector<Tensor>& params, double max_norm);

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double lr(int64_t step) const = 0;
};

class ConstantLR final : public LRSchedule {
 public:
  explicit ConstantLR(double lr) : lr_(lr) {}
  double lr(int64_t) const override { return lr_; }

 private:
  double lr_;
};

// Linear warmup for warmup_steps, then cosine decay to min_lr at decay_steps, then
// min_lr (nanoGPT's schedule).
class WarmupCosineLR final : public LRSchedule {
 public:
  WarmupCosineLR(double max_lr, double min_lr, int64_t warmup_steps, int64_t decay_steps);
  double lr(int64_t step) const override;

 private:
  double max_lr_, min_lr_;
  int64_t warmup_, decay_;
};

}  // namespace tern::nn::optim
