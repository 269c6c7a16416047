#include <tern/autograd/hooks.h>

#include <algorithm>
#include <atomic>

namespace tern::autograd {

HookHandle& HookHandle::operator=(HookHandle&& o) noexcept {
  if (this != &o) {
    remove();
    leaf_ = std::move(o.leaf_);
    id_ = o.id_;
    o.leaf_.reset();
  }
  return *this;
}

void HookHandle::remove() {
  if (auto impl = leaf_.lock()) {
    auto& hooks = impl->autograd().post_accumulate_grad_hooks;
    std::erase_if(hooks, [this](const auto& h) { return h.first == id_; });
  }
  leaf_.reset();
}

HookHandle register_post_accumulate_grad_hook(const Tensor& leaf, PostAccumulateGradHook hook) {
  TERN_CHECK(leaf.defined() && leaf.requires_grad() && leaf.is_leaf(), "register_post_accumulate_grad_hook",
             "the tensor must be a leaf that requires grad");
  TERN_CHECK(hook, "register_post_accumulate_grad_hook", "empty hook");
  static std::atomic<uint64_t> next_id{1};
  const uint64_t id = next_id++;
  leaf.impl().autograd().post_accumulate_grad_hooks.emplace_back(id, std::move(hook));
  return HookHandle(leaf.impl_ptr(), id);
}

}  // namespace tern::autograd
