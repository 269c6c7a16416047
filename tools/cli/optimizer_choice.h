#pragma once
// --optimizer adamw|muon|mugrokfast, shared by `tern train` and `tern quantize`'s QAT.
//   adamw       AdamW on every parameter (weight decay on >= 2-D tensors only);
//   muon        Muon on the hidden Linear/BitLinear weights, AdamW on the rest;
//   mugrokfast  the same after a Grokfast-EMA filter on every gradient.
// The schedule drives AdamW's lr; Muon's moves with it in the ratio muon_lr / lr.

#include <memory>
#include <string>

#include <tern/nn/module.h>
#include <tern/nn/optim/optimizer.h>

namespace tern::cli {

struct OptimizerSpec {
  std::string name = "adamw";
  double lr = 1e-3;  // AdamW's peak
  double beta1 = 0.9, beta2 = 0.99;
  double weight_decay = 0.1;  // AdamW's; Muon keeps its own 0.01
  double muon_lr = 0.02;      // Muon's peak
  double grokfast_alpha = 0.98, grokfast_lamb = 2.0;
};

// Errors name `where` and the flag: --optimizer, --muon-lr, --grokfast-alpha, --grokfast-lamb.
void check_optimizer_spec(const OptimizerSpec& s, const std::string& where);

std::unique_ptr<nn::optim::Optimizer> create_optimizer(const nn::Module& model, const OptimizerSpec& s);

// One line for the run's header: "AdamW lr 0.001" or "MuGrokfast: Muon lr 0.02 on 16 matrices
// (786432 parameters), AdamW lr 0.001 on 36 tensors, Grokfast alpha 0.98 lamb 2".
std::string describe_optimizer(const OptimizerSpec& s, const nn::optim::Optimizer& opt);

// The per-parameter routing table of a muon/mugrokfast optimizer; "" for AdamW.
std::string optimizer_routing(const nn::optim::Optimizer& opt);

}  // namespace tern::cli
