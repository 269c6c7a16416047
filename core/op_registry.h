#pragma once
// The set of differentiable ops. Each op's definition registers its name here; the
// gradcheck suite fails if any registered op lacks a row in its table.

#include <set>
#include <string>

namespace tern {

bool register_differentiable_op(const char* name);
const std::set<std::string>& differentiable_ops();

}  // namespace tern

#define TERN_CONCAT_INNER(a, b) a##b
#define TERN_CONCAT(a, b) TERN_CONCAT_INNER(a, b)
#define TERN_REGISTER_OP(name)                                                  \
  [[maybe_unused]] static const bool TERN_CONCAT(tern_op_registered_, __COUNTER__) = \
      ::tern::register_differentiable_op(name)
