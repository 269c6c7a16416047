// The CUDA backend: a stream-ordered caching allocator, cuBLAS for products (cublas_api.h), the kernels of
// backends/cuda/*.cu, and the deferred range checks.
//
// Every kernel, copy and allocation is queued on the device's legacy default stream, the one
// the NCCL group (backends/comm/nccl_group.cpp) orders its collectives against. The host waits
// only in copy_to_host (item(), printing, saving) and synchronize().

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include <tern/backends/backend.h>
#include <tern/backends/cuda.h>
#include <tern/core/error.h>

#include "cublas_api.h"
#include "cuda_backend.h"
#include "kernels.h"

namespace tern {

namespace gpu {

namespace {

constexpr cudaStream_t kStream = nullptr;  // the legacy default stream

void check_cuda(cudaError_t err, const char* op, const char* what) {
  TERN_CHECK(err == cudaSuccess, op, what, ": ", cudaGetErrorString(err));
}

void check_cublas(cublasStatus_t st, const char* what) {
  TERN_CHECK(st == CUBLAS_STATUS_SUCCESS, "gemm", what, " failed: ", cublas("gemm").status_string(st));
}

// Makes `device` current for this thread. Not cached: other code (the NCCL group, a user's
// own CUDA calls) may switch devices behind tern's back, and the runtime's own check is cheap.
void activate(int device) { check_cuda(cudaSetDevice(device), "cuda", "cudaSetDevice"); }

// Blocks come from the device's memory pool through cudaMallocAsync and go back through
// cudaFreeAsync, both on the backend's stream: a freed block is reused only by work queued
// after the free, so no free waits for the device. The pool keeps freed memory instead of
// returning it to the driver at each synchronization (its release threshold is unlimited),
// which makes it a caching allocator; it is trimmed and the allocation retried when the
// device runs out.
class StreamAllocator final : public Allocator {
 public:
  explicit StreamAllocator(int device) : device_(device) {}

  void* allocate(size_t nbytes) override {
    activate(device_);
    init_pool();
    void* p = nullptr;
    const size_t size = std::max<size_t>(nbytes, 1);
    if (cudaMallocAsync(&p, size, kStream) != cudaSuccess) {
      (void)cudaGetLastError();
      // Blocks freed by queued work become reusable once that work has run.
      check_cuda(cudaStreamSynchronize(kStream), "alloc", "cudaStreamSynchronize");
      cudaMemPoolTrimTo(pool_, 0);
      const cudaError_t err = cudaMallocAsync(&p, size, kStream);
      if (err != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        TERN_FAIL("alloc", "out of memory allocating ", nbytes, " bytes on cuda:", device_, ": ", free_b,
                  " bytes free of ", total_b, ", ", allocated_.load(), " held by tensors (", cudaGetErrorString(err),
                  ")");
      }
    }
    const int64_t now = allocated_ += static_cast<int64_t>(size);
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    if (!ptr) return;
    allocated_ -= static_cast<int64_t>(std::max<size_t>(nbytes, 1));
    // At exit the runtime may already be gone (a static tensor outliving it); the memory goes
    // with the process then, so the error is dropped.
    if (cudaSetDevice(device_) != cudaSuccess || cudaFreeAsync(ptr, kStream) != cudaSuccess) (void)cudaGetLastError();
  }

  CudaMemoryStats stats() {
    CudaMemoryStats s;
    s.allocated = allocated_.load();
    s.peak = peak_.load();
    if (pool_) {
      uint64_t reserved = 0;
      if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess)
        s.reserved = static_cast<int64_t>(reserved);
    }
    return s;
  }

  void reset_peak() { peak_ = allocated_.load(); }

 private:
  void init_pool() {
    std::call_once(pool_once_, [this] {
      check_cuda(cudaDeviceGetDefaultMemPool(&pool_, device_), "alloc", "cudaDeviceGetDefaultMemPool");
      uint64_t keep = std::numeric_limits<uint64_t>::max();
      check_cuda(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep), "alloc",
                 "cudaMemPoolSetAttribute");
    });
  }

  int device_;
  std::once_flag pool_once_;
  cudaMemPool_t pool_ = nullptr;
  std::atomic<int64_t> allocated_{0};
  std::atomic<int64_t> peak_{0};
};

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::f64:
      return CUDA_R_64F;
    case DType::f16:
      return CUDA_R_16F;
    case DType::bf16:
      return CUDA_R_16BF;
    default:
      TERN_FAIL("gemm", "no cuBLAS product for ", t);
  }
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index), alloc_(index) {}

  Device device() const override { return Device(DeviceType::cuda, index_); }
  Allocator& allocator() override { return alloc_; }
  StreamAllocator& stream_allocator() { return alloc_; }

  void synchronize() override {
    activate(index_);
    check_cuda(cudaStreamSynchronize(kStream), "cuda", "a queued kernel failed");
    raise_range_errors();
  }

  void copy_from_host(void* dst, const void* src, size_t nbytes) override {
    if (nbytes == 0) return;
    activate(index_);
    // From pageable memory the call returns once the source has been staged, so the caller
    // may free or reuse it at once.
    check_cuda(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, kStream), "to", "cudaMemcpyAsync to device");
  }

  void copy_to_host(void* dst, const void* src, size_t nbytes) override {
    activate(index_);
    if (nbytes > 0)
      check_cuda(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, kStream), "to", "cudaMemcpyAsync to host");
    synchronize();
  }

  void copy(const Shape& shape, const StridedArg& dst, const StridedArg& src) override {
    activate(index_);
    kernels::copy(kStream, shape, dst, src);
  }
  void fill(const Shape& shape, const StridedArg& dst, double value) override {
    activate(index_);
    kernels::fill(kStream, shape, dst, value);
  }
  void unary(UnaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& in, double p0,
             double p1) override {
    activate(index_);
    kernels::unary(kStream, op, shape, out, in, p0, p1);
  }
  void binary(BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
              const StridedArg& b) override {
    activate(index_);
    kernels::binary(kStream, op, shape, out, a, b);
  }
  void where(const Shape& shape, const StridedArg& out, const StridedArg& cond, const StridedArg& a,
             const StridedArg& b) override {
    activate(index_);
    kernels::where(kStream, shape, out, cond, a, b);
  }
  void reduce(ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices, int64_t outer, int64_t r,
              int64_t inner) override {
    activate(index_);
    kernels::reduce(kStream, op, dtype, in, out, indices, outer, r, inner);
  }

  void gemm_batched(const GemmTypes& types, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                    const void* a, int64_t lda, const void* b, int64_t ldb, double beta, void* c, int64_t ldc,
                    const GemmBatch& batch) override;

  void softmax(bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d, int64_t inner) override {
    activate(index_);
    kernels::softmax(kStream, log, dtype, in, out, outer, d, inner);
  }
  void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, void* mean,
                          void* rstd, int64_t rows, int64_t cols, double eps) override {
    activate(index_);
    kernels::layer_norm_forward(kStream, dtype, x, weight, bias, y, mean, rstd, rows, cols, eps);
  }
  void layer_norm_backward(DType dtype, const void* gy, const void* x, const void* weight, const void* mean,
                           const void* rstd, void* gx, void* gweight, void* gbias, int64_t rows,
                           int64_t cols) override {
    activate(index_);
    kernels::layer_norm_backward(kStream, dtype, gy, x, weight, mean, rstd, gx, gweight, gbias, rows, cols);
  }
  void cross_entropy_forward(DType dtype, const void* logits, const int64_t* targets, void* lse, void* loss,
                             int64_t* count, int64_t rows, int64_t classes, int64_t ignore_index,
                             const RangeCheck& check) override {
    activate(index_);
    kernels::cross_entropy_forward(kStream, dtype, logits, targets, lse, loss, count, rows, classes, ignore_index,
                                   range_slot(check));
  }
  void cross_entropy_backward(DType dtype, const void* logits, const int64_t* targets, const void* lse,
                              const void* grad, const int64_t* count, void* glogits, int64_t rows, int64_t classes,
                              int64_t ignore_index) override {
    activate(index_);
    kernels::cross_entropy_backward(kStream, dtype, logits, targets, lse, grad, count, glogits, rows, classes,
                                    ignore_index);
  }
  void adamw_step(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, int64_t n, double lr,
                  double beta1, double beta2, double eps, double weight_decay, int64_t step) override {
    activate(index_);
    kernels::adamw_step(kStream, dtype, param, grad, exp_avg, exp_avg_sq, n, lr, beta1, beta2, eps, weight_decay, step);
  }
  void index_select(DType dtype, const void* src, const int64_t* idx, void* dst, int64_t outer, int64_t src_dim,
                    int64_t n, int64_t inner, const RangeCheck& check) override {
    activate(index_);
    kernels::index_select(kStream, dtype, src, idx, dst, outer, src_dim, n, inner, range_slot(check));
  }
  void index_add(DType dtype, void* dst, const int64_t* idx, const void* src, int64_t outer, int64_t dst_dim, int64_t n,
                 int64_t inner) override {
    activate(index_);
    kernels::index_add(kStream, dtype, dst, idx, src, outer, dst_dim, n, inner);
  }
  void activation_quant(DType dtype, const void* x, void* out, int8_t* q, void* scale, int64_t rows,
                        int64_t cols) override {
    activate(index_);
    kernels::activation_quant(kStream, dtype, x, out, q, scale, rows, cols);
  }
  void ternarize(DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out, void* scale) override {
    activate(index_);
    kernels::ternarize(kStream, dtype, w, n, zeros, q, out, scale);
  }
  void attention_forward(DType dtype, const void* q, const void* k, const void* v, void* out, void* lse, int64_t bh,
                         int64_t tq, int64_t tk, int64_t d, double scale, bool causal) override {
    activate(index_);
    kernels::attention_forward(kStream, dtype, q, k, v, out, lse, bh, tq, tk, d, scale, causal);
  }
  void attention_backward(DType dtype, const void* q, const void* k, const void* v, const void* out, const void* lse,
                          const void* gout, void* gq, void* gk, void* gv, int64_t bh, int64_t tq, int64_t tk, int64_t d,
                          double scale, bool causal) override {
    activate(index_);
    kernels::attention_backward(kStream, dtype, q, k, v, out, lse, gout, gq, gk, gv, bh, tq, tk, d, scale, causal);
  }
  bool fused_attention_preferred(DType dtype, int64_t d) const override {
    return kernels::fused_attention_supported(dtype, d);
  }
  void ternary_linear(const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n, const float* scale,
                      const float* bias, bool rmsnorm, double eps, float* y, int32_t* dots) override {
    activate(index_);
    kernels::ternary_linear(kStream, x, m, k, w, n, scale, bias, rmsnorm, eps, y, dots);
  }

 private:
  // Range checks in flight: slot i of slots_ ({position, value}, two i64) belongs to
  // pending_[i]. They are read, reset and raised at the next synchronization.
  static constexpr size_t kSlots = 256;
  static constexpr int64_t kNoBad = std::numeric_limits<int64_t>::max();

  int64_t* range_slot(const RangeCheck& check) {
    std::lock_guard<std::mutex> lock(range_mu_);
    if (!slots_) {
      check_cuda(cudaMalloc(&slots_, kSlots * 2 * sizeof(int64_t)), check.op, "cudaMalloc");
      reset_slots(kSlots);
    }
    if (pending_.size() == kSlots) {
      // Every slot is in use: settle them before queuing more work.
      range_mu_.unlock();
      try {
        synchronize();
      } catch (...) {
        range_mu_.lock();
        throw;
      }
      range_mu_.lock();
    }
    pending_.push_back(check);
    return slots_ + 2 * (pending_.size() - 1);
  }

  void reset_slots(size_t n) {
    std::vector<int64_t> fresh(2 * n);
    for (size_t i = 0; i < n; ++i) fresh[2 * i] = kNoBad;
    // Synchronous: it runs right after a synchronization, and `fresh` dies on return.
    check_cuda(cudaMemcpy(slots_, fresh.data(), fresh.size() * sizeof(int64_t), cudaMemcpyHostToDevice), "cuda",
               "cudaMemcpy");
  }

  void raise_range_errors() {
    std::lock_guard<std::mutex> lock(range_mu_);
    if (pending_.empty()) return;
    std::vector<int64_t> got(2 * pending_.size());
    check_cuda(cudaMemcpy(got.data(), slots_, got.size() * sizeof(int64_t), cudaMemcpyDeviceToHost), "cuda",
               "cudaMemcpy");
    std::vector<RangeCheck> checks;
    checks.swap(pending_);
    reset_slots(checks.size());
    for (size_t i = 0; i < checks.size(); ++i)
      if (got[2 * i] != kNoBad)
        TERN_FAIL(checks[i].op, checks[i].what, " ", got[2 * i + 1], " at position ", got[2 * i], " is out of range ",
                  checks[i].range);
  }

  cublasHandle_t blas() {
    if (!blas_) {
      check_cublas(cublas("gemm").create(&blas_), "cublasCreate");
      check_cublas(cublas("gemm").set_stream(blas_, kStream), "cublasSetStream");
    }
    return blas_;
  }

  int index_;
  StreamAllocator alloc_;
  std::mutex range_mu_;
  int64_t* slots_ = nullptr;
  std::vector<RangeCheck> pending_;
  cublasHandle_t blas_ = nullptr;
};

void CudaBackend::gemm_batched(const GemmTypes& types, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                               double alpha, const void* a, int64_t lda, const void* b, int64_t ldb, double beta,
                               void* c, int64_t ldc, const GemmBatch& batch) {
  if (m == 0 || n == 0 || batch.count == 0) return;
  activate(index_);
  const bool f64 = types.compute == kFloat64;
  TERN_CHECK((f64 && types.input == kFloat64 && types.output == kFloat64) ||
                 (types.compute == kFloat32 && types.input != kFloat64 && types.output != kFloat64),
             "gemm", "no cuBLAS product of ", types.input, " into ", types.output, " computed in ", types.compute);
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  for (int64_t v : {m, n, k, lda, ldb, ldc, batch.count})
    TERN_CHECK(v <= kMax, "gemm", "dimension ", v, " exceeds cuBLAS's 32-bit limit");
  cublasComputeType_t compute = CUBLAS_COMPUTE_64F;
  if (!f64)
    compute =
        types.input == kFloat32 && matmul_precision() == "high" ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const float af = static_cast<float>(alpha), bf = static_cast<float>(beta);
  const void* pa = f64 ? static_cast<const void*>(&alpha) : &af;
  const void* pb = f64 ? static_cast<const void*>(&beta) : &bf;
  // cuBLAS is column-major: the row-major C = op(A) op(B) is, read column-major, the
  // column-major C^T = op(B)^T op(A)^T, so B goes first and neither operand is copied.
  const cublasOperation_t ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType_t ti = cuda_type(types.input), to = cuda_type(types.output);
  cublasHandle_t h = blas();
  if (batch.count == 1)
    check_cublas(cublas("gemm").gemm_ex(h, ob, oa, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), pa, b,
                                        ti, static_cast<int>(ldb), a, ti, static_cast<int>(lda), pb, c, to,
                                        static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  else
    check_cublas(cublas("gemm").gemm_strided_batched_ex(h, ob, oa, static_cast<int>(n), static_cast<int>(m),
                                                        static_cast<int>(k), pa, b, ti, static_cast<int>(ldb),
                                                        batch.stride_b, a, ti, static_cast<int>(lda), batch.stride_a,
                                                        pb, c, to, static_cast<int>(ldc), batch.stride_c,
                                                        static_cast<int>(batch.count), compute, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx");
}

// One backend per device, never destroyed: tensors freed during static destruction still
// reach their allocator.
std::vector<CudaBackend*>& backends() {
  static auto* all = [] {
    auto* v = new std::vector<CudaBackend*>;
    for (int i = 0; i < cuda_device_count(); ++i) v->push_back(new CudaBackend(i));
    return v;
  }();
  return *all;
}

CudaBackend& backend_at(int device, const char* op) {
  const int n = cuda_device_count();
  TERN_CHECK(n > 0, op, "no CUDA device is available (device cuda:", device, ")");
  TERN_CHECK(device >= 0 && device < n, op, "device cuda:", device, " does not exist; ", n, " CUDA device(s) found");
  return *backends()[device];
}

}  // namespace

void kernels::check_launch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  TERN_CHECK(err == cudaSuccess, op, "CUDA kernel launch failed: ", cudaGetErrorString(err));
}

Backend& device_backend(int index) { return *backends()[index]; }

}  // namespace gpu

CudaMemoryStats cuda_memory_stats(int device) {
  return gpu::backend_at(device, "cuda_memory_stats").stream_allocator().stats();
}

void cuda_reset_peak_memory_stats(int device) {
  gpu::backend_at(device, "cuda_reset_peak_memory_stats").stream_allocator().reset_peak();
}

void cuda_synchronize(int device) { gpu::backend_at(device, "cuda_synchronize").synchronize(); }

int cuda_device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

bool cuda_available() { return cuda_device_count() > 0; }

}  // namespace tern
