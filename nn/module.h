#pragma once
// The module tree, after PyTorch's C++ frontend: modules register their
// parameters, buffers and children by name, and everything else (dotted names,
// state dicts, train/eval, device moves, the replacement pass) walks that tree.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tern/core/tensor.h>

namespace tern::nn {

// Name -> tensor, in registration order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = NamedTensors;

class Module;
using ModulePtr = std::shared_ptr<Module>;

struct LoadStateOptions {
  // Fail listing missing and unexpected keys (shape mismatches always fail).
  bool strict = true;
  // Make a parameter or buffer the given tensor itself (handles held elsewhere follow, as
  // with Tensor::set_data) when its dtype and device already match, instead of copying
  // into it; the others are copied. For inference from memory-mapped checkpoints: the
  // weights stay page-cache memory, held once and shared between processes.
  bool share = false;
  // Called with each source tensor that was copied (not shared), in slices of a few MB
  // along its outermost dim, each as soon as it is copied, so that the caller can give
  // the source's memory back before the next slice is read.
  std::function<void(const Tensor& source)> copied;
};

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // The single-tensor forward that most layers have. Sequential chains it and the
  // replacement pass relies on it; modules with other signatures add their own.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ---- registration
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // Persistent buffers are part of the state dict; others (caches, masks) are not.
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

  // ---- children
  ModulePtr child(const std::string& name) const;  // throws if absent
  template <typename M>
  M& child_as(const std::string& name) const {
    auto* m = dynamic_cast<M*>(child(name).get());
    TERN_CHECK(m, name, "child module is ", child(name)->type_name(), ", not the expected type");
    return *m;
  }
  bool has_child(const std::string& name) const;
  // Swaps an existing child for `m`; the parent's forward picks up the new one.
  void replace_child(const std::string& name, ModulePtr m);
  const std::vector<std::pair<std::string, ModulePtr>>& named_children() const { return children_; }
  std::vector<ModulePtr> children() const;

  // ---- traversal, with dotted names such as "h.0.attn.c_attn.weight"
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  // Self first (named ""), then every descendant depth-first.
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  // Calls fn on every module, children before their parent (as torch's apply).
  void apply(const std::function<void(Module&)>& fn);

  // ---- modes and housekeeping
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Moves parameters and buffers; dtype applies to floating-point tensors only.
  void to(Device device);
  void to(DType dtype);
  void to(Device device, DType dtype);
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- state
  StateDict state_dict() const;
  // Copies values in place (handles held elsewhere stay valid). Strict mode fails
  // listing missing keys, unexpected keys and shape mismatches (with both shapes).
  void load_state_dict(const StateDict& state, bool strict = true);
  void load_state_dict(const StateDict& state, const LoadStateOptions& options);

 protected:
  // For wrappers that keep parameters under another name.
  std::vector<std::pair<std::string, Tensor>>& own_parameters() { return params_; }

 private:
  void add_child(const std::string& name, ModulePtr m);
  void collect(const std::string& prefix, bool params, bool recurse, bool persistent_only, NamedTensors& out) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> params_;
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
};

// ---- the generic replacement pass

struct Replacement {
  std::string name;  // dotted path of the replaced module
  ModulePtr before;
  ModulePtr after;
};

using ModulePredicate = std::function<bool(const std::string& dotted_name, const Module& m)>;
using ModuleFactory = std::function<ModulePtr(const std::string& dotted_name, const ModulePtr& m)>;

// Swaps every submodule matching `pred` (searched from `root`, not descending into
// what it replaces) for `factory`'s result, inside its parent. The root itself is
// never replaced. Returns what it replaced, in tree order.
std::vector<Replacement> replace_modules(Module& root, const ModulePredicate& pred, const ModuleFactory& factory);

}  // namespace tern::nn
