#pragma once
// Ternary weight packing: i8 values in {-1, 0, 1} <-> bytes.
//
// Both layouts store the flattened (row-major) values in order; each value v is first
// mapped to the code c = v + 1 in {0, 1, 2}.
//
//   base4  2 bits per weight, 4 weights per byte: value i lives in byte i / 4 at bits
//          2·(i % 4) .. 2·(i % 4) + 1 (the first value in the lowest bits). Code 3 is invalid.
//          ceil(n / 4) bytes; unused bits of the last byte are 0.
//   base3  5 weights per byte (1.6 bits per weight, near the log2(3) = 1.585 bound): byte j
//          holds values 5j .. 5j+4 as c0 + 3·c1 + 9·c2 + 27·c3 + 81·c4 (so at most 242).
//          ceil(n / 5) bytes; a short last group counts only its values (missing codes are 0).
//
// unpack_ternary validates everything it reads: the byte count for the shape, invalid codes
// and non-zero padding are reported as "[unpack_ternary] ..." errors, never read past the end.

#include <tern/core/tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tern::quant {

enum class Packing { base4, base3 };

std::string packing_name(Packing p);              // "base4" / "base3"
Packing packing_from_name(const std::string& s);  // throws [packing] on anything else

// Bytes needed for n values.
size_t packed_size(int64_t n, Packing p);

// values_i8: i8 tensor of {-1, 0, 1} on the CPU (any layout).
std::vector<uint8_t> pack_ternary(const Tensor& values_i8, Packing p);
// Returns a contiguous i8 tensor of `shape`.
Tensor unpack_ternary(const uint8_t* data, size_t nbytes, const Shape& shape, Packing p);

}  // namespace tern::quant
