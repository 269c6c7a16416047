#pragma once
// Checks autograd against central differences in f64.

#include <functional>
#include <string>
#include <vector>

#include <tern/core/tensor.h>

namespace tern::autograd {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
  uint64_t seed = 0;   // for the random projection of non-scalar outputs
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // the first mismatch, when !ok
};

// fn maps the inputs to one f64 tensor. Every input that requires grad is checked,
// element by element, including non-contiguous views (each element is perturbed in
// place through its strides). A non-scalar output is reduced as sum(out * r) with
// a fixed random r, which checks the whole Jacobian-vector product.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opts = {});

}  // namespace tern::autograd
