#include <tern/nn/optim/mugrokfast.h>

#include <set>
#include <sstream>

#include <tern/nn/layers.h>

namespace tern::nn::optim {

namespace {

constexpr size_t kMuonGroup = 2;  // after AdamW's two

bool matches_any(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns)
    if (name.find(p) != std::string::npos) return true;
  return false;
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

struct Split {
  std::vector<std::pair<std::string, Tensor>> muon, adamw;
  std::vector<Tensor> all;
};

Split route(const Module& model, const MuGrokfastOptions& opts, std::vector<MuGrokfast::Route>& routing) {
  std::set<std::string> linear_weights;
  for (const auto& [name, m] : model.named_modules())
    if (dynamic_cast<const Linear*>(m) && !matches_any(name, opts.exclude_patterns))
      linear_weights.insert(join(name, "weight"));
  Split s;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.requires_grad()) continue;
    const bool pattern = matches_any(name, opts.muon_patterns);
    TERN_CHECK(!pattern || p.dim() == 2, "MuGrokfast", "muon pattern matches '", name, "' of shape ",
               shape_str(p.shape()), "; Muon updates 2-D matrices only");
    const bool muon = pattern || (linear_weights.count(name) && p.dim() == 2);
    (muon ? s.muon : s.adamw).emplace_back(name, p);
    s.all.push_back(p);
    routing.push_back({name, p.shape(), muon});
  }
  TERN_CHECK(!s.all.empty(), "MuGrokfast", "the model has no trainable parameters");
  return s;
}

NamedTensors with_prefix(const std::string& prefix, const NamedTensors& state) {
  NamedTensors out;
  for (const auto& [n, t] : state) out.emplace_back(prefix + n, t);
  return out;
}

NamedTensors under_prefix(const std::string& prefix, const NamedTensors& state) {
  NamedTensors out;
  for (const auto& [n, t] : state)
    if (n.starts_with(prefix)) out.emplace_back(n.substr(prefix.size()), t);
  return out;
}

}  // namespace

MuGrokfast::MuGrokfast(const Module& model, MuGrokfastOptions opts)
    : Optimizer({}, opts.adamw.lr, opts.adamw.weight_decay, "MuGrokfast"), opts_(std::move(opts)) {
  TERN_CHECK(opts_.adamw.lr > 0, "MuGrokfast", "the AdamW learning rate must be > 0 (Muon's is set relative to it)");
  Split s = route(model, opts_, routing_);
  ParamGroup muon_group{.params = {}, .lr = opts_.muon.lr, .weight_decay = opts_.muon.weight_decay};
  for (auto& [n, p] : s.muon) muon_group.params.push_back(p);
  auto adamw_groups = weight_decay_groups(s.adamw, opts_.adamw.weight_decay);
  for (auto& g : adamw_groups) g.lr = opts_.adamw.lr;
  groups_ = {adamw_groups[0], adamw_groups[1], muon_group};
  muon_ = std::make_unique<Muon>(std::vector<ParamGroup>{muon_group}, opts_.muon);
  adamw_ = std::make_unique<AdamW>(adamw_groups, opts_.adamw);
  if (opts_.grokfast) grokfast_.emplace(s.all, *opts_.grokfast);
}

void MuGrokfast::step() {
  for (size_t g = 0; g < groups_.size(); ++g) {
    ParamGroup& inner = g == kMuonGroup ? muon_->param_groups()[0] : adamw_->param_groups()[g];
    inner.lr = groups_[g].lr;
    inner.weight_decay = groups_[g].weight_decay;
  }
  if (grokfast_) grokfast_->apply();
  muon_->step();
  adamw_->step();
}

void MuGrokfast::set_lr(double lr) {
  groups_[0].lr = lr;
  groups_[1].lr = lr;
  groups_[kMuonGroup].lr = lr * (opts_.muon.lr / opts_.adamw.lr);
}

std::string MuGrokfast::routing_table() const {
  std::ostringstream os;
  int64_t n_muon = 0, n_adamw = 0, e_muon = 0, e_adamw = 0;
  for (const auto& r : routing_) {
    os << (r.muon ? "muon   " : "adamw  ") << r.name << " " << shape_str(r.shape) << "\n";
    (r.muon ? n_muon : n_adamw) += 1;
    (r.muon ? e_muon : e_adamw) += numel_of(r.shape);
  }
  os << "muon: " << n_muon << " tensors, " << e_muon << " parameters; adamw: " << n_adamw << " tensors, " << e_adamw
     << " parameters" << (grokfast_ ? "; grokfast on all" : "") << "\n";
  return os.str();
}

NamedTensors MuGrokfast::state_dict() const {
  NamedTensors out = group_state();
  int64_t n_muon = 0;
  for (const auto& r : routing_) n_muon += r.muon;
  // Both counts, so that a state saved under another routing is refused on load.
  out.emplace_back("routing.muon", scalar_tensor(static_cast<double>(n_muon), kInt64));
  out.emplace_back("routing.total", scalar_tensor(static_cast<double>(routing_.size()), kInt64));
  for (auto& e : with_prefix("muon.", muon_->state_dict())) out.push_back(std::move(e));
  for (auto& e : with_prefix("adamw.", adamw_->state_dict())) out.push_back(std::move(e));
  if (grokfast_)
    for (auto& e : with_prefix("grokfast.", grokfast_->state_dict())) out.push_back(std::move(e));
  return out;
}

void MuGrokfast::load_state_dict(const NamedTensors& state) {
  int64_t n_muon = 0;
  for (const auto& r : routing_) n_muon += r.muon;
  std::optional<int64_t> saved_muon, saved_total;
  for (const auto& [n, t] : state) {
    if (n == "routing.muon") saved_muon = t.item<int64_t>();
    if (n == "routing.total") saved_total = t.item<int64_t>();
  }
  TERN_CHECK(saved_muon && saved_total, "MuGrokfast", "optimizer state has no routing (not a MuGrokfast state)");
  TERN_CHECK(*saved_muon == n_muon && *saved_total == static_cast<int64_t>(routing_.size()), "MuGrokfast",
             "the state routes ", *saved_muon, " of ", *saved_total, " tensors to Muon, this model ", n_muon, " of ",
             routing_.size());
  load_group_state(state);
  muon_->load_state_dict(under_prefix("muon.", state));
  adamw_->load_state_dict(under_prefix("adamw.", state));
  if (grokfast_) grokfast_->load_state_dict(under_prefix("grokfast.", state));
}

}  // namespace tern::nn::optim
