#pragma once
// Mixed precision, as torch.autocast: inside an AutocastGuard, matrix products of f32 tensors
// on a GPU (matmul, and so Linear and attention) read their operands in bf16 (or f16) and
// accumulate and return f32. Everything else (LayerNorm statistics, softmax, cross-entropy,
// the loss, the optimizer) keeps f32, and parameters stay f32 master weights. The backward
// products of a recorded matmul run in the dtype its forward ran in.
//
// The CPU has no reduced-precision products: there the guard changes nothing.
//
//   {
//     AutocastGuard bf16(kBFloat16);
//     loss = model.forward(x, y).loss;
//   }
//   loss.backward();

#include <optional>

#include <tern/core/dtype.h>

namespace tern {

// The reduced dtype this thread's products use now, if any.
std::optional<DType> autocast_dtype();

class AutocastGuard {
 public:
  // dtype: kBFloat16 or kFloat16; nullopt turns autocast off inside the guard.
  explicit AutocastGuard(std::optional<DType> dtype = kBFloat16);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<DType> prev_;
};

}  // namespace tern
