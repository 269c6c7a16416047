#include <tern/nn/module.h>

#include <algorithm>
#include <map>
#include <sstream>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>

namespace tern::nn {

namespace {

void check_name(const std::string& name, const char* what) {
  TERN_CHECK(!name.empty() && name.find('.') == std::string::npos, what, "invalid name '", name,
             "': it must be non-empty and contain no '.'");
}

}  // namespace

Tensor Module::forward(const Tensor&) {
  TERN_FAIL(type_name_, "has no single-tensor forward()");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_name(name, "register_parameter");
  TERN_CHECK(t.defined(), "register_parameter", "parameter '", name, "' is undefined");
  for (auto& [n, p] : params_) TERN_CHECK(n != name, "register_parameter", "parameter '", name, "' already exists");
  if (!t.is_leaf()) t = t.detach();
  if (requires_grad) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_name(name, "register_buffer");
  for (auto& b : buffers_) TERN_CHECK(b.name != name, "register_buffer", "buffer '", name, "' already exists");
  buffers_.push_back({name, t.defined() ? t.detach() : t, persistent});
  return buffers_.back().tensor;
}

void Module::add_child(const std::string& name, ModulePtr m) {
  check_name(name, "register_module");
  TERN_CHECK(m, "register_module", "module '", name, "' is null");
  TERN_CHECK(!has_child(name), "register_module", "module '", name, "' already exists");
  children_.emplace_back(name, std::move(m));
}

ModulePtr Module::child(const std::string& name) const {
  for (auto& [n, m] : children_)
    if (n == name) return m;
  TERN_FAIL(type_name_, "has no child module '", name, "'");
}

bool Module::has_child(const std::string& name) const {
  for (auto& [n, m] : children_)
    if (n == name) return true;
  return false;
}

void Module::replace_child(const std::string& name, ModulePtr m) {
  TERN_CHECK(m, "replace_child", "replacement for '", name, "' is null");
  for (auto& [n, c] : children_)
    if (n == name) {
      c = std::move(m);
      return;
    }
  TERN_FAIL("replace_child", type_name_, " has no child module '", name, "'");
}

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (auto& [n, m] : children_) out.push_back(m);
  return out;
}

void Module::collect(const std::string& prefix, bool params, bool recurse, bool persistent_only,
                     NamedTensors& out) const {
  if (params) {
    for (auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  } else {
    for (auto& b : buffers_)
      if (b.tensor.defined() && (!persistent_only || b.persistent)) out.emplace_back(prefix + b.name, b.tensor);
  }
  if (recurse)
    for (auto& [n, m] : children_) m->collect(prefix + n + ".", params, true, persistent_only, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, recurse, false, out);
  // A tensor shared by two modules (tied weights) is reported once, under its first name.
  NamedTensors unique;
  for (auto& [n, t] : out) {
    bool seen = false;
    for (auto& [n2, t2] : unique) seen = seen || t2.is_same(t);
    if (!seen) unique.emplace_back(n, t);
  }
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, recurse, false, out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  std::function<void(const std::string&, const Module*)> walk = [&](const std::string& name, const Module* m) {
    out.emplace_back(name, const_cast<Module*>(m));
    for (auto& [n, c] : m->children_) walk(name.empty() ? n : name + "." + n, c.get());
  };
  walk("", this);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
}

void Module::train(bool on) {
  apply([on](Module& m) { m.training_ = on; });
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::to(Device device) {
  NoGradGuard ng;
  apply([&](Module& m) {
    for (auto& [n, p] : m.params_) p.set_data(p.to(device));
    for (auto& b : m.buffers_)
      if (b.tensor.defined()) b.tensor.set_data(b.tensor.to(device));
  });
}

void Module::to(DType dtype) {
  TERN_CHECK(is_floating(dtype), "Module::to", "modules convert to floating-point dtypes only, got ", dtype);
  NoGradGuard ng;
  apply([&](Module& m) {
    for (auto& [n, p] : m.params_)
      if (is_floating(p.dtype())) p.set_data(p.to(dtype));
    for (auto& b : m.buffers_)
      if (b.tensor.defined() && is_floating(b.tensor.dtype())) b.tensor.set_data(b.tensor.to(dtype));
  });
}

void Module::to(Device device, DType dtype) {
  to(dtype);
  to(device);
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (auto& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

StateDict Module::state_dict() const {
  StateDict out;
  collect("", true, true, false, out);
  collect("", false, true, true, out);
  return out;
}

namespace {
constexpr int64_t kLoadSliceBytes = int64_t{4} << 20;
}  // namespace

void Module::load_state_dict(const StateDict& state, bool strict) {
  LoadStateOptions options;
  options.strict = strict;
  load_state_dict(state, options);
}

void Module::load_state_dict(const StateDict& state, const LoadStateOptions& options) {
  const bool strict = options.strict;
  std::map<std::string, const Tensor*> given;
  for (auto& [n, t] : state) given[n] = &t;
  StateDict mine = state_dict();
  std::vector<std::string> missing, mismatched;
  std::map<std::string, bool> used;
  for (auto& [n, t] : mine) {
    auto it = given.find(n);
    if (it == given.end()) {
      missing.push_back(n);
      continue;
    }
    used[n] = true;
    if (it->second->shape() != t.shape())
      mismatched.push_back(n + ": checkpoint " + shape_str(it->second->shape()) + " vs model " + shape_str(t.shape()));
  }
  std::vector<std::string> unexpected;
  for (auto& [n, t] : state)
    if (!used.count(n)) unexpected.push_back(n);
  if (!mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    std::ostringstream os;
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      os << " " << what << " (" << v.size() << "):";
      for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : " ") << v[i];
      os << ".";
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("shape mismatches", mismatched);
    TERN_FAIL("load_state_dict", "cannot load state into ", type_name_, ":", os.str());
  }
  NoGradGuard ng;
  for (auto& [n, t] : mine) {
    auto it = given.find(n);
    if (it == given.end()) continue;
    Tensor dst = t;
    const Tensor& src = *it->second;
    if (options.share && src.dtype() == dst.dtype() && src.device() == dst.device()) {
      dst.set_data(src);
      continue;
    }
    if (!options.copied) {
      dst.copy_(src);  // converts the dtype on the way, without a converted copy of the source
      continue;
    }
    // In slices along the source's outermost dim, each handed to `copied` at once: a
    // converting load then never holds a large source whole beside its copy.
    int64_t dim = 0;
    for (int64_t d = 1; d < src.dim(); ++d)
      if (src.stride(d) > src.stride(dim)) dim = d;
    const int64_t len = src.dim() ? src.size(dim) : 1;
    const int64_t row_bytes = len ? src.numel() / len * static_cast<int64_t>(src.element_size()) : 0;
    const int64_t step = src.dim() ? std::max<int64_t>(1, kLoadSliceBytes / std::max<int64_t>(row_bytes, 1)) : 1;
    for (int64_t i = 0; i < len; i += step) {
      const int64_t n = std::min(step, len - i);
      const Tensor s = src.dim() ? src.narrow(dim, i, n) : src;
      Tensor d = dst.dim() ? dst.narrow(dim, i, n) : dst;
      d.copy_(s);
      options.copied(s);
    }
  }
}

std::vector<Replacement> replace_modules(Module& root, const ModulePredicate& pred, const ModuleFactory& factory) {
  std::vector<Replacement> done;
  std::function<void(Module&, const std::string&)> walk = [&](Module& parent, const std::string& prefix) {
    for (auto& [n, c] : std::vector<std::pair<std::string, ModulePtr>>(parent.named_children())) {
      const std::string name = prefix.empty() ? n : prefix + "." + n;
      if (pred(name, *c)) {
        ModulePtr repl = factory(name, c);
        TERN_CHECK(repl, "replace_modules", "factory returned null for '", name, "'");
        parent.replace_child(n, repl);
        done.push_back({name, c, repl});
      } else {
        walk(*c, name);
      }
    }
  };
  walk(root, "");
  return done;
}

}  // namespace tern::nn
