// tern.Tensor, tern.dtype, tern.Device, tern.Generator and the grad-mode context managers.
#include <nanobind/operators.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace tern::py {

Device parse_device(const std::string& s) {
  if (s == "cpu") return kCPU;
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.find_first_not_of("0123456789", 5) == std::string::npos)
    return cuda(std::stoi(s.substr(5)));
  TERN_FAIL("device", "unknown device '", s, "': expected cpu, cuda or cuda:N");
}

Shape shape_from_args(const nb::args& args, const char* where) {
  nb::handle src = args;
  if (args.size() == 1 && (nb::isinstance<nb::tuple>(args[0]) || nb::isinstance<nb::list>(args[0]))) src = args[0];
  Shape shape;
  for (nb::handle h : src) {
    int64_t v = 0;
    if (!nb::try_cast(h, v)) throw nb::type_error((std::string(where) + ": a shape holds ints").c_str());
    shape.push_back(v);
  }
  return shape;
}

std::vector<int64_t> dims_from(const nb::handle& dim, const char* where) {
  if (dim.is_none()) return {};
  int64_t d = 0;
  if (nb::try_cast(dim, d)) return {d};
  std::vector<int64_t> dims;
  if (nb::try_cast(dim, dims)) return dims;
  throw nb::type_error((std::string(where) + ": dim must be None, an int or a sequence of ints").c_str());
}

nb::object item_of(const Tensor& t) {
  TERN_CHECK(t.numel() == 1, "item", "only one-element tensors convert to a number, this one has ", t.numel());
  if (t.dtype() == kBool) return nb::bool_(t.item_int64() != 0);
  if (is_floating(t.dtype())) return nb::float_(t.item_double());
  return nb::int_(t.item_int64());
}

namespace {

// Each ':' or int consumes one dim of the source; None adds one; ... stands for the rest.
int64_t consumed_dims(const std::vector<nb::handle>& items) {
  int64_t n = 0;
  for (nb::handle h : items)
    if (!h.is_none() && !h.is(Py_Ellipsis)) ++n;
  return n;
}

}  // namespace

Tensor index_tensor(const Tensor& t, const nb::handle& key) {
  std::vector<nb::handle> items;
  if (nb::isinstance<nb::tuple>(key))
    for (nb::handle h : key) items.push_back(h);
  else
    items.push_back(key);
  const int64_t used = consumed_dims(items);
  if (used > t.dim())
    throw nb::index_error(("too many indices for a tensor of " + std::to_string(t.dim()) + " dims").c_str());
  Tensor r = t;
  int64_t d = 0;
  bool ellipsis = false;
  for (nb::handle h : items) {
    if (h.is_none()) {
      r = r.unsqueeze(d++);
    } else if (h.is(Py_Ellipsis)) {
      if (ellipsis) throw nb::index_error("an index can only have a single ellipsis");
      ellipsis = true;
      d += t.dim() - used;
    } else if (PySlice_Check(h.ptr())) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(h.ptr(), &start, &stop, &step) < 0) throw nb::python_error();
      const Py_ssize_t len = PySlice_AdjustIndices(static_cast<Py_ssize_t>(r.size(d)), &start, &stop, step);
      if (step <= 0) throw nb::value_error("slices need a positive step");
      r = r.slice(d++, start, len == 0 ? start : start + (len - 1) * step + 1, step);
    } else if (nb::isinstance<Tensor>(h)) {
      const Tensor& idx = nb::cast<const Tensor&>(h);
      if (idx.dim() != 1 || (idx.dtype() != kInt64 && idx.dtype() != kInt32))
        throw nb::index_error("tensor indices must be 1-D integer tensors");
      r = index_select(r, d++, idx.to(kInt64));
    } else {
      int64_t i = 0;
      if (!nb::try_cast(h, i)) throw nb::type_error("indices are ints, slices, None, ... or 1-D integer tensors");
      const int64_t n = r.size(d);
      if (i < -n || i >= n)
        throw nb::index_error(("index " + std::to_string(i) + " is out of range for dim " + std::to_string(d) +
                               " of size " + std::to_string(n))
                                  .c_str());
      r = r.select(d, i);
    }
  }
  return r;
}

namespace {

struct GradMode {
  bool enabled;
  bool prev = true;
};

template <typename Cls>
void bind_operators(Cls& c) {
  c.def(
       "__add__", [](const Tensor& a, const Tensor& b) { return add(a, b); }, nb::is_operator())
      .def(
          "__add__", [](const Tensor& a, double b) { return add(a, b); }, nb::is_operator())
      .def(
          "__radd__", [](const Tensor& a, double b) { return add(a, b); }, nb::is_operator())
      .def(
          "__sub__", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, nb::is_operator())
      .def(
          "__sub__", [](const Tensor& a, double b) { return sub(a, b); }, nb::is_operator())
      .def(
          "__rsub__", [](const Tensor& a, double b) { return rsub(b, a); }, nb::is_operator())
      .def(
          "__mul__", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, nb::is_operator())
      .def(
          "__mul__", [](const Tensor& a, double b) { return mul(a, b); }, nb::is_operator())
      .def(
          "__rmul__", [](const Tensor& a, double b) { return mul(a, b); }, nb::is_operator())
      .def(
          "__truediv__", [](const Tensor& a, const Tensor& b) { return div(a, b); }, nb::is_operator())
      .def(
          "__truediv__", [](const Tensor& a, double b) { return div(a, b); }, nb::is_operator())
      .def(
          "__rtruediv__", [](const Tensor& a, double b) { return rdiv(b, a); }, nb::is_operator())
      .def(
          "__pow__", [](const Tensor& a, double e) { return pow(a, e); }, nb::is_operator())
      .def(
          "__matmul__",
          [](const Tensor& a, const Tensor& b) {
            nb::gil_scoped_release unlocked;
            return matmul(a, b);
          },
          nb::is_operator())
      .def("__neg__", [](const Tensor& a) { return neg(a); })
      .def("__abs__", [](const Tensor& a) { return abs(a); })
      .def(
          "__lt__", [](const Tensor& a, const Tensor& b) { return lt(a, b); }, nb::is_operator())
      .def(
          "__lt__", [](const Tensor& a, double b) { return lt(a, b); }, nb::is_operator())
      .def(
          "__le__", [](const Tensor& a, const Tensor& b) { return le(a, b); }, nb::is_operator())
      .def(
          "__le__", [](const Tensor& a, double b) { return le(a, scalar_tensor(b, a.dtype(), a.device())); },
          nb::is_operator())
      .def(
          "__gt__", [](const Tensor& a, const Tensor& b) { return gt(a, b); }, nb::is_operator())
      .def(
          "__gt__", [](const Tensor& a, double b) { return gt(a, b); }, nb::is_operator())
      .def(
          "__ge__", [](const Tensor& a, const Tensor& b) { return ge(a, b); }, nb::is_operator())
      .def(
          "__ge__", [](const Tensor& a, double b) { return ge(a, scalar_tensor(b, a.dtype(), a.device())); },
          nb::is_operator())
      // In place, as torch: `p -= lr * g` under no_grad() updates the parameter itself.
      .def(
          "__iadd__", [](Tensor& a, const Tensor& b) -> Tensor& { return a.add_(b); }, nb::is_operator(),
          nb::rv_policy::none)
      .def(
          "__iadd__", [](Tensor& a, double b) -> Tensor& { return a.add_(scalar_tensor(b, a.dtype(), a.device())); },
          nb::is_operator(), nb::rv_policy::none)
      .def(
          "__isub__", [](Tensor& a, const Tensor& b) -> Tensor& { return a.add_(b, -1.0); }, nb::is_operator(),
          nb::rv_policy::none)
      .def(
          "__isub__", [](Tensor& a, double b) -> Tensor& { return a.add_(scalar_tensor(-b, a.dtype(), a.device())); },
          nb::is_operator(), nb::rv_policy::none)
      .def(
          "__imul__", [](Tensor& a, const Tensor& b) -> Tensor& { return a.mul_(b); }, nb::is_operator(),
          nb::rv_policy::none)
      .def(
          "__imul__", [](Tensor& a, double b) -> Tensor& { return a.mul_(b); }, nb::is_operator(), nb::rv_policy::none);
}

nb::tuple to_tuple(const std::vector<int64_t>& v) {
  nb::list l;
  for (int64_t x : v) l.append(x);
  return nb::tuple(l);
}

}  // namespace

void bind_tensor(nb::module_& m) {
  nb::enum_<DType>(m, "dtype", "Element types")
      .value("float32", DType::f32)
      .value("float64", DType::f64)
      .value("float16", DType::f16)
      .value("bfloat16", DType::bf16)
      .value("int8", DType::i8)
      .value("uint8", DType::u8)
      .value("int32", DType::i32)
      .value("int64", DType::i64)
      .value("bool", DType::boolean)
      .def_prop_ro("itemsize", [](DType t) { return dtype_size(t); })
      .def_prop_ro("is_floating_point", [](DType t) { return is_floating(t); });
  for (const char* name : {"float32", "float64", "float16", "bfloat16", "int8", "uint8", "int32", "int64", "bool"})
    m.attr(name) = m.attr("dtype").attr(name);

  nb::class_<Device>(m, "Device",
                     "A device: Device('cpu'), Device('cuda:0'); strings are accepted wherever a Device is")
      .def(
          "__init__", [](Device* d, const std::string& s) { new (d) Device(parse_device(s)); }, "device"_a)
      .def_prop_ro("type", [](const Device& d) { return d.is_cpu() ? "cpu" : "cuda"; })
      .def_ro("index", &Device::index)
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) { return "Device('" + d.str() + "')"; })
      .def("__eq__", [](const Device& a, const Device& b) { return a == b; })
      .def("__hash__", [](const Device& d) { return std::hash<std::string>()(d.str()); });
  nb::implicitly_convertible<std::string, Device>();

  nb::class_<Generator>(m, "Generator", "A seedable random number generator (mt19937_64)")
      .def(nb::init<uint64_t>(), "seed"_a = 0x5eed)
      .def(
          "manual_seed",
          [](Generator& g, uint64_t s) -> Generator& {
            g.manual_seed(s);
            return g;
          },
          "seed"_a, nb::rv_policy::reference)
      .def("seed", &Generator::seed)
      .def("get_state", [](const Generator& g) { return nb::bytes(g.state().data(), g.state().size()); })
      .def("set_state", [](Generator& g, nb::bytes s) { g.set_state(std::string(s.c_str(), s.size())); });
  m.def("manual_seed", &manual_seed, "seed"_a, "Seeds the default generator");

  nb::class_<GradMode>(m, "_GradMode")
      .def("__enter__",
           [](GradMode& g) {
             g.prev = autograd::grad_mode_enabled();
             autograd::set_grad_mode(g.enabled);
           })
      .def("__exit__", [](GradMode& g, nb::args) { autograd::set_grad_mode(g.prev); });
  m.def(
      "no_grad", [] { return GradMode{false}; }, "A context manager in which ops record no graph");
  m.def(
      "enable_grad", [] { return GradMode{true}; }, "A context manager in which ops record the graph");
  m.def("is_grad_enabled", &autograd::grad_mode_enabled);
  m.def("set_grad_enabled", &autograd::set_grad_mode, "enabled"_a);

  nb::class_<Tensor> t(m, "Tensor", "An n-dimensional array with autograd; views share storage");
  t.def_prop_ro("dtype", &Tensor::dtype)
      .def_prop_ro("device", &Tensor::device)
      .def_prop_ro("shape", [](const Tensor& x) { return to_tuple(x.shape()); })
      .def_prop_ro(
          "strides", [](const Tensor& x) { return to_tuple(x.strides()); }, "Strides in elements")
      .def_prop_ro("ndim", &Tensor::dim)
      .def_prop_ro("offset", &Tensor::offset, "Offset of the first element in its storage, in elements")
      .def(
          "size",
          [](const Tensor& x, std::optional<int64_t> d) -> nb::object {
            return d ? nb::object(nb::int_(x.size(*d))) : nb::object(to_tuple(x.shape()));
          },
          "dim"_a = nb::none())
      .def("stride", &Tensor::stride, "dim"_a)
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("element_size", &Tensor::element_size)
      .def_prop_ro("nbytes", &Tensor::nbytes)
      .def("__len__",
           [](const Tensor& x) {
             if (x.dim() == 0) throw nb::type_error("len() of a 0-d tensor");
             return x.size(0);
           })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("data_ptr", [](const Tensor& x) { return reinterpret_cast<uintptr_t>(x.raw_data()); })
      .def("item", &item_of)
      .def("__float__", [](const Tensor& x) { return nb::cast<double>(nb::float_(item_of(x))); })
      .def("__int__", [](const Tensor& x) { return x.item_int64(); })
      .def("__bool__",
           [](const Tensor& x) {
             TERN_CHECK(x.numel() == 1, "bool", "the truth value of a tensor of ", x.numel(), " elements is ambiguous");
             return x.item_double() != 0.0;
           })
      .def("__repr__", [](const Tensor& x) { return to_string(x); })
      // ---- autograd
      .def_prop_rw("requires_grad", &Tensor::requires_grad, [](Tensor& x, bool on) { x.requires_grad_(on); })
      .def(
          "requires_grad_", [](Tensor& x, bool on) -> Tensor& { return x.requires_grad_(on); },
          "requires_grad"_a = true, nb::rv_policy::none)
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_rw(
          "grad",
          [](const Tensor& x) -> std::optional<Tensor> {
            Tensor g = x.grad();
            return g.defined() ? std::optional<Tensor>(g) : std::nullopt;
          },
          [](const Tensor& x, std::optional<Tensor> g) {
            if (g)
              x.set_grad(*g);
            else
              x.zero_grad();
          },
          nb::arg("grad").none())
      .def("retain_grad", &Tensor::retain_grad)
      .def_prop_ro("retains_grad", &Tensor::retains_grad)
      .def(
          "backward",
          [](const Tensor& x, std::optional<Tensor> g, bool retain_graph) {
            nb::gil_scoped_release unlocked;
            x.backward(g.value_or(Tensor()), retain_graph);
          },
          "gradient"_a = nb::none(), "retain_graph"_a = false)
      .def("detach", &Tensor::detach)
      .def("zero_grad", &Tensor::zero_grad)
      // ---- views
      .def("view", [](const Tensor& x, nb::args s) { return x.view(shape_from_args(s, "view")); })
      .def("reshape", [](const Tensor& x, nb::args s) { return x.reshape(shape_from_args(s, "reshape")); })
      .def("expand", [](const Tensor& x, nb::args s) { return x.expand(shape_from_args(s, "expand")); })
      .def("permute", [](const Tensor& x, nb::args s) { return x.permute(shape_from_args(s, "permute")); })
      .def("flatten", &Tensor::flatten, "start_dim"_a = 0, "end_dim"_a = -1)
      .def("transpose", &Tensor::transpose, "dim0"_a, "dim1"_a)
      .def("t", &Tensor::t)
      .def_prop_ro("T", &Tensor::t, "2-D transpose")
      .def("narrow", &Tensor::narrow, "dim"_a, "start"_a, "length"_a)
      .def("select", &Tensor::select, "dim"_a, "index"_a)
      .def("slice", &Tensor::slice, "dim"_a, "start"_a, "end"_a, "step"_a = 1)
      .def(
          "squeeze", [](const Tensor& x, std::optional<int64_t> d) { return d ? x.squeeze(*d) : x.squeeze(); },
          "dim"_a = nb::none())
      .def("unsqueeze", &Tensor::unsqueeze, "dim"_a)
      .def("contiguous", &Tensor::contiguous)
      .def("__getitem__", [](const Tensor& x, nb::handle key) { return index_tensor(x, key); })
      .def("__setitem__",
           [](const Tensor& x, nb::handle key, nb::handle value) {
             Tensor dst = index_tensor(x, key);
             double v = 0;
             if (nb::isinstance<Tensor>(value))
               dst.copy_(nb::cast<const Tensor&>(value));
             else if (nb::try_cast(value, v))
               dst.fill_(v);
             else
               throw nb::type_error("a tensor slot takes a Tensor or a number");
           })
      // ---- conversion
      .def(
          "to", [](const Tensor& x, DType d) { return x.to(d); }, "dtype"_a)
      .def(
          "to",
          [](const Tensor& x, Device d) {
            nb::gil_scoped_release unlocked;
            return x.to(d);
          },
          "device"_a)
      .def("float", [](const Tensor& x) { return x.to(kFloat32); })
      .def("double", [](const Tensor& x) { return x.to(kFloat64); })
      .def("long", [](const Tensor& x) { return x.to(kInt64); })
      .def("cpu", [](const Tensor& x) { return x.to(kCPU); })
      .def("clone", &Tensor::clone)
      // ---- in place
      .def(
          "copy_", [](Tensor& x, const Tensor& s) -> Tensor& { return x.copy_(s); }, "src"_a, nb::rv_policy::none)
      .def(
          "fill_", [](Tensor& x, double v) -> Tensor& { return x.fill_(v); }, "value"_a, nb::rv_policy::none)
      .def(
          "zero_", [](Tensor& x) -> Tensor& { return x.zero_(); }, nb::rv_policy::none)
      .def(
          "add_", [](Tensor& x, const Tensor& o, double alpha) -> Tensor& { return x.add_(o, alpha); }, "other"_a,
          "alpha"_a = 1.0, nb::rv_policy::none)
      .def(
          "mul_", [](Tensor& x, const Tensor& o) -> Tensor& { return x.mul_(o); }, "other"_a, nb::rv_policy::none)
      .def(
          "mul_", [](Tensor& x, double s) -> Tensor& { return x.mul_(s); }, "other"_a, nb::rv_policy::none);
  bind_operators(t);
}

}  // namespace tern::py
