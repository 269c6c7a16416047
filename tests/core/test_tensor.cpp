// Tensor basics: dtypes, devices, shape/strides/offset, views sharing storage,
// creation, Generator, conversions (f16/bf16 bit patterns, saturation), item(),
// printing and broadcasting.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include <tern/tern.h>

#include "core_test_util.h"

using namespace tern;
using tern::coretest::ivals;
using tern::coretest::mk;
using tern::coretest::vals;

namespace {

const std::vector<DType> kAllDTypes = {kFloat32, kFloat64, kFloat16, kBFloat16, kInt8,
                                       kUInt8,   kInt32,   kInt64,   kBool};

float f32_from_bits(uint32_t b) { return std::bit_cast<float>(b); }
uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }

// f32 values -> f16 (or bf16) bit patterns through Tensor::to.
template <typename H>
std::vector<uint16_t> reduced_bits(const std::vector<float>& v) {
  Tensor t = from_vector<float>(v).to(dtype_v<H>);
  EXPECT_EQ(t.dtype(), dtype_v<H>);
  const H* d = t.data_ptr<H>();
  std::vector<uint16_t> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(d[i].bits);
  return out;
}

template <typename H>
std::vector<float> from_bits(const std::vector<uint16_t>& bits) {
  std::vector<H> hs(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) hs[i].bits = bits[i];
  Tensor t = from_vector<H>(hs).to(kFloat32);
  const float* d = t.data_ptr<float>();
  return std::vector<float>(d, d + t.numel());
}

}  // namespace

// ---------------------------------------------------------------- dtypes, devices

TEST(DType, SizesNamesAndFloatness) {
  const std::vector<size_t> sizes = {4, 8, 2, 2, 1, 1, 4, 8, 1};
  const std::vector<std::string> names = {"f32", "f64", "f16", "bf16", "i8", "u8", "i32", "i64", "bool"};
  for (size_t i = 0; i < kAllDTypes.size(); ++i) {
    EXPECT_EQ(dtype_size(kAllDTypes[i]), sizes[i]);
    EXPECT_EQ(std::string(dtype_name(kAllDTypes[i])), names[i]);
    EXPECT_EQ(is_floating(kAllDTypes[i]), i < 4) << names[i];
  }
  EXPECT_EQ(dtype_v<float>, kFloat32);
  EXPECT_EQ(dtype_v<double>, kFloat64);
  EXPECT_EQ(dtype_v<Half>, kFloat16);
  EXPECT_EQ(dtype_v<BFloat16>, kBFloat16);
  EXPECT_EQ(dtype_v<int8_t>, kInt8);
  EXPECT_EQ(dtype_v<uint8_t>, kUInt8);
  EXPECT_EQ(dtype_v<int32_t>, kInt32);
  EXPECT_EQ(dtype_v<int64_t>, kInt64);
  EXPECT_EQ(dtype_v<bool>, kBool);
}

TEST(DType, EveryDTypeCreatesStoresAndReadsBack) {
  for (DType dt : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor z = zeros({2, 3}, {.dtype = dt});
    Tensor o = ones({2, 3}, {.dtype = dt});
    Tensor f = full({4}, 5.0, {.dtype = dt});
    Tensor e = empty({3, 1}, {.dtype = dt});
    EXPECT_EQ(z.dtype(), dt);
    EXPECT_EQ(o.dtype(), dt);
    EXPECT_EQ(f.dtype(), dt);
    EXPECT_EQ(e.dtype(), dt);
    EXPECT_EQ(z.element_size(), dtype_size(dt));
    EXPECT_EQ(z.nbytes(), 6 * dtype_size(dt));
    EXPECT_EQ(e.shape(), (Shape{3, 1}));
    EXPECT_EQ(vals(z), std::vector<double>(6, 0.0));
    EXPECT_EQ(vals(o), std::vector<double>(6, 1.0));
    EXPECT_EQ(vals(f), std::vector<double>(4, dt == kBool ? 1.0 : 5.0));
    // Every dtype converts to every other.
    for (DType to : kAllDTypes) {
      Tensor c = o.to(to);
      EXPECT_EQ(c.dtype(), to);
      EXPECT_EQ(vals(c), std::vector<double>(6, 1.0));
    }
  }
}

TEST(Device, NamesAndDefaults) {
  EXPECT_EQ(kCPU.str(), "cpu");
  EXPECT_TRUE(kCPU.is_cpu());
  EXPECT_FALSE(kCPU.is_cuda());
  EXPECT_EQ(cuda().str(), "cuda:0");
  EXPECT_EQ(cuda(1).str(), "cuda:1");
  EXPECT_TRUE(cuda(1).is_cuda());
  EXPECT_NE(cuda(0), cuda(1));
  EXPECT_NE(Device(kCPU), cuda(0));
  Tensor t = zeros({2});
  EXPECT_EQ(t.device(), kCPU);
  EXPECT_TRUE(t.to(kCPU).is_same(t));
}

TEST(Device, ToCudaWithoutGpuThrows) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; this test covers machines without one";
  Tensor t = ones({2, 2});
  EXPECT_THROW_MSG(t.to(cuda()), "cuda");
  EXPECT_THROW_MSG(zeros({2}, {.device = cuda()}), "cuda");
  EXPECT_THROW_MSG(t.to(cuda(3)), "cuda:3");
}

TEST(Device, CudaRoundTripWhenAvailable) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  Tensor t = arange(6.0, {.dtype = kFloat32}).view({2, 3});
  Tensor g = t.to(cuda());
  EXPECT_TRUE(g.device().is_cuda());
  EXPECT_EQ(g.shape(), t.shape());
  EXPECT_EQ(vals(g.to(kCPU)), vals(t));
}

// ---------------------------------------------------------------- shape, strides, offset

TEST(Tensor, ShapeStridesOffset) {
  Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Strides{12, 4, 1}));
  EXPECT_EQ(t.offset(), 0);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.stride(-2), 4);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(t.defined());
  EXPECT_FALSE(Tensor().defined());

  Tensor s = scalar_tensor(3.5);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_TRUE(s.shape().empty());
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_FLOAT_EQ(s.item<float>(), 3.5f);

  Tensor e = zeros({0, 3});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.strides(), (Strides{3, 1}));
  EXPECT_TRUE(vals(e).empty());
}

TEST(Tensor, CpuAllocationsAre64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000}) {
    for (DType dt : {kFloat32, kFloat64, kInt8, kBool}) {
      Tensor t = empty({n}, {.dtype = dt});
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n << " " << dt;
    }
  }
}

// ---------------------------------------------------------------- views share storage

TEST(Views, ViewAndReshapeShareStorage) {
  Tensor base = arange(12.0, {.dtype = kFloat32});
  Tensor v = base.view({3, 4});
  EXPECT_EQ(v.storage(), base.storage());
  EXPECT_EQ(v.strides(), (Strides{4, 1}));
  EXPECT_EQ(v.offset(), 0);
  Tensor inferred = base.view({2, -1, 3});
  EXPECT_EQ(inferred.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(inferred.storage(), base.storage());
  Tensor r = base.reshape({4, 3});
  EXPECT_EQ(r.storage(), base.storage());
  {
    NoGradGuard ng;
    v.select(1, 2).fill_(-1.0);  // column 2 of the 3x4 view
    r.select(0, 0).copy_(tensor({7, 8, 9}));
  }
  EXPECT_EQ(vals(base), (std::vector<double>{7, 8, 9, 3, 4, 5, -1, 7, 8, 9, -1, 11}));
  Tensor f = v.flatten();
  EXPECT_EQ(f.shape(), (Shape{12}));
  EXPECT_EQ(f.storage(), base.storage());
  Tensor f2 = zeros({2, 3, 4}).flatten(1);
  EXPECT_EQ(f2.shape(), (Shape{2, 12}));
}

TEST(Views, TransposeAndPermute) {
  Tensor base = arange(24.0, {.dtype = kFloat64}).view({2, 3, 4});
  Tensor t = base.transpose(0, 2);
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Strides{1, 4, 12}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.storage(), base.storage());
  // t[i][j][k] == base[k][j][i]
  std::vector<double> tv = vals(t);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) EXPECT_EQ(tv[(i * 3 + j) * 2 + k], k * 12 + j * 4 + i);

  Tensor p = base.permute({1, 2, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(p.strides(), (Strides{4, 1, 12}));
  Tensor pn = base.permute({-1, 0, 1});
  EXPECT_EQ(pn.shape(), (Shape{4, 2, 3}));

  Tensor m = arange(6.0, {.dtype = kFloat32}).view({2, 3});
  Tensor mt = m.t();
  EXPECT_EQ(mt.shape(), (Shape{3, 2}));
  EXPECT_EQ(mt.strides(), (Strides{1, 3}));
  EXPECT_EQ(vals(mt), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  {
    NoGradGuard ng;
    mt.copy_(tensor({{10, 40}, {20, 50}, {30, 60}}));
  }
  EXPECT_EQ(vals(m), (std::vector<double>{10, 20, 30, 40, 50, 60}));
  EXPECT_TRUE(mt.t().is_contiguous());
}

TEST(Views, SliceNarrowSelect) {
  Tensor base = arange(20.0, {.dtype = kFloat32}).view({4, 5});
  Tensor s = base.slice(1, 1, 5, 2);  // columns 1, 3
  EXPECT_EQ(s.shape(), (Shape{4, 2}));
  EXPECT_EQ(s.strides(), (Strides{5, 2}));
  EXPECT_EQ(s.offset(), 1);
  EXPECT_EQ(s.storage(), base.storage());
  EXPECT_EQ(vals(s), (std::vector<double>{1, 3, 6, 8, 11, 13, 16, 18}));

  Tensor neg = base.slice(0, -2, 4);  // last two rows
  EXPECT_EQ(neg.shape(), (Shape{2, 5}));
  EXPECT_EQ(neg.offset(), 10);
  Tensor clampd = base.slice(0, 1, 100);  // end clamped like Python
  EXPECT_EQ(clampd.shape(), (Shape{3, 5}));
  Tensor empty_slice = base.slice(0, 3, 1);
  EXPECT_EQ(empty_slice.shape(), (Shape{0, 5}));
  Tensor odd = base.slice(1, 0, 5, 3);  // columns 0, 3
  EXPECT_EQ(odd.shape(), (Shape{4, 2}));

  Tensor n = base.narrow(0, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 5}));
  EXPECT_EQ(n.offset(), 5);
  EXPECT_TRUE(n.is_contiguous());
  Tensor nn = base.narrow(1, -3, 2);  // columns 2, 3
  EXPECT_EQ(nn.offset(), 2);
  EXPECT_EQ(vals(nn.select(0, 0)), (std::vector<double>{2, 3}));

  Tensor row = base.select(0, 2);
  EXPECT_EQ(row.shape(), (Shape{5}));
  EXPECT_EQ(row.offset(), 10);
  Tensor col = base.select(1, -1);
  EXPECT_EQ(col.shape(), (Shape{4}));
  EXPECT_EQ(col.strides(), (Strides{5}));
  EXPECT_EQ(col.offset(), 4);
  EXPECT_EQ(vals(col), (std::vector<double>{4, 9, 14, 19}));
  Tensor elem = base.select(0, 3).select(0, 4);
  EXPECT_EQ(elem.dim(), 0);
  EXPECT_EQ(elem.item<int64_t>(), 19);

  {
    NoGradGuard ng;
    s.fill_(0.0);
    col.copy_(tensor({-1, -2, -3, -4}));
    base.narrow(0, 3, 1).select(1, 0).fill_(100.0);
  }
  EXPECT_EQ(vals(base), (std::vector<double>{0, 0, 2, 0, -1, 5, 0, 7, 0, -2, 10, 0, 12, 0, -3,
                                             100, 0, 17, 0, -4}));
}

TEST(Views, ExpandSqueezeUnsqueeze) {
  Tensor base = tensor({1, 2, 3});
  Tensor e = base.unsqueeze(0).expand({4, 3});
  EXPECT_EQ(e.shape(), (Shape{4, 3}));
  EXPECT_EQ(e.strides(), (Strides{0, 1}));
  EXPECT_EQ(e.storage(), base.storage());
  EXPECT_EQ(vals(e), (std::vector<double>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
  Tensor e2 = base.expand({2, -1});
  EXPECT_EQ(e2.shape(), (Shape{2, 3}));
  EXPECT_EQ(e2.strides(), (Strides{0, 1}));
  Tensor c = from_vector<float>({5, 6}, {2, 1}).expand({2, 3});
  EXPECT_EQ(c.strides(), (Strides{1, 0}));
  EXPECT_EQ(vals(c), (std::vector<double>{5, 5, 5, 6, 6, 6}));
  {
    NoGradGuard ng;
    base.fill_(9.0);
  }
  EXPECT_EQ(vals(e), std::vector<double>(12, 9.0));

  Tensor x = zeros({2, 1, 3, 1});
  EXPECT_EQ(x.squeeze().shape(), (Shape{2, 3}));
  EXPECT_EQ(x.squeeze(1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(x.squeeze(0).shape(), (Shape{2, 1, 3, 1}));  // not size 1: unchanged
  EXPECT_EQ(x.squeeze(-1).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(x.squeeze().storage(), x.storage());
  Tensor y = zeros({2, 3});
  Tensor u0 = y.unsqueeze(0), u1 = y.unsqueeze(1), u2 = y.unsqueeze(-1);
  EXPECT_EQ(u0.shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(u1.shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(u2.shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(u1.strides(), (Strides{3, 3, 1}));
  EXPECT_EQ(u2.strides(), (Strides{3, 1, 1}));
  EXPECT_TRUE(u0.is_contiguous());
  EXPECT_TRUE(u1.is_contiguous());
  EXPECT_TRUE(u2.is_contiguous());
  EXPECT_EQ(u1.storage(), y.storage());
  EXPECT_EQ(scalar_tensor(1.0).unsqueeze(0).shape(), (Shape{1}));
}

TEST(Views, TransposedCopiesOfEveryShapeAndDtype) {
  // Matrices larger than the copy kernel's tiles, odd sizes, a transposed view of a wider
  // matrix (leading stride > rows), and a dtype conversion on the way.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{2, 3}, {37, 45}, {64, 64}, {65, 129}}) {
    Tensor base = arange(0.0, static_cast<double>(rows * (cols + 3)), 1.0, {.dtype = kFloat32}).view({rows, cols + 3});
    Tensor src = base.narrow(1, 1, cols).t();  // [cols, rows], strides (1, cols + 3)
    for (DType to : {kFloat32, kFloat64, kFloat16, kInt64}) {
      Tensor dst = empty({cols, rows}, {.dtype = to});
      dst.copy_(src);
      Tensor want = src.contiguous().to(to);
      const std::vector<double> got = vals(dst), expect = vals(want);
      ASSERT_EQ(got.size(), static_cast<size_t>(rows * cols));
      for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = 0; j < rows; ++j) {
          const double v = static_cast<double>(j * (cols + 3) + i + 1);
          const double exact = to == kFloat16 ? static_cast<double>(static_cast<float>(Half(static_cast<float>(v)))) : v;
          ASSERT_EQ(got[i * rows + j], exact) << rows << "x" << cols << " " << dtype_name(to) << " at " << i << "," << j;
        }
      EXPECT_EQ(got, expect);
    }
  }
}

TEST(Views, ContiguousAndReshapeOfNonContiguousCopies) {
  Tensor base = arange(6.0, {.dtype = kFloat32}).view({2, 3});
  EXPECT_TRUE(base.contiguous().is_same(base));

  Tensor t = base.t();
  Tensor c = t.contiguous();
  EXPECT_FALSE(c.is_same(t));
  EXPECT_NE(c.storage(), base.storage());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.strides(), (Strides{2, 1}));
  EXPECT_EQ(vals(c), (std::vector<double>{0, 3, 1, 4, 2, 5}));

  // reshape of a transposed tensor cannot be a view: it copies.
  Tensor r = t.reshape({6});
  EXPECT_NE(r.storage(), base.storage());
  EXPECT_EQ(vals(r), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  {
    NoGradGuard ng;
    r.fill_(0.0);
  }
  EXPECT_EQ(vals(base), (std::vector<double>{0, 1, 2, 3, 4, 5}));

  // reshape of a non-contiguous tensor that still allows a view stays a view.
  Tensor s = arange(24.0, {.dtype = kFloat32}).view({4, 6}).narrow(0, 1, 2);  // rows 1,2: contiguous
  EXPECT_EQ(s.reshape({3, 4}).storage(), s.storage());
  Tensor cols = arange(24.0, {.dtype = kFloat32}).view({2, 3, 4}).narrow(2, 0, 2);  // (2,3,2) strided
  Tensor merged = cols.reshape({6, 2});  // dims 0 and 1 merge, a view
  EXPECT_EQ(merged.storage(), cols.storage());
  EXPECT_EQ(merged.strides(), (Strides{4, 1}));
  EXPECT_EQ(vals(merged), (std::vector<double>{0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21}));
  Tensor flat = cols.reshape({12});  // needs a copy
  EXPECT_NE(flat.storage(), cols.storage());
  EXPECT_EQ(vals(flat), vals(merged));

  // A sliced (offset) tensor made contiguous starts at its own first element.
  Tensor tail = arange(10.0, {.dtype = kFloat64}).slice(0, 3, 10, 3);
  Tensor tc = tail.contiguous();
  EXPECT_EQ(tc.offset(), 0);
  EXPECT_EQ(vals(tc), (std::vector<double>{3, 6, 9}));

  Tensor cl = base.clone();
  EXPECT_NE(cl.storage(), base.storage());
  EXPECT_EQ(vals(cl), vals(base));
}

// ---------------------------------------------------------------- creation

TEST(Creation, ZerosOnesFullEmpty) {
  EXPECT_EQ(vals(zeros({2, 2})), std::vector<double>(4, 0.0));
  EXPECT_EQ(vals(ones({3}, {.dtype = kInt32})), std::vector<double>(3, 1.0));
  EXPECT_EQ(vals(full({2}, -2.5, {.dtype = kFloat64})), (std::vector<double>{-2.5, -2.5}));
  EXPECT_EQ(vals(full({2}, 300.0, {.dtype = kUInt8})), (std::vector<double>{255, 255}));  // saturates
  Tensor rg = zeros({2}, {.requires_grad = true});
  EXPECT_TRUE(rg.requires_grad());
  EXPECT_TRUE(rg.is_leaf());
  Tensor like = ones_like(rg);
  EXPECT_FALSE(like.requires_grad());
  EXPECT_EQ(like.shape(), rg.shape());
  EXPECT_EQ(vals(zeros_like(like)), (std::vector<double>{0, 0}));
  EXPECT_EQ(vals(full_like(like, 4.0)), (std::vector<double>{4, 4}));
  EXPECT_EQ(empty_like(tensor({1, 2, 3})).shape(), (Shape{3}));
  Tensor s = scalar_tensor(7.0, kInt64);
  EXPECT_EQ(s.dtype(), kInt64);
  EXPECT_EQ(s.item<int64_t>(), 7);
}

TEST(Creation, Arange) {
  Tensor a = arange(5.0);
  EXPECT_EQ(a.dtype(), kInt64);
  EXPECT_EQ(ivals(a), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  Tensor b = arange(1.0, 2.0, 0.25, {.dtype = kFloat32});
  EXPECT_EQ(b.dtype(), kFloat32);
  EXPECT_EQ(vals(b), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(ivals(arange(5.0, 0.0, -2.0)), (std::vector<int64_t>{5, 3, 1}));
  EXPECT_EQ(arange(0.0).numel(), 0);
  EXPECT_EQ(arange(3.0, 1.0, 1.0).numel(), 0);
  EXPECT_EQ(arange(0.0, 1.0, 0.3, {.dtype = kFloat64}).numel(), 4);  // 0, .3, .6, .9
  Tensor g = arange(3.0, {.dtype = kFloat32, .requires_grad = true});
  EXPECT_TRUE(g.requires_grad());
}

TEST(Creation, FromVectorAndInitializerList) {
  Tensor a = tensor({1.5f, -2.0f, 3.0f});
  EXPECT_EQ(a.shape(), (Shape{3}));
  EXPECT_EQ(a.dtype(), kFloat32);
  EXPECT_EQ(vals(a), (std::vector<double>{1.5, -2, 3}));
  Tensor m = tensor({{1, 2, 3}, {4, 5, 6}}, {.dtype = kFloat64});
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_EQ(m.dtype(), kFloat64);
  EXPECT_EQ(vals(m), (std::vector<double>{1, 2, 3, 4, 5, 6}));

  Tensor i = from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(i.shape(), (Shape{3, 2}));
  EXPECT_EQ(ivals(i.select(0, 2)), (std::vector<int64_t>{5, 6}));
  Tensor conv = from_vector<int32_t>({7, 8}, {}, {.dtype = kFloat32});
  EXPECT_EQ(conv.dtype(), kFloat32);
  EXPECT_EQ(vals(conv), (std::vector<double>{7, 8}));
  Tensor one = from_vector<double>({4.25});
  EXPECT_EQ(one.shape(), (Shape{1}));  // no shape given: 1-D, even for one value
  EXPECT_EQ(one.item<double>(), 4.25);
  Tensor zero_d = from_vector<double>({4.25}).reshape({});
  EXPECT_EQ(zero_d.dim(), 0);
  EXPECT_EQ(zero_d.item<double>(), 4.25);
  Tensor b = from_vector<bool>({true, false, true});
  EXPECT_EQ(b.dtype(), kBool);
  EXPECT_EQ(vals(b), (std::vector<double>{1, 0, 1}));
  Tensor u = from_vector<uint8_t>({0, 255});
  EXPECT_EQ(vals(u), (std::vector<double>{0, 255}));
  Tensor i8 = from_vector<int8_t>({-128, 127});
  EXPECT_EQ(vals(i8), (std::vector<double>{-128, 127}));
  Tensor h = from_vector<Half>({Half(1.5f), Half(-0.25f)});
  EXPECT_EQ(h.dtype(), kFloat16);
  EXPECT_EQ(vals(h), (std::vector<double>{1.5, -0.25}));
  Tensor bf = from_vector<BFloat16>({BFloat16(2.0f)});
  EXPECT_EQ(bf.dtype(), kBFloat16);
  EXPECT_EQ(bf.item<float>(), 2.0f);
  Tensor e = from_vector<float>({}, {0, 4});
  EXPECT_EQ(e.shape(), (Shape{0, 4}));
  Tensor rg = from_vector<float>({1, 2}, {}, {.requires_grad = true});
  EXPECT_TRUE(rg.requires_grad());
}

TEST(Creation, FromBlobDoesNotCopy) {
  std::vector<float> buf = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(buf.data(), {2, 3}, kFloat32);
  EXPECT_EQ(t.raw_data(), static_cast<void*>(buf.data()));
  EXPECT_EQ(t.data_ptr<float>(), buf.data());
  EXPECT_EQ(t.strides(), (Strides{3, 1}));
  EXPECT_EQ(t.device(), kCPU);
  buf[4] = 50;
  EXPECT_EQ(t.select(0, 1).select(0, 1).item<float>(), 50.0f);
  {
    NoGradGuard ng;
    t.select(1, 0).fill_(-1.0);
  }
  EXPECT_EQ(buf, (std::vector<float>{-1, 2, 3, -1, 50, 6}));

  // Explicit strides: a column-major view of the same memory.
  Tensor cm = from_blob(buf.data(), {3, 2}, kFloat32, nullptr, kCPU, {1, 3});
  EXPECT_EQ(cm.strides(), (Strides{1, 3}));
  EXPECT_EQ(vals(cm), (std::vector<double>{-1, -1, 2, 50, 3, 6}));
  EXPECT_EQ(vals(cm.t()), (std::vector<double>{-1, 2, 3, -1, 50, 6}));

  // Empty tensors may have null data.
  Tensor z = from_blob(nullptr, {0, 3}, kFloat64);
  EXPECT_EQ(z.numel(), 0);
}

TEST(Creation, FromBlobOwnerKeepsMemoryAlive) {
  auto owner = std::make_shared<std::vector<double>>(std::vector<double>{1, 2, 3, 4});
  std::weak_ptr<std::vector<double>> watch = owner;
  double* raw = owner->data();
  EXPECT_EQ(owner.use_count(), 1);
  Tensor t = from_blob(raw, {4}, kFloat64, owner);
  EXPECT_EQ(owner.use_count(), 2);
  Tensor v = t.view({2, 2}).t();  // views share the storage, not another owner reference
  EXPECT_EQ(owner.use_count(), 2);
  owner.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(v.data_ptr<double>(), raw);
  EXPECT_EQ(vals(v), (std::vector<double>{1, 3, 2, 4}));
  t = Tensor();
  EXPECT_FALSE(watch.expired());  // v still holds the storage
  v = Tensor();
  EXPECT_TRUE(watch.expired());
}

// ---------------------------------------------------------------- Generator

TEST(Generator, SameSeedSameNumbers) {
  Generator a(1234), b(1234), c(1235);
  Tensor ra = rand({1000}, &a), rb = rand({1000}, &b), rc = rand({1000}, &c);
  EXPECT_EQ(vals(ra), vals(rb));
  EXPECT_NE(vals(ra), vals(rc));
  Tensor na = randn({3, 333}, &a, {.dtype = kFloat64}), nb = randn({3, 333}, &b, {.dtype = kFloat64});
  EXPECT_EQ(vals(na), vals(nb));
  EXPECT_EQ(a.seed(), 1234u);
  // A reseed restarts the stream.
  a.manual_seed(1234);
  EXPECT_EQ(vals(rand({1000}, &a)), vals(ra));
  // The engine is mt19937_64, whose 10000th output the C++ standard fixes.
  Generator d(5489);
  uint64_t x = 0;
  for (int i = 0; i < 10000; ++i) x = d.next_u64();
  EXPECT_EQ(x, 9981545732273789042ull);
}

TEST(Generator, DefaultGeneratorIsSeedable) {
  manual_seed(42);
  std::vector<double> first = vals(randn({64}));
  manual_seed(42);
  EXPECT_EQ(vals(randn({64})), first);
  EXPECT_EQ(default_generator().seed(), 42u);
}

TEST(Generator, StateSaveRestore) {
  Generator g(99);
  g.normal();  // leaves a spare normal behind: the state must carry it
  const std::string st = g.state();
  std::vector<double> a;
  for (int i = 0; i < 5; ++i) a.push_back(g.normal());
  for (int i = 0; i < 5; ++i) a.push_back(g.uniform());
  g.set_state(st);
  std::vector<double> b;
  for (int i = 0; i < 5; ++i) b.push_back(g.normal());
  for (int i = 0; i < 5; ++i) b.push_back(g.uniform());
  EXPECT_EQ(a, b);
  Generator other(1);
  other.set_state(st);
  EXPECT_EQ(other.seed(), 99u);
  std::vector<double> c;
  for (int i = 0; i < 5; ++i) c.push_back(other.normal());
  for (int i = 0; i < 5; ++i) c.push_back(other.uniform());
  EXPECT_EQ(a, c);
}

TEST(Generator, RandStatistics) {
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dt));
    Generator g(7);
    const int64_t n = 200000;
    std::vector<double> u = vals(rand({n}, &g, {.dtype = dt}));
    double s = 0, s2 = 0, lo = 1, hi = 0;
    for (double v : u) {
      s += v;
      s2 += v * v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.005);
    EXPECT_NEAR(var, 1.0 / 12.0, 0.002);
    EXPECT_GE(lo, 0.0);
    EXPECT_LT(hi, 1.0);

    std::vector<double> z = vals(randn({n}, &g, {.dtype = dt}));
    s = s2 = 0;
    double s4 = 0;
    for (double v : z) {
      s += v;
      s2 += v * v;
      s4 += v * v * v * v;
    }
    const double m = s / n, sd = std::sqrt(s2 / n - m * m);
    EXPECT_NEAR(m, 0.0, 0.01);
    EXPECT_NEAR(sd, 1.0, 0.01);
    EXPECT_NEAR(s4 / n, 3.0, 0.1);  // normal kurtosis
  }
}

// ---------------------------------------------------------------- conversions

TEST(Convert, SameDTypeReturnsSelf) {
  Tensor t = tensor({1, 2});
  EXPECT_TRUE(t.to(kFloat32).is_same(t));
  EXPECT_FALSE(t.to(kFloat64).is_same(t));
  EXPECT_EQ(vals(t.to(kFloat64)), (std::vector<double>{1, 2}));
}

TEST(Convert, Float16KnownBitPatterns) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> in = {
      1.0f, -2.0f, 0.0f, -0.0f, 0.5f, 65504.0f,          // exact
      65519.0f,                                           // rounds down to max
      65520.0f,                                           // halfway to 65536: even -> inf
      1e6f, -1e6f, inf, -inf,                             // overflow and infinities
      1.0f + 0x1.0p-11f,                                  // tie: to even (down)
      1.0f + 3 * 0x1.0p-11f,                              // tie: to even (up)
      1.0f + 0x1.0p-11f + 0x1.0p-20f,                     // just above a tie: up
      0x1.0p-14f,                                         // min normal
      0x1.0p-24f,                                         // min subnormal
      0x1.0p-25f,                                         // tie between 0 and min subnormal: 0
      0x1.8p-25f,                                         // above the tie: min subnormal
      3 * 0x1.0p-25f,                                     // tie between 1 and 2 ulps: 2
      1023 * 0x1.0p-24f,                                  // max subnormal
      0x1.0p-26f, -0x1.0p-30f,                            // underflow to signed zero
      0.1f, 3.14159265f};
  const std::vector<uint16_t> want = {0x3C00, 0xC000, 0x0000, 0x8000, 0x3800, 0x7BFF, 0x7BFF, 0x7C00,
                                      0x7C00, 0xFC00, 0x7C00, 0xFC00, 0x3C00, 0x3C02, 0x3C01, 0x0400,
                                      0x0001, 0x0000, 0x0001, 0x0002, 0x03FF, 0x0000, 0x8000, 0x2E66,
                                      0x4248};
  EXPECT_EQ(reduced_bits<Half>(in), want);

  std::vector<uint16_t> nb = reduced_bits<Half>({nan, -nan});
  for (uint16_t b : nb) {
    EXPECT_EQ(b & 0x7C00, 0x7C00);
    EXPECT_NE(b & 0x03FF, 0);
  }
  // And back to f32, exactly.
  std::vector<float> back = from_bits<Half>({0x3C00, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0xFC00,
                                             0x8000, 0xC000, 0x3555});
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 65504.0f);
  EXPECT_EQ(back[2], 0x1.0p-24f);
  EXPECT_EQ(back[3], 1023 * 0x1.0p-24f);
  EXPECT_EQ(back[4], 0x1.0p-14f);
  EXPECT_EQ(back[5], inf);
  EXPECT_EQ(back[6], -inf);
  EXPECT_EQ(bits_of(back[7]), 0x80000000u);
  EXPECT_EQ(back[8], -2.0f);
  EXPECT_EQ(back[9], 0x1.554p-2f);
  EXPECT_TRUE(std::isnan(from_bits<Half>({0x7E00})[0]));
  EXPECT_TRUE(std::isnan(from_bits<Half>({0x7C01})[0]));
}

TEST(Convert, Float16EveryPatternRoundTrips) {
  std::vector<Half> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i].bits = static_cast<uint16_t>(i);
  Tensor h = from_vector<Half>(all);
  Tensor f = h.to(kFloat32);
  Tensor back = f.to(kFloat16);
  const float* fd = f.data_ptr<float>();
  const Half* bd = back.data_ptr<Half>();
  int mismatches = 0;
  for (uint32_t i = 0; i < 65536; ++i) {
    const bool is_nan = (i & 0x7C00) == 0x7C00 && (i & 0x03FF) != 0;
    if (is_nan) {
      mismatches += !std::isnan(fd[i]);
      mismatches += !((bd[i].bits & 0x7C00) == 0x7C00 && (bd[i].bits & 0x03FF) != 0);
    } else {
      mismatches += bd[i].bits != i;
    }
  }
  EXPECT_EQ(mismatches, 0);
  // f16 -> f64 agrees with f16 -> f32 -> f64.
  EXPECT_EQ(vals(h.to(kFloat64)).size(), 65536u);
  Tensor hd = h.to(kFloat64);
  const double* dd = hd.data_ptr<double>();
  int diff = 0;
  for (uint32_t i = 0; i < 65536; ++i)
    diff += !(dd[i] == static_cast<double>(fd[i]) || (std::isnan(dd[i]) && std::isnan(fd[i])));
  EXPECT_EQ(diff, 0);
}

TEST(Convert, BFloat16KnownBitPatterns) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> in = {1.0f,
                                 -2.0f,
                                 0.0f,
                                 -0.0f,
                                 1.0f + 0x1.0p-8f,                // tie: to even (down)
                                 1.0f + 3 * 0x1.0p-8f,            // tie: to even (up)
                                 1.0f + 0x1.0p-8f + 0x1.0p-20f,   // above the tie: up
                                 inf,
                                 -inf,
                                 std::numeric_limits<float>::max(),  // rounds to inf
                                 f32_from_bits(0x00010000u),         // subnormal, exact
                                 f32_from_bits(0x00008000u),         // subnormal tie: to even (0)
                                 f32_from_bits(0x00018000u),         // subnormal tie: to even (2)
                                 3.14159265f};
  const std::vector<uint16_t> want = {0x3F80, 0xC000, 0x0000, 0x8000, 0x3F80, 0x3F82, 0x3F81,
                                      0x7F80, 0xFF80, 0x7F80, 0x0001, 0x0000, 0x0002, 0x4049};
  EXPECT_EQ(reduced_bits<BFloat16>(in), want);
  // NaN stays NaN, even one whose payload is only in the low 16 bits.
  std::vector<uint16_t> nb = reduced_bits<BFloat16>(
      {std::numeric_limits<float>::quiet_NaN(), f32_from_bits(0x7F800001u), f32_from_bits(0xFF800001u)});
  for (uint16_t b : nb) {
    EXPECT_EQ(b & 0x7F80, 0x7F80);
    EXPECT_NE(b & 0x007F, 0);
  }
  std::vector<float> back = from_bits<BFloat16>({0x3F80, 0x4049, 0x7F80, 0x0001});
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(bits_of(back[1]), 0x40490000u);
  EXPECT_EQ(back[2], inf);
  EXPECT_EQ(bits_of(back[3]), 0x00010000u);
}

TEST(Convert, FloatToIntSaturatesAndNanIsZero) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> in = {1e10, -1e10, nan, inf, -inf, 3.7, -3.7, 127.5, -128.9, 255.9, 0.0, -0.5};
  for (DType src : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(src));
    Tensor x = mk(in, {12}, src);
    EXPECT_EQ(ivals(x.to(kInt8)), (std::vector<int64_t>{127, -128, 0, 127, -128, 3, -3, 127, -128, 127, 0, 0}));
    EXPECT_EQ(ivals(x.to(kUInt8)), (std::vector<int64_t>{255, 0, 0, 255, 0, 3, 0, 127, 0, 255, 0, 0}));
    const int64_t i32max = std::numeric_limits<int32_t>::max(), i32min = std::numeric_limits<int32_t>::min();
    EXPECT_EQ(ivals(x.to(kInt32)),
              (std::vector<int64_t>{i32max, i32min, 0, i32max, i32min, 3, -3, 127, -128, 255, 0, 0}));
    const int64_t i64max = std::numeric_limits<int64_t>::max(), i64min = std::numeric_limits<int64_t>::min();
    Tensor big = mk({1e19, -1e19, 9223372036854775807.0, nan, inf, -inf}, {6}, src);
    Tensor big64 = big.to(kInt64);
    const int64_t* d = big64.data_ptr<int64_t>();
    EXPECT_EQ(d[0], i64max);
    EXPECT_EQ(d[1], i64min);
    EXPECT_EQ(d[2], i64max);  // 2^63 is not representable
    EXPECT_EQ(d[3], 0);
    EXPECT_EQ(d[4], i64max);
    EXPECT_EQ(d[5], i64min);
    EXPECT_EQ(ivals(x.to(kInt64))[0], 10000000000ll);
  }
  // Half and bf16 infinities and NaN too.
  Tensor h = mk({inf, -inf, nan, 70000.0}, {4}, kFloat16);
  EXPECT_EQ(ivals(h.to(kInt32)), (std::vector<int64_t>{std::numeric_limits<int32_t>::max(),
                                                       std::numeric_limits<int32_t>::min(), 0,
                                                       std::numeric_limits<int32_t>::max()}));
  Tensor b = mk({nan, 1e30, -3.5}, {3}, kBFloat16);
  EXPECT_EQ(ivals(b.to(kInt8)), (std::vector<int64_t>{0, 127, -3}));
}

TEST(Convert, BoolConversions) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor f = mk({0.0, -0.0, 0.5, nan, -2.0, 1e-30}, {6}, kFloat32);
  EXPECT_EQ(vals(f.to(kBool)), (std::vector<double>{0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(vals(mk({0.0, 3.0}, {2}, kFloat16).to(kBool)), (std::vector<double>{0, 1}));
  EXPECT_EQ(vals(mk({0.0, -0.0, 3.0}, {3}, kBFloat16).to(kBool)), (std::vector<double>{0, 0, 1}));
  Tensor i = from_vector<int64_t>({0, -1, 256, 1});
  Tensor b = i.to(kBool);
  EXPECT_EQ(b.dtype(), kBool);
  EXPECT_EQ(vals(b), (std::vector<double>{0, 1, 1, 1}));
  EXPECT_EQ(vals(from_vector<uint8_t>({0, 2}).to(kBool)), (std::vector<double>{0, 1}));
  Tensor bb = from_vector<bool>({true, false});
  EXPECT_EQ(vals(bb.to(kFloat32)), (std::vector<double>{1, 0}));
  EXPECT_EQ(ivals(bb.to(kInt64)), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(vals(bb.to(kFloat16)), (std::vector<double>{1, 0}));
  EXPECT_TRUE(bb.select(0, 0).item<bool>());
  EXPECT_FALSE(bb.select(0, 1).item<bool>());
  // Stored bool bytes other than 0/1 still read as true.
  uint8_t raw[2] = {0, 7};
  Tensor odd = from_blob(raw, {2}, kBool);
  EXPECT_EQ(vals(odd.to(kFloat32)), (std::vector<double>{0, 1}));
}

TEST(Convert, IntToFloatAndBetweenInts) {
  Tensor i = from_vector<int64_t>({-3, 0, 1 << 20, (int64_t{1} << 53) + 1});
  EXPECT_EQ(vals(i.to(kFloat64)), (std::vector<double>{-3, 0, 1 << 20, 9007199254740992.0}));
  EXPECT_EQ(vals(from_vector<int8_t>({-128, 5}).to(kInt32)), (std::vector<double>{-128, 5}));
  EXPECT_EQ(vals(from_vector<uint8_t>({200}).to(kInt64)), (std::vector<double>{200}));
  // Conversions of strided views write a contiguous result.
  Tensor t = arange(6.0, {.dtype = kInt32}).view({2, 3}).t().to(kFloat32);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(vals(t), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(Convert, Item) {
  EXPECT_EQ(tensor({2.5f}).item<float>(), 2.5f);
  EXPECT_EQ(tensor({2.5f}).item<double>(), 2.5);
  EXPECT_EQ(tensor({-2.7f}).item<int64_t>(), -2);
  EXPECT_EQ(scalar_tensor(1e30, kFloat64).item<int64_t>(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(scalar_tensor(std::nan(""), kFloat64).item<int64_t>(), 0);
  EXPECT_EQ(from_vector<int64_t>({(int64_t{1} << 62) + 1}).item<int64_t>(), (int64_t{1} << 62) + 1);
  EXPECT_EQ(from_vector<int64_t>({-5}).item<int>(), -5);
  EXPECT_EQ(scalar_tensor(1.0, kBool).item<bool>(), true);
  EXPECT_EQ(scalar_tensor(0.5, kFloat16).item<float>(), 0.5f);
  EXPECT_EQ(zeros({1, 1, 1}).item<float>(), 0.0f);
  Tensor m = arange(6.0, {.dtype = kFloat32}).view({2, 3});
  EXPECT_EQ(m.t().select(0, 2).select(0, 1).item<float>(), 5.0f);
}

// ---------------------------------------------------------------- printing

TEST(Print, ContainsValuesShapeAndDType) {
  const std::string f = to_string(tensor({1.5f, -2.0f}));
  EXPECT_EQ(f, "tensor([ 1.5000, -2.0000], shape=(2), dtype=f32)");
  const std::string i = to_string(arange(3.0));
  EXPECT_EQ(i, "tensor([0, 1, 2], shape=(3), dtype=i64)");
  const std::string s = to_string(scalar_tensor(3.0, kFloat64));
  EXPECT_EQ(s, "tensor(3.0000, shape=(), dtype=f64)");
  const std::string b = to_string(from_vector<bool>({true, false}));
  EXPECT_NE(b.find("true"), std::string::npos);
  EXPECT_NE(b.find("false"), std::string::npos);
  EXPECT_NE(b.find("dtype=bool"), std::string::npos);
  const std::string m = to_string(arange(6.0, {.dtype = kFloat32}).view({2, 3}));
  EXPECT_NE(m.find("[[0.0000, 1.0000, 2.0000]"), std::string::npos) << m;
  EXPECT_NE(m.find("[3.0000, 4.0000, 5.0000]]"), std::string::npos) << m;
  EXPECT_NE(m.find("shape=(2,3)"), std::string::npos);
  EXPECT_NE(m.find('\n'), std::string::npos);
  // A non-contiguous view prints its own values.
  const std::string t = to_string(arange(6.0).view({2, 3}).t());
  EXPECT_NE(t.find("[[0, 3]"), std::string::npos) << t;
  // Other dtypes.
  EXPECT_NE(to_string(ones({1}, {.dtype = kFloat16})).find("dtype=f16"), std::string::npos);
  EXPECT_NE(to_string(ones({1}, {.dtype = kBFloat16})).find("dtype=bf16"), std::string::npos);
  EXPECT_NE(to_string(ones({1}, {.dtype = kUInt8})).find("dtype=u8"), std::string::npos);
  // Large tensors are summarised.
  const std::string big = to_string(arange(5000.0));
  EXPECT_NE(big.find("..."), std::string::npos);
  EXPECT_NE(big.find("4999"), std::string::npos);
  EXPECT_LT(big.size(), 200u);
  // Grad state is shown.
  Tensor leaf = ones({2}, {.requires_grad = true});
  EXPECT_NE(to_string(leaf).find("requires_grad"), std::string::npos);
  EXPECT_NE(to_string(mul(leaf, 2.0)).find("grad_fn=mul"), std::string::npos);
  EXPECT_EQ(to_string(Tensor()), "tensor(undefined)");
  std::ostringstream os;
  os << zeros({0, 2});
  EXPECT_NE(os.str().find("shape=(0,2)"), std::string::npos);
}

// ---------------------------------------------------------------- broadcasting

TEST(Broadcast, NumPyRules) {
  EXPECT_EQ(broadcast_shapes({3, 1, 5}, {4, 1}, "t"), (Shape{3, 4, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2, 3}, "t"), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({2, 3}, {}, "t"), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({1}, {0}, "t"), (Shape{0}));
  EXPECT_EQ(broadcast_shapes({5, 1, 0}, {1, 7, 1}, "t"), (Shape{5, 7, 0}));
  EXPECT_EQ(broadcast_shapes({2, 1}, {1, 2, 1, 3}, "t"), (Shape{1, 2, 2, 3}));
  EXPECT_THROW_MSG(broadcast_shapes({3}, {4}, "t"), "[t] shapes (3) and (4) cannot be broadcast");
  EXPECT_THROW_MSG(broadcast_shapes({2, 3}, {3, 3}, "t"), "cannot be broadcast");
  EXPECT_THROW_MSG(broadcast_shapes({0}, {2}, "t"), "cannot be broadcast");

  // In an op: (3,1) + (1,4) -> (3,4), and a 0-d scalar broadcasts everywhere.
  Tensor a = from_vector<float>({1, 2, 3}, {3, 1});
  Tensor b = tensor({{10, 20, 30, 40}});
  Tensor c = add(a, b);
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  EXPECT_EQ(vals(c), (std::vector<double>{11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43}));
  Tensor d = add(scalar_tensor(1.0), b);
  EXPECT_EQ(d.shape(), (Shape{1, 4}));
  Tensor e = add(zeros({0, 4}), b);
  EXPECT_EQ(e.shape(), (Shape{0, 4}));
  Tensor f = mul(tensor({2}), zeros({2, 3, 1}).add_(ones({2, 3, 1})));
  EXPECT_EQ(f.shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(vals(f), std::vector<double>(6, 2.0));
}

TEST(Broadcast, CopyIntoBroadcastsSource) {
  Tensor dst = zeros({2, 3});
  dst.copy_(tensor({1, 2, 3}));
  EXPECT_EQ(vals(dst), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  dst.copy_(scalar_tensor(4.0, kInt64));  // converting and broadcasting
  EXPECT_EQ(vals(dst), std::vector<double>(6, 4.0));
}
