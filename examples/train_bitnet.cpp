// CompressedModel: convert, fine-tune with AdamW through the quantization (QAT), report the
// compression, then save the packed model and load it back.
#include <cmath>
#include <iostream>

#include <tern/tern.h>

using namespace tern;

int main() {
  Generator gen(0);
  gpt2::Config c = gpt2::Config::tiny();
  c.vocab_size = 64;
  auto model = std::make_shared<gpt2::GPT2>(c, &gen);

  quant::Phase4Config cfg;  // τ = 0.1, lm_head/wte/wpe kept at full precision
  quant::CompressedModel cm(model, quant::BitNetQuantizer(cfg), cfg);

  // A toy task: predict the next token of a repeating sequence.
  std::vector<int64_t> seq(8 * 33);
  for (size_t i = 0; i < seq.size(); ++i) seq[i] = static_cast<int64_t>(i * 7 % c.vocab_size);
  Tensor idx = from_vector(seq, {8, 33});
  Tensor x = idx.narrow(1, 0, 32).contiguous(), y = idx.narrow(1, 1, 32).contiguous();

  nn::optim::AdamW opt(nn::optim::weight_decay_groups(cm.named_parameters(), 0.0), {.lr = 3e-3});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    Tensor loss = model->forward(x, y).loss;
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  std::cout << "QAT loss " << first << " -> " << last << "\n";

  std::cout << cm.compression_stats().table();

  cm.save("train_bitnet.tern.safetensors");
  auto restored = std::make_shared<gpt2::GPT2>(c, &gen);
  quant::CompressedModel back(restored, quant::BitNetQuantizer(cfg), cfg);
  back.load("train_bitnet.tern.safetensors");
  NoGradGuard ng;
  const double diff = amax(abs(model->forward(x) - restored->forward(x))).item<double>();
  std::cout << "max |logits difference| after save/load: " << diff << "\n";
  return last < first && diff < 1e-5 ? 0 : 1;
}
