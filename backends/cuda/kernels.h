#pragma once
// The CUDA kernels behind CudaBackend (cuda_backend.cpp), one family per .cu file. Each
// launcher queues its work on `stream` and returns without waiting; the arguments mean what
// the Backend virtual of the same name says (backends/backend.h).
//
// A kernel that checks indices gets `bad`, two i64 on the device holding {INT64_MAX, 0}: at
// the first (lowest) bad position p it leaves {p, the bad value}; CudaBackend reads it at the
// next synchronization and raises the RangeCheck error.

#include <cstdint>

#include <cuda_runtime.h>

#include <tern/backends/backend.h>

namespace tern::gpu::kernels {

// elementwise.cu
void copy(cudaStream_t stream, const Shape& shape, const StridedArg& dst, const StridedArg& src);
void fill(cudaStream_t stream, const Shape& shape, const StridedArg& dst, double value);
void unary(cudaStream_t stream, UnaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& in, double p0,
           double p1);
void binary(cudaStream_t stream, BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
            const StridedArg& b);
void where(cudaStream_t stream, const Shape& shape, const StridedArg& out, const StridedArg& cond, const StridedArg& a,
           const StridedArg& b);

// reduce.cu
void reduce(cudaStream_t stream, ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices, int64_t outer,
            int64_t r, int64_t inner);

// nn.cu
void softmax(cudaStream_t stream, bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d,
             int64_t inner);
void layer_norm_forward(cudaStream_t stream, DType dtype, const void* x, const void* weight, const void* bias, void* y,
                        void* mean, void* rstd, int64_t rows, int64_t cols, double eps);
void layer_norm_backward(cudaStream_t stream, DType dtype, const void* gy, const void* x, const void* weight,
                         const void* mean, const void* rstd, void* gx, void* gweight, void* gbias, int64_t rows,
                         int64_t cols);
void cross_entropy_forward(cudaStream_t stream, DType dtype, const void* logits, const int64_t* targets, void* lse,
                           void* loss, int64_t* count, int64_t rows, int64_t classes, int64_t ignore_index,
                           int64_t* bad);
void cross_entropy_backward(cudaStream_t stream, DType dtype, const void* logits, const int64_t* targets,
                            const void* lse, const void* grad, const int64_t* count, void* glogits, int64_t rows,
                            int64_t classes, int64_t ignore_index);

// index.cu
void index_select(cudaStream_t stream, DType dtype, const void* src, const int64_t* idx, void* dst, int64_t outer,
                  int64_t src_dim, int64_t n, int64_t inner, int64_t* bad);
void index_add(cudaStream_t stream, DType dtype, void* dst, const int64_t* idx, const void* src, int64_t outer,
               int64_t dst_dim, int64_t n, int64_t inner);

// optim.cu
void adamw_step(cudaStream_t stream, DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step);

// quant.cu
void activation_quant(cudaStream_t stream, DType dtype, const void* x, void* out, int8_t* q, void* scale, int64_t rows,
                      int64_t cols);
void ternarize(cudaStream_t stream, DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out,
               void* scale);

// attention.cu
bool fused_attention_supported(DType dtype, int64_t d);
void attention_forward(cudaStream_t stream, DType dtype, const void* q, const void* k, const void* v, void* out,
                       void* lse, int64_t bh, int64_t tq, int64_t tk, int64_t d, double scale, bool causal);
void attention_backward(cudaStream_t stream, DType dtype, const void* q, const void* k, const void* v, const void* out,
                        const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t bh, int64_t tq,
                        int64_t tk, int64_t d, double scale, bool causal);

// w2a8.cu
void ternary_linear(cudaStream_t stream, const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n,
                    const float* scale, const float* bias, bool rmsnorm, double eps, float* y, int32_t* dots);

// Raises a tern::Error naming `op` when the last launch failed.
void check_launch(const char* op);

}  // namespace tern::gpu::kernels
