#include "cublas_api.h"

#include <dlfcn.h>

#include <string>

#include <tern/core/error.h>

namespace tern::gpu {

namespace {

template <typename F>
void resolve(void* lib, const char* name, F& fn, const char* op) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  TERN_CHECK(fn != nullptr, op, "libcublas has no ", name, " (", TERN_CUBLAS_LIBRARY, ")");
}

CublasApi load(const char* op) {
  void* lib = dlopen(TERN_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
  std::string why;
  if (!lib) {
    why = dlerror();
    lib = dlopen(TERN_CUBLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  }
  TERN_CHECK(lib != nullptr, op, "cannot load ", TERN_CUBLAS_SONAME, " (", why, ") nor ", TERN_CUBLAS_LIBRARY, " (",
             dlerror(), "); install cuBLAS (the CUDA toolkit) or add its lib directory to LD_LIBRARY_PATH");
  CublasApi api;
  resolve(lib, "cublasCreate_v2", api.create, op);
  resolve(lib, "cublasSetStream_v2", api.set_stream, op);
  resolve(lib, "cublasGemmEx", api.gemm_ex, op);
  resolve(lib, "cublasGemmStridedBatchedEx", api.gemm_strided_batched_ex, op);
  resolve(lib, "cublasGetStatusString", api.status_string, op);
  return api;
}

}  // namespace

const CublasApi& cublas(const char* op) {
  static const CublasApi api = load(op);  // a failed load throws and is retried next time
  return api;
}

}  // namespace tern::gpu
