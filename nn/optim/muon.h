#pragma once
// Muon (Keller Jordan's reference): SGD momentum whose update for each 2-D matrix is
// replaced by the nearest semi-orthogonal matrix, found with a quintic Newton–Schulz
// iteration. Only for the hidden weight matrices of a network; embeddings, the output head,
// biases and norms belong to another optimizer (MuGrokfast does that routing).

#include <vector>

#include <tern/nn/optim/optimizer.h>

namespace tern::nn::optim {

// Five steps of X <- a·X + (b·A + c·A·A)·X with A = X·Xᵀ and (a, b, c) = (3.4445, -4.7750,
// 2.0315), from X = G/(‖G‖_F + 1e-7), worked on the wide orientation (Gᵀ when G has more
// rows than columns, transposed back at the end). The coefficients trade exactness for speed:
// the singular values land near 1 (roughly within [0.7, 1.2]), not on it. Every product is
// a matmul op, so it runs on G's device.
Tensor newton_schulz(const Tensor& g, int64_t steps = 5);

struct MuonOptions {
  double lr = 0.02;
  double momentum = 0.95;
  bool nesterov = true;
  int64_t ns_steps = 5;
  double weight_decay = 0.01;
};

// For each 2-D parameter p ([out, in], nn.Linear's layout) with gradient g:
//   m <- lerp(m, g, 1-β);  u <- nesterov ? lerp(g, m, β) : m;
//   u <- newton_schulz(u) · max(1, out/in)^0.5;  p <- p·(1 - lr·wd);  p <- p - lr·u.
class Muon : public Optimizer {
 public:
  Muon(std::vector<Tensor> params, MuonOptions opts = {});
  Muon(std::vector<ParamGroup> groups, MuonOptions opts = {});
  void step() override;
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;
  const MuonOptions& options() const { return opts_; }

 private:
  MuonOptions opts_;
  std::vector<std::vector<Tensor>> momentum_;  // undefined until the parameter's first step
};

}  // namespace tern::nn::optim
