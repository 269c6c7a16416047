// Uses an installed tern through <tern/tern.h> only; exits non-zero on any mismatch.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <tern/tern.h>

namespace {
int failures = 0;
void expect_near(const char* what, double got, double want, double tol = 1e-5) {
  if (!(std::fabs(got - want) <= tol)) {
    std::fprintf(stderr, "consumer: %s = %.8f, expected %.8f\n", what, got, want);
    ++failures;
  }
}

// A custom Function through the public API: y = 2x forward, 2g backward.
struct Double : tern::autograd::Function<Double> {
  static constexpr const char* name = "Double";
  static tern::Tensor forward(tern::autograd::FunctionCtx&, const tern::Tensor& x) { return tern::mul(x, 2.0); }
  static std::vector<tern::Tensor> backward(tern::autograd::FunctionCtx&, const std::vector<tern::Tensor>& g) {
    return {tern::mul(g[0], 2.0)};
  }
};
}  // namespace

int main() {
  using namespace tern;
  try {
    // loss = sum(tanh(x @ w + b)), with hand-checkable values.
    Tensor x = tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});                    // [2, 2]
    // (tensor({{0.1f}, {-0.2f}}) is ambiguous between the 1-D and 2-D overloads, hence the reshape.)
    Tensor w = tensor({0.1f, -0.2f}).reshape({2, 1}).requires_grad_();  // [2, 1]
    Tensor b = tensor({0.05f}).requires_grad_();                        // [1]
    Tensor z = add(matmul(x, w), b);                                     // [2, 1]: -0.25, -0.45
    Tensor loss = sum(Double::apply(tanh(z)));
    loss.backward();

    const double z0 = 1 * 0.1 - 2 * 0.2 + 0.05, z1 = 3 * 0.1 - 4 * 0.2 + 0.05;
    const double d0 = 2 * (1 - std::tanh(z0) * std::tanh(z0)), d1 = 2 * (1 - std::tanh(z1) * std::tanh(z1));
    expect_near("loss", loss.item<double>(), 2 * (std::tanh(z0) + std::tanh(z1)));
    expect_near("dw[0]", w.grad().select(0, 0).select(0, 0).item<double>(), 1 * d0 + 3 * d1);
    expect_near("dw[1]", w.grad().select(0, 1).select(0, 0).item<double>(), 2 * d0 + 4 * d1);
    expect_near("db", b.grad().select(0, 0).item<double>(), d0 + d1);

    // Errors are tern::Error with an [op] prefix.
    bool threw = false;
    try {
      matmul(tensor({{1.0f, 2.0f, 3.0f}}), tensor({{1.0f, 2.0f}}));
    } catch (const Error& e) {
      threw = std::string(e.what()).rfind("[matmul]", 0) == 0;
    }
    if (!threw) {
      std::fprintf(stderr, "consumer: matmul shape mismatch did not throw a [matmul] tern::Error\n");
      ++failures;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: unexpected exception: %s\n", e.what());
    return 1;
  }
  if (failures) return 1;
  std::printf("consumer: OK (find_package(tern) + tern::tern + <tern/tern.h>)\n");
  return 0;
}
