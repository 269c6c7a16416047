// Whole-model conversion: a GPT-2's linear layers become BitLinear, then it generates.
//   gpt2_conversion [path/to/transformers-gpt2-dir]
#include <iostream>

#include <tern/tern.h>

using namespace tern;

int main(int argc, char** argv) {
  auto tok = make_tokenizer("bpe");  // GPT-2's byte-level BPE from tern's data/
  std::shared_ptr<gpt2::GPT2> model;
  Generator gen(0);
  if (argc > 1) {
    model = gpt2::load_hf(argv[1]);  // config.json + model.safetensors
  } else {                           // no checkpoint at hand: a small random GPT-2
    gpt2::Config c = gpt2::Config::tiny();
    c.vocab_size = tok->vocab_size();
    model = std::make_shared<gpt2::GPT2>(c, &gen);
  }

  // Thinking tokens are never split, and get fresh embedding rows.
  tok->add_special_tokens({"<think>", "</think>"});
  model->resize_token_embeddings(tok->vocab_size(), &gen);

  const quant::ConversionResult r =
      quant::replace_linear_with_bitlinear(*model, /*weight_sparsity_threshold=*/0.1, {"lm_head", "wte", "wpe"});
  std::cout << r.replaced.size() << " layers are BitLinear (e.g. " << r.replaced.front() << ")\n";

  model->eval();
  const std::vector<TokenId> prompt = tok->encode("<think>The meaning of life is");
  const std::vector<TokenId> ids = model->generate(prompt, {.max_new_tokens = 16, .temperature = 0});
  std::cout << tok->decode(ids) << "\n";
  return 0;
}
