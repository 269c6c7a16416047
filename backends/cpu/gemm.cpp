#include <cblas.h>

#include "cpu_backend.h"

namespace tern::cpu {

void CpuBackend::gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                      double alpha, const void* a, int64_t lda, const void* b, int64_t ldb,
                      double beta, void* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if (dtype == kFloat32)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(alpha), static_cast<const float*>(a),
                lda, static_cast<const float*>(b), ldb, static_cast<float>(beta), static_cast<float*>(c),
                ldc);
  else if (dtype == kFloat64)
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, static_cast<const double*>(a), lda,
                static_cast<const double*>(b), ldb, beta, static_cast<double*>(c), ldc);
  else
    TERN_FAIL("gemm", "no kernel for ", dtype);
}

}  // namespace tern::cpu
