#pragma once
// Shared plumbing for op definitions (not installed).

#include <tern/autograd/node.h>
#include <tern/backends/backend.h>
#include <tern/core/op_registry.h>
#include <tern/core/ops.h>

namespace tern::detail {

inline Backend& backend_of(const Tensor& t, const char* op) { return backend_for(t.device(), op); }

// The operand of an elementwise kernel iterating over `shape` (t broadcast into it).
StridedArg broadcast_arg(const Tensor& t, const Shape& shape);
inline StridedArg arg(const Tensor& t) { return {t.raw_data(), t.dtype(), t.strides()}; }

void check_defined(const Tensor& t, const char* op, const char* what = "input");
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
// f32 or f64 (the dtypes with float kernels).
void check_float(const char* op, const Tensor& t);
// Refuses an in-place write that would corrupt the graph, then bumps the version.
void begin_inplace(const char* op, const Tensor& t);

// A view of `base` sharing its storage.
Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset);

// index_select, reporting a bad index through `check` (index_select's own wording when null).
Tensor index_select_checked(const Tensor& x, int64_t dim, const Tensor& index, const RangeCheck* check);

// Attention through the backend's fused kernels: q [..., Tq, D], k and v [..., Tk, D] with equal
// leading dims, Tq, Tk and D > 0, one float dtype and device. scaled_dot_product_attention calls
// it where the backend prefers it; the tests call it anywhere.
Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal, double scale);

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

}  // namespace tern::detail
