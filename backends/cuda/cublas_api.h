#pragma once
// cuBLAS, opened with dlopen on the first product on a GPU rather than linked: libtern then
// loads on machines without the CUDA toolkit (as with its static CUDA runtime), and only a
// program that multiplies on a GPU needs libcublas. The soname of the toolkit that built tern
// is tried first, then the library CMake found (TERN_CUBLAS_LIBRARY).

#include <cublas_v2.h>

namespace tern::gpu {

struct CublasApi {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasSetStream_v2) set_stream;
  // The 32-bit-size C entry points (C++ also sees 64-bit overloads of the same names).
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  cublasStatus_t (*gemm_strided_batched_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                            const void*, const void*, cudaDataType, int, long long int, const void*,
                                            cudaDataType, int, long long int, const void*, void*, cudaDataType, int,
                                            long long int, int, cublasComputeType_t, cublasGemmAlgo_t);
  decltype(&cublasGetStatusString) status_string;
};

// Loaded once; raises a tern::Error naming `op` and the library when it cannot be.
const CublasApi& cublas(const char* op);

}  // namespace tern::gpu
