// CUDA elementwise kernels: copy with conversion, fill, unary, binary and where, over the
// scalar formulas of backends/scalar_math.h that the CPU loops (backends/cpu/elementwise.cpp,
// unary_math.cpp) use too. Each op covers the dtypes the CPU covers and fails as the CPU does
// for the rest, so that a program behaves the same on either device.
//
// The host merges the operands' dims (as the CPU's for_each_strided does) and picks one of
// three grid-stride loops: every operand contiguous (one flat index), or strided with 32-bit
// index arithmetic (a multiply-shift per dim instead of a 64-bit division, which costs tens of
// instructions on a GPU), or strided with 64-bit arithmetic beyond 2^31 elements.
//
// To keep this file quick to compile, a kernel is instantiated per element type, not per op:
// the op is a switch inside the loop, on a value every thread shares, so it costs a few
// instructions and no divergence next to the memory traffic that bounds these kernels.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <cuda_runtime.h>

#include <tern/backends/scalar_math.h>
#include <tern/core/error.h>

#include "kernels.h"

namespace tern::gpu::kernels {

namespace {

constexpr int kThreads = 256;
// Dims left after merging; shape and strides travel by value in the kernel's parameters.
constexpr int kMaxDims = 12;

// ---- Index arithmetic.

// n / d for n < 2^31 as a multiply-high and a shift (Granlund and Montgomery, "Division by
// invariant integers using multiplication", as in PyTorch's IntDivider).
struct FastDivider {
  uint32_t divisor = 1;
  uint32_t magic = 1;
  uint32_t shift = 0;

  FastDivider() = default;
  // 1 <= d <= 2^31.
  explicit FastDivider(uint32_t d) : divisor(d) {
    while (shift < 31 && (1u << shift) < d) ++shift;  // shift = ceil(log2(d))
    const uint64_t m = ((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1;
    magic = static_cast<uint32_t>(m);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, magic) + n) >> shift; }
};

// The iteration space of N operands after merging: dims innermost first, element strides.
template <int N>
struct Layout {
  int ndim = 0;
  int64_t size[kMaxDims];
  FastDivider divider[kMaxDims];  // of size, for the 32-bit loop
  int64_t stride[N][kMaxDims];
};

// Element offsets of flat index i, one per operand. The outermost dim needs no division: what
// is left of i is its index.
template <int N>
__device__ __forceinline__ void offsets32(const Layout<N>& l, uint32_t i, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d == l.ndim - 1) {
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(i) * l.stride[k][d];
      break;
    }
    const uint32_t q = l.divider[d].div(i);
    const uint32_t r = i - q * l.divider[d].divisor;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(r) * l.stride[k][d];
    i = q;
  }
}

template <int N>
__device__ __forceinline__ void offsets64(const Layout<N>& l, int64_t i, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d == l.ndim - 1) {
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += i * l.stride[k][d];
      break;
    }
    const int64_t q = i / l.size[d];
    const int64_t r = i - q * l.size[d];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += r * l.stride[k][d];
    i = q;
  }
}

// ---- The three loops. Op is called with one element offset per operand.

template <int N, typename Op>
__global__ void __launch_bounds__(kThreads) contiguous_kernel(int64_t n, Op op) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i;
    op(off);
  }
}

// n <= INT32_MAX, so i + step stays below 2^32.
template <int N, typename Op>
__global__ void __launch_bounds__(kThreads) strided32_kernel(Layout<N> l, uint32_t n, Op op) {
  const uint32_t step = blockDim.x * gridDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[N];
    offsets32(l, i, off);
    op(off);
  }
}

template <int N, typename Op>
__global__ void __launch_bounds__(kThreads) strided64_kernel(Layout<N> l, int64_t n, Op op) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[N];
    offsets64(l, i, off);
    op(off);
  }
}

// ---- Host side: merging dims and launching.

void check_cuda(cudaError_t err, const char* op, const char* what) {
  TERN_CHECK(err == cudaSuccess, op, what, ": ", cudaGetErrorString(err));
}

// Blocks enough to fill every SM (2048 threads each on sm_80 and sm_90) and no more: the
// grid-stride loops take the rest, and fewer blocks retire faster.
int64_t max_blocks(const char* op) {
  constexpr int kCachedDevices = 64;
  static std::array<std::atomic<int>, kCachedDevices> sm_counts{};
  int device = 0;
  check_cuda(cudaGetDevice(&device), op, "cudaGetDevice");
  int sms = device < kCachedDevices ? sm_counts[device].load(std::memory_order_relaxed) : 0;
  if (sms == 0) {
    check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), op, "cudaDeviceGetAttribute");
    if (device < kCachedDevices) sm_counts[device].store(sms, std::memory_order_relaxed);
  }
  return static_cast<int64_t>(sms) * (2048 / kThreads);
}

int grid_for(int64_t n, const char* op) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, max_blocks(op)));
}

// The operands' iteration space with size-1 dims dropped and dims merged where every operand
// is contiguous across them (the CPU's rule, in backends/cpu/loops.h).
template <int N>
struct Merged {
  int64_t numel = 1;
  std::vector<int64_t> size;                   // outermost first
  std::vector<std::array<int64_t, N>> stride;  // elements

  // All operands walk the same dense range, so a flat index addresses each.
  bool contiguous() const {
    if (size.empty()) return true;
    if (size.size() > 1) return false;
    for (int k = 0; k < N; ++k)
      if (stride[0][k] != 1) return false;
    return true;
  }
};

template <int N>
Merged<N> merge_dims(const Shape& shape, const std::array<const Strides*, N>& strides) {
  Merged<N> m;
  for (size_t d = 0; d < shape.size(); ++d) {
    m.numel *= shape[d];
    if (shape[d] == 1) continue;
    std::array<int64_t, N> s;
    for (int k = 0; k < N; ++k) s[k] = (*strides[k])[d];
    if (!m.size.empty()) {
      bool merge = true;
      for (int k = 0; k < N; ++k) merge = merge && m.stride.back()[k] == s[k] * shape[d];
      if (merge) {
        m.size.back() *= shape[d];
        m.stride.back() = s;
        continue;
      }
    }
    m.size.push_back(shape[d]);
    m.stride.push_back(s);
  }
  return m;
}

template <int N, typename Op>
void launch(const char* name, cudaStream_t stream, const Merged<N>& m, const Op& op) {
  const int64_t n = m.numel;
  if (n == 0) return;
  const int grid = grid_for(n, name);
  if (m.contiguous()) {
    contiguous_kernel<N><<<grid, kThreads, 0, stream>>>(n, op);
  } else {
    const int ndim = static_cast<int>(m.size.size());
    TERN_CHECK(ndim <= kMaxDims, name, "CUDA kernels take at most ", kMaxDims,
               " dims once contiguous ones are merged; these operands have ", ndim);
    Layout<N> l{};
    l.ndim = ndim;
    for (int d = 0; d < ndim; ++d) {
      const int src = ndim - 1 - d;  // innermost first
      l.size[d] = m.size[src];
      for (int k = 0; k < N; ++k) l.stride[k][d] = m.stride[src][k];
      if (n <= INT32_MAX) l.divider[d] = FastDivider(static_cast<uint32_t>(m.size[src]));
    }
    if (n <= INT32_MAX)
      strided32_kernel<N><<<grid, kThreads, 0, stream>>>(l, static_cast<uint32_t>(n), op);
    else
      strided64_kernel<N><<<grid, kThreads, 0, stream>>>(l, n, op);
  }
  check_launch(name);
}

// ---- Element access and dtype dispatch on the device.

// Any nonzero byte is a true bool, as on the CPU.
template <typename T>
__device__ __forceinline__ T load(const void* base, int64_t off) {
  if constexpr (std::is_same_v<T, bool>)
    return static_cast<const uint8_t*>(base)[off] != 0;
  else
    return static_cast<const T*>(base)[off];
}

template <typename T>
__device__ __forceinline__ void store(void* base, int64_t off, T v) {
  static_cast<T*>(base)[off] = v;
}

template <typename T>
using Tag = std::type_identity<T>;

// f(Tag<T>{}) with the C++ type of `t`: the device's visit_dtype.
template <typename F>
__device__ __forceinline__ void visit(DType t, F&& f) {
  switch (t) {
    case DType::f32:
      return f(Tag<float>{});
    case DType::f64:
      return f(Tag<double>{});
    case DType::f16:
      return f(Tag<Half>{});
    case DType::bf16:
      return f(Tag<BFloat16>{});
    case DType::i8:
      return f(Tag<int8_t>{});
    case DType::u8:
      return f(Tag<uint8_t>{});
    case DType::i32:
      return f(Tag<int32_t>{});
    case DType::i64:
      return f(Tag<int64_t>{});
    case DType::boolean:
      return f(Tag<bool>{});
  }
}

// The host's counterpart, for picking a kernel.
template <typename F>
void visit_host(DType t, F&& f) {
  visit_dtype(t, [&](auto v) { f(Tag<decltype(v)>{}); });
}

// ---- Ops.

// dst = convert(src) for any dtype pair: two switches per element instead of 81 kernels.
struct ConvertOp {
  void* dst;
  const void* src;
  DType dst_dtype;
  DType src_dtype;
  __device__ void operator()(const int64_t (&off)[2]) const {
    visit(dst_dtype, [&](auto d) {
      using D = typename decltype(d)::type;
      visit(src_dtype, [&](auto s) {
        using S = typename decltype(s)::type;
        store<D>(dst, off[0], math::convert<D>(load<S>(src, off[1])));
      });
    });
  }
};

// dst = src within one dtype, moved as an unsigned integer of its width (bool as bool, so that
// any nonzero byte becomes 1, as the CPU's strided copy does).
template <typename T>
struct MoveOp {
  void* dst;
  const void* src;
  __device__ void operator()(const int64_t (&off)[2]) const { store<T>(dst, off[0], load<T>(src, off[1])); }
};

template <typename T>
struct FillOp {
  void* dst;
  T value;
  __device__ void operator()(const int64_t (&off)[1]) const { store<T>(dst, off[0], value); }
};

template <typename T>
struct WhereOp {
  void* out;
  const void* cond;
  const void* a;
  const void* b;
  __device__ void operator()(const int64_t (&off)[4]) const {
    store<T>(out, off[0], load<bool>(cond, off[1]) ? load<T>(a, off[2]) : load<T>(b, off[3]));
  }
};

// f32 and f64. p and q are the op's parameters in T: the exponent of pow, the bounds of clamp.
template <typename T>
struct UnaryFloatOp {
  void* out;
  const void* in;
  UnaryOp op;
  T p;
  T q;
  __device__ T apply(T x) const {
    switch (op) {
      case UnaryOp::neg:
        return math::neg(x);
      case UnaryOp::exp:
        return math::exp(x);
      case UnaryOp::log:
        return math::log(x);
      case UnaryOp::sqrt:
        return math::sqrt(x);
      case UnaryOp::rsqrt:
        return math::rsqrt(x);
      case UnaryOp::abs:
        return math::abs(x);
      case UnaryOp::sign:
        return math::sign(x);
      case UnaryOp::tanh:
        return math::tanh(x);
      case UnaryOp::relu:
        return math::relu(x);
      case UnaryOp::gelu:
        return math::gelu(x);
      case UnaryOp::gelu_erf:
        return math::gelu_erf(x);
      case UnaryOp::sigmoid:
        return math::sigmoid(x);
      case UnaryOp::round:
        return math::round(x);
      case UnaryOp::pow:
        return math::pow(x, p);
      case UnaryOp::clamp:
        return math::clamp(x, p, q);
      case UnaryOp::logical_not:
        break;  // refused on the host
    }
    return x;
  }
  __device__ void operator()(const int64_t (&off)[2]) const { store<T>(out, off[0], apply(load<T>(in, off[1]))); }
};

// The integer types and bool.
template <typename T>
struct UnaryIntegerOp {
  void* out;
  const void* in;
  UnaryOp op;
  double lo;
  double hi;
  __device__ T apply(T x) const {
    switch (op) {
      case UnaryOp::neg:
        return math::neg(x);
      case UnaryOp::abs:
        return math::abs_integer(x);
      case UnaryOp::sign:
        return math::sign(x);
      case UnaryOp::logical_not:
        return math::logical_not(x);
      case UnaryOp::clamp:
        return math::clamp_integer(x, lo, hi);
      default:
        break;  // refused on the host
    }
    return x;
  }
  __device__ void operator()(const int64_t (&off)[2]) const { store<T>(out, off[0], apply(load<T>(in, off[1]))); }
};

// f32, f64 and the integer types except bool; the host refuses the ops a type lacks.
template <typename T>
struct ArithOp {
  void* out;
  const void* a;
  const void* b;
  BinaryOp op;
  __device__ T apply(T x, T y) const {
    switch (op) {
      case BinaryOp::add:
        return math::add(x, y);
      case BinaryOp::sub:
        return math::sub(x, y);
      case BinaryOp::mul:
        return math::mul(x, y);
      default:
        break;
    }
    if constexpr (std::is_floating_point_v<T>) {
      switch (op) {
        case BinaryOp::div:
          return math::div(x, y);
        case BinaryOp::gelu_backward:
          return math::gelu_backward(x, y);
        case BinaryOp::gelu_erf_backward:
          return math::gelu_erf_backward(x, y);
        default:
          break;
      }
    }
    return T(0);
  }
  __device__ void operator()(const int64_t (&off)[3]) const {
    store<T>(out, off[0], apply(load<T>(a, off[1]), load<T>(b, off[2])));
  }
};

template <typename T>
struct CompareOp {
  void* out;
  const void* a;
  const void* b;
  BinaryOp op;
  __device__ void operator()(const int64_t (&off)[3]) const {
    store<bool>(out, off[0], math::compare(op, load<T>(a, off[1]), load<T>(b, off[2])));
  }
};

// The unsigned integer as wide as T, for moving elements without looking at them.
template <size_t Bytes>
using Bits =
    std::conditional_t<Bytes == 1, uint8_t,
                       std::conditional_t<Bytes == 2, uint16_t, std::conditional_t<Bytes == 4, uint32_t, uint64_t>>>;

template <typename T>
constexpr bool is_real_v = std::is_same_v<T, float> || std::is_same_v<T, double>;

}  // namespace

void copy(cudaStream_t stream, const Shape& shape, const StridedArg& dst, const StridedArg& src) {
  const Merged<2> m = merge_dims<2>(shape, {&dst.strides, &src.strides});
  if (m.numel == 0) return;
  if (dst.dtype == src.dtype) {
    if (m.contiguous()) {
      check_cuda(cudaMemcpyAsync(dst.data, src.data, m.numel * dtype_size(dst.dtype), cudaMemcpyDeviceToDevice, stream),
                 "copy", "cudaMemcpyAsync");
      return;
    }
    visit_host(dst.dtype, [&](auto t) {
      using T = typename decltype(t)::type;
      using M = std::conditional_t<std::is_same_v<T, bool>, bool, Bits<sizeof(T)>>;
      launch<2>("copy", stream, m, MoveOp<M>{dst.data, src.data});
    });
    return;
  }
  launch<2>("copy", stream, m, ConvertOp{dst.data, src.data, dst.dtype, src.dtype});
}

void fill(cudaStream_t stream, const Shape& shape, const StridedArg& dst, double value) {
  const Merged<1> m = merge_dims<1>(shape, {&dst.strides});
  if (m.numel == 0) return;
  visit_host(dst.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    using B = Bits<sizeof(T)>;
    const T v = math::convert<T>(value);
    B bits;
    std::memcpy(&bits, &v, sizeof(T));
    if (bits == 0 && m.contiguous()) {
      check_cuda(cudaMemsetAsync(dst.data, 0, m.numel * sizeof(T), stream), "fill", "cudaMemsetAsync");
      return;
    }
    launch<1>("fill", stream, m, FillOp<B>{dst.data, bits});
  });
}

void unary(cudaStream_t stream, UnaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& in, double p0,
           double p1) {
  const Merged<2> m = merge_dims<2>(shape, {&out.strides, &in.strides});
  visit_host(in.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (is_real_v<T>) {
      TERN_CHECK(op != UnaryOp::logical_not, "unary", "op not supported for floating point");
      // The parameters in T, as the CPU's loop takes them.
      T p = T(0), q = T(0);
      if (op == UnaryOp::pow) {
        p = static_cast<T>(p0);
      } else if (op == UnaryOp::clamp) {
        p = math::clamp_lo<T>(p0);
        q = math::clamp_hi<T>(p1);
      }
      launch<2>("unary", stream, m, UnaryFloatOp<T>{out.data, in.data, op, p, q});
    } else if constexpr (std::is_integral_v<T>) {
      TERN_CHECK(math::has_integer_unary(op), "unary", "op not supported for ", dtype_name(dtype_v<T>));
      launch<2>("unary", stream, m, UnaryIntegerOp<T>{out.data, in.data, op, p0, p1});
    } else {
      TERN_FAIL("unary", "no kernel for ", dtype_name(dtype_v<T>), "; convert with to(f32)");
    }
  });
}

void binary(cudaStream_t stream, BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
            const StridedArg& b) {
  visit_host(a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const Merged<3> m = merge_dims<3>(shape, {&out.strides, &a.strides, &b.strides});
    if (math::is_comparison(op)) {
      launch<3>("binary", stream, m, CompareOp<T>{out.data, a.data, b.data, op});
    } else if constexpr (!math::is_reduced_v<T> && !std::is_same_v<T, bool>) {
      TERN_CHECK(math::has_arith<T>(op), "binary", "unsupported op for ", dtype_name(dtype_v<T>));
      launch<3>("binary", stream, m, ArithOp<T>{out.data, a.data, b.data, op});
    } else {
      TERN_FAIL("binary", "no arithmetic kernel for ", dtype_name(dtype_v<T>));
    }
  });
}

void where(cudaStream_t stream, const Shape& shape, const StridedArg& out, const StridedArg& cond, const StridedArg& a,
           const StridedArg& b) {
  const Merged<4> m = merge_dims<4>(shape, {&out.strides, &cond.strides, &a.strides, &b.strides});
  visit_host(out.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    using M = std::conditional_t<std::is_same_v<T, bool>, bool, Bits<sizeof(T)>>;
    launch<4>("where", stream, m, WhereOp<M>{out.data, cond.data, a.data, b.data});
  });
}

}  // namespace tern::gpu::kernels
