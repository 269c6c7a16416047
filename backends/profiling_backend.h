#pragma once
// The backend backend_for hands out under TERN_PROFILE (backends/profile.h): it forwards each
// kernel to the real backend and times it. Private to backends/.

#include <string>

#include <tern/backends/backend.h>

namespace tern::detail {

class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend& inner) : inner_(inner) {}
  Device device() const override { return inner_.device(); }
  Allocator& allocator() override { return inner_.allocator(); }
  void synchronize() override { inner_.synchronize(); }
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
  void reduce(ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices, int64_t outer, int64_t r,
              int64_t inner) override;
  void gemm_batched(const GemmTypes& types, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                    const void* a, int64_t lda, const void* b, int64_t ldb, double beta, void* c, int64_t ldc,
                    const GemmBatch& batch) override;
  void softmax(bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d, int64_t inner) override;
  void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, void* mean,
                          void* rstd, int64_t rows, int64_t cols, double eps) override;
  void layer_norm_backward(DType dtype, const void* gy, const void* x, const void* weight, const void* mean,
                           const void* rstd, void* gx, void* gweight, void* gbias, int64_t rows, int64_t cols) override;
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
  void index_add(DType dtype, void* dst, const int64_t* idx, const void* src, int64_t outer, int64_t dst_dim, int64_t n,
                 int64_t inner) override;
  void activation_quant(DType dtype, const void* x, void* out, int8_t* q, void* scale, int64_t rows,
                        int64_t cols) override;
  void ternarize(DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out, void* scale) override;
  void attention_forward(DType dtype, const void* q, const void* k, const void* v, void* out, void* lse, int64_t bh,
                         int64_t tq, int64_t tk, int64_t d, double scale, bool causal) override;
  void attention_backward(DType dtype, const void* q, const void* k, const void* v, const void* out, const void* lse,
                          const void* gout, void* gq, void* gk, void* gv, int64_t bh, int64_t tq, int64_t tk, int64_t d,
                          double scale, bool causal) override;
  bool fused_attention_preferred(DType dtype, int64_t d) const override {
    return inner_.fused_attention_preferred(dtype, d);
  }
  void ternary_linear(const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n, const float* scale,
                      const float* bias, bool rmsnorm, double eps, float* y, int32_t* dots) override;

 private:
  template <typename F>
  void timed(const std::string& name, F&& call);
  Backend& inner_;
};

// The profiling wrapper of `inner`, made on first use and kept.
Backend& profiled(Backend& inner);

}  // namespace tern::detail
