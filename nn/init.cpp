#include <tern/nn/init.h>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>

namespace tern::nn::init {

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard ng;
  t.copy_(add(mul(randn(t.shape(), gen, {.dtype = t.dtype()}), std), mean));
}

void uniform_(Tensor& t, double lo, double hi, Generator* gen) {
  NoGradGuard ng;
  t.copy_(add(mul(rand(t.shape(), gen, {.dtype = t.dtype()}), hi - lo), lo));
}

void zeros_(Tensor& t) {
  NoGradGuard ng;
  t.zero_();
}

void ones_(Tensor& t) {
  NoGradGuard ng;
  t.fill_(1.0);
}

}  // namespace tern::nn::init
