// The gradcheck table: every differentiable op, checked against central
// differences in f64, with broadcast and non-contiguous (transposed, sliced) inputs.
// The rows live in op_table.h, shared with the CPU-vs-CUDA parity suite.
// Coverage.EveryRegisteredOpHasARow fails when an op is registered without a row.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <tern/tern.h>

#include "op_table.h"

using namespace tern;
using optable::Inputs;

namespace {

using optable::Row;
using optable::table;

class Gradcheck : public ::testing::TestWithParam<size_t> {};

}  // namespace

TEST_P(Gradcheck, MatchesCentralDifferences) {
  static const std::vector<Row> rows = table();
  const Row& r = rows[GetParam()];
  SCOPED_TRACE(r.op + "/" + r.variant);
  Inputs in = r.inputs();
  auto res = autograd::gradcheck(r.fn, in, r.opts);
  EXPECT_TRUE(res.ok) << r.op << "/" << r.variant << ": " << res.message << " (max abs error "
                      << res.max_abs_error << ")";
}

INSTANTIATE_TEST_SUITE_P(Table, Gradcheck, ::testing::Range<size_t>(0, table().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           static const std::vector<Row> rows = table();
                           return optable::test_name(rows[info.param], info.param);
                         });

TEST(Coverage, EveryRegisteredOpHasARow) {
  std::set<std::string> covered;
  for (const auto& r : table()) covered.insert(r.op);
  for (const auto& op : differentiable_ops())
    EXPECT_TRUE(covered.count(op)) << "op '" << op << "' is registered as differentiable but has no gradcheck row";
  for (const auto& op : covered)
    EXPECT_TRUE(differentiable_ops().count(op)) << "gradcheck row names unregistered op '" << op << "'";
}

TEST(Coverage, RegistryIsPopulated) { EXPECT_GE(differentiable_ops().size(), 35u); }

TEST(Gradcheck, DetectsAWrongBackward) {
  struct Wrong : autograd::Function<Wrong> {
    static Tensor forward(autograd::FunctionCtx&, const Tensor& x) { return mul(x, x); }
    static std::vector<Tensor> backward(autograd::FunctionCtx&, const std::vector<Tensor>& g) {
      return {g[0]};  // should be 2x·g
    }
  };
  optable::Maker m({}, 7);
  auto res = autograd::gradcheck([](const Inputs& x) { return Wrong::apply(x[0]); }, {m.leaf({3})});
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.message.find("analytic"), std::string::npos);
}
