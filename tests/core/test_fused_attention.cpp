// Fused attention (Backend::attention_forward/_backward): the flash-attention recurrence
// against the composed ops it replaces, on the CPU (the reference loops) and on a GPU.

#include <gtest/gtest.h>

#include <cmath>

#include <tern/core/ops/op_helpers.h>
#include <tern/tern.h>

using namespace tern;

namespace {

struct Case {
  Shape lead;
  int64_t tq, tk, d;
  bool causal;
};

const std::vector<Case> kCases = {{{2, 3}, 5, 5, 8, true}, {{2}, 7, 7, 4, false}, {{1}, 3, 6, 4, true},
                                  {{3}, 6, 2, 4, true},    {{}, 9, 9, 64, true},  {{2, 2}, 33, 33, 32, true}};

Shape with(Shape lead, int64_t a, int64_t b) {
  lead.push_back(a);
  lead.push_back(b);
  return lead;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  Tensor x = a.to(kCPU).to(kFloat64).contiguous(), y = b.to(kCPU).to(kFloat64).contiguous();
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i)
    worst = std::max(worst, std::abs(x.data_ptr<double>()[i] - y.data_ptr<double>()[i]));
  return worst;
}

struct Outputs {
  Tensor out, gq, gk, gv;
};

// Forward and the input gradients of sum(out * w), fused or composed, on `device`.
Outputs run(const Case& c, DType dtype, Device device, bool fused, uint64_t seed) {
  Generator g(seed);
  Tensor q = randn(with(c.lead, c.tq, c.d), &g, {.dtype = dtype}).to(device).requires_grad_();
  Tensor k = randn(with(c.lead, c.tk, c.d), &g, {.dtype = dtype}).to(device).requires_grad_();
  Tensor v = randn(with(c.lead, c.tk, c.d), &g, {.dtype = dtype}).to(device).requires_grad_();
  Tensor w = randn(with(c.lead, c.tq, c.d), &g, {.dtype = dtype}).to(device);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  Tensor out = fused ? detail::fused_attention(q, k, v, c.causal, scale)
                     : scaled_dot_product_attention(q, k, v, c.causal, scale);
  sum(mul(out, w)).backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

}  // namespace

TEST(FusedAttention, CpuLoopsMatchTheComposedOps) {
  uint64_t seed = 1;
  for (const Case& c : kCases) {
    for (DType dtype : {kFloat64, kFloat32}) {
      const Outputs f = run(c, dtype, kCPU, true, seed), r = run(c, dtype, kCPU, false, seed);
      const double tol = dtype == kFloat64 ? 1e-12 : 2e-5;
      EXPECT_LT(max_abs_diff(f.out, r.out), tol) << "out tq=" << c.tq << " tk=" << c.tk << " " << dtype;
      EXPECT_LT(max_abs_diff(f.gq, r.gq), tol) << "gq tq=" << c.tq << " tk=" << c.tk << " " << dtype;
      EXPECT_LT(max_abs_diff(f.gk, r.gk), tol) << "gk tq=" << c.tq << " tk=" << c.tk << " " << dtype;
      EXPECT_LT(max_abs_diff(f.gv, r.gv), tol) << "gv tq=" << c.tq << " tk=" << c.tk << " " << dtype;
    }
    ++seed;
  }
}

TEST(FusedAttention, GradcheckF64) {
  Generator g(7);
  const Case c{{2}, 4, 5, 3, true};
  std::vector<Tensor> in = {randn(with(c.lead, c.tq, c.d), &g, {.dtype = kFloat64}).requires_grad_(),
                            randn(with(c.lead, c.tk, c.d), &g, {.dtype = kFloat64}).requires_grad_(),
                            randn(with(c.lead, c.tk, c.d), &g, {.dtype = kFloat64}).requires_grad_()};
  const auto res = autograd::gradcheck(
      [&](const std::vector<Tensor>& x) { return detail::fused_attention(x[0], x[1], x[2], c.causal, 0.7); }, in);
  EXPECT_TRUE(res.ok) << res.message;
}

TEST(FusedAttention, TheCpuKeepsTheComposedOps) {
  EXPECT_FALSE(backend_for(kCPU, "test").fused_attention_preferred(kFloat32, 64));
}

TEST(Cuda, FusedAttentionMatchesTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device on this machine";
  uint64_t seed = 20;
  for (const Case& c : kCases) {
    if (c.d != 32 && c.d != 64) continue;  // the head dims the CUDA kernels cover
    ASSERT_TRUE(backend_for(cuda(), "test").fused_attention_preferred(kFloat32, c.d));
    const Outputs gpu = run(c, kFloat32, cuda(), false, seed);  // takes the fused path on the GPU
    const Outputs cpu = run(c, kFloat32, kCPU, false, seed);
    EXPECT_LT(max_abs_diff(gpu.out, cpu.out), 2e-5) << "tq=" << c.tq;
    EXPECT_LT(max_abs_diff(gpu.gq, cpu.gq), 5e-5) << "tq=" << c.tq;
    EXPECT_LT(max_abs_diff(gpu.gk, cpu.gk), 5e-5) << "tq=" << c.tq;
    EXPECT_LT(max_abs_diff(gpu.gv, cpu.gv), 5e-5) << "tq=" << c.tq;
    const Outputs again = run(c, kFloat32, cuda(), false, seed);
    EXPECT_EQ(max_abs_diff(gpu.gk, again.gk), 0.0) << "the backward is deterministic";
    ++seed;
  }
}
