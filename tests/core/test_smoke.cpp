#include <gtest/gtest.h>

#include <tern/tern.h>

using namespace tern;

TEST(Smoke, AddAndBackward) {
  Tensor a = tensor({1, 2, 3}).requires_grad_();
  Tensor b = tensor({4, 5, 6});
  Tensor y = sum(mul(a, b));
  EXPECT_FLOAT_EQ(y.item<float>(), 32.0f);
  y.backward();
  EXPECT_FLOAT_EQ(a.grad().select(0, 1).item<float>(), 5.0f);
}
