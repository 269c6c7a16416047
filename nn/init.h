#pragma once
// In-place initialisers (under no-grad), drawing from an explicit Generator.

#include <tern/core/generator.h>
#include <tern/core/tensor.h>

namespace tern::nn::init {

// While one is alive, the initialisers on this thread leave tensors as they are. For models
// that a checkpoint fills completely (as torch's init_empty_weights): no random numbers are
// drawn and the weights' pages are never touched, so building costs neither time nor resident
// memory. Only for strict loads, which fail on any tensor the checkpoint lacks.
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool prev_;
};
bool init_skipped();

void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);
void uniform_(Tensor& t, double lo, double hi, Generator* gen = nullptr);
void zeros_(Tensor& t);
void ones_(Tensor& t);

}  // namespace tern::nn::init
