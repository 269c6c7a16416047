#include <tern/nn/init.h>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>

namespace tern::nn::init {

namespace {
thread_local bool skip_init = false;
}

SkipInitGuard::SkipInitGuard() : prev_(skip_init) { skip_init = true; }
SkipInitGuard::~SkipInitGuard() { skip_init = prev_; }
bool init_skipped() { return skip_init; }

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  if (skip_init) return;
  NoGradGuard ng;
  t.copy_(add(mul(randn(t.shape(), gen, {.dtype = t.dtype()}), std), mean));
}

void uniform_(Tensor& t, double lo, double hi, Generator* gen) {
  if (skip_init) return;
  NoGradGuard ng;
  t.copy_(add(mul(rand(t.shape(), gen, {.dtype = t.dtype()}), hi - lo), lo));
}

void zeros_(Tensor& t) {
  if (skip_init) return;
  NoGradGuard ng;
  t.zero_();
}

void ones_(Tensor& t) {
  if (skip_init) return;
  NoGradGuard ng;
  t.fill_(1.0);
}

}  // namespace tern::nn::init
