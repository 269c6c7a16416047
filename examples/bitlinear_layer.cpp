// A drop-in BitLinear: the same parameters as nn::Linear, a ternary forward pass, and an
// honest account of what packing saves.
#include <iostream>

#include <tern/tern.h>

using namespace tern;

int main() {
  Generator gen(0);
  quant::BitLinear layer(768, 3072, {.weight_sparsity_threshold = 0.1, .gen = &gen});

  Tensor x = randn({4, 768}, &gen);
  Tensor y = layer(x);  // [4, 3072]: 8-bit activations times ternary weights
  sum(y).backward();   // straight-through estimators: the latent weight gets a gradient
  std::cout << "output " << shape_str(y.shape()) << ", weight grad defined: " << layer.weight.grad().defined() << "\n";

  const quant::TernaryWeight t = layer.ternary_weight();
  std::cout << "zeros: " << sum(eq(t.values, 0.0)).item<int64_t>() << " of " << t.values.numel() << "\n";

  const quant::MemoryFootprint f = layer.memory_footprint();
  std::cout << "fp32 " << f.fp32_bytes << " B, packed " << f.packed_bytes << " B (" << f.packed_ratio
            << "x), int8 " << f.int8_ratio << "x, theoretical 1.58-bit " << f.theoretical_ratio << "x\n";
  return 0;
}
