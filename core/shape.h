#pragma once
// Shapes and strides are plain vectors of int64 so that they print, compare and
// cross the backend interface without conversion.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace tern {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

// "(2,3)"; a scalar prints as "()".
std::string shape_str(const Shape& s);

// Element count, with a tern::Error (naming `op`) if the product overflows or a dim is negative.
int64_t checked_numel(const Shape& s, const char* op);
inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Strides contiguous_strides(const Shape& s);

// NumPy broadcasting; throws "[op] shapes (..) and (..) cannot be broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Normalises a possibly negative dim into [0, ndim); throws naming `op` if out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace tern
