#include <tern/autograd/function.h>
#include <tern/backends/backend.h>
#include <tern/core/error.h>
#include <tern/core/ops.h>
#include <tern/quant/quant_ops.h>

#include <cmath>

namespace tern::quant {

namespace {

void check_float_input(const Tensor& t, const char* op, const char* what) {
  TERN_CHECK(t.defined(), op, what, " is undefined");
  TERN_CHECK(t.dtype() == kFloat32 || t.dtype() == kFloat64, op, what, " must be f32 or f64, got ",
             dtype_name(t.dtype()));
}

// Activation quantization into fresh tensors; out and/or q may be skipped.
void run_activation_quant(const Tensor& x, Tensor* out, Tensor* q, Tensor* scale, const char* op) {
  check_float_input(x, op, "input");
  TERN_CHECK(x.dim() >= 1, op, "input must have at least one dim, got a scalar");
  const int64_t cols = x.size(-1);
  const int64_t rows = cols ? x.numel() / cols : 0;
  Tensor xc = x.contiguous();
  Shape sshape = x.shape();
  sshape.back() = 1;
  *scale = empty(sshape, {.dtype = x.dtype(), .device = x.device()});
  if (out) *out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  if (q) *q = empty(x.shape(), {.dtype = kInt8, .device = x.device()});
  if (rows == 0) return;
  TERN_CHECK(cols > 0, op, "last dim of the input is empty: ", shape_str(x.shape()));
  backend_for(x.device(), op)
      .activation_quant(x.dtype(), xc.raw_data(), out ? out->raw_data() : nullptr, q ? q->data_ptr<int8_t>() : nullptr,
                        scale->raw_data(), rows, cols);
}

// Ternarization into fresh tensors: values (i8) and, when wanted, the dequantized weight. The
// scale comes back as a 0-d tensor on w's device, so the training step need not wait for it.
Tensor run_ternarize(const Tensor& w, std::optional<double> tau, Tensor* values, Tensor* out, const char* op) {
  check_float_input(w, op, "weight");
  TERN_CHECK(w.numel() > 0, op, "weight is empty: ", shape_str(w.shape()));
  const int64_t zeros = tau ? sparsity_zero_count(w.numel(), *tau, op) : -1;
  Tensor wc = w.contiguous();
  *values = empty(w.shape(), {.dtype = kInt8, .device = w.device()});
  if (out) *out = empty(w.shape(), {.dtype = w.dtype(), .device = w.device()});
  Tensor scale = empty({}, {.dtype = w.dtype(), .device = w.device()});
  backend_for(w.device(), op)
      .ternarize(w.dtype(), wc.raw_data(), w.numel(), zeros, values->data_ptr<int8_t>(),
                 out ? out->raw_data() : nullptr, scale.raw_data());
  return scale;
}

struct ActivationQuantFn : autograd::Function<ActivationQuantFn> {
  static constexpr const char* name = "activation_quant";
  static Tensor forward(autograd::FunctionCtx&, const Tensor& x) {
    Tensor out, scale;
    run_activation_quant(x, &out, nullptr, &scale, "activation_quant");
    return out;
  }
  static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) { return {g[0]}; }
};

struct WeightQuantFn : autograd::Function<WeightQuantFn> {
  static constexpr const char* name = "weight_quant";
  static Tensor forward(autograd::FunctionCtx&, const Tensor& w, std::optional<double> tau) {
    Tensor values, out;
    run_ternarize(w, tau, &values, &out, "weight_quant");
    return out;
  }
  static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) { return {g[0]}; }
};

struct SteFn : autograd::Function<SteFn> {
  static constexpr const char* name = "apply_ste";
  static Tensor forward(autograd::FunctionCtx&, const Tensor& x, const Tensor& q) { return q; }
  static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) { return {g[0], Tensor()}; }
};

}  // namespace

Tensor TernaryWeight::dequantize(DType dtype) const {
  TERN_CHECK(values.defined(), "TernaryWeight", "values are undefined");
  return mul(values.to(dtype), static_cast<double>(scale));
}

int64_t sparsity_zero_count(int64_t numel, double tau, const char* where) {
  TERN_CHECK(std::isfinite(tau) && tau >= 0.0 && tau < 1.0, where, "weight_sparsity_threshold must be in [0, 1), got ",
             tau);
  return std::min<int64_t>(numel, std::llround(tau * static_cast<double>(numel)));
}

TernaryWeight ternarize(const Tensor& w, std::optional<double> sparsity_threshold) {
  TernaryWeight t;
  t.scale = static_cast<float>(run_ternarize(w, sparsity_threshold, &t.values, nullptr, "ternarize").item<double>());
  return t;
}

Tensor ternary_dequantized(const Tensor& w, std::optional<double> sparsity_threshold, TernaryWeight* info) {
  Tensor values, scale;
  Tensor out = ternary_dequantized(w, sparsity_threshold, &values, &scale);
  if (info) *info = TernaryWeight{values, static_cast<float>(scale.item<double>())};
  return out;
}

Tensor ternary_dequantized(const Tensor& w, std::optional<double> sparsity_threshold, Tensor* values, Tensor* scale) {
  Tensor v, out;
  Tensor s = run_ternarize(w, sparsity_threshold, &v, &out, "weight_quant");
  if (values) *values = std::move(v);
  if (scale) *scale = std::move(s);
  return out;
}

Int8Activation quantize_activation_int8(const Tensor& x) {
  Int8Activation a;
  run_activation_quant(x, nullptr, &a.values, &a.scale, "quantize_activation_int8");
  return a;
}

Tensor activation_quant(const Tensor& x) {
  check_float_input(x, "activation_quant", "input");
  return ActivationQuantFn::apply(x);
}

Tensor weight_quant(const Tensor& w, std::optional<double> sparsity_threshold) {
  check_float_input(w, "weight_quant", "weight");
  return WeightQuantFn::apply(w, sparsity_threshold);
}

Tensor apply_ste(const Tensor& x, const Tensor& q) {
  TERN_CHECK(x.defined() && q.defined(), "apply_ste", "both tensors must be defined");
  TERN_CHECK(x.shape() == q.shape(), "apply_ste", "shapes differ: x ", shape_str(x.shape()), ", q ",
             shape_str(q.shape()));
  TERN_CHECK(x.dtype() == q.dtype(), "apply_ste", "dtypes differ: x ", dtype_name(x.dtype()), ", q ",
             dtype_name(q.dtype()));
  return SteFn::apply(x, q);
}

Tensor rms_norm(const Tensor& x, double eps) {
  check_float_input(x, "rms_norm", "input");
  TERN_CHECK(x.dim() >= 1, "rms_norm", "input must have at least one dim");
  return mul(x, rsqrt(add(mean(mul(x, x), {-1}, true), eps)));
}

}  // namespace tern::quant
