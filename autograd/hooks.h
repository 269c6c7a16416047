#pragma once
// Post-accumulate-grad hooks: code that runs when backward has added a gradient into a leaf's .grad, as PyTorch's
// Tensor.register_post_accumulate_grad_hook. The engine sums every path into a leaf before its AccumulateGrad
// runs, so a hook fires once per backward per leaf, with the leaf's whole gradient of that backward in place.
// DistributedDataParallel uses it to start a bucket's all-reduce while the rest of backward still runs.
//
//   auto h = autograd::register_post_accumulate_grad_hook(w, [](const Tensor& leaf) { use(leaf.grad()); });
//   loss.backward();  // the hook runs once, after w.grad is final for this backward
//   // the hook is removed when h goes out of scope

#include <cstdint>
#include <functional>
#include <memory>

#include <tern/core/tensor.h>

namespace tern::autograd {

using PostAccumulateGradHook = std::function<void(const Tensor& leaf)>;

// Removes its hook when destroyed (or on remove()); outliving the tensor is harmless.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<TensorImpl> leaf, uint64_t id) : leaf_(std::move(leaf)), id_(id) {}
  HookHandle(HookHandle&& o) noexcept : leaf_(std::move(o.leaf_)), id_(o.id_) { o.leaf_.reset(); }
  HookHandle& operator=(HookHandle&& o) noexcept;
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  ~HookHandle() { remove(); }
  void remove();

 private:
  std::weak_ptr<TensorImpl> leaf_;
  uint64_t id_ = 0;
};

// `leaf` must be a leaf that requires grad. Hooks run in the order they were registered.
[[nodiscard]] HookHandle register_post_accumulate_grad_hook(const Tensor& leaf, PostAccumulateGradHook hook);

}  // namespace tern::autograd
