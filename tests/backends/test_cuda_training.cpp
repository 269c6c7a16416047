// CUDA in a training loop: the same steps give the same losses twice, the caching
// allocator's live bytes stay flat over steps, a bad index or target becomes the CPU's
// tern::Error at the next sync, and the TF32 switch leaves the CPU alone and keeps GPU
// matrix products within TF32's precision. Without a GPU only the CPU half of the TF32
// check runs.

#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <tern/backends/cuda.h>
#include <tern/tern.h>

#include "../test_util.h"
#include "cuda_test_util.h"

using namespace tern;
using cudatest::max_error;
using testutil::error_of;

namespace {

// Token ids in [0, vocab) from a fixed linear congruential sequence.
Tensor tokens(int64_t rows, int64_t cols, int64_t vocab, uint64_t seed) {
  std::vector<int64_t> v(static_cast<size_t>(rows * cols));
  for (auto& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<int64_t>((seed >> 33) % static_cast<uint64_t>(vocab));
  }
  return from_vector(v, {rows, cols});
}

// A small GPT-2 with dropout (the masks come from a CPU generator, so they repeat), trained
// with AdamW and gradient clipping as `tern train` does.
class TinyRun {
 public:
  TinyRun(Device device, bool bitnet) : device_(device), gen_(1234) {
    gpt2::Config c;
    c.n_layer = 2;
    c.n_head = 2;
    c.n_embd = 32;
    c.n_positions = 16;
    c.vocab_size = 65;
    c.dropout = 0.1;
    model_ = std::make_shared<gpt2::GPT2>(c, &gen_);
    if (bitnet) (void)quant::replace_linear_with_bitlinear(*model_);
    model_->to(device);
    opt_ = std::make_unique<nn::optim::AdamW>(nn::optim::weight_decay_groups(model_->named_parameters(), 0.1),
                                              nn::optim::AdamWOptions{.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.95});
    model_->train();
  }

  // One optimizer step on batch `s`; returns its loss (the one host read of the step).
  double step(int64_t s) {
    opt_->zero_grad();
    Tensor x = tokens(4, 16, 65, 100 + s).to(device_);
    Tensor y = tokens(4, 16, 65, 200 + s).to(device_);
    Tensor loss = model_->forward(x, y).loss;
    const double l = loss.item<double>();
    loss.backward();
    nn::optim::clip_grad_norm(model_->parameters(), 1.0);
    opt_->step();
    return l;
  }

  std::vector<double> losses(int64_t steps) {
    std::vector<double> out;
    for (int64_t s = 0; s < steps; ++s) out.push_back(step(s));
    return out;
  }

 private:
  Device device_;
  Generator gen_;
  std::shared_ptr<gpt2::GPT2> model_;
  std::unique_ptr<nn::optim::AdamW> opt_;
};

// Restores the matmul precision a test changed, even when it fails.
struct PrecisionGuard {
  std::string saved = matmul_precision();
  ~PrecisionGuard() { set_matmul_precision(saved); }
};

}  // namespace

// ---- determinism and memory

TEST(CudaDeterminism, SameStepsGiveIdenticalLosses) {
  TERN_SKIP_WITHOUT_CUDA();
  const std::vector<double> a = TinyRun(cuda(), false).losses(6);
  const std::vector<double> b = TinyRun(cuda(), false).losses(6);
  EXPECT_EQ(a, b);
  EXPECT_LT(a.back(), a.front()) << "the run does not learn";
}

TEST(CudaDeterminism, BitNetStepsGiveIdenticalLosses) {
  TERN_SKIP_WITHOUT_CUDA();
  const std::vector<double> a = TinyRun(cuda(), true).losses(6);
  const std::vector<double> b = TinyRun(cuda(), true).losses(6);
  EXPECT_EQ(a, b);
}

TEST(CudaTraining, LossesFollowTheCpu) {
  TERN_SKIP_WITHOUT_CUDA();
  const std::vector<double> cpu = TinyRun(kCPU, false).losses(6);
  const std::vector<double> dev = TinyRun(cuda(), false).losses(6);
  ASSERT_EQ(cpu.size(), dev.size());
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(dev[i], cpu[i], 1e-4 * cpu[i]) << "step " << i;
}

TEST(CudaMemory, AllocatedBytesStayFlatOverTrainingSteps) {
  TERN_SKIP_WITHOUT_CUDA();
  TinyRun run(cuda(), false);
  // The first steps create the gradients and the optimizer's moments.
  run.step(0);
  run.step(1);
  cuda_synchronize();
  const int64_t settled = cuda_memory_stats().allocated;
  EXPECT_GT(settled, 0);
  int64_t grew = 0;
  for (int64_t s = 2; s < 1000; ++s) {
    run.step(s);
    if (cuda_memory_stats().allocated > settled && grew++ < 3) ADD_FAILURE() << "live bytes grew at step " << s;
  }
  EXPECT_EQ(grew, 0) << "steps that ended with more live bytes than step 2";
  const CudaMemoryStats m = cuda_memory_stats();
  EXPECT_GE(m.reserved, m.allocated);
  EXPECT_GE(m.peak, m.allocated);
}

// ---- errors only the kernel sees

namespace {

// `launch` must queue its work without raising; the error comes at the next sync and reads as the CPU's.
void expect_deferred_error(const std::string& cpu_error, const std::function<Tensor()>& launch) {
  ASSERT_FALSE(cpu_error.empty()) << "the CPU raised nothing";
  Tensor out;
  try {
    out = launch();
  } catch (const Error& e) {
    ADD_FAILURE() << "raised at the launch, not at the next sync: " << e.what();
    return;
  }
  EXPECT_EQ(error_of([&] { (void)sum(out.to(kFloat64)).item<double>(); }), cpu_error);
  // Reported once: the device carries on.
  EXPECT_EQ(error_of([] { cuda_synchronize(); }), "");
  EXPECT_EQ(sum(mul(ones({3}).to(cuda()), 2.0)).item<double>(), 6.0);
}

}  // namespace

TEST(CudaErrors, BadIndexRaisesTheCpuErrorAtTheNextSync) {
  TERN_SKIP_WITHOUT_CUDA();
  Generator g(3);
  const Tensor w = randn({5, 3}, &g);
  const Tensor bad = from_vector<int64_t>({1, 7, 2});
  expect_deferred_error(error_of([&] { index_select(w, 0, bad); }),
                        [&] { return index_select(w.to(cuda()), 0, bad.to(cuda())); });
  const Tensor bad1 = from_vector<int64_t>({0, 2, -1});
  expect_deferred_error(error_of([&] { index_select(w, 1, bad1); }),
                        [&] { return index_select(w.to(cuda()), 1, bad1.to(cuda())); });
  const Tensor ids = from_vector<int64_t>({0, 4, 5, 1}, {2, 2});
  expect_deferred_error(error_of([&] { embedding(w, ids); }), [&] { return embedding(w.to(cuda()), ids.to(cuda())); });
}

TEST(CudaErrors, BadTargetRaisesTheCpuErrorAtTheNextSync) {
  TERN_SKIP_WITHOUT_CUDA();
  Generator g(5);
  const Tensor logits = randn({4, 6}, &g);
  for (const auto& t : {std::vector<int64_t>{1, 6, 2, 0}, std::vector<int64_t>{1, -100, -3, 0}}) {
    const Tensor y = from_vector(t);
    expect_deferred_error(error_of([&] { (void)cross_entropy(logits, y).item<double>(); }),
                          [&] { return cross_entropy(logits.to(cuda()), y.to(cuda())); });
  }
  // The same through cuda_synchronize instead of a read.
  const Tensor y = from_vector<int64_t>({9, 0, 0, 0});
  const std::string cpu = error_of([&] { (void)cross_entropy(logits, y).item<double>(); });
  Tensor loss = cross_entropy(logits.to(cuda()), y.to(cuda()));
  EXPECT_EQ(error_of([] { cuda_synchronize(); }), cpu);
}

// ---- TF32

TEST(CudaTf32, CpuResultsDoNotChange) {
  PrecisionGuard guard;
  Generator g(8);
  const Tensor a = randn({64, 96}, &g), b = randn({96, 80}, &g), c = randn({3, 80, 24}, &g);
  set_matmul_precision("highest");
  const Tensor ref = matmul(matmul(a, b), c);
  const double ref_loss = TinyRun(kCPU, false).losses(2).back();
  set_matmul_precision("high");
  EXPECT_EQ(matmul_precision(), "high");
  EXPECT_EQ(max_error(ref, matmul(matmul(a, b), c)), 0.0);
  EXPECT_EQ(TinyRun(kCPU, false).losses(2).back(), ref_loss);
}

TEST(CudaTf32, GpuProductsStayWithinTf32Precision) {
  TERN_SKIP_WITHOUT_CUDA();
  PrecisionGuard guard;
  Generator g(9);
  const Tensor a = randn({256, 512}, &g), b = randn({512, 384}, &g);
  const Tensor ref = matmul(a.to(kFloat64), b.to(kFloat64));
  const double scale = amax(abs(ref)).item<double>();
  auto rel = [&](const Tensor& out) { return amax(abs(sub(out.to(kCPU).to(kFloat64), ref))).item<double>() / scale; };
  const Tensor ad = a.to(cuda()), bd = b.to(cuda());
  set_matmul_precision("highest");
  const double full = rel(matmul(ad, bd));
  EXPECT_LT(full, 1e-5) << "fp32";
  set_matmul_precision("high");
  // TF32 rounds the inputs to 10 mantissa bits (unit roundoff 2^-11); over 512 random-sign
  // products the error stays far below this bound, which half precision or a wrong layout
  // would break.
  const double tf32 = rel(matmul(ad, bd));
  EXPECT_LT(tf32, 2e-3) << "tf32";
  std::cout << "[ info ] matmul 256x512x384 relative error: fp32 " << full << ", tf32 " << tf32 << "\n";
  // f64 is never reduced.
  EXPECT_LT(max_error(ref, matmul(ad.to(kFloat64), bd.to(kFloat64))), 1e-12);
  // A whole model under TF32 trains alike.
  const std::vector<double> cpu = TinyRun(kCPU, false).losses(3);
  const std::vector<double> dev = TinyRun(cuda(), false).losses(3);
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(dev[i], cpu[i], 1e-2 * cpu[i]) << "step " << i;
}

// ---- BitNet state across devices

// A BitLinear trained on the GPU exports its packed state (host bytes and a float scale) as one on the CPU does,
// and the CPU layer that loads it computes what the GPU layer computes.
TEST(CudaBitNet, PackedStateOfAGpuLayerLoadsOnTheCpu) {
  TERN_SKIP_WITHOUT_CUDA();
  for (std::optional<double> tau : {std::optional<double>(), std::optional<double>(0.1)}) {
    SCOPED_TRACE(tau ? "sparsity 0.1" : "absmean");
    Generator g(21);
    quant::BitLinear dev(64, 48, {.weight_sparsity_threshold = tau, .gen = &g});
    quant::BitLinear cpu(64, 48, {.weight_sparsity_threshold = tau});
    cpu.load_state_dict(dev.state_dict());
    dev.to(cuda());
    const Tensor x = randn({5, 64}, &g);
    const Tensor y_dev = dev.forward(x.to(cuda()));  // fills the layer's cache on the device
    const quant::QuantizedState sd = dev.quantized_state(quant::Packing::base3);
    const quant::QuantizedState sc = cpu.quantized_state(quant::Packing::base3);
    EXPECT_EQ(sd.packed, sc.packed);
    EXPECT_NEAR(sd.scale, sc.scale, 1e-6 * sc.scale);
    ASSERT_TRUE(sd.bias.defined());
    EXPECT_TRUE(sd.bias.device().is_cpu());
    quant::BitLinear loaded(64, 48, {.weight_sparsity_threshold = tau});
    loaded.load_quantized_state(sd);
    EXPECT_LT(max_error(loaded.forward(x), y_dev.to(kCPU)), 1e-5);
    EXPECT_LT(max_error(cpu.forward(x), y_dev.to(kCPU)), 1e-5);
  }
}
