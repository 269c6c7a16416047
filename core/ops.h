#pragma once
// The op API. Every op checks its arguments, dispatches to the backend of its
// inputs' device and, when an input requires grad, records its backward.
// Definitions live in core/ops/*.cpp, one family per file.

#include <optional>
#include <utility>
#include <vector>

#include <tern/core/generator.h>
#include <tern/core/tensor.h>

namespace tern {

// ---- creation (core/ops/creation.cpp)
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {.dtype = kInt64});
inline Tensor arange(double end, TensorOptions opts = {.dtype = kInt64}) {
  return arange(0.0, end, 1.0, opts);
}
// Uniform [0,1) and standard normal, from `gen` (the default generator if null).
Tensor rand(const Shape& shape, Generator* gen = nullptr, TensorOptions opts = {});
Tensor randn(const Shape& shape, Generator* gen = nullptr, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor empty_like(const Tensor& t);
// A 0-d tensor.
Tensor scalar_tensor(double value, DType dtype = kFloat32, Device device = kCPU);

// Copies `values` into a new tensor of `shape`; 1-D when no shape is given (a 0-d
// tensor comes from scalar_tensor or reshape({})).
template <typename T>
Tensor from_vector(const std::vector<T>& values, Shape shape = {}, TensorOptions opts = {.dtype = dtype_v<T>});
Tensor tensor(std::initializer_list<float> values, TensorOptions opts = {});
Tensor tensor(std::initializer_list<std::initializer_list<float>> rows, TensorOptions opts = {});
// Wraps external memory without copying; `owner` keeps it alive (e.g. an mmap).
// Contiguous unless `strides` is given.
Tensor from_blob(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner = nullptr,
                 Device device = kCPU, const Strides& strides = {});

// ---- elementwise (core/ops/elementwise.cpp); binary ops broadcast and need equal dtypes
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor rsub(double a, const Tensor& b);  // a - b
Tensor rdiv(double a, const Tensor& b);  // a / b
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
// GELU: `tanh` is GPT-2's approximation (HF "gelu_new", the default here), `none` the
// exact 0.5·x·(1 + erf(x/√2)) (torch's default, HF "gelu", nanoGPT's nn.GELU()).
enum class GeluApproximation : uint8_t { tanh, none };
Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::tanh);
Tensor sigmoid(const Tensor& x);
Tensor round(const Tensor& x);  // half to even, like torch.round
// Either bound may be omitted.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// Comparisons return bool tensors and record no graph.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor logical_not(const Tensor& x);
// dx for y = gelu(x) given the upstream gradient g; GeLU's backward kernel.
Tensor gelu_backward(const Tensor& x, const Tensor& g, GeluApproximation approximate = GeluApproximation::tanh);

// ---- reductions (core/ops/reduce.cpp); empty `dims` means all dims
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// The L2 norm over dims, sqrt(sum(x*x)) in one pass (torch.linalg.vector_norm, ord 2).
Tensor norm(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
struct MaxResult {
  Tensor values;
  Tensor indices;  // i64
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over everything
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
// correction 1 is the unbiased estimator (torch's default), 0 the biased one.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
// Sums a broadcast gradient back down to `shape`.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra (core/ops/matmul.cpp)
// 1-D, 2-D and batched with broadcast batch dims; f32/f64 through cblas gemm.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- shape ops (core/ops/shape_ops.cpp); the views live on Tensor
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

// ---- neural-network ops (core/ops/nn_ops.cpp)
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Normalises over the trailing dims given by normalized_shape; weight/bias optional.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);
// logits [N, C] (or [..., C]), targets i64 [N] (or [...]); mean over non-ignored targets.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
// weight [V, C], indices i64 of any shape -> [..., C].
Tensor embedding(const Tensor& weight, const Tensor& indices);
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// ---- attention (core/ops/attention.cpp)
// Bool [t, t], true above the diagonal: the positions a causal query must not see.
Tensor causal_mask(int64_t t, Device device = kCPU);
// q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv]. Composed of matmul, masked_fill and
// softmax, so it materialises the [..., Tq, Tk] scores: O(B·H·T²) memory.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool is_causal = false, std::optional<double> scale = {},
                                    double dropout_p = 0.0, Generator* gen = nullptr);

// ---- operators
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, double b) { return div(a, b); }
inline Tensor operator+(double a, const Tensor& b) { return add(b, a); }
inline Tensor operator-(double a, const Tensor& b) { return rsub(a, b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
inline Tensor operator/(double a, const Tensor& b) { return rdiv(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }

}  // namespace tern
