// The op API of core/ops.h as tern.<op>(...), and as Tensor methods where torch has them.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace tern::py {
namespace {

// tern.<name>(input, ...) and Tensor.<name>(...).
template <typename F, typename... Extra>
void def_both(nb::module_& m, nb::handle cls, const char* name, F&& f, const Extra&... extra) {
  m.def(name, f, nb::arg("input"), extra...);
  nb::cpp_function_def(f, nb::scope(cls), nb::name(name), nb::is_method(), extra...);
}

GeluApproximation gelu_mode(const std::string& s) {
  if (s == "tanh") return GeluApproximation::tanh;
  if (s == "none") return GeluApproximation::none;
  TERN_FAIL("gelu", "approximate must be 'tanh' or 'none', got '", s, "'");
}

TensorOptions options(DType dtype, Device device, bool requires_grad) {
  return {.dtype = dtype, .device = device, .requires_grad = requires_grad};
}

// Random and creation ops take their options keyword-only, after the shape.
template <typename F>
void def_creation(nb::module_& m, const char* name, F make, const char* doc) {
  m.def(
      name,
      [make](nb::args shape, DType dtype, Device device, bool requires_grad) {
        Tensor t = make(shape_from_args(shape, "shape"), options(dtype, device, false));
        if (requires_grad) t.requires_grad_(true);
        return t;
      },
      "shape"_a, "dtype"_a = kFloat32, "device"_a = kCPU, "requires_grad"_a = false, doc);
}

}  // namespace

void bind_ops(nb::module_& m) {
  nb::handle cls = m.attr("Tensor");

  // ---- creation
  def_creation(
      m, "zeros", [](const Shape& s, TensorOptions o) { return zeros(s, o); }, "A tensor of zeros");
  def_creation(
      m, "ones", [](const Shape& s, TensorOptions o) { return ones(s, o); }, "A tensor of ones");
  def_creation(
      m, "empty", [](const Shape& s, TensorOptions o) { return empty(s, o); }, "An uninitialised tensor");
  m.def(
      "rand",
      [](nb::args shape, Generator* gen, DType dtype, Device device, bool requires_grad) {
        Tensor t = rand(shape_from_args(shape, "rand"), gen, options(dtype, device, false));
        return requires_grad ? t.requires_grad_(true) : t;
      },
      "shape"_a, "generator"_a = nb::none(), "dtype"_a = kFloat32, "device"_a = kCPU, "requires_grad"_a = false,
      "Uniform in [0, 1)");
  m.def(
      "randn",
      [](nb::args shape, Generator* gen, DType dtype, Device device, bool requires_grad) {
        Tensor t = randn(shape_from_args(shape, "randn"), gen, options(dtype, device, false));
        return requires_grad ? t.requires_grad_(true) : t;
      },
      "shape"_a, "generator"_a = nb::none(), "dtype"_a = kFloat32, "device"_a = kCPU, "requires_grad"_a = false,
      "Standard normal");
  m.def(
      "full",
      [](std::vector<int64_t> shape, double v, DType dtype, Device device, bool requires_grad) {
        Tensor t = full(shape, v, options(dtype, device, false));
        return requires_grad ? t.requires_grad_(true) : t;
      },
      "shape"_a, "fill_value"_a, nb::kw_only(), "dtype"_a = kFloat32, "device"_a = kCPU, "requires_grad"_a = false);
  m.def(
      "arange",
      [](double start, std::optional<double> end, double step, DType dtype, Device device) {
        TensorOptions o{.dtype = dtype, .device = device};
        return end ? arange(start, *end, step, o) : arange(0.0, start, step, o);
      },
      "start"_a, "end"_a = nb::none(), "step"_a = 1.0, nb::kw_only(), "dtype"_a = kInt64, "device"_a = kCPU);
  m.def("zeros_like", &zeros_like, "input"_a);
  m.def("ones_like", &ones_like, "input"_a);
  m.def("full_like", &full_like, "input"_a, "fill_value"_a);
  m.def("empty_like", &empty_like, "input"_a);
  m.def("scalar_tensor", &scalar_tensor, "value"_a, "dtype"_a = kFloat32, "device"_a = kCPU);

  // ---- elementwise
  m.def(
      "add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, "input"_a, "other"_a);
  m.def(
      "add", [](const Tensor& a, double b) { return add(a, b); }, "input"_a, "other"_a);
  m.def(
      "sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, "input"_a, "other"_a);
  m.def(
      "sub", [](const Tensor& a, double b) { return sub(a, b); }, "input"_a, "other"_a);
  m.def(
      "mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, "input"_a, "other"_a);
  m.def(
      "mul", [](const Tensor& a, double b) { return mul(a, b); }, "input"_a, "other"_a);
  m.def(
      "div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, "input"_a, "other"_a);
  m.def(
      "div", [](const Tensor& a, double b) { return div(a, b); }, "input"_a, "other"_a);
  def_both(m, cls, "neg", [](const Tensor& x) { return neg(x); });
  def_both(m, cls, "exp", [](const Tensor& x) { return exp(x); });
  def_both(m, cls, "log", [](const Tensor& x) { return log(x); });
  def_both(m, cls, "sqrt", [](const Tensor& x) { return sqrt(x); });
  def_both(m, cls, "rsqrt", [](const Tensor& x) { return rsqrt(x); });
  def_both(m, cls, "abs", [](const Tensor& x) { return abs(x); });
  def_both(m, cls, "sign", [](const Tensor& x) { return sign(x); });
  def_both(m, cls, "tanh", [](const Tensor& x) { return tanh(x); });
  def_both(m, cls, "relu", [](const Tensor& x) { return relu(x); });
  def_both(m, cls, "sigmoid", [](const Tensor& x) { return sigmoid(x); });
  def_both(m, cls, "round", [](const Tensor& x) { return round(x); });
  def_both(m, cls, "logical_not", [](const Tensor& x) { return logical_not(x); });
  def_both(
      m, cls, "pow", [](const Tensor& x, double e) { return pow(x, e); }, "exponent"_a);
  def_both(
      m, cls, "gelu", [](const Tensor& x, const std::string& a) { return gelu(x, gelu_mode(a)); },
      "approximate"_a = "tanh");
  def_both(
      m, cls, "clamp",
      [](const Tensor& x, std::optional<double> lo, std::optional<double> hi) { return clamp(x, lo, hi); },
      "min"_a = nb::none(), "max"_a = nb::none());
  m.def("where", &where, "condition"_a, "input"_a, "other"_a);
  def_both(m, cls, "masked_fill", &masked_fill, "mask"_a, "value"_a);
  using Compare = Tensor (*)(const Tensor&, const Tensor&);
  const std::pair<const char*, Compare> compares[] = {{"eq", &eq}, {"ne", &ne}, {"lt", &lt},
                                                      {"le", &le}, {"gt", &gt}, {"ge", &ge}};
  for (auto [name, fn] : compares) def_both(m, cls, name, fn, "other"_a);
  m.def(
      "eq", [](const Tensor& a, double b) { return eq(a, b); }, "input"_a, "other"_a);
  nb::cpp_function_def([](const Tensor& a, double b) { return eq(a, b); }, nb::scope(cls), nb::name("eq"),
                       nb::is_method(), "other"_a);

  // ---- reductions
  def_both(
      m, cls, "sum",
      [](const Tensor& x, nb::handle dim, bool keepdim) { return sum(x, dims_from(dim, "sum"), keepdim); },
      "dim"_a = nb::none(), "keepdim"_a = false);
  def_both(
      m, cls, "mean",
      [](const Tensor& x, nb::handle dim, bool keepdim) { return mean(x, dims_from(dim, "mean"), keepdim); },
      "dim"_a = nb::none(), "keepdim"_a = false);
  def_both(
      m, cls, "amax",
      [](const Tensor& x, nb::handle dim, bool keepdim) { return amax(x, dims_from(dim, "amax"), keepdim); },
      "dim"_a = nb::none(), "keepdim"_a = false);
  def_both(
      m, cls, "norm",
      [](const Tensor& x, nb::handle dim, bool keepdim) { return norm(x, dims_from(dim, "norm"), keepdim); },
      "dim"_a = nb::none(), "keepdim"_a = false);
  def_both(
      m, cls, "var",
      [](const Tensor& x, nb::handle dim, int64_t correction, bool keepdim) {
        return var(x, dims_from(dim, "var"), correction, keepdim);
      },
      "dim"_a = nb::none(), "correction"_a = 1, "keepdim"_a = false);
  def_both(
      m, cls, "max",
      [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) -> nb::object {
        if (!dim) return nb::cast(max(x));
        MaxResult r = max(x, *dim, keepdim);
        return nb::make_tuple(r.values, r.indices);
      },
      "dim"_a = nb::none(), "keepdim"_a = false);
  def_both(m, cls, "argmax", &argmax, "dim"_a, "keepdim"_a = false);
  def_both(m, cls, "sum_to", &sum_to, "shape"_a);

  // ---- linear algebra: long enough to run without the GIL
  def_both(
      m, cls, "matmul",
      [](const Tensor& a, const Tensor& b) {
        nb::gil_scoped_release unlocked;
        return matmul(a, b);
      },
      "other"_a);

  // ---- shape ops
  m.def("cat", &cat, "tensors"_a, "dim"_a = 0);
  m.def("stack", &stack, "tensors"_a, "dim"_a = 0);
  def_both(m, cls, "split", &split, "split_size"_a, "dim"_a = 0);
  def_both(m, cls, "chunk", &chunk, "chunks"_a, "dim"_a = 0);
  def_both(m, cls, "index_select", &index_select, "dim"_a, "index"_a);

  // ---- neural-network ops
  def_both(m, cls, "softmax", &softmax, "dim"_a);
  def_both(m, cls, "log_softmax", &log_softmax, "dim"_a);
  m.def(
      "layer_norm",
      [](const Tensor& x, std::vector<int64_t> shape, std::optional<Tensor> w, std::optional<Tensor> b, double eps) {
        return layer_norm(x, shape, w.value_or(Tensor()), b.value_or(Tensor()), eps);
      },
      "input"_a, "normalized_shape"_a, "weight"_a = nb::none(), "bias"_a = nb::none(), "eps"_a = 1e-5);
  m.def(
      "cross_entropy",
      [](const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
        nb::gil_scoped_release unlocked;
        return cross_entropy(logits, targets, ignore_index);
      },
      "input"_a, "target"_a, "ignore_index"_a = -100);
  m.def("embedding", &embedding, "weight"_a, "indices"_a);
  m.def("dropout", &dropout, "input"_a, "p"_a = 0.5, "training"_a = true, "generator"_a = nb::none());
  m.def("causal_mask", &causal_mask, "t"_a, "device"_a = kCPU);
  m.def(
      "scaled_dot_product_attention",
      [](const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal, std::optional<double> scale,
         double dropout_p, Generator* gen) {
        nb::gil_scoped_release unlocked;
        return scaled_dot_product_attention(q, k, v, is_causal, scale, dropout_p, gen);
      },
      "query"_a, "key"_a, "value"_a, "is_causal"_a = false, "scale"_a = nb::none(), "dropout_p"_a = 0.0,
      "generator"_a = nb::none());
}

}  // namespace tern::py
