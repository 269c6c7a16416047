#pragma once
// The backend interface: one implementation per device (backends/cpu, backends/cuda).
// Kernels see raw pointers, sizes and element strides, never Tensors or autograd.
// Ops validate their arguments before calling here, so kernels may assume them valid,
// except for values only the kernel reads (indices, targets), which they check against a RangeCheck.
//
// A device backend may run kernels asynchronously, in the order they were called: a kernel's
// outputs are ready for the next kernel, and the host sees them after copy_to_host or
// synchronize(). Kernels never hand a value back to the host themselves.

#include <cstdint>
#include <string>
#include <vector>

#include <tern/core/allocator.h>
#include <tern/core/device.h>
#include <tern/core/dtype.h>
#include <tern/core/shape.h>

namespace tern {

// One operand of an elementwise kernel: data at its first element, and one element
// stride per dim of the iteration shape (0 along broadcast dims).
struct StridedArg {
  void* data;
  DType dtype;
  Strides strides;
};

enum class UnaryOp : uint8_t {
  neg, exp, log, sqrt, rsqrt, abs, sign, tanh, relu,
  gelu,       // tanh approximation
  gelu_erf,   // exact
  sigmoid, round,
  pow,        // x ** p0
  clamp,      // min(max(x, p0), p1); NaN bounds are ignored
  logical_not
};

enum class BinaryOp : uint8_t {
  add, sub, mul, div,
  eq, ne, lt, le, gt, ge,  // output bool
  gelu_backward,           // a = x, b = upstream grad
  gelu_erf_backward,       // the same for the exact GELU
};

// sum_squares: the sum of x*x (floating dtypes), for L2 norms.
enum class ReduceOp : uint8_t { sum, max, min, sum_squares };

// The dtypes of a matrix product, as cublasGemmEx takes them: A and B are `input`, C is
// `output`, and products accumulate in `compute`. Every backend runs {f32, f32, f32} and
// {f64, f64, f64}; CUDA also takes f16 and bf16 inputs with f32 compute.
struct GemmTypes {
  DType input;
  DType output;
  DType compute;
  static GemmTypes of(DType t) { return {t, t, t}; }
};

// A strided batch of `count` products: product i reads A at a + i * stride_a elements, and
// likewise for B and C.
struct GemmBatch {
  int64_t count = 1;
  int64_t stride_a = 0;
  int64_t stride_b = 0;
  int64_t stride_c = 0;
};

// How a kernel reports a value outside its range, which only the kernel reads (an index, a
// target). The CPU raises at once; a device records the first bad position and raises at the
// next point where the host waits for it. Either way the error reads
// "[op] <what> <value> at position <p> is out of range <range>".
struct RangeCheck {
  const char* op;
  const char* what;
  std::string range;  // e.g. "for dim 0 of size 5"
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual Allocator& allocator() = 0;

  // Waits for every queued kernel and raises the first RangeCheck error they recorded.
  virtual void synchronize() = 0;

  // Contiguous bytes between this backend's device and the host (or itself). copy_to_host
  // waits for the queued work first, as synchronize() does.
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;

  // dst[i] = convert(src[i]) over `shape`, any strides, any dtype pair.
  virtual void copy(const Shape& shape, const StridedArg& dst, const StridedArg& src) = 0;
  virtual void fill(const Shape& shape, const StridedArg& dst, double value) = 0;

  virtual void unary(UnaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& in,
                     double p0, double p1) = 0;
  // a and b share a dtype; out has it too except for comparisons (bool).
  virtual void binary(BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
                      const StridedArg& b) = 0;
  virtual void where(const Shape& shape, const StridedArg& out, const StridedArg& cond,
                     const StridedArg& a, const StridedArg& b) = 0;

  // Contiguous input viewed as [outer, r, inner], reduced over r into [outer, inner].
  // For max/min, `indices` (i64, may be null) receives the position along r.
  virtual void reduce(ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices,
                      int64_t outer, int64_t r, int64_t inner) = 0;

  // Row-major C = alpha * op(A) @ op(B) + beta * C, for each product of `batch`.
  virtual void gemm_batched(const GemmTypes& types, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                            double alpha, const void* a, int64_t lda, const void* b, int64_t ldb, double beta, void* c,
                            int64_t ldc, const GemmBatch& batch) = 0;
  // One product, all operands of `dtype`.
  void gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const void* a,
            int64_t lda, const void* b, int64_t ldb, double beta, void* c, int64_t ldc) {
    gemm_batched(GemmTypes::of(dtype), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, GemmBatch{});
  }

  // Contiguous [outer, d, inner], softmax or log_softmax along d.
  virtual void softmax(bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d,
                       int64_t inner) = 0;

  // Contiguous [rows, cols]; weight/bias may be null. mean/rstd are f32 [rows] (f64 for f64 x).
  virtual void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias,
                                  void* y, void* mean, void* rstd, int64_t rows, int64_t cols,
                                  double eps) = 0;
  // gx is written; gweight/gbias (may be null) are overwritten with the sum over rows.
  virtual void layer_norm_backward(DType dtype, const void* gy, const void* x, const void* weight,
                                   const void* mean, const void* rstd, void* gx, void* gweight,
                                   void* gbias, int64_t rows, int64_t cols) = 0;

  // logits [rows, classes] contiguous, targets i64 [rows]. Writes lse [rows], the mean loss
  // over non-ignored rows into loss (one element, dtype of logits; NaN when there are none) and
  // their count into count (one i64), both on this device. A target outside [0, classes) that
  // is not ignore_index is reported through `check`.
  virtual void cross_entropy_forward(DType dtype, const void* logits, const int64_t* targets, void* lse, void* loss,
                                     int64_t* count, int64_t rows, int64_t classes, int64_t ignore_index,
                                     const RangeCheck& check) = 0;
  // glogits = grad / count * (softmax - onehot) on non-ignored rows, 0 elsewhere (and all 0
  // when count is 0); grad (one element, dtype of logits) and count live on this device.
  virtual void cross_entropy_backward(DType dtype, const void* logits, const int64_t* targets, const void* lse,
                                      const void* grad, const int64_t* count, void* glogits, int64_t rows,
                                      int64_t classes, int64_t ignore_index) = 0;

  // AdamW on contiguous [n] arrays, in place, in torch's arithmetic order:
  // p *= 1 - lr*wd; m = lerp(m, g, 1 - beta1); v = beta2*v + (1 - beta2)*g*g;
  // p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
  virtual void adamw_step(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, int64_t n,
                          double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step) = 0;

  // dst[o, i, :] = src[o, idx[i], :], src [outer, src_dim, inner], idx i64 [n]. An index
  // outside [0, src_dim) is reported through `check`.
  virtual void index_select(DType dtype, const void* src, const int64_t* idx, void* dst, int64_t outer, int64_t src_dim,
                            int64_t n, int64_t inner, const RangeCheck& check) = 0;
  // dst[o, idx[i], :] += src[o, i, :], adding in the order of i (so the result does not depend
  // on the device's scheduling); indices already validated.
  virtual void index_add(DType dtype, void* dst, const int64_t* idx, const void* src,
                         int64_t outer, int64_t dst_dim, int64_t n, int64_t inner) = 0;

  // ---- BitNet b1.58 quantization (quant/quant_ops.h), f32 or f64.
  // Per-row 8-bit absmax quantization of contiguous x [rows, cols], in x's precision and
  // torch's arithmetic order: scale = 127 / max(max|x|, 1e-5); v = clamp(round_half_even(x *
  // scale), -128, 127). Writes scale [rows] (x's dtype), q = v (i8, may be null) and
  // out = v / scale (x's dtype, may be null).
  virtual void activation_quant(DType dtype, const void* x, void* out, int8_t* q, void* scale,
                                int64_t rows, int64_t cols) = 0;
  // Ternarizes contiguous w [n] (n > 0) into q (i8 in {-1, 0, 1}) and writes the
  // dequantization scale (one element of w's dtype, on this device) into scale; out (may be
  // null) receives q * scale.
  // zeros < 0, BitNet absmean: s = 1 / max(mean|w|, 1e-5), q = clamp(round(w * s), -1, 1),
  //   scale = 1 / s (so q * scale equals torch's q / s bit for bit).
  // zeros >= 0: exactly `zeros` entries with the smallest |w| become 0 (ties broken by lower
  //   index); the rest become +-1 by sign bit; scale = the mean |w| of the kept entries (their
  //   least-squares scale; 0 when none is kept).
  virtual void ternarize(DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out, void* scale) = 0;

  // ---- Fused attention (scaled_dot_product_attention), never materializing the scores.
  // q [bh, tq, d], k and v [bh, tk, d] and out [bh, tq, d] contiguous, all of `dtype`. Row i
  // attends to keys j (j <= i when causal, top-left aligned as torch's mask) with weights
  // softmax_j(scale · q_i·k_j); lse [bh, tq] receives that softmax's logsumexp, which the
  // backward uses to recompute the weights.
  virtual void attention_forward(DType dtype, const void* q, const void* k, const void* v, void* out, void* lse,
                                 int64_t bh, int64_t tq, int64_t tk, int64_t d, double scale, bool causal) = 0;
  // gq, gk, gv (overwritten) from the forward's inputs, out and lse and the gradient gout.
  virtual void attention_backward(DType dtype, const void* q, const void* k, const void* v, const void* out,
                                  const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t bh,
                                  int64_t tq, int64_t tk, int64_t d, double scale, bool causal) = 0;
  // Whether this backend has fused attention kernels for `dtype` and head dim d, and whether
  // they beat the composed ops (matmul, softmax) there.
  virtual bool fused_attention_preferred(DType dtype, int64_t d) const = 0;

  // ---- Packed ternary inference (quant/packed.h), f32 in and out.
  // x [m, k] (contiguous) is quantized per row to int8 as BitNet's activation_quant (after a
  // parameter-free RMSNorm when `rmsnorm`) and multiplied exactly, in integers, with the
  // ternary weight w [n, k] in the i2 layout of backends/cpu/ternary/ternary.h (n rows of
  // padded_k(k) / 4 bytes); then y[r, i] = float(dot) · ((1 / s_x[r]) · scale[0]) + bias[i].
  // scale (one f32) and bias (f32 [n], may be null) live on this device; dots (i32 [m, n],
  // may be null) receives the integer products themselves.
  virtual void ternary_linear(const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n, const float* scale,
                              const float* bias, bool rmsnorm, double eps, float* y, int32_t* dots) = 0;
};

// The backend for `device`. `op` names the caller for the error raised when the
// device is unavailable (e.g. "[matmul] tern was built without CUDA support").
Backend& backend_for(Device device, const char* op);

// Whether this build has CUDA and a usable device; the count of devices.
bool cuda_available();
int cuda_device_count();

// How fp32 matrix products may run on a GPU: "highest" (the default, as in PyTorch: fp32
// means fp32) or "high" (TF32 tensor cores, a 10-bit mantissa in the products). The CPU
// always computes in full precision.
void set_matmul_precision(const std::string& precision);
std::string matmul_precision();

// Set from TERN_NUM_THREADS at start-up; governs OpenMP loops and OpenBLAS.
int num_threads();
void set_num_threads(int n);

// What this build runs with, for `tern info` and bug reports.
struct BuildInfo {
  std::string version;         // tern's version
  std::string git_revision;    // of the source tree when the build was configured ("" if unknown)
  bool native = false;         // built for this machine's CPU (-march=native)
  bool cuda = false;           // the CUDA backend is compiled in
  std::string blas;            // OpenBLAS's own description of its build
  std::string blas_threading;  // "OpenMP", "pthreads" or "sequential"
  std::string cpu_kernels;     // instruction set the integer inference kernels use here
  std::vector<std::string> cpu_features;  // of avx2, fma, avx512f, avx512bw, avx512vnni: those this CPU has
};
BuildInfo build_info();

}  // namespace tern
