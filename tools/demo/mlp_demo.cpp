// tern's demo: fit y = sin(3x) + noise with a 2-layer MLP, autograd and plain SGD.
//
//   ./run demo                      (builds, then runs this)
//   build/tools/demo/tern_demo --steps 3000 --lr 0.1 --hidden 32 --seed 42
//
// Exits non-zero when the loss fails to go down, so it doubles as a smoke test.

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tern/tern.h>

using namespace tern;

namespace {

struct Mlp {
  Tensor w1, b1, w2, b2;  // [1, H], [H], [H, 1], [1]

  Mlp(int64_t hidden, Generator& gen) {
    // N(0, 1) into the tanh layer (fan-in 1), N(0, 1/H) out of it; biases zero.
    w1 = randn({1, hidden}, &gen);
    b1 = zeros({hidden});
    w2 = mul(randn({hidden, 1}, &gen), 1.0 / std::sqrt(static_cast<double>(hidden)));
    b2 = zeros({1});
    for (Tensor* p : params()) p->requires_grad_();
  }

  std::vector<Tensor*> params() { return {&w1, &b1, &w2, &b2}; }

  Tensor forward(const Tensor& x) const {
    Tensor h = tanh(add(matmul(x, w1), b1));  // [N, H]
    return add(matmul(h, w2), b2);            // [N, 1]
  }
};

Tensor mse(const Tensor& pred, const Tensor& target) { return mean(pow(sub(pred, target), 2.0)); }

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 3000, hidden = 32, n = 256, every = 250;
  double lr = 0.1, noise = 0.05;
  uint64_t seed = 42;

  // CLI11's own PositiveNumber prints DBL_MAX in its message; these say it plainly.
  auto at_least = [](double lo, bool strict) {
    return CLI::Validator(
        [lo, strict](std::string& s) -> std::string {
          double v = 0;
          try {
            v = std::stod(s);
          } catch (...) {
            return "not a number: " + s;
          }
          if (strict ? v > lo : v >= lo) return {};
          char msg[64];
          std::snprintf(msg, sizeof msg, "must be %s %g, got ", strict ? ">" : ">=", lo);
          return msg + s;
        },
        strict ? "POSITIVE" : "NONNEGATIVE");
  };
  const CLI::Validator positive = at_least(0, true), nonnegative = at_least(0, false);

  CLI::App app{"tern demo: fit y = sin(3x) + noise with a 2-layer tanh MLP, autograd and SGD"};
  app.add_option("--steps", steps, "SGD steps (full batch)")->check(positive);
  app.add_option("--lr", lr, "learning rate")->check(positive);
  app.add_option("--hidden", hidden, "hidden units")->check(positive);
  app.add_option("--samples", n, "training points")->check(positive);
  app.add_option("--noise", noise, "std of the label noise")->check(nonnegative);
  app.add_option("--every", every, "print the loss every N steps")->check(positive);
  app.add_option("--seed", seed, "generator seed");
  CLI11_PARSE(app, argc, argv);

  try {
    Generator gen(seed);

    // Data: x uniform in [-1, 1], y = sin(3x) + noise. (No sin op yet, so std::sin.)
    std::vector<float> xs(n), ys(n);
    for (int64_t i = 0; i < n; ++i) {
      xs[i] = static_cast<float>(2.0 * gen.uniform() - 1.0);
      ys[i] = static_cast<float>(std::sin(3.0 * xs[i]) + noise * gen.normal());
    }
    Tensor x = from_vector(xs, {n, 1});
    Tensor y = from_vector(ys, {n, 1});

    Mlp model(hidden, gen);
    std::printf("tern demo: y = sin(3x) + N(0, %.2f^2), %lld points, MLP 1-%lld-1 (tanh), SGD lr %.3g, seed %llu\n",
                noise, static_cast<long long>(n), static_cast<long long>(hidden), lr,
                static_cast<unsigned long long>(seed));

    double first = 0.0, last = 0.0;
    for (int64_t step = 0; step < steps; ++step) {
      Tensor loss = mse(model.forward(x), y);
      loss.backward();
      last = loss.item<double>();
      if (step == 0) first = last;
      if (step % every == 0 || step == steps - 1)
        std::printf("step %5lld  loss %.6f\n", static_cast<long long>(step), last);

      NoGradGuard no_grad;
      for (Tensor* p : model.params()) {
        p->add_(p->grad(), -lr);
        p->zero_grad();
      }
    }

    // A few points of the fitted curve next to the truth.
    {
      NoGradGuard no_grad;
      Tensor probe = tensor({-0.9f, -0.5f, 0.0f, 0.5f, 0.9f}).reshape({5, 1});
      Tensor pred = model.forward(probe);
      std::printf("\n     x   sin(3x)   model\n");
      for (int64_t i = 0; i < 5; ++i) {
        double xi = probe.select(0, i).select(0, 0).item<double>();
        std::printf("%6.2f  %8.4f  %6.4f\n", xi, std::sin(3.0 * xi),
                    pred.select(0, i).select(0, 0).item<double>());
      }
    }

    std::printf("\nloss: first %.6f -> last %.6f (%.1fx lower)\n", first, last, first / last);
    if (!(last < first)) {
      std::fprintf(stderr, "demo: the loss did not go down\n");
      return 1;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
