#include "optimizer_choice.h"

#include <cmath>
#include <sstream>

#include <tern/nn/optim/mugrokfast.h>

namespace tern::cli {

void check_optimizer_spec(const OptimizerSpec& s, const std::string& where) {
  TERN_CHECK(s.name == "adamw" || s.name == "muon" || s.name == "mugrokfast", where,
             "--optimizer must be adamw, muon or mugrokfast, got '", s.name, "'");
  TERN_CHECK(s.muon_lr > 0 && std::isfinite(s.muon_lr), where, "--muon-lr must be positive, got ", s.muon_lr);
  TERN_CHECK(s.grokfast_alpha >= 0 && s.grokfast_alpha < 1, where, "--grokfast-alpha must be in [0, 1), got ",
             s.grokfast_alpha);
  TERN_CHECK(s.grokfast_lamb >= 0 && std::isfinite(s.grokfast_lamb), where, "--grokfast-lamb must be >= 0, got ",
             s.grokfast_lamb);
}

std::unique_ptr<nn::optim::Optimizer> create_optimizer(const nn::Module& model, const OptimizerSpec& s) {
  namespace optim = nn::optim;
  const optim::AdamWOptions adamw{
      .lr = s.lr, .beta1 = s.beta1, .beta2 = s.beta2, .eps = 1e-8, .weight_decay = s.weight_decay};
  if (s.name == "adamw")
    return std::make_unique<optim::AdamW>(optim::weight_decay_groups(model.named_parameters(), s.weight_decay),
                                          adamw);
  optim::MuGrokfastOptions o{.muon = {.lr = s.muon_lr}, .adamw = adamw};
  if (s.name == "muon")
    o.grokfast = std::nullopt;
  else
    o.grokfast = optim::GrokfastOptions{.alpha = s.grokfast_alpha, .lamb = s.grokfast_lamb};
  return std::make_unique<optim::MuGrokfast>(model, o);
}

std::string describe_optimizer(const OptimizerSpec& s, const nn::optim::Optimizer& opt) {
  std::ostringstream os;
  const auto* mg = dynamic_cast<const nn::optim::MuGrokfast*>(&opt);
  if (!mg) {
    os << "AdamW lr " << s.lr;
    return os.str();
  }
  int64_t n_muon = 0, n_adamw = 0, e_muon = 0;
  for (const auto& r : mg->routing()) {
    (r.muon ? n_muon : n_adamw) += 1;
    if (r.muon) e_muon += numel_of(r.shape);
  }
  os << (s.name == "muon" ? "Muon + AdamW" : "MuGrokfast") << ": Muon lr " << s.muon_lr << " on " << n_muon
     << " matrices (" << e_muon << " parameters), AdamW lr " << s.lr << " on " << n_adamw << " tensors";
  if (s.name == "mugrokfast") os << ", Grokfast alpha " << s.grokfast_alpha << " lamb " << s.grokfast_lamb;
  return os.str();
}

std::string optimizer_routing(const nn::optim::Optimizer& opt) {
  const auto* mg = dynamic_cast<const nn::optim::MuGrokfast*>(&opt);
  return mg ? mg->routing_table() : std::string();
}

}  // namespace tern::cli
