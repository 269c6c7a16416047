#pragma once
// The CPU backend: OpenBLAS for GEMM, OpenMP across cores for loops.
// Kernels are split by family across backends/cpu/*.cpp.

#include <tern/backends/backend.h>

namespace tern::cpu {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return kCPU; }
  Allocator& allocator() override;
  void synchronize() override {}
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy(const Shape& shape, const StridedArg& dst, const StridedArg& src) override;
  void fill(const Shape& shape, const StridedArg& dst, double value) override;
  void unary(UnaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& in, double p0,
             double p1) override;
  void binary(BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
              const StridedArg& b) override;
  void where(const Shape& shape, const StridedArg& out, const StridedArg& cond, const StridedArg& a,
             const StridedArg& b) override;
  void reduce(ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices, int64_t outer,
              int64_t r, int64_t inner) override;
  void gemm_batched(const GemmTypes& types, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                    const void* a, int64_t lda, const void* b, int64_t ldb, double beta, void* c, int64_t ldc,
                    const GemmBatch& batch) override;
  void softmax(bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d,
               int64_t inner) override;
  void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y,
                          void* mean, void* rstd, int64_t rows, int64_t cols, double eps) override;
  void layer_norm_backward(DType dtype, const void* gy, const void* x, const void* weight,
                           const void* mean, const void* rstd, void* gx, void* gweight,
                           void* gbias, int64_t rows, int64_t cols) override;
  void cross_entropy_forward(DType dtype, const void* logits, const int64_t* targets, void* lse, void* loss,
                             int64_t* count, int64_t rows, int64_t classes, int64_t ignore_index,
                             const RangeCheck& check) override;
  void cross_entropy_backward(DType dtype, const void* logits, const int64_t* targets, const void* lse,
                              const void* grad, const int64_t* count, void* glogits, int64_t rows, int64_t classes,
                              int64_t ignore_index) override;
  void adamw_step(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, int64_t n, double lr,
                  double beta1, double beta2, double eps, double weight_decay, int64_t step) override;
  void index_select(DType dtype, const void* src, const int64_t* idx, void* dst, int64_t outer, int64_t src_dim,
                    int64_t n, int64_t inner, const RangeCheck& check) override;
  void index_add(DType dtype, void* dst, const int64_t* idx, const void* src, int64_t outer,
                 int64_t dst_dim, int64_t n, int64_t inner) override;
  void activation_quant(DType dtype, const void* x, void* out, int8_t* q, void* scale, int64_t rows,
                        int64_t cols) override;
  void ternarize(DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out, void* scale) override;
  void attention_forward(DType dtype, const void* q, const void* k, const void* v, void* out, void* lse, int64_t bh,
                         int64_t tq, int64_t tk, int64_t d, double scale, bool causal) override;
  void attention_backward(DType dtype, const void* q, const void* k, const void* v, const void* out, const void* lse,
                          const void* gout, void* gq, void* gk, void* gv, int64_t bh, int64_t tq, int64_t tk, int64_t d,
                          double scale, bool causal) override;
  // The composed ops run on OpenBLAS; the fused loops are the reference the GPU kernels follow.
  bool fused_attention_preferred(DType, int64_t) const override { return false; }
  void ternary_linear(const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n, const float* scale,
                      const float* bias, bool rmsnorm, double eps, float* y, int32_t* dots) override;
};

CpuBackend& cpu_backend();

// Raises the RangeCheck error for `value` at `position`.
[[noreturn]] void fail_range(const RangeCheck& check, int64_t value, int64_t position);

// Unary math kernels for f32/f64 over a strided run, in unary_math.cpp (built so
// that the compiler can vectorise exp/tanh/log through libmvec).
void unary_float_run(UnaryOp op, DType dtype, char* out, int64_t out_stride, const char* in,
                     int64_t in_stride, int64_t n, double p0, double p1);

}  // namespace tern::cpu
