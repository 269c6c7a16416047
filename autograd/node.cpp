#include <tern/autograd/node.h>

#include <tern/core/ops.h>

namespace tern::autograd {

namespace {

// No handle but the `handles` known ones refers to t's memory, and t covers all of
// it contiguously.
bool exclusive(const Tensor& t, long handles) {
  return t.impl_ptr().use_count() == handles && t.storage().use_count() == 1 && t.is_contiguous() &&
         t.offset() == 0;
}

}  // namespace

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor> grads) {
  const Tensor& g = grads[0];
  if (!g.defined()) return {};
  Tensor leaf(leaf_);
  TERN_CHECK(g.shape() == leaf.shape(), "backward", "gradient of shape ", shape_str(g.shape()),
             " reached a leaf of shape ", shape_str(leaf.shape()));
  auto& slot = leaf_->autograd().grad;
  if (!slot) {
    // Keep a gradient nobody else holds; copy one that aliases other memory. A
    // backward rule may hand one tensor to several inputs (add returns g twice), so
    // the handle must be unshared as well as the storage, or two leaves would share
    // one .grad and an in-place update of one (clip_grad_norm) would hit both.
    slot = (exclusive(g, 1) ? g : g.clone()).impl_ptr();  // held by grads only
  } else if (Tensor s(slot); exclusive(s, 2) && s.dtype() == g.dtype()) {  // slot and s
    s.add_(g);  // in place, as torch accumulates when not building a graph
  } else {
    slot = add(s, g).impl_ptr();
  }
  // By index: a hook may register or remove hooks (the handle of a finished reducer, say).
  auto& hooks = leaf_->autograd().post_accumulate_grad_hooks;
  for (size_t i = 0; i < hooks.size(); ++i) {
    auto hook = hooks[i].second;
    hook(leaf);
  }
  return {};
}

SavedTensor::SavedTensor(const Tensor& t) : tensor_(t.defined() ? t.detach() : Tensor()) {
  if (t.defined()) version_ = t.storage()->version();
}

Tensor SavedTensor::get(const std::string& op) const {
  if (tensor_.defined())
    TERN_CHECK(tensor_.storage()->version() == version_, "backward",
               "a tensor saved by ", op, " was modified in place before backward");
  return tensor_;
}

std::vector<Tensor> FunctionNode::apply(std::vector<Tensor> grads) {
  TERN_CHECK(fn_, "backward", "trying to backward through ", name_,
             " a second time, but its saved state was freed after the first backward; "
             "pass retain_graph=true to the first backward()");
  return fn_(grads, *this);
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  auto& meta = t.impl().autograd();
  if (meta.grad_fn) return {meta.grad_fn, meta.output_nr};
  auto acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return {acc, 0};
}

void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs) {
  auto& edges = node->next_edges();
  edges.clear();
  edges.reserve(inputs.size());
  for (const auto& t : inputs) edges.push_back(gradient_edge(t));
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined()) continue;
    auto& meta = outputs[i].impl().autograd();
    meta.requires_grad = true;
    meta.grad_fn = node;
    meta.output_nr = static_cast<uint32_t>(i);
  }
}

void record(const char* op, const std::vector<Tensor>& inputs, const Tensor& output,
            std::function<std::vector<Tensor>(const Tensor& g, const Node&)> backward) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(
      op, 1, [bw = std::move(backward)](const std::vector<Tensor>& grads, const Node& n) {
        return bw(grads[0], n);
      });
  connect(node, inputs, {output});
}

}  // namespace tern::autograd
