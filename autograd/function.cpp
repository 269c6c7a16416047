#include <tern/autograd/function.h>

namespace tern::autograd {

void FunctionCtx::save_for_backward(std::vector<Tensor> tensors) {
  saved_.clear();
  for (const auto& t : tensors) saved_.emplace_back(t);
}

std::vector<Tensor> FunctionCtx::get_saved_variables() const {
  TERN_CHECK(!released_, "backward", "saved tensors of ", name_,
             " were freed after the first backward; pass retain_graph=true to the first backward()");
  std::vector<Tensor> out;
  for (const auto& s : saved_) out.push_back(s.get(name_));
  return out;
}

Tensor alias_output(const Tensor& t) {
  if (!t.defined()) return t;
  return make_tensor(t.storage(), t.shape(), t.strides(), t.offset(), t.dtype());
}

std::vector<Tensor> CustomNode::apply(std::vector<Tensor> grads) {
  TERN_CHECK(!ctx.released_, "backward", "trying to backward through ", name_,
             " a second time, but its saved state was freed after the first backward; "
             "pass retain_graph=true to the first backward()");
  std::vector<Tensor> out = backward_(ctx, grads);
  TERN_CHECK(out.size() == input_shapes_.size(), name_, "backward returned ", out.size(),
             " gradients, expected ", input_shapes_.size(), " (one per tensor input)");
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].defined() || !needs_input_grad(i)) {
      out[i] = Tensor();
      continue;
    }
    TERN_CHECK(out[i].shape() == input_shapes_[i], name_, "backward returned a gradient of shape ",
               shape_str(out[i].shape()), " for input ", i, " of shape ", shape_str(input_shapes_[i]));
  }
  return out;
}

void CustomNode::release() {
  ctx.saved_.clear();
  ctx.saved_data.clear();
  ctx.released_ = true;
}

}  // namespace tern::autograd
