// Backend::ternary_linear on the CPU: the integer kernels of ternary/, on the instruction set
// this CPU has.

#include "cpu_backend.h"
#include "ternary/ternary.h"

namespace tern::cpu {

void CpuBackend::ternary_linear(const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n, const float* scale,
                                const float* bias, bool rmsnorm, double eps, float* y, int32_t* dots) {
  ternary::linear_i2(x, m, k, k, w, n, *scale, bias, rmsnorm, eps, y, n);
  if (dots && m > 0 && n > 0) {
    // The products again, kept: linear_i2 turns them into y in place.
    ternary::QuantizedRows a;
    ternary::quantize_rows(x, m, k, k, rmsnorm, eps, false, a);
    ternary::dots_i2(ternary::active_isa(), a, w, k, 0, n, dots, n);
  }
}

}  // namespace tern::cpu
