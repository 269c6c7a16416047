// The CUDA backend as far as it goes today: device discovery, a caching
// allocator and host<->device copies. The kernels are not written yet; until
// they are, each reports that it is not implemented on CUDA yet.

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <cuda_runtime.h>

#include <tern/backends/backend.h>
#include <tern/core/error.h>

#include "../cpu/cpu_backend.h"

namespace tern {

namespace {

void check_cuda(cudaError_t err, const char* what) {
  TERN_CHECK(err == cudaSuccess, "cuda", what, ": ", cudaGetErrorString(err));
}

// Reuses freed blocks of the same rounded size instead of calling cudaFree, which
// synchronises the device; on allocation failure it empties the cache and retries.
class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  ~CachingAllocator() override = default;  // cached blocks die with the CUDA context

  void* allocate(size_t nbytes) override {
    const size_t size = round(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      return p;
    }
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    void* p = nullptr;
    if (cudaMalloc(&p, size) != cudaSuccess) {
      (void)cudaGetLastError();
      release_cached();
      const cudaError_t err = cudaMalloc(&p, size);
      TERN_CHECK(err == cudaSuccess, "alloc", "out of memory allocating ", nbytes, " bytes on cuda:",
                 device_, " (", cudaGetErrorString(err), ")");
    }
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    free_[round(nbytes)].push_back(ptr);
  }

 private:
  static size_t round(size_t n) { return (std::max<size_t>(n, 1) + 511) / 512 * 512; }
  void release_cached() {
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) cudaFree(p);
    free_.clear();
  }

  int device_;
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
};

[[noreturn]] void not_yet(const char* kernel) { TERN_FAIL(kernel, "not implemented on CUDA yet"); }

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index), alloc_(index) {}
  Device device() const override { return Device(DeviceType::cuda, index_); }
  Allocator& allocator() override { return alloc_; }
  void copy_from_host(void* dst, const void* src, size_t nbytes) override {
    check_cuda(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
  }
  void copy_to_host(void* dst, const void* src, size_t nbytes) override {
    check_cuda(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
  }
  void copy(const Shape&, const StridedArg&, const StridedArg&) override { not_yet("copy"); }
  void fill(const Shape&, const StridedArg&, double) override { not_yet("fill"); }
  void unary(UnaryOp, const Shape&, const StridedArg&, const StridedArg&, double, double) override {
    not_yet("unary");
  }
  void binary(BinaryOp, const Shape&, const StridedArg&, const StridedArg&, const StridedArg&) override {
    not_yet("binary");
  }
  void where(const Shape&, const StridedArg&, const StridedArg&, const StridedArg&, const StridedArg&) override {
    not_yet("where");
  }
  void reduce(ReduceOp, DType, const void*, void*, int64_t*, int64_t, int64_t, int64_t) override {
    not_yet("reduce");
  }
  void gemm(DType, bool, bool, int64_t, int64_t, int64_t, double, const void*, int64_t, const void*, int64_t,
            double, void*, int64_t) override {
    not_yet("gemm");
  }
  void softmax(bool, DType, const void*, void*, int64_t, int64_t, int64_t) override { not_yet("softmax"); }
  void layer_norm_forward(DType, const void*, const void*, const void*, void*, void*, void*, int64_t, int64_t,
                          double) override {
    not_yet("layer_norm");
  }
  void layer_norm_backward(DType, const void*, const void*, const void*, const void*, const void*, void*, void*,
                           void*, int64_t, int64_t) override {
    not_yet("layer_norm");
  }
  int64_t cross_entropy_forward(DType, const void*, const int64_t*, void*, void*, int64_t*, int64_t, int64_t,
                                int64_t) override {
    not_yet("cross_entropy");
  }
  void cross_entropy_backward(DType, const void*, const int64_t*, const void*, double, void*, int64_t, int64_t,
                              int64_t) override {
    not_yet("cross_entropy");
  }
  void adamw_step(DType, void*, const void*, void*, void*, int64_t, double, double, double, double, double,
                  int64_t) override {
    not_yet("adamw_step");
  }
  int64_t index_select(DType, const void*, const int64_t*, void*, int64_t, int64_t, int64_t, int64_t) override {
    not_yet("index_select");
  }
  void index_add(DType, void*, const int64_t*, const void*, int64_t, int64_t, int64_t, int64_t) override {
    not_yet("index_add");
  }
  void activation_quant(DType, const void*, void*, int8_t*, void*, int64_t, int64_t) override {
    not_yet("activation_quant");
  }
  double ternarize(DType, const void*, int64_t, int64_t, int8_t*, void*) override { not_yet("ternarize"); }

 private:
  int index_;
  CachingAllocator alloc_;
};

}  // namespace

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

Backend& backend_for(Device device, const char* op) {
  if (device.is_cpu()) return cpu::cpu_backend();
  const int n = cuda_device_count();
  TERN_CHECK(n > 0, op, "no CUDA device is available (device ", device, ")");
  TERN_CHECK(device.index >= 0 && device.index < n, op, "device ", device, " does not exist; ", n,
             " CUDA device(s) found");
  static std::vector<std::unique_ptr<CudaBackend>> backends = [n] {
    std::vector<std::unique_ptr<CudaBackend>> v;
    for (int i = 0; i < n; ++i) v.push_back(std::make_unique<CudaBackend>(i));
    return v;
  }();
  return *backends[device.index];
}

}  // namespace tern
