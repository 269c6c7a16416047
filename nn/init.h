#pragma once
// In-place initialisers (under no-grad), drawing from an explicit Generator.

#include <tern/core/generator.h>
#include <tern/core/tensor.h>

namespace tern::nn::init {

void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);
void uniform_(Tensor& t, double lo, double hi, Generator* gen = nullptr);
void zeros_(Tensor& t);
void ones_(Tensor& t);

}  // namespace tern::nn::init
