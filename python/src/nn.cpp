// tern.nn: the Module tree and the basic layers. A Python subclass of Module is a C++ Module
// (through a trampoline), so C++ passes such as replace_linear_with_bitlinear walk into it. As
// in torch, assigning a Module or a tensor that requires grad to an attribute registers it in
// the tree, and reading the attribute reads the tree: after a replacement pass, self.fc is the
// new layer.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <nanobind/trampoline.h>

#include "bindings.h"

namespace tern::py {
namespace {

class PyModule : public nn::Module {
 public:
  NB_TRAMPOLINE(nn::Module);
  Tensor forward(const Tensor& x) override { NB_OVERRIDE(forward, x); }

  // Points an existing parameter name at another tensor (attribute assignment).
  bool set_parameter(const std::string& name, Tensor t) {
    for (auto& [n, p] : own_parameters())
      if (n == name) {
        if (!t.is_leaf()) t = t.detach();
        p = t;
        return true;
      }
    return false;
  }
};

nb::dict to_dict(const nn::NamedTensors& named) {
  nb::dict d;
  for (const auto& [n, t] : named) d[nb::str(n.c_str(), n.size())] = t;
  return d;
}

nn::NamedTensors from_mapping(nb::handle state) {
  nn::NamedTensors out;
  nb::object items = nb::hasattr(state, "items") ? state.attr("items")() : nb::borrow(state);
  for (nb::handle kv : items) {
    auto pair = nb::cast<std::pair<std::string, Tensor>>(kv);
    out.push_back(std::move(pair));
  }
  return out;
}

// Every module under (and including) m with its dotted name, as shared handles.
void walk(const std::string& prefix, const nn::ModulePtr& m, std::vector<std::pair<std::string, nn::ModulePtr>>& out) {
  out.emplace_back(prefix, m);
  for (const auto& [n, c] : m->named_children()) walk(prefix.empty() ? n : prefix + "." + n, c, out);
}

void describe(const nn::Module& m, const std::string& indent, std::string& out) {
  out += m.type_name();
  if (const auto* l = dynamic_cast<const nn::Linear*>(&m))
    out += "(in_features=" + std::to_string(l->in_features()) + ", out_features=" + std::to_string(l->out_features()) +
           ", bias=" + (l->bias.defined() ? "True" : "False") + ")";
  if (m.named_children().empty()) return;
  out += "(\n";
  for (const auto& [n, c] : m.named_children()) {
    out += indent + "  (" + n + "): ";
    describe(*c, indent + "  ", out);
    out += "\n";
  }
  out += indent + ")";
}

nb::object self_of(nb::handle h) { return nb::borrow(h); }

}  // namespace

void bind_nn(nb::module_& m) {
  nb::class_<nn::Module, PyModule> mod(m, "Module",
                                       "The base of every layer. Subclass it in Python and define forward(); "
                                       "assigning Modules and tensors that require grad registers them");
  mod.def("__init__", [](nb::pointer_and_handle<nn::Module> v) {
    const std::string name = nb::cast<std::string>(v.h.type().attr("__name__"));
    if (v.h.type().is(nb::type<nn::Module>()))
      new (v.p) nn::Module(name);
    else
      new (static_cast<void*>(v.p)) PyModule(name);
  });
  mod.def(
      "forward",
      [](nn::Module& self, const Tensor& x) {
        nb::gil_scoped_release unlocked;
        return self.forward(x);
      },
      "input"_a);
  mod.def("__call__",
          [](nb::handle self, nb::args args, nb::kwargs kwargs) { return self.attr("forward")(*args, **kwargs); });
  mod.def("__setattr__", [](nb::handle self, const std::string& name, nb::handle value) {
    auto& me = nb::cast<nn::Module&>(self);
    const bool is_module = nb::isinstance<nn::Module>(value);
    const bool is_param = nb::isinstance<Tensor>(value) && nb::cast<const Tensor&>(value).requires_grad();
    if (!nb::hasattr(self.type(), name.c_str()) && (is_module || is_param)) {
      if (is_module) {
        auto child = nb::cast<nn::ModulePtr>(value);
        if (me.has_child(name))
          me.replace_child(name, child);
        else
          me.register_module(name, child);
        return;
      }
      const Tensor& t = nb::cast<const Tensor&>(value);
      auto* pm = dynamic_cast<PyModule*>(&me);
      if (!(pm && pm->set_parameter(name, t))) me.register_parameter(name, t);
      return;
    }
    if (PyObject_GenericSetAttr(self.ptr(), nb::str(name.c_str()).ptr(), value.ptr()) != 0) throw nb::python_error();
  });
  mod.def("__getattr__", [](nb::handle self, const std::string& name) -> nb::object {
    if (name.rfind("__", 0) != 0) {
      auto& me = nb::cast<nn::Module&>(self);
      if (me.has_child(name)) return nb::cast(me.child(name));
      for (const auto& [n, p] : me.named_parameters(false))
        if (n == name) return nb::cast(p);
      for (const auto& [n, b] : me.named_buffers(false))
        if (n == name) return nb::cast(b);
    }
    throw nb::attribute_error(
        ("'" + nb::cast<std::string>(self.type().attr("__name__")) + "' object has no attribute '" + name + "'")
            .c_str());
  });
  mod.def("__repr__", [](const nn::Module& self) {
    std::string s;
    describe(self, "", s);
    return s;
  });
  mod.def_prop_ro("type_name", &nn::Module::type_name);
  mod.def_prop_ro("training", &nn::Module::is_training);
  mod.def("register_parameter", &nn::Module::register_parameter, "name"_a, "tensor"_a, "requires_grad"_a = true);
  mod.def(
      "register_buffer",
      [](nn::Module& self, const std::string& name, std::optional<Tensor> t, bool persistent) {
        return self.register_buffer(name, t.value_or(Tensor()), persistent);
      },
      "name"_a, "tensor"_a.none(), "persistent"_a = true);
  mod.def(
      "register_module",
      [](nn::Module& self, const std::string& name, nn::ModulePtr child) { return self.register_module(name, child); },
      "name"_a, "module"_a);
  mod.def("parameters", &nn::Module::parameters, "recurse"_a = true);
  mod.def(
      "named_parameters", [](const nn::Module& self, bool recurse) { return self.named_parameters(recurse); },
      "recurse"_a = true);
  mod.def(
      "buffers",
      [](const nn::Module& self, bool recurse) {
        std::vector<Tensor> out;
        for (auto& [n, b] : self.named_buffers(recurse)) out.push_back(b);
        return out;
      },
      "recurse"_a = true);
  mod.def("named_buffers", &nn::Module::named_buffers, "recurse"_a = true);
  mod.def("children", &nn::Module::children);
  mod.def("named_children", &nn::Module::named_children);
  mod.def("named_modules", [](nb::handle self) {
    nb::list out;
    out.append(nb::make_tuple("", self));
    std::vector<std::pair<std::string, nn::ModulePtr>> all;
    for (const auto& [n, c] : nb::cast<nn::Module&>(self).named_children()) walk(n, c, all);
    for (auto& [n, c] : all) out.append(nb::make_tuple(n, c));
    return out;
  });
  mod.def("modules", [](nb::handle self) {
    nb::list out;
    for (nb::handle item : self.attr("named_modules")()) out.append(item[1]);
    return out;
  });
  mod.def(
      "get_submodule",
      [](nb::handle self, const std::string& target) -> nb::object {
        nb::object cur = nb::borrow(self);
        size_t start = 0;
        while (!target.empty() && start <= target.size()) {
          const size_t dot = std::min(target.find('.', start), target.size());
          cur = nb::cast(nb::cast<nn::Module&>(cur).child(target.substr(start, dot - start)));
          start = dot + 1;
        }
        return cur;
      },
      "target"_a);
  mod.def("state_dict", [](const nn::Module& self) { return to_dict(self.state_dict()); });
  mod.def(
      "load_state_dict",
      [](nn::Module& self, nb::handle state, bool strict) {
        nn::NamedTensors sd = from_mapping(state);
        nb::gil_scoped_release unlocked;
        self.load_state_dict(sd, strict);
      },
      "state_dict"_a, "strict"_a = true);
  mod.def(
      "train",
      [](nb::handle self, bool on) {
        nb::cast<nn::Module&>(self).train(on);
        return self_of(self);
      },
      "mode"_a = true);
  mod.def("eval", [](nb::handle self) {
    nb::cast<nn::Module&>(self).eval();
    return self_of(self);
  });
  mod.def(
      "to",
      [](nb::handle self, DType d) {
        nb::cast<nn::Module&>(self).to(d);
        return self_of(self);
      },
      "dtype"_a);
  mod.def(
      "to",
      [](nb::handle self, Device d) {
        nb::cast<nn::Module&>(self).to(d);
        return self_of(self);
      },
      "device"_a);
  mod.def("zero_grad", &nn::Module::zero_grad);
  mod.def("num_parameters", &nn::Module::num_parameters, "trainable_only"_a = false);

  nb::class_<nn::Linear, nn::Module>(m, "Linear", "y = x @ weight.T + bias; weight is [out_features, in_features]")
      .def(
          "__init__",
          [](nn::Linear* self, int64_t in, int64_t out, bool bias, Generator* gen) {
            new (self) nn::Linear(in, out, {.bias = bias, .gen = gen});
          },
          "in_features"_a, "out_features"_a, "bias"_a = true, "generator"_a = nb::none())
      .def_prop_ro("in_features", &nn::Linear::in_features)
      .def_prop_ro("out_features", &nn::Linear::out_features)
      .def_prop_ro("weight", [](const nn::Linear& l) { return l.weight; })
      .def_prop_ro("bias",
                   [](const nn::Linear& l) { return l.bias.defined() ? std::optional<Tensor>(l.bias) : std::nullopt; });
  nb::class_<nn::Embedding, nn::Module>(m, "Embedding", "A lookup table [num_embeddings, embedding_dim]")
      .def(nb::init<int64_t, int64_t, Generator*>(), "num_embeddings"_a, "embedding_dim"_a, "generator"_a = nb::none())
      .def_prop_ro("weight", [](const nn::Embedding& e) { return e.weight; });
  nb::class_<nn::LayerNorm, nn::Module>(m, "LayerNorm")
      .def(
          "__init__",
          [](nn::LayerNorm* self, nb::handle shape, double eps, bool affine, bool bias) {
            int64_t d = 0;
            Shape s = nb::try_cast(shape, d) ? Shape{d} : nb::cast<Shape>(shape);
            new (self) nn::LayerNorm(s, eps, affine, bias);
          },
          "normalized_shape"_a, "eps"_a = 1e-5, "elementwise_affine"_a = true, "bias"_a = true)
      .def_ro("eps", &nn::LayerNorm::eps)
      .def_prop_ro(
          "weight",
          [](const nn::LayerNorm& l) { return l.weight.defined() ? std::optional<Tensor>(l.weight) : std::nullopt; })
      .def_prop_ro("bias", [](const nn::LayerNorm& l) {
        return l.bias.defined() ? std::optional<Tensor>(l.bias) : std::nullopt;
      });
  nb::class_<nn::Dropout, nn::Module>(m, "Dropout")
      .def(nb::init<double, Generator*>(), "p"_a = 0.5, "generator"_a = nb::none(), nb::keep_alive<1, 3>())
      .def_ro("p", &nn::Dropout::p);
  nb::class_<nn::GELU, nn::Module>(m, "GELU").def(
      "__init__",
      [](nn::GELU* self, const std::string& a) {
        TERN_CHECK(a == "tanh" || a == "none", "GELU", "approximate must be 'tanh' or 'none', got '", a, "'");
        new (self) nn::GELU(a == "tanh" ? GeluApproximation::tanh : GeluApproximation::none);
      },
      "approximate"_a = "tanh");
  nb::class_<nn::Sequential, nn::Module>(m, "Sequential")
      .def("__init__",
           [](nn::Sequential* self, nb::args mods) {
             std::vector<nn::ModulePtr> v;
             for (nb::handle h : mods) v.push_back(nb::cast<nn::ModulePtr>(h));
             new (self) nn::Sequential(std::move(v));
           })
      .def(
          "append", [](nn::Sequential& s, nn::ModulePtr m) { s.push_back(m); }, "module"_a)
      .def("__len__", &nn::Sequential::size)
      .def("__getitem__", [](const nn::Sequential& s, int64_t i) { return s.child(std::to_string(i)); });
  nb::class_<nn::ModuleList, nn::Module>(m, "ModuleList")
      .def(
          "__init__",
          [](nn::ModuleList* self, std::vector<nn::ModulePtr> mods) {
            new (self) nn::ModuleList();
            for (auto& x : mods) self->push_back(x);
          },
          "modules"_a = std::vector<nn::ModulePtr>{})
      .def(
          "append", [](nn::ModuleList& l, nn::ModulePtr m) { l.push_back(m); }, "module"_a)
      .def("__len__", &nn::ModuleList::size)
      .def("__getitem__",
           [](const nn::ModuleList& l, int64_t i) {
             const auto n = static_cast<int64_t>(l.size());
             if (i < -n || i >= n) throw nb::index_error("ModuleList index out of range");
             return l[static_cast<size_t>(i < 0 ? i + n : i)];
           })
      .def("__iter__", [](const nn::ModuleList& l) { return nb::iter(nb::cast(l.children())); });
}

}  // namespace tern::py
