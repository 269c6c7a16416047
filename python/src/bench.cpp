// The C++ side of python/bench/bitlinear_overhead.py: the same training-style step as the
// Python loop (clear grads, forward, backward with a given upstream gradient), timed in C++
// inside this extension, so both sides run the same libtern build in the same process.
#include <chrono>

#include "bindings.h"

namespace tern::py {

void bind_bench(nb::module_& m) {
  m.def(
      "_module_step_seconds",
      [](nn::Module& layer, const Tensor& x, const Tensor& gy, int64_t iters) {
        nb::gil_scoped_release unlocked;
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < iters; ++i) {
          layer.zero_grad();
          x.zero_grad();
          layer.forward(x).backward(gy);
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
               static_cast<double>(iters);
      },
      "module"_a, "x"_a, "gy"_a, "iters"_a,
      "Seconds per step of zero_grad, forward and backward(gy), looped in C++ (for overhead benchmarks)");
}

}  // namespace tern::py
