#pragma once
// Custom autograd functions: write forward and backward, get a graph node.
//
//   // y = round(x) forward, identity gradient backward (a straight-through estimator)
//   struct RoundSTE : tern::autograd::Function<RoundSTE> {
//     static constexpr const char* name = "RoundSTE";
//     static tern::Tensor forward(tern::autograd::FunctionCtx& ctx, const tern::Tensor& x) {
//       return tern::round(x);
//     }
//     static std::vector<tern::Tensor> backward(tern::autograd::FunctionCtx& ctx,
//                                               const std::vector<tern::Tensor>& grads) {
//       return {grads[0]};
//     }
//   };
//   tern::Tensor y = RoundSTE::apply(x);
//
// forward runs without recording a graph and may take tensors and any other
// arguments; it returns a Tensor or a std::vector<Tensor>. backward receives one
// gradient per output (undefined when that output got none) and returns one per
// Tensor argument of forward, in order (undefined for "no gradient"). Keep
// tensors for backward with ctx.save_for_backward and other values in ctx.saved_data.

#include <any>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <tern/autograd/node.h>

namespace tern::autograd {

class FunctionCtx {
 public:
  void save_for_backward(std::vector<Tensor> tensors);
  // The saved tensors; fails if any was modified in place since it was saved.
  std::vector<Tensor> get_saved_variables() const;
  bool needs_input_grad(size_t i) const { return i < needs_.size() && needs_[i]; }

  std::map<std::string, std::any> saved_data;

 private:
  template <typename T>
  friend struct Function;
  friend class CustomNode;
  std::string name_;
  std::vector<SavedTensor> saved_;
  std::vector<bool> needs_;
  bool released_ = false;
};

class CustomNode final : public Node {
 public:
  using Backward = std::vector<Tensor> (*)(FunctionCtx&, const std::vector<Tensor>&);
  CustomNode(std::string name, uint32_t num_outputs, Backward bw, std::vector<Shape> input_shapes)
      : Node(std::move(name), num_outputs), backward_(bw), input_shapes_(std::move(input_shapes)) {}
  std::vector<Tensor> apply(std::vector<Tensor> grads) override;
  void release() override;
  FunctionCtx ctx;

 private:
  Backward backward_;
  std::vector<Shape> input_shapes_;
};

namespace detail {
inline void collect(std::vector<Tensor>& out, const Tensor& t) { out.push_back(t); }
inline void collect(std::vector<Tensor>& out, const std::vector<Tensor>& ts) {
  out.insert(out.end(), ts.begin(), ts.end());
}
template <typename T>
void collect(std::vector<Tensor>&, const T&) {}

template <typename T>
concept HasName = requires { T::name; };
}  // namespace detail

// The result of each output is a fresh handle, so a forward that returns an
// input unchanged does not rewire that input's graph.
Tensor alias_output(const Tensor& t);

template <typename Derived>
struct Function {
  template <typename... Args>
  static auto apply(Args&&... args) {
    std::vector<Tensor> inputs;
    (detail::collect(inputs, args), ...);
    const bool record = needs_grad(inputs);
    std::string name = "custom_function";
    if constexpr (detail::HasName<Derived>) name = Derived::name;

    std::vector<Shape> shapes;
    for (const auto& t : inputs) shapes.push_back(t.defined() ? t.shape() : Shape{});
    auto node = std::make_shared<CustomNode>(name, 0, &Derived::backward, std::move(shapes));
    node->ctx.name_ = name;
    for (const auto& t : inputs) node->ctx.needs_.push_back(record && t.defined() && t.requires_grad());

    using Ret = decltype(Derived::forward(node->ctx, std::forward<Args>(args)...));
    std::vector<Tensor> outs;
    {
      NoGradGuard ng;
      if constexpr (std::is_same_v<std::decay_t<Ret>, Tensor>)
        outs = {Derived::forward(node->ctx, std::forward<Args>(args)...)};
      else
        outs = Derived::forward(node->ctx, std::forward<Args>(args)...);
    }
    for (auto& o : outs) o = alias_output(o);
    if (record) {
      node->set_num_outputs(static_cast<uint32_t>(outs.size()));
      connect(node, inputs, outs);
    }
    if constexpr (std::is_same_v<std::decay_t<Ret>, Tensor>)
      return outs[0];
    else
      return outs;
  }
};

}  // namespace tern::autograd
