#include <tern/autograd/gradcheck.h>

#include <cmath>
#include <sstream>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>

namespace tern::autograd {

namespace {

// Pointer to element `flat` (row-major over t's shape) of a CPU f64 tensor.
double* element(const Tensor& t, int64_t flat) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    const int64_t n = t.shape()[d];
    off += (flat % n) * t.strides()[d];
    flat /= n;
  }
  return t.data_ptr<double>() + off;
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opts) {
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) {
      TERN_CHECK(t.dtype() == kFloat64, "gradcheck", "inputs that require grad must be f64, got ", t.dtype());
      TERN_CHECK(t.device().is_cpu(), "gradcheck", "inputs must be on the cpu");
      TERN_CHECK(t.is_leaf(), "gradcheck", "inputs must be leaves");
    }

  Tensor probe;
  auto objective = [&](const Tensor& out) {
    TERN_CHECK(out.dtype() == kFloat64, "gradcheck", "function output must be f64, got ", out.dtype());
    if (!probe.defined()) {
      Generator g(opts.seed);
      probe = randn(out.shape(), &g, {.dtype = kFloat64});
    }
    return sum(mul(out, probe));
  };

  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) t.impl().autograd().grad.reset();
  {
    EnableGradGuard eg;
    Tensor loss = objective(fn(inputs));
    TERN_CHECK(loss.requires_grad(), "gradcheck", "output does not depend on any input that requires grad");
    loss.backward();
  }

  GradcheckResult res;
  NoGradGuard ng;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic = x.grad().defined() ? x.grad().contiguous() : zeros_like(x);
    const double* a = analytic.data_ptr<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double* p = element(x, j);
      const double orig = *p;
      *p = orig + opts.eps;
      const double plus = objective(fn(inputs)).item<double>();
      *p = orig - opts.eps;
      const double minus = objective(fn(inputs)).item<double>();
      *p = orig;
      const double numeric = (plus - minus) / (2 * opts.eps);
      const double err = std::fabs(a[j] - numeric);
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (!(err <= opts.atol + opts.rtol * std::fabs(numeric)) && res.ok) {
        res.ok = false;
        std::ostringstream os;
        os.precision(10);
        os << "input " << i << " element " << j << ": analytic " << a[j] << " vs numeric " << numeric;
        res.message = os.str();
      }
    }
  }
  return res;
}

}  // namespace tern::autograd
