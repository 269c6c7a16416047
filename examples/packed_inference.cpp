// Inference on packed weights: a BitNet GPT-2 whose BitLinear layers keep 2 bits per weight in
// memory and multiply int8 activations with integer kernels, beside the same model as trained.
#include <iostream>

#include <tern/tern.h>

using namespace tern;

int main() {
  Generator gen(0);
  gpt2::Config c = gpt2::Config::tiny();
  c.vocab_size = 256;
  auto model = std::make_shared<gpt2::GPT2>(c, &gen);
  quant::replace_linear_with_bitlinear(*model, /*weight_sparsity_threshold=*/0.1);
  model->eval();

  const std::vector<TokenId> prompt = {72, 101, 108, 108, 111};
  const auto trained = model->generate(prompt, {.max_new_tokens = 12, .temperature = 0});

  // Every BitLinear becomes a PackedBitLinear; the tied wte/lm_head becomes int8 per row.
  const quant::PackReport r = quant::pack_for_inference(*model, {.int8_embeddings = {"wte"}});
  int64_t bytes = 0;
  for (const auto& [name, m] : model->named_modules())
    if (const auto* p = dynamic_cast<const quant::PackedBitLinear*>(m)) bytes += p->bytes();
  std::cout << r.packed.size() << " packed layers hold " << bytes << " bytes\n";

  const auto packed = model->generate(prompt, {.max_new_tokens = 12, .temperature = 0});
  std::cout << "greedy tokens " << (packed == trained ? "agree" : "differ") << " with the BitLinear model\n";
  return 0;
}
