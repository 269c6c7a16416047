// Misuse throws tern::Error naming the op and the offending shapes, dtypes or
// devices, never aborts and never reads out of bounds.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include <tern/tern.h>

#include "core_test_util.h"

using namespace tern;

namespace {
constexpr int64_t kBig = std::numeric_limits<int64_t>::max();
}

TEST(Errors, ErrorIsARuntimeError) {
  try {
    matmul(zeros({2, 3}), zeros({4, 5}));
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(dynamic_cast<const Error*>(&e), nullptr);
  }
}

TEST(Errors, Matmul) {
  EXPECT_THROW_EXACT(matmul(zeros({2, 3}), zeros({4, 5})), "[matmul] inner dimensions differ: (2,3) @ (4,5)");
  EXPECT_THROW_MSG(matmul(zeros({7, 2, 3}), zeros({3, 4, 5})), "[matmul] inner dimensions differ: (7,2,3) @ (3,4,5)");
  EXPECT_THROW_MSG(matmul(zeros({3}), zeros({4})), "[matmul] inner dimensions differ");
  EXPECT_THROW_MSG(matmul(zeros({2, 3, 4}), zeros({3, 4, 5})), "[matmul]");  // batch dims 2 vs 3
  EXPECT_THROW_MSG(matmul(zeros({2, 3, 4}), zeros({3, 4, 5})), "cannot be broadcast");
  EXPECT_THROW_MSG(matmul(scalar_tensor(1.0), zeros({3})), "[matmul] both operands need at least 1 dim, got () @ (3)");
  EXPECT_THROW_MSG(matmul(zeros({2, 2}), zeros({2, 2}, {.dtype = kFloat64})), "[matmul] dtypes differ: f32 @ f64");
  EXPECT_THROW_MSG(matmul(zeros({2, 2}, {.dtype = kInt64}), zeros({2, 2}, {.dtype = kInt64})),
                   "[matmul] expected f32 or f64, got i64");
}

TEST(Errors, BroadcastAndDTypeInBinaryOps) {
  EXPECT_THROW_EXACT(add(zeros({2, 3}), zeros({4})), "[add] shapes (2,3) and (4) cannot be broadcast");
  EXPECT_THROW_MSG(mul(zeros({2, 3}), zeros({3, 2})), "[mul] shapes (2,3) and (3,2) cannot be broadcast");
  EXPECT_THROW_MSG(sub(zeros({5}), zeros({0})), "[sub] shapes (5) and (0) cannot be broadcast");
  EXPECT_THROW_MSG(where(from_vector<bool>({true, false}), zeros({3}), zeros({3})), "[where]");
  EXPECT_THROW_MSG(eq(zeros({2}), zeros({3})), "[eq] shapes (2) and (3) cannot be broadcast");
  EXPECT_THROW_EXACT(add(zeros({2}), zeros({2}, {.dtype = kFloat64})),
                     "[add] dtypes differ: f32 and f64 (convert one with to())");
  EXPECT_THROW_MSG(mul(zeros({2}, {.dtype = kInt64}), zeros({2})), "[mul] dtypes differ: i64 and f32");
  EXPECT_THROW_MSG(lt(zeros({2}, {.dtype = kInt32}), zeros({2})), "[lt] dtypes differ: i32 and f32");
  EXPECT_THROW_MSG(where(from_vector<bool>({true}), zeros({1}), zeros({1}, {.dtype = kFloat64})),
                   "[where] dtypes differ: f32 and f64");
  EXPECT_THROW_MSG(where(zeros({1}), zeros({1}), zeros({1})), "[where] condition must be bool, got f32");
  EXPECT_THROW_MSG(masked_fill(zeros({3}), from_vector<bool>({true, false, true, true, false, true}, {2, 3}), 0.0),
                   "[masked_fill] mask of shape (2,3) does not broadcast to (3)");
  EXPECT_THROW_MSG(masked_fill(zeros({3}), zeros({3}), 0.0), "[masked_fill] mask must be bool, got f32");
  // A fractional scalar is not silently truncated for an integer tensor.
  EXPECT_THROW_MSG(add(zeros({2}, {.dtype = kInt64}), 0.5), "[add] scalar 0.5 is not representable in i64");
}

TEST(Errors, ReducedPrecisionArithmeticIsRefused) {
  Tensor h = ones({2}, {.dtype = kFloat16});
  Tensor b = ones({2}, {.dtype = kBFloat16});
  EXPECT_THROW_EXACT(add(h, h), "[add] no kernel for f16; convert with to(f32)");
  EXPECT_THROW_MSG(mul(b, b), "[mul] no kernel for bf16");
  EXPECT_THROW_MSG(div(h, h), "[div] expected f32 or f64, got f16");
  EXPECT_THROW_MSG(exp(h), "[exp] expected f32 or f64, got f16");
  EXPECT_THROW_MSG(neg(b), "[neg] no kernel for bf16");
  EXPECT_THROW_MSG(sum(h), "[sum] no kernel for f16");
  EXPECT_THROW_MSG(amax(h), "[amax] no kernel for f16");
  EXPECT_THROW_MSG(max(b, 0), "[max] no kernel for bf16");
  EXPECT_THROW_MSG(matmul(h.view({1, 2}), h.view({2, 1})), "[matmul] expected f32 or f64, got f16");
  EXPECT_THROW_MSG(softmax(h, 0), "[softmax] expected f32 or f64, got f16");
  EXPECT_THROW_MSG(add(h, 1.0), "[add] no kernel for f16");
  // Bool has no arithmetic either.
  Tensor t = from_vector<bool>({true});
  EXPECT_THROW_MSG(add(t, t), "[add] no kernel for bool");
  EXPECT_THROW_MSG(amax(t), "[amax] no kernel for bool");
  EXPECT_THROW_MSG(logical_not(zeros({1})), "[logical_not] expected bool, got f32");
  // The conversion the message suggests works.
  EXPECT_EQ(add(h.to(kFloat32), h.to(kFloat32)).dtype(), kFloat32);
}

TEST(Errors, IntegerDivisionAndFloatOnlyOps) {
  Tensor i = ones({2}, {.dtype = kInt64});
  EXPECT_THROW_EXACT(div(i, i), "[div] expected f32 or f64, got i64 (integer division is not supported)");
  EXPECT_THROW_MSG(div(i, 2.0), "[div] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(rdiv(1.0, i), "[div] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(exp(i), "[exp] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(mean(i), "[mean] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(var(i), "[var] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(round(i), "[round] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(rand({2}, nullptr, {.dtype = kInt64}), "[rand] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(randn({2}, nullptr, {.dtype = kFloat16}), "[randn] expected f32 or f64, got f16");
  EXPECT_THROW_MSG(dropout(i, 0.5, true), "[dropout] expected f32 or f64, got i64");
}

TEST(Errors, ViewsAndShapes) {
  EXPECT_THROW_EXACT(zeros({3, 4}).t().view({12}),
                     "[view] shape (12) is not compatible with the strides of (4,3); use reshape()");
  EXPECT_THROW_EXACT(zeros({2, 3}).reshape({4, 2}), "[reshape] shape (4,2) is invalid for input of size 6");
  EXPECT_THROW_MSG(zeros({2, 3}).view({7}), "[view] shape (7) is invalid for input of size 6");
  EXPECT_THROW_EXACT(zeros({2, 3}).reshape({-1, -1}), "[reshape] only one dimension can be -1 in (-1,-1)");
  EXPECT_THROW_MSG(zeros({2, 3}).view({-1, 4}), "[view] shape (-1,4) is invalid for input of size 6");
  EXPECT_THROW_MSG(zeros({2, 3}).reshape({-2, 3}), "[reshape] invalid shape (-2,3)");
  EXPECT_THROW_MSG(zeros({0, 3}).reshape({-1, 0}), "[reshape]");  // -1 is ambiguous with a 0 dim
  EXPECT_THROW_EXACT(zeros({5}).narrow(0, 3, 4), "[narrow] range [3, 7) is out of bounds for dim 0 of size 5");
  EXPECT_THROW_MSG(zeros({5}).narrow(0, -7, 1), "[narrow]");
  EXPECT_THROW_MSG(zeros({5}).narrow(0, 1, -1), "[narrow]");
  EXPECT_THROW_MSG(zeros({5}).narrow(1, 0, 1), "[narrow] dim 1 is out of range for a tensor with 1 dims");
  EXPECT_THROW_MSG(scalar_tensor(1.0).narrow(0, 0, 1), "[narrow] cannot narrow a 0-d tensor");
  EXPECT_THROW_EXACT(zeros({2, 3}).select(1, 3), "[select] index 3 is out of range for dim 1 of size 3");
  EXPECT_THROW_MSG(zeros({2, 3}).select(0, -3), "[select] index -3 is out of range for dim 0 of size 2");
  EXPECT_THROW_MSG(scalar_tensor(1.0).select(0, 0), "[select] cannot select from a 0-d tensor");
  EXPECT_THROW_EXACT(zeros({2, 3}).permute({0, 0}), "[permute] dim 0 repeated");
  EXPECT_THROW_MSG(zeros({2, 3}).permute({0}), "[permute] got 1 dims for a tensor of shape (2,3)");
  EXPECT_THROW_MSG(zeros({2, 3}).permute({0, 2}), "[permute] dim 2 is out of range");
  EXPECT_THROW_MSG(zeros({2, 3}).transpose(0, 2), "[transpose] dim 2 is out of range for a tensor with 2 dims");
  EXPECT_THROW_MSG(zeros({2, 3, 4}).t(), "[t] expects a tensor with <= 2 dims, got (2,3,4)");
  EXPECT_THROW_MSG(zeros({2, 3}).expand({4, 3}), "[expand] cannot expand (2,3) to (4,3)");
  EXPECT_THROW_MSG(zeros({2, 3}).expand({3}), "[expand] cannot expand (2,3) to fewer dims (3)");
  EXPECT_THROW_MSG(zeros({2}).unsqueeze(3), "[unsqueeze] dim 3 is out of range for a tensor with 2 dims");
  EXPECT_THROW_MSG(zeros({2}).squeeze(1), "[squeeze] dim 1 is out of range");
  EXPECT_THROW_MSG(zeros({2}).slice(0, 0, 2, 0), "[slice] step must be positive, got 0");
  EXPECT_THROW_MSG(zeros({2}).slice(0, 0, 2, -1), "[slice] step must be positive, got -1");
  EXPECT_THROW_MSG(zeros({2, 3}).flatten(1, 0), "[flatten] start_dim 1 is after end_dim 0");
  EXPECT_THROW_MSG(zeros({2, 3}).size(2), "[size] dim 2 is out of range");
  EXPECT_THROW_MSG(zeros({2, 3}).stride(-3), "[stride] dim -3 is out of range");
}

TEST(Errors, HostileSizesThrowInsteadOfOverflowing) {
  EXPECT_THROW_MSG(zeros({5}).narrow(0, 1, kBig), "[narrow]");
  EXPECT_THROW_MSG(zeros({5}).narrow(0, kBig, 1), "[narrow]");
  EXPECT_THROW_MSG(zeros({5}).narrow(0, std::numeric_limits<int64_t>::min(), 1), "[narrow]");
  EXPECT_THROW_MSG(zeros({5}).select(0, std::numeric_limits<int64_t>::min()), "[select]");
  EXPECT_THROW_MSG(zeros({-1}), "negative dimension in shape (-1)");
  EXPECT_THROW_MSG(zeros({int64_t{1} << 40, int64_t{1} << 40}), "too many elements");
  EXPECT_THROW_MSG(zeros({int64_t{1} << 61}), "is too large");
  EXPECT_THROW_MSG(zeros({6}).reshape({int64_t{1} << 40, int64_t{1} << 40, 0}), "[reshape]");
  EXPECT_THROW_MSG(zeros({6}).reshape({kBig, 2, -1}), "[reshape]");
  EXPECT_THROW_MSG(arange(0.0, 1e300), "[arange] too many elements");
  EXPECT_THROW_MSG(arange(0.0, 1.0, 0.0), "[arange] step must be non-zero");
  EXPECT_THROW_MSG(arange(0.0, std::numeric_limits<double>::infinity()), "[arange] start, end and step must be finite");
  EXPECT_THROW_MSG(arange(0.0, std::nan("")), "[arange] start, end and step must be finite");
  // Steps larger than the dim are fine: one element.
  Tensor s = arange(5.0).slice(0, 0, 5, kBig);
  EXPECT_EQ(s.shape(), (Shape{1}));
  EXPECT_EQ(s.item<int64_t>(), 0);
  EXPECT_EQ(arange(5.0).slice(0, 2, kBig).numel(), 3);
  EXPECT_EQ(arange(5.0).slice(0, std::numeric_limits<int64_t>::min(), 2).numel(), 2);
}

TEST(Errors, WrapDim) {
  EXPECT_THROW_EXACT(sum(zeros({2, 3}), {5}), "[sum] dim 5 is out of range for a tensor with 2 dims");
  EXPECT_THROW_MSG(sum(zeros({2, 3}), {-3}), "[sum] dim -3 is out of range for a tensor with 2 dims");
  EXPECT_THROW_MSG(sum(zeros({2, 3}), {0, -2}), "[sum] dim appears twice");
  EXPECT_THROW_MSG(mean(zeros({2, 3}), {2}), "[mean] dim 2 is out of range");
  EXPECT_THROW_MSG(amax(zeros({2, 3}), {2}), "[amax] dim 2 is out of range");
  EXPECT_THROW_MSG(max(zeros({2, 3}), 2), "[max] dim 2 is out of range");
  EXPECT_THROW_MSG(argmax(zeros({2, 3}), -3), "[max] dim -3 is out of range");
  EXPECT_THROW_MSG(var(zeros({2, 3}), {4}), "[var] dim 4 is out of range");
  EXPECT_THROW_MSG(softmax(zeros({2, 3}), 2), "[softmax] dim 2 is out of range for a tensor with 2 dims");
  EXPECT_THROW_MSG(log_softmax(zeros({2, 3}), -3), "[log_softmax] dim -3 is out of range");
  EXPECT_THROW_MSG(cat({zeros({2})}, 1), "[cat] dim 1 is out of range");
  EXPECT_THROW_MSG(stack({zeros({2})}, 2), "[stack] dim 2 is out of range");
  EXPECT_THROW_MSG(split(zeros({2}), 1, 1), "[split] dim 1 is out of range");
  EXPECT_THROW_MSG(index_select(zeros({2}), 1, from_vector<int64_t>({0})), "[index_select] dim 1 is out of range");
  EXPECT_THROW_MSG(max(zeros({2, 0}), 1), "[max] cannot reduce over an empty dim of shape (2,0)");
  EXPECT_THROW_MSG(amax(zeros({0})), "[amax] cannot reduce over an empty dim");
  EXPECT_THROW_MSG(var(zeros({3}), {}, -1), "[var] correction must be non-negative, got -1");
}

TEST(Errors, ItemAndDataPtr) {
  EXPECT_THROW_EXACT(zeros({2, 3}).item<float>(),
                     "[item] tensor with 6 elements, shape (2,3), cannot be converted to a scalar");
  EXPECT_THROW_MSG(zeros({0}).item<int64_t>(), "[item] tensor with 0 elements, shape (0)");
  EXPECT_THROW_MSG(from_vector<int64_t>({1, 2}).item<int64_t>(), "[item] tensor with 2 elements");
  EXPECT_THROW_EXACT(zeros({2}).data_ptr<double>(), "[data_ptr] requested f64 but tensor is f32");
  EXPECT_THROW_MSG(zeros({2}, {.dtype = kInt32}).data_ptr<int64_t>(), "[data_ptr] requested i64 but tensor is i32");
  EXPECT_THROW_MSG(zeros({2}, {.dtype = kBool}).data_ptr<uint8_t>(), "[data_ptr] requested u8 but tensor is bool");
}

TEST(Errors, CreationAndFromBlob) {
  EXPECT_THROW_EXACT(from_blob(nullptr, {2}, kFloat32), "[from_blob] null data for a non-empty tensor");
  float buf[4] = {};
  EXPECT_THROW_MSG(from_blob(buf, {2, 2}, kFloat32, nullptr, kCPU, {1}), "[from_blob] got 1 strides for shape (2,2)");
  EXPECT_THROW_MSG(from_blob(buf, {2, 2}, kFloat32, nullptr, kCPU, {-1, 1}), "[from_blob] negative stride -1");
  EXPECT_THROW_MSG(from_blob(buf, {-2}, kFloat32), "[from_blob] negative dimension");
  EXPECT_THROW_MSG(from_vector<float>({1, 2, 3}, {2, 2}), "[from_vector] 3 values do not fill shape (2,2)");
  EXPECT_THROW_MSG(tensor({{1, 2}, {3}}), "[tensor] ragged rows");
  EXPECT_THROW_MSG(causal_mask(-1), "[causal_mask] length must be non-negative, got -1");
  Generator g;
  EXPECT_THROW_EXACT(g.set_state("not a state"), "[Generator] malformed generator state");
  EXPECT_THROW_MSG(set_num_threads(0), "[set_num_threads] thread count must be positive, got 0");
}

// A view that reaches outside its storage would let every kernel read or write past the buffer.
TEST(Errors, MakeTensorStaysInsideItsStorage) {
  auto st = std::make_shared<Storage>(4 * sizeof(float), kCPU);  // 4 f32 elements
  EXPECT_THROW_EXACT(make_tensor(st, {5}, {1}, 0, kFloat32),
                     "[make_tensor] shape (5) with strides (1) and offset 0 reaches outside a storage of 4 f32 "
                     "elements");
  EXPECT_THROW_MSG(make_tensor(st, {2, 2}, {2, 1}, 1, kFloat32), "reaches outside a storage of 4 f32 elements");
  EXPECT_THROW_MSG(make_tensor(st, {3}, {2}, 0, kFloat32), "[make_tensor] shape (3) with strides (2)");
  EXPECT_THROW_MSG(make_tensor(st, {1}, {1}, 4, kFloat32), "reaches outside");
  EXPECT_THROW_MSG(make_tensor(st, {3}, {1}, 0, kFloat64), "reaches outside a storage of 2 f64 elements");
  EXPECT_THROW_EXACT(make_tensor(st, {2}, {1}, -1, kFloat32), "[make_tensor] negative offset -1");
  EXPECT_THROW_MSG(make_tensor(st, {2}, {-1}, 1, kFloat32), "[make_tensor] negative stride -1 in dim 0");
  EXPECT_THROW_MSG(make_tensor(st, {2, 2}, {1}, 0, kFloat32), "[make_tensor] got 1 strides for shape (2,2)");
  EXPECT_THROW_MSG(make_tensor(st, {2}, {kBig}, 0, kFloat32), "reaches outside");
  EXPECT_THROW_MSG(make_tensor(st, {kBig, kBig}, {1, 1}, 0, kFloat32), "[make_tensor] shape");
  EXPECT_THROW_MSG(make_tensor(st, {-1}, {1}, 0, kFloat32), "[make_tensor] negative dimension");
  EXPECT_THROW_MSG(make_tensor(st, {0}, {1}, 5, kFloat32), "[make_tensor] offset 5 is past the end");
  EXPECT_THROW_EXACT(make_tensor(nullptr, {1}, {1}, 0, kFloat32), "[make_tensor] null storage");
  // In bounds: the last element exactly, an expanded view, an empty view at the end, a size-1 dim of any stride.
  EXPECT_EQ(make_tensor(st, {2, 2}, {2, 1}, 0, kFloat32).numel(), 4);
  EXPECT_EQ(make_tensor(st, {1}, {1}, 3, kFloat32).numel(), 1);
  EXPECT_EQ(make_tensor(st, {3, 2}, {0, 1}, 2, kFloat32).numel(), 6);
  EXPECT_EQ(make_tensor(st, {0}, {1}, 4, kFloat32).numel(), 0);
  EXPECT_EQ(make_tensor(st, {1, 2}, {-7, 1}, 2, kFloat32).numel(), 2);
}

TEST(Errors, NnOps) {
  Tensor logits = zeros({4, 5});
  EXPECT_THROW_EXACT(cross_entropy(logits, from_vector<int64_t>({0, 7, 1, 2})),
                     "[cross_entropy] target 7 at position 1 is out of range for 5 classes");
  EXPECT_THROW_MSG(cross_entropy(logits, from_vector<int64_t>({0, 1, 2, -1})),
                   "[cross_entropy] target -1 at position 3 is out of range for 5 classes");
  EXPECT_THROW_MSG(cross_entropy(logits, from_vector<int64_t>({0, 1, 2, -100}), 3),
                   "[cross_entropy] target -100 at position 3");
  EXPECT_THROW_EXACT(cross_entropy(logits, from_vector<int64_t>({0, 1, 2})),
                     "[cross_entropy] targets of shape (3) do not match logits of shape (4,5) (expected (4))");
  EXPECT_THROW_MSG(cross_entropy(logits, from_vector<int64_t>({0, 1, 2, 3}, {4, 1})),
                   "[cross_entropy] targets of shape (4,1) do not match logits of shape (4,5)");
  EXPECT_THROW_MSG(cross_entropy(logits, zeros({4})), "[cross_entropy] targets must be i64 or i32, got f32");
  EXPECT_THROW_MSG(cross_entropy(zeros({4}, {.dtype = kInt64}), zeros({}, {.dtype = kInt64})),
                   "[cross_entropy] expected f32 or f64, got i64");
  EXPECT_THROW_MSG(cross_entropy(scalar_tensor(1.0), scalar_tensor(0.0, kInt64)), "[cross_entropy] logits must have a class dim");
  EXPECT_THROW_MSG(cross_entropy(zeros({2, 0}), from_vector<int64_t>({0, 0})), "[cross_entropy] logits have no classes");

  Tensor w = zeros({5, 3});
  EXPECT_THROW_EXACT(embedding(w, from_vector<int64_t>({0, 5})),
                     "[embedding] index 5 at position 1 is out of range for 5 embeddings");
  EXPECT_THROW_MSG(embedding(w, from_vector<int64_t>({-1, 2})),
                   "[embedding] index -1 at position 0 is out of range for 5 embeddings");
  EXPECT_THROW_MSG(embedding(w, from_vector<int32_t>({9})), "[embedding] index 9 at position 0 is out of range");
  EXPECT_THROW_MSG(embedding(w, zeros({2})), "[embedding] indices must be i64 or i32, got f32");
  EXPECT_THROW_MSG(embedding(zeros({5}), from_vector<int64_t>({0})), "[embedding] weight must be 2-D");

  Tensor x = zeros({4, 3});
  EXPECT_THROW_EXACT(index_select(x, 0, from_vector<int64_t>({1, 4})),
                     "[index_select] index 4 at position 1 is out of range for dim 0 of size 4");
  EXPECT_THROW_MSG(index_select(x, 1, from_vector<int64_t>({0, 1, -1})),
                   "[index_select] index -1 at position 2 is out of range for dim 1 of size 3");
  EXPECT_THROW_MSG(index_select(x, 0, from_vector<int64_t>({0, 1}, {1, 2})), "[index_select] index must be 1-D");
  EXPECT_THROW_MSG(index_select(x, 0, zeros({1})), "[index_select] index must be i64 or i32, got f32");

  EXPECT_THROW_EXACT(layer_norm(zeros({2, 3}), {4}),
                     "[layer_norm] normalized_shape (4) does not match the trailing dims of input (2,3)");
  EXPECT_THROW_MSG(layer_norm(zeros({2, 3}), {2, 3, 1}), "[layer_norm] normalized_shape (2,3,1) does not match");
  EXPECT_THROW_MSG(layer_norm(zeros({2, 3}), {}), "[layer_norm] normalized_shape () does not match");
  EXPECT_THROW_MSG(layer_norm(zeros({2, 3}), {3}, zeros({4})), "[layer_norm] weight has shape (4), expected (3)");
  EXPECT_THROW_MSG(layer_norm(zeros({2, 3}), {3}, Tensor(), zeros({2})), "[layer_norm] bias has shape (2), expected (3)");
  EXPECT_THROW_MSG(layer_norm(zeros({2, 3}), {3}, zeros({3}, {.dtype = kFloat64})), "[layer_norm] dtypes differ: f32 and f64");
  EXPECT_THROW_MSG(layer_norm(zeros({2, 3}), {3}, Tensor(), Tensor(), -1.0), "[layer_norm] eps must be finite and >= 0");

  EXPECT_THROW_EXACT(dropout(zeros({3}), 1.5, true), "[dropout] probability must be in [0, 1], got 1.5");
  EXPECT_THROW_MSG(dropout(zeros({3}), -0.1, true), "[dropout] probability must be in [0, 1], got -0.1");
  EXPECT_THROW_MSG(dropout(zeros({3}), std::nan(""), false), "[dropout] probability must be in [0, 1]");

  Tensor q = zeros({2, 4, 8});
  const char* sdpa = "[scaled_dot_product_attention]";
  EXPECT_THROW_MSG(scaled_dot_product_attention(q, zeros({2, 4, 7}), zeros({2, 4, 8})), sdpa);
  EXPECT_THROW_MSG(scaled_dot_product_attention(q, zeros({2, 4, 7}), zeros({2, 4, 8})), "q and k feature dims differ");
  EXPECT_THROW_MSG(scaled_dot_product_attention(q, q, zeros({2, 5, 8})), "k and v lengths differ");
  EXPECT_THROW_MSG(scaled_dot_product_attention(zeros({8}), q, q), "need at least 2 dims");
}

TEST(Errors, ClampPowAndScalars) {
  EXPECT_THROW_EXACT(clamp(zeros({2}), std::nullopt, std::nullopt), "[clamp] at least one of min and max must be given");
  EXPECT_THROW_MSG(clamp(zeros({2}), std::nan(""), 1.0), "[clamp] min is NaN");
  EXPECT_THROW_MSG(clamp(ones({2}, {.dtype = kFloat16}), 0.0, 1.0), "[clamp] no kernel for f16");
  EXPECT_THROW_MSG(pow(zeros({2}), std::numeric_limits<double>::infinity()), "[pow] exponent must be finite");
}

TEST(Errors, CatStackSplit) {
  EXPECT_THROW_EXACT(cat({zeros({2, 3}), zeros({2, 4})}, 0), "[cat] sizes differ outside dim 0: (2,3) and (2,4)");
  EXPECT_THROW_MSG(cat({zeros({2, 3}), zeros({3})}, 0), "[cat] tensor 1 has shape (3) but tensor 0 has (2,3)");
  EXPECT_THROW_MSG(cat({zeros({2}), zeros({2}, {.dtype = kFloat64})}), "[cat] dtypes differ: f32 and f64");
  EXPECT_THROW_MSG(cat({}), "[cat] expected a non-empty list of tensors");
  EXPECT_THROW_MSG(cat({scalar_tensor(1.0), scalar_tensor(2.0)}), "[cat] zero-dimensional tensors cannot be concatenated");
  EXPECT_THROW_MSG(stack({zeros({2}), zeros({3})}), "[stack] tensor 1 has shape (3) but tensor 0 has (2)");
  EXPECT_THROW_MSG(stack({}), "[stack] expected a non-empty list of tensors");
  EXPECT_THROW_MSG(split(zeros({4}), 0), "[split] split_size must be positive, got 0");
  EXPECT_THROW_MSG(chunk(zeros({4}), 0), "[chunk] chunks must be positive, got 0");
  EXPECT_THROW_MSG(split(scalar_tensor(1.0), 1), "[split] cannot split a 0-d tensor");
}

TEST(Errors, AutogradMisuse) {
  EXPECT_THROW_EXACT(zeros({2}, {.dtype = kInt64}).requires_grad_(),
                     "[requires_grad_] only floating-point tensors can require grad, got i64");
  EXPECT_THROW_MSG(zeros({2}, {.dtype = kBool, .requires_grad = true}), "[requires_grad_] only floating-point");

  Tensor leaf = ones({3}, {.requires_grad = true});
  const std::string inplace = "in-place write to a tensor that requires grad; do it under NoGradGuard";
  EXPECT_THROW_MSG(leaf.fill_(2.0), "[fill_] " + inplace);
  EXPECT_THROW_MSG(leaf.zero_(), "[fill_]");
  EXPECT_THROW_MSG(leaf.copy_(zeros({3})), "[copy_] " + inplace);
  EXPECT_THROW_MSG(leaf.add_(ones({3})), "[add_] " + inplace);
  EXPECT_THROW_MSG(leaf.mul_(2.0), "[mul_] " + inplace);
  EXPECT_THROW_MSG(leaf.mul_(ones({3})), "[mul_] " + inplace);
  EXPECT_EQ(leaf.select(0, 0).item<float>(), 1.0f);  // the refused writes did nothing
  {
    NoGradGuard ng;
    leaf.fill_(2.0);
    leaf.add_(ones({3}));
    leaf.mul_(2.0);
  }
  EXPECT_EQ(coretest::vals(leaf), (std::vector<double>{6, 6, 6}));

  EXPECT_THROW_EXACT(ones({1}).backward(), "[backward] tensor does not require grad and has no grad_fn");
  Tensor y = mul(leaf, 2.0);
  EXPECT_THROW_EXACT(y.backward(),
                     "[backward] grad can be implicitly created only for one-element tensors, got shape (3)");
  EXPECT_THROW_MSG(y.backward(ones({2})), "[backward] gradient shape (2) differs from tensor shape (3)");
  EXPECT_THROW_MSG(y.requires_grad_(false), "[requires_grad_] cannot turn off requires_grad on a non-leaf");
  EXPECT_THROW_MSG(ones({2}).retain_grad(), "[retain_grad] tensor does not require grad");
  EXPECT_THROW_MSG(leaf.set_grad(ones({2})), "[set_grad] gradient shape (2) differs from tensor shape (3)");
  EXPECT_THROW_MSG(leaf.set_grad(ones({3}, {.dtype = kFloat64})), "[set_grad] gradient is f64 on cpu but tensor is f32");
}

TEST(Errors, UndefinedTensor) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_THROW_EXACT(u.shape(), "[tensor] use of an undefined tensor");
  EXPECT_THROW_MSG(u.numel(), "[tensor] use of an undefined tensor");
  EXPECT_THROW_MSG(u.item<float>(), "undefined tensor");
  EXPECT_THROW_MSG(u.contiguous(), "undefined tensor");
  EXPECT_THROW_MSG(u.to(kFloat64), "undefined tensor");
  EXPECT_THROW_MSG(u.view({1}), "undefined tensor");
  EXPECT_THROW_MSG(u.backward(), "undefined tensor");
  EXPECT_THROW_EXACT(add(u, ones({1})), "[add] input is an undefined tensor");
  EXPECT_THROW_MSG(add(ones({1}), u), "[add] input is an undefined tensor");
  EXPECT_THROW_MSG(mul(u, 2.0), "[mul] input is an undefined tensor");
  EXPECT_THROW_MSG(exp(u), "[exp] input is an undefined tensor");
  EXPECT_THROW_MSG(sum(u), "[sum] input is an undefined tensor");
  EXPECT_THROW_MSG(matmul(u, ones({1})), "[matmul] input is an undefined tensor");
  EXPECT_THROW_MSG(softmax(u, 0), "[softmax] input is an undefined tensor");
  EXPECT_THROW_MSG(cat({ones({1}), u}), "[cat] input is an undefined tensor");
  EXPECT_THROW_MSG(where(u, ones({1}), ones({1})), "[where] condition is an undefined tensor");
  EXPECT_THROW_MSG(ones({1}).copy_(u), "[copy_] source is an undefined tensor");
  EXPECT_THROW_MSG(cross_entropy(ones({1, 2}), u), "[cross_entropy] targets is an undefined tensor");
  EXPECT_THROW_MSG(embedding(u, from_vector<int64_t>({0})), "[embedding] weight is an undefined tensor");
  EXPECT_THROW_MSG(layer_norm(u, {1}), "[layer_norm] input is an undefined tensor");
  EXPECT_THROW_MSG(dropout(u, 0.1, true), "[dropout] input is an undefined tensor");
  EXPECT_THROW_MSG(scaled_dot_product_attention(u, ones({1, 1}), ones({1, 1})), "[scaled_dot_product_attention]");
  EXPECT_EQ(to_string(u), "tensor(undefined)");
}

TEST(Errors, CopyShapes) {
  EXPECT_THROW_MSG(zeros({3}).copy_(zeros({4})), "[copy_] shapes (4) and (3) cannot be broadcast");
  EXPECT_THROW_MSG(zeros({3}).copy_(zeros({2, 3})), "[copy_] source shape (2,3) cannot be broadcast to (3)");
  EXPECT_THROW_MSG(zeros({3}).add_(zeros({2, 3})), "[add_] operand of shape (2,3) cannot be broadcast to (3)");
  EXPECT_THROW_MSG(zeros({3}).mul_(zeros({3}, {.dtype = kFloat64})), "[mul_] dtypes differ: f32 and f64");
  EXPECT_THROW_MSG(zeros({3}).add_(Tensor()), "[add_] operand is an undefined tensor");
  EXPECT_THROW_MSG(zeros({3, 1}).expand({3, 4}).fill_(1.0), "[fill_] in-place write to an expanded tensor");
}

TEST(Errors, DevicesWithoutGpu) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; device errors need a machine without one";
  EXPECT_THROW_MSG(ones({2}).to(cuda()), "[to]");
  EXPECT_THROW_MSG(ones({2}).to(cuda()), "cuda:0");
  EXPECT_THROW_MSG(zeros({2}, {.device = cuda()}), "cuda:0");
  EXPECT_THROW_MSG(causal_mask(3, cuda()), "cuda:0");
}
