// Backend::ternary_linear, the W2A8 kernel of packed BitNet layers: its integer products
// equal the scalar reference exactly, on the CPU and on a GPU, and its outputs agree across
// the two.

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include <tern/backends/backend.h>
#include <tern/backends/cpu/ternary/ternary.h>
#include <tern/tern.h>

using namespace tern;
namespace tk = tern::cpu::ternary;

namespace {

struct Case {
  int64_t m, n, k;
  bool rmsnorm;
};

// GPT-2's shapes (768 -> 2304, 3072 -> 768), a square 4096, ragged widths, prefill rows.
const std::vector<Case> kCases = {{1, 2304, 768, false}, {1, 768, 3072, false}, {1, 4096, 4096, false},
                                  {5, 33, 257, false},   {9, 7, 1000, true},    {17, 64, 768, true},
                                  {3, 50, 500, true},    {1, 1, 1, false}};

struct Inputs {
  std::vector<float> x;
  std::vector<int8_t> w;
  std::vector<uint8_t> packed;
  std::vector<float> bias;
};

Inputs make(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> t(-1, 1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Inputs in;
  in.x.resize(static_cast<size_t>(c.m * c.k));
  for (auto& v : in.x) v = g(rng);
  in.w.resize(static_cast<size_t>(c.n * c.k));
  for (auto& v : in.w) v = static_cast<int8_t>(t(rng));
  in.packed = tk::pack_i2(in.w.data(), c.n, c.k);
  in.bias.resize(static_cast<size_t>(c.n));
  for (auto& v : in.bias) v = g(rng);
  return in;
}

// Σ_k w·q in 64-bit, from the CPU's own quantization of x.
std::vector<int64_t> reference(const Case& c, const Inputs& in) {
  tk::QuantizedRows a;
  tk::quantize_rows(in.x.data(), c.m, c.k, c.k, c.rmsnorm, 1e-6, false, a);
  std::vector<int64_t> out(static_cast<size_t>(c.m * c.n));
  for (int64_t r = 0; r < c.m; ++r)
    for (int64_t i = 0; i < c.n; ++i) {
      int64_t s = 0;
      for (int64_t j = 0; j < c.k; ++j) s += int64_t{in.w[i * c.k + j]} * a.q[r * a.kp + j];
      out[r * c.n + i] = s;
    }
  return out;
}

struct Result {
  std::vector<float> y;
  std::vector<int32_t> dots;
};

Result run(Device device, const Case& c, const Inputs& in) {
  Tensor x = from_vector(in.x).to(device);
  Tensor w = from_vector(in.packed).to(device);
  Tensor scale = from_vector<float>({0.037f}).to(device);
  Tensor bias = from_vector(in.bias).to(device);
  Tensor y = empty({c.m, c.n}, {.device = device});
  Tensor dots = empty({c.m, c.n}, {.dtype = kInt32, .device = device});
  backend_for(device, "test")
      .ternary_linear(x.data_ptr<float>(), c.m, c.k, w.data_ptr<uint8_t>(), c.n, scale.data_ptr<float>(),
                      bias.data_ptr<float>(), c.rmsnorm, 1e-6, y.data_ptr<float>(), dots.data_ptr<int32_t>());
  Tensor yh = y.to(kCPU), dh = dots.to(kCPU);
  Result r;
  r.y.assign(yh.data_ptr<float>(), yh.data_ptr<float>() + yh.numel());
  r.dots.assign(dh.data_ptr<int32_t>(), dh.data_ptr<int32_t>() + dh.numel());
  return r;
}

void expect_exact_dots(Device device) {
  uint32_t seed = 11;
  for (const Case& c : kCases) {
    const Inputs in = make(c, seed++);
    const auto ref = reference(c, in);
    const Result got = run(device, c, in);
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_EQ(got.dots[i], ref[i]) << device << " m=" << c.m << " n=" << c.n << " k=" << c.k << " at " << i;
  }
}

}  // namespace

TEST(TernaryLinear, CpuDotsAreExact) { expect_exact_dots(kCPU); }

TEST(Cuda, W2A8DotsAreExact) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  expect_exact_dots(cuda());
}

TEST(Cuda, W2A8OutputsMatchTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  uint32_t seed = 40;
  for (const Case& c : kCases) {
    const Inputs in = make(c, seed++);
    const Result cpu = run(kCPU, c, in), gpu = run(cuda(), c, in);
    // Equal products; the CPU compiler may fuse the epilogue's multiply-add, the GPU does not.
    for (size_t i = 0; i < cpu.y.size(); ++i)
      ASSERT_NEAR(gpu.y[i], cpu.y[i], 1e-6f * (1.0f + std::abs(cpu.y[i])))
          << "m=" << c.m << " n=" << c.n << " at " << i;
  }
}

TEST(Cuda, PackedBitLinearRunsOnTheGpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Generator g(9);
  quant::BitLinear layer(96, 40);
  auto packed = quant::PackedBitLinear::from_bitlinear(layer);
  NoGradGuard ng;
  Tensor x = randn({3, 96}, &g);
  Tensor cpu = packed->forward(x);
  packed->to(cuda());
  Tensor gpu = packed->forward(x.to(cuda())).to(kCPU);
  ASSERT_EQ(gpu.shape(), cpu.shape());
  for (int64_t i = 0; i < cpu.numel(); ++i)
    EXPECT_NEAR(gpu.data_ptr<float>()[i], cpu.data_ptr<float>()[i],
                1e-5f * (1.0f + std::abs(cpu.data_ptr<float>()[i])));
}
