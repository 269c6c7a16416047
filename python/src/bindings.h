#pragma once
// Shared declarations of the Python extension: one bind_* per submodule, and the argument
// conversions they all use.

#include <nanobind/nanobind.h>

#include <cstdint>
#include <string>
#include <vector>

#include <tern/tern.h>

namespace nb = nanobind;
using namespace nb::literals;

namespace tern::py {

void bind_tensor(nb::module_& m);
void bind_interop(nb::module_& m);
void bind_ops(nb::module_& m);
void bind_nn(nb::module_& m);
void bind_gpt2(nb::module_& m);
void bind_optim(nb::module_& m);
void bind_io(nb::module_& m);
void bind_tokenizers(nb::module_& m);
void bind_quant(nb::module_& m);
void bind_phase4(nb::module_& m);
void bind_bench(nb::module_& m);
void bind_cuda(nb::module_& m, nb::module_& cuda);

// "cpu", "cuda", "cuda:1".
Device parse_device(const std::string& s);
// A shape from f(2, 3), f((2, 3)) or f([2, 3]).
Shape shape_from_args(const nb::args& args, const char* where);
// A reduction's dims from None (all), an int or a sequence of ints.
std::vector<int64_t> dims_from(const nb::handle& dim, const char* where);
// Indexing with ints, slices, None, Ellipsis and 1-D i64 tensors: always a view except for
// tensor indices (index_select copies).
Tensor index_tensor(const Tensor& t, const nb::handle& key);
// Sets the fields of a freshly constructed `self` from keyword arguments; unknown names are a
// TypeError naming `type_name`.
void set_fields(nb::handle self, const nb::kwargs& kw, const char* type_name);
// A Python number of the tensor's kind: bool, int or float.
nb::object item_of(const Tensor& t);

}  // namespace tern::py
