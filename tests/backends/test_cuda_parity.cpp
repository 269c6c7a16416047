// The CPU-vs-CUDA parity suite, after ggml's test-backend-ops: every row of the op table
// (tests/autograd/op_table.h, the gradcheck suite's rows) and the rows below (zero-size
// tensors, sizes that take the kernels' multi-block paths, the fused BitNet kernels) runs on
// both devices in f64 and f32; the output and every input gradient must agree within the
// row's tolerance. Then the fused kernels outside autograd (ternarize, int8 activations, the
// AdamW step) and the f16/bf16 conversions.
//
// With TERN_PARITY_REPORT=path each check appends a line to that file (op, dtype, error,
// tolerance, verdict); tools/device/check.sh prints them. Without a GPU every device check
// skips; CudaParity.EveryRegisteredOpHasARow runs anyway.

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <tern/tern.h>

#include "../autograd/op_table.h"
#include "cuda_test_util.h"

using namespace tern;
using optable::Inputs;
using optable::Maker;
using optable::Placement;
using optable::Row;
using optable::Tolerance;

namespace {

using cudatest::is_unsupported;
using cudatest::max_error;
using cudatest::report;
using cudatest::report_line;

// Fused kernels that have parity rows without being registered differentiable ops (they are
// custom autograd Functions).
const std::set<std::string> kFusedOps = {"activation_quant", "weight_quant"};

// Integers in [lo, hi) from a fixed linear congruential sequence: the same on every run and
// device, with no Generator state shared between rows.
std::vector<int64_t> lcg_ints(int64_t n, int64_t lo, int64_t hi, uint64_t seed) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = lo + static_cast<int64_t>((seed >> 33) % static_cast<uint64_t>(hi - lo));
  }
  return v;
}

// Laid out by hand, as op_table.h's rows.
// clang-format off
std::vector<Row> extra_rows() {
  using optable::i64;
  using optable::Make;
  using optable::Fn;
  std::vector<Row> t;
  auto row = [&](std::string op, std::string variant, Make make, Fn fn, Tolerance tol = {}) {
    t.push_back({op, variant, fn, make, {}, tol});
  };

  // ---- zero-size tensors: no element to compute, but shapes, broadcasts and zero-filled
  // gradients must still come out right.
  row("add", "zero-size-broadcast", [](Maker& m) { return Inputs{m.leaf({0, 4}), m.leaf({4})}; },
      [](const Inputs& x) { return add(x[0], x[1]); });
  row("exp", "zero-size", [](Maker& m) { return Inputs{m.leaf({2, 0})}; }, [](const Inputs& x) { return exp(x[0]); });
  row("sum", "zero-size", [](Maker& m) { return Inputs{m.leaf({0, 3})}; },
      [](const Inputs& x) { return sum(x[0], {0}); });
  row("matmul", "zero-inner", [](Maker& m) { return Inputs{m.leaf({3, 0}), m.leaf({0, 2})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "zero-rows", [](Maker& m) { return Inputs{m.leaf({0, 4}), m.leaf({4, 5})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("softmax", "zero-rows", [](Maker& m) { return Inputs{m.leaf({0, 5})}; },
      [](const Inputs& x) { return softmax(x[0], -1); });
  row("layer_norm", "zero-rows", [](Maker& m) { return Inputs{m.leaf({0, 5}), m.leaf({5}), m.leaf({5})}; },
      [](const Inputs& x) { return layer_norm(x[0], {5}, x[1], x[2]); });
  row("index_select", "empty-index", [](Maker& m) { return Inputs{m.leaf({4, 3})}; },
      [](const Inputs& x) { return index_select(x[0], 0, i64(x[0], {}, {0})); });
  row("cat", "zero-size-part", [](Maker& m) { return Inputs{m.leaf({0, 3}), m.leaf_t({2, 3})}; },
      [](const Inputs& x) { return cat({x[0], x[1]}, 0); });
  // Every target ignored: the loss is NaN (0/0, as in torch) and the gradient all zeros.
  row("cross_entropy", "all-ignored", [](Maker& m) { return Inputs{m.leaf({3, 4})}; },
      [](const Inputs& x) { return cross_entropy(x[0], i64(x[0], {-100, -100, -100})); });

  // ---- sizes past one thread block, and GPT-2's shapes
  row("add", "large-broadcast", [](Maker& m) { return Inputs{m.leaf_t({300, 257}), m.leaf({257})}; },
      [](const Inputs& x) { return add(x[0], x[1]); });
  row("mul", "large-strided", [](Maker& m) { return Inputs{m.leaf_sliced({129, 300}), m.leaf({129, 1})}; },
      [](const Inputs& x) { return mul(x[0], x[1]); });
  row("exp", "large", [](Maker& m) { return Inputs{m.leaf({300, 333})}; }, [](const Inputs& x) { return exp(x[0]); });
  row("tanh", "large", [](Maker& m) { return Inputs{m.leaf_t({333, 300})}; },
      [](const Inputs& x) { return tanh(x[0]); });
  row("gelu", "large", [](Maker& m) { return Inputs{m.leaf({300, 333})}; }, [](const Inputs& x) { return gelu(x[0]); });
  row("sum", "large-rows", [](Maker& m) { return Inputs{m.leaf_t({257, 1031})}; },
      [](const Inputs& x) { return sum(x[0], {1}); });
  row("sum", "large-all", [](Maker& m) { return Inputs{m.leaf({513, 700})}; }, [](const Inputs& x) { return sum(x[0]); });
  row("amax", "large-cols", [](Maker& m) { return Inputs{m.leaf({513, 300})}; },
      [](const Inputs& x) { return amax(x[0], {0}); });
  row("norm", "large", [](Maker& m) { return Inputs{m.leaf({1000, 77})}; }, [](const Inputs& x) { return norm(x[0]); });
  row("max", "large-dim", [](Maker& m) { return Inputs{m.leaf({77, 1000})}; },
      [](const Inputs& x) { return max(x[0], 1).values; });
  row("matmul", "large", [](Maker& m) { return Inputs{m.leaf({67, 129}), m.leaf_t({129, 33})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "large-batched-broadcast", [](Maker& m) { return Inputs{m.leaf({4, 3, 40, 24}), m.leaf_sliced({24, 16})}; },
      [](const Inputs& x) { return matmul(x[0], x[1]); });
  row("matmul", "sdpa-gpt2-heads", [](Maker& m) {
        return Inputs{m.leaf({2, 4, 64, 16}), m.leaf({2, 4, 64, 16}), m.leaf({2, 4, 64, 16})};
      },
      [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); });
  // Head dims the fused attention kernels take (f32; f64 runs the composed ops), lengths off their tiles.
  row("matmul", "sdpa-fused-hd64-causal", [](Maker& m) {
        return Inputs{m.leaf({2, 3, 70, 64}), m.leaf({2, 3, 70, 64}), m.leaf({2, 3, 70, 64})};
      },
      [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); });
  row("softmax", "sdpa-fused-hd32-cross", [](Maker& m) {
        return Inputs{m.leaf({2, 2, 33, 32}), m.leaf({2, 2, 47, 32}), m.leaf({2, 2, 47, 32})};
      },
      [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], false, 0.3); });
  row("softmax", "wide", [](Maker& m) { return Inputs{m.leaf({33, 1000})}; },
      [](const Inputs& x) { return softmax(x[0], -1); });
  row("softmax", "middle-dim", [](Maker& m) { return Inputs{m.leaf({5, 300, 7})}; },
      [](const Inputs& x) { return softmax(x[0], 1); });
  row("log_softmax", "wide", [](Maker& m) { return Inputs{m.leaf({17, 2049})}; },
      [](const Inputs& x) { return log_softmax(x[0], 1); });
  row("layer_norm", "gpt2-width", [](Maker& m) { return Inputs{m.leaf({64, 768}), m.leaf({768}), m.leaf({768})}; },
      [](const Inputs& x) { return layer_norm(x[0], {768}, x[1], x[2]); });
  row("cross_entropy", "wide", [](Maker& m) { return Inputs{m.leaf({64, 1000})}; }, [](const Inputs& x) {
    std::vector<int64_t> y = lcg_ints(64, 0, 1000, 11);
    for (size_t i = 0; i < y.size(); i += 7) y[i] = -100;
    return cross_entropy(x[0], optable::i64(x[0], y));
  });
  // index_select's backward is index_add, which adds repeated rows in index order on every
  // device: the gradient must match bit for bit.
  row("index_select", "index_add-order", [](Maker& m) { return Inputs{m.leaf({50, 64})}; },
      [](const Inputs& x) { return embedding(x[0], optable::i64(x[0], lcg_ints(512, 0, 50, 3), {4, 128})); },
      {.f32 = 0.0, .f64 = 0.0});

  // ---- the fused BitNet kernels, through their straight-through autograd Functions. The
  // quantized values must agree exactly: an error of one ulp is fine, a flipped rounding is
  // a step of the quantizer (about 1/127 of the row's max, or the weight scale).
  const Tolerance quant_tol{.f32 = 1e-6, .f64 = 1e-12};
  row("activation_quant", "", [](Maker& m) { return Inputs{m.leaf({37, 67})}; },
      [](const Inputs& x) { return quant::activation_quant(x[0]); }, quant_tol);
  row("activation_quant", "3d-transposed", [](Maker& m) { return Inputs{m.leaf_t({67, 37})}; },
      [](const Inputs& x) { return quant::activation_quant(x[0].unsqueeze(0)); }, quant_tol);
  row("weight_quant", "absmean", [](Maker& m) { return Inputs{m.leaf({64, 48})}; },
      [](const Inputs& x) { return quant::weight_quant(x[0]); }, quant_tol);
  row("weight_quant", "sparsity-0.1", [](Maker& m) { return Inputs{m.leaf({64, 48})}; },
      [](const Inputs& x) { return quant::weight_quant(x[0], 0.1); }, quant_tol);
  // >= 65536 entries: the sampled-bracket selection.
  row("weight_quant", "sparsity-0.25-large", [](Maker& m) { return Inputs{m.leaf({300, 256})}; },
      [](const Inputs& x) { return quant::weight_quant(x[0], 0.25); }, quant_tol);
  return t;
}
// clang-format on

const std::vector<Row>& all_rows() {
  static const std::vector<Row> rows = [] {
    std::vector<Row> r = optable::table();
    for (auto& e : extra_rows()) r.push_back(std::move(e));
    return r;
  }();
  return rows;
}

// A row's output and input gradients on one device, brought to the CPU.
struct Result {
  Tensor out;
  std::vector<Tensor> grads;
};

Result run_row(const Row& r, Placement p, uint64_t grad_seed) {
  Inputs in = r.inputs(p);
  Tensor out = r.fn(in);
  if (out.requires_grad()) {
    Generator g(grad_seed);
    out.backward(randn(out.shape(), &g, {.dtype = out.dtype()}).to(p.device));
  }
  EXPECT_EQ(out.device(), p.device) << "the output left the inputs' device";
  Result res{out.detach().to(kCPU), {}};
  for (const auto& x : in) {
    if (x.grad().defined()) {
      EXPECT_EQ(x.grad().device(), p.device) << "a gradient left its input's device";
    }
    res.grads.push_back(x.grad().defined() ? x.grad().to(kCPU) : Tensor());
  }
  return res;
}

class ParityTable : public ::testing::TestWithParam<size_t> {};

}  // namespace

TEST_P(ParityTable, CpuAndCudaAgree) {
  TERN_SKIP_WITHOUT_CUDA();
  const Row& r = all_rows()[GetParam()];
  for (DType dt : {kFloat64, kFloat32}) {
    SCOPED_TRACE(r.name() + " " + cudatest::dtype_str(dt));
    const double tol = r.tol.of(dt);
    const uint64_t grad_seed = 77 + GetParam();
    Result cpu, dev;
    try {
      cpu = run_row(r, {dt, kCPU}, grad_seed);
    } catch (const Error& e) {
      report(report_line(r.name(), cudatest::dtype_str(dt), cudatest::kInf, tol,
                         std::string("error on the CPU: ") + e.what()));
      ADD_FAILURE() << "the CPU reference failed: " << e.what();
      continue;
    }
    try {
      dev = run_row(r, {dt, cuda()}, grad_seed);
    } catch (const Error& e) {
      const std::string verdict = is_unsupported(e.what()) ? "not supported" : "error";
      report(report_line(r.name(), cudatest::dtype_str(dt), cudatest::kInf, tol, verdict + ": " + e.what()));
      ADD_FAILURE() << "CUDA " << verdict << ": " << e.what();
      continue;
    }
    double err = max_error(cpu.out, dev.out);
    std::string worst = "output";
    EXPECT_LE(err, tol) << "output";
    ASSERT_EQ(cpu.grads.size(), dev.grads.size());
    for (size_t i = 0; i < cpu.grads.size(); ++i) {
      const double e = max_error(cpu.grads[i], dev.grads[i]);
      EXPECT_LE(e, tol) << "gradient of input " << i << (cpu.grads[i].defined() ? "" : " (none on the CPU)")
                        << (dev.grads[i].defined() ? "" : " (none on CUDA)");
      if (e > err) {
        err = e;
        worst = "grad " + std::to_string(i);
      }
    }
    const std::string verdict = err > tol ? "FAIL (worst: " + worst + ")"
                                : err > 0 ? "ok (worst: " + worst + ")"
                                          : "ok";
    report(report_line(r.name(), cudatest::dtype_str(dt), err, tol, verdict));
  }
}

INSTANTIATE_TEST_SUITE_P(Cuda, ParityTable, ::testing::Range<size_t>(0, all_rows().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return optable::test_name(all_rows()[info.param], info.param);
                         });

// Runs without a GPU: the table must keep up with the registry, as the gradcheck table does.
TEST(CudaParity, EveryRegisteredOpHasARow) {
  std::set<std::string> covered;
  for (const auto& r : all_rows()) covered.insert(r.op);
  for (const auto& op : differentiable_ops())
    EXPECT_TRUE(covered.count(op)) << "op '" << op << "' is registered as differentiable but has no parity row";
  for (const auto& op : covered)
    EXPECT_TRUE(differentiable_ops().count(op) || kFusedOps.count(op))
        << "parity row names op '" << op << "', which is neither registered nor a fused kernel";
  for (const auto& op : kFusedOps) EXPECT_TRUE(covered.count(op)) << "fused kernel '" << op << "' has no parity row";
  for (const char* fused : {"cross_entropy", "layer_norm", "index_select", "softmax", "log_softmax"})
    EXPECT_TRUE(covered.count(fused)) << fused;
  std::set<std::string> names;
  for (const auto& r : all_rows()) EXPECT_TRUE(names.insert(r.name()).second) << "two rows named " << r.name();
}

// ---- fused kernels outside autograd

namespace {

// Runs `check` for f64 and f32, reporting `what` per dtype; an unsupported kernel is
// reported and fails.
void for_float_dtypes(const std::string& what, double tol_f32, double tol_f64,
                      const std::function<double(DType)>& error_for) {
  for (DType dt : {kFloat64, kFloat32}) {
    SCOPED_TRACE(what + " " + cudatest::dtype_str(dt));
    const double tol = dt == kFloat64 ? tol_f64 : tol_f32;
    try {
      const double err = error_for(dt);
      EXPECT_LE(err, tol);
      report(report_line(what, cudatest::dtype_str(dt), err, tol, err <= tol ? "ok" : "FAIL"));
    } catch (const Error& e) {
      const std::string verdict = is_unsupported(e.what()) ? "not supported" : "error";
      report(report_line(what, cudatest::dtype_str(dt), cudatest::kInf, tol, verdict + ": " + e.what()));
      ADD_FAILURE() << verdict << ": " << e.what();
    }
  }
}

Tensor seeded(const Shape& shape, uint64_t seed, DType dt, Device dev = kCPU) {
  Generator g(seed);
  return randn(shape, &g, {.dtype = kFloat64}).to(dt).to(dev);
}

}  // namespace

TEST(CudaParity, TernarizeValuesAndScale) {
  TERN_SKIP_WITHOUT_CUDA();
  struct Case {
    std::string name;
    Shape shape;
    std::optional<double> threshold;
  };
  const std::vector<Case> cases = {{"ternarize/absmean", {96, 80}, std::nullopt},
                                   {"ternarize/absmean-one", {1}, std::nullopt},
                                   {"ternarize/sparsity-0.1", {96, 80}, 0.1},
                                   {"ternarize/sparsity-0.3-large", {320, 256}, 0.3}};
  for (const auto& c : cases) {
    for_float_dtypes(c.name, 1e-6, 1e-12, [&](DType dt) {
      const Tensor w = seeded(c.shape, 5, dt);
      const quant::TernaryWeight a = quant::ternarize(w, c.threshold);
      const quant::TernaryWeight b = quant::ternarize(w.to(cuda()), c.threshold);
      EXPECT_TRUE(b.values.device().is_cuda() || b.values.device().is_cpu());
      // The ternary pattern must agree exactly; the scale (a mean over |w|, summed in
      // another order on the GPU) to rounding.
      const double values = max_error(a.values.to(kFloat64), b.values.to(kCPU).to(kFloat64));
      EXPECT_EQ(values, 0.0) << "ternary values differ";
      const double zeros_cpu = sum(eq(a.values, 0.0).to(kInt64)).item<double>();
      const double zeros_dev = sum(eq(b.values.to(kCPU), 0.0).to(kInt64)).item<double>();
      EXPECT_EQ(zeros_cpu, zeros_dev);
      return std::max(values, max_error(a.dequantize(dt), b.dequantize(dt).to(kCPU)));
    });
  }
}

TEST(CudaParity, ActivationInt8ValuesAndScale) {
  TERN_SKIP_WITHOUT_CUDA();
  for_float_dtypes("activation_quant/int8-values", 1e-6, 1e-12, [](DType dt) {
    Tensor x = seeded({45, 130}, 9, dt);
    // A row of zeros takes the 1e-5 clamp of the scale.
    x.narrow(0, 3, 1).zero_();
    const quant::Int8Activation a = quant::quantize_activation_int8(x);
    const quant::Int8Activation b = quant::quantize_activation_int8(x.to(cuda()));
    const double values = max_error(a.values.to(kFloat64), b.values.to(kCPU).to(kFloat64));
    EXPECT_EQ(values, 0.0) << "int8 values differ";
    return std::max(values, max_error(a.scale, b.scale.to(kCPU)));
  });
}

TEST(CudaParity, AdamWOptimizer) {
  TERN_SKIP_WITHOUT_CUDA();
  for_float_dtypes("adamw/5-steps", 1e-6, 1e-12, [](DType dt) {
    const std::vector<Shape> shapes = {{33, 17}, {17}, {5, 1000}, {0, 3}};
    auto make = [&](Device dev) {
      std::vector<Tensor> ps;
      for (size_t i = 0; i < shapes.size(); ++i) ps.push_back(seeded(shapes[i], 20 + i, dt, dev).requires_grad_());
      return ps;
    };
    std::vector<Tensor> pc = make(kCPU), pd = make(cuda());
    auto groups = [](const std::vector<Tensor>& ps) {
      return std::vector<nn::optim::ParamGroup>{{.params = {ps[0], ps[2]}, .lr = std::nullopt, .weight_decay = 0.1},
                                                {.params = {ps[1], ps[3]}, .lr = std::nullopt, .weight_decay = 0.0}};
    };
    const nn::optim::AdamWOptions o{.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8};
    nn::optim::AdamW oc(groups(pc), o), od(groups(pd), o);
    for (int s = 0; s < 5; ++s) {
      for (size_t i = 0; i < pc.size(); ++i) {
        const Tensor g = seeded(shapes[i], 100 * s + i, dt);
        pc[i].set_grad(g);
        pd[i].set_grad(g.to(cuda()));
      }
      oc.step();
      od.step();
    }
    double err = 0;
    for (size_t i = 0; i < pc.size(); ++i) err = std::max(err, max_error(pc[i], pd[i].to(kCPU)));
    const auto sc = oc.state_dict(), sd = od.state_dict();
    EXPECT_EQ(sc.size(), sd.size());
    for (size_t i = 0; i < std::min(sc.size(), sd.size()); ++i) {
      EXPECT_EQ(sc[i].first, sd[i].first);
      err = std::max(err, max_error(sc[i].second, sd[i].second.to(kCPU)));
    }
    return err;
  });
}

// Integer results are compared exactly: the position of a maximum, the first one among ties (values rounded to
// one decimal tie often), along the first, middle and last dims, strided and wide.
TEST(CudaParity, MaxIndicesAreExact) {
  TERN_SKIP_WITHOUT_CUDA();
  struct Case {
    std::string name;
    Shape shape;
    int64_t dim;
    bool transposed;
  };
  const std::vector<Case> cases = {{"max/indices-last", {33, 257}, 1, false},
                                   {"max/indices-first", {300, 7}, 0, false},
                                   {"max/indices-middle", {4, 129, 6}, 1, false},
                                   {"max/indices-transposed", {65, 40}, 1, true},
                                   {"max/indices-wide", {3, 5000}, -1, false}};
  for (const auto& c : cases) {
    for_float_dtypes(c.name, 0.0, 0.0, [&](DType dt) {
      Tensor x = div(round(mul(seeded(c.shape, 31, dt), 10.0)), 10.0);
      if (c.transposed) x = x.t().contiguous().t();
      const MaxResult a = max(x, c.dim), b = max(x.to(cuda()), c.dim);
      const Tensor ia = argmax(x, c.dim), ib = argmax(x.to(cuda()), c.dim);
      EXPECT_TRUE(b.indices.device().is_cuda());
      return std::max({max_error(a.values, b.values.to(kCPU)), max_error(a.indices, b.indices.to(kCPU)),
                       max_error(ia, ib.to(kCPU))});
    });
  }
}

// Conversions round to nearest, ties to even, on both devices, including overflow to infinity,
// subnormals, NaN and signed zero: the values must match exactly (NaN payloads aside). f64 goes
// to f16/bf16 through f32, as torch converts on either device; the last special value tells that
// from a direct conversion (1 + 2^-11 + 2^-40 rounds to 1 through f32, up from f64 directly).
TEST(CudaParity, HalfConversions) {
  TERN_SKIP_WITHOUT_CUDA();
  const std::vector<double> special = {0.0,           -0.0,         1.0,        -1.0,        65504.0,
                                       65520.0,       -65536.0,     1e-8,       5.96e-8,     2.98e-8,
                                       6.1e-5,        1.0 / 3,      3.4e38,     1e39,        1e-40,
                                       1.00048828125, 1.0009765625, 1.00390625, 1.005859375, 1.0 + 0x1p-11 + 0x1p-40};
  std::vector<double> v = special;
  v.push_back(std::numeric_limits<double>::quiet_NaN());
  v.push_back(std::numeric_limits<double>::infinity());
  v.push_back(-std::numeric_limits<double>::infinity());
  Generator g(4);
  const Tensor noise = mul(randn({400}, &g, {.dtype = kFloat64}), 300.0);
  const Tensor base = cat({from_vector(v), noise});
  for (DType from : {kFloat64, kFloat32}) {
    for (DType to : {kFloat16, kBFloat16}) {
      const std::string what = std::string("to_dtype/") + cudatest::dtype_str(from) + "->" + cudatest::dtype_str(to);
      SCOPED_TRACE(what);
      try {
        const Tensor x = base.to(from);
        // Each way round: down on the device, back up on the device, and a strided source.
        const Tensor down_c = x.to(to), down_d = x.to(cuda()).to(to);
        const Tensor up_c = down_c.to(from), up_d = down_d.to(from);
        const Tensor xt = x.narrow(0, 0, x.numel() / 2 * 2).view({2, -1}).t();
        const double err =
            std::max({max_error(down_c.to(kFloat64), down_d.to(kCPU).to(kFloat64)), max_error(up_c, up_d.to(kCPU)),
                      max_error(xt.to(to).to(kFloat64), xt.to(cuda()).to(to).to(kCPU).to(kFloat64)),
                      max_error(down_c.to(kFloat64), down_c.to(cuda()).to(kFloat64).to(kCPU))});
        EXPECT_EQ(err, 0.0);
        report(report_line(what, "-", err, 0.0, err == 0.0 ? "ok" : "FAIL"));
      } catch (const Error& e) {
        const std::string verdict = is_unsupported(e.what()) ? "not supported" : "error";
        report(report_line(what, "-", cudatest::kInf, 0.0, verdict + ": " + e.what()));
        ADD_FAILURE() << verdict << ": " << e.what();
      }
    }
  }
}
