// GEMM through OpenBLAS. A product with one row or one column (decoding a token, a
// matrix-vector product) goes to gemv instead: sgemm packs the whole weight into a
// scratch buffer before multiplying, which for a single row costs more than the
// multiplication itself (GPT-2 124M decoding ran at half speed).

#include <cblas.h>

#include <type_traits>

#include "cpu_backend.h"

namespace tern::cpu {

namespace {

// y (n elements, stride incy) = alpha * op(M) x + beta * y, where op(M) is rows x cols
// and M is stored row-major with leading dimension ld (M itself is cols x rows when
// `trans`).
template <typename T>
void gemv(bool trans, int64_t rows, int64_t cols, T alpha, const T* m, int64_t ld, const T* x, int64_t incx,
          T beta, T* y, int64_t incy) {
  // BLAS lets beta = 0 ignore y, but some OpenBLAS versions scale it (0 * NaN = NaN);
  // y may be fresh memory, so clear it.
  if (beta == T(0))
    for (int64_t i = 0; i < rows; ++i) y[i * incy] = T(0);
  const int64_t r = trans ? cols : rows, c = trans ? rows : cols;  // M's stored shape
  const auto t = trans ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemv(CblasRowMajor, t, r, c, alpha, m, ld, x, incx, beta, y, incy);
  else
    cblas_dgemv(CblasRowMajor, t, r, c, alpha, m, ld, x, incx, beta, y, incy);
}

template <typename T>
void gemm_typed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (k > 0 && m == 1) {
    // One row: c = op(B)^T a, with op(B)^T n x k.
    const int64_t inca = trans_a ? lda : 1;  // A is k x 1 when transposed
    gemv<T>(!trans_b, n, k, alpha, b, ldb, a, inca, beta, c, 1);
    return;
  }
  if (k > 0 && n == 1) {
    // One column: c = op(A) b.
    const int64_t incb = trans_b ? 1 : ldb;  // B is 1 x k when transposed
    gemv<T>(trans_a, m, k, alpha, a, lda, b, incb, beta, c, ldc);
    return;
  }
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

void CpuBackend::gemm_batched(const GemmTypes& types, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                              double alpha, const void* a, int64_t lda, const void* b, int64_t ldb, double beta,
                              void* c, int64_t ldc, const GemmBatch& batch) {
  const DType dtype = types.input;
  TERN_CHECK(types.output == dtype && types.compute == dtype && (dtype == kFloat32 || dtype == kFloat64), "gemm",
             "the CPU multiplies f32 or f64 matrices in their own precision, not ", types.input, " -> ", types.output,
             " computed in ", types.compute);
  if (m == 0 || n == 0) return;
  // One BLAS call per product: OpenBLAS threads each product itself, and the batched
  // interface would only loop the same way.
  const size_t es = dtype_size(dtype);
  for (int64_t i = 0; i < batch.count; ++i) {
    const char* ai = static_cast<const char*>(a) + i * batch.stride_a * es;
    const char* bi = static_cast<const char*>(b) + i * batch.stride_b * es;
    char* ci = static_cast<char*>(c) + i * batch.stride_c * es;
    if (dtype == kFloat32)
      gemm_typed<float>(trans_a, trans_b, m, n, k, static_cast<float>(alpha), reinterpret_cast<const float*>(ai), lda,
                        reinterpret_cast<const float*>(bi), ldb, static_cast<float>(beta), reinterpret_cast<float*>(ci),
                        ldc);
    else
      gemm_typed<double>(trans_a, trans_b, m, n, k, alpha, reinterpret_cast<const double*>(ai), lda,
                         reinterpret_cast<const double*>(bi), ldb, beta, reinterpret_cast<double*>(ci), ldc);
  }
}

}  // namespace tern::cpu
