// Gather (index_select, embedding) and its scatter-add backward.

#include <cstring>

#include "cpu_backend.h"
#include "loops.h"

namespace tern::cpu {

void CpuBackend::index_select(DType dtype, const void* src, const int64_t* idx, void* dst, int64_t outer,
                              int64_t src_dim, int64_t n, int64_t inner, const RangeCheck& check) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= src_dim) fail_range(check, idx[i], i);
  const size_t row = static_cast<size_t>(inner) * dtype_size(dtype);
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  parallel_for(outer * n, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t w = b; w < e; ++w) {
                   const int64_t o = w / n, i = w % n;
                   std::memcpy(d + w * row, s + (o * src_dim + idx[i]) * row, row);
                 }
               });
}

namespace {

template <typename T>
void index_add_impl(T* dst, const int64_t* idx, const T* src, int64_t outer, int64_t dst_dim,
                    int64_t n, int64_t inner) {
  // Threads split the inner (feature) axis, so two threads never add to the same element.
  const int64_t chunk = 64;
  const int64_t nchunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * nchunks, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n * chunk, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t w = b; w < e; ++w) {
                   const int64_t o = w / nchunks, c0 = (w % nchunks) * chunk;
                   const int64_t len = std::min(chunk, inner - c0);
                   for (int64_t i = 0; i < n; ++i) {
                     T* dr = dst + (o * dst_dim + idx[i]) * inner + c0;
                     const T* sr = src + (o * n + i) * inner + c0;
                     for (int64_t j = 0; j < len; ++j) dr[j] += sr[j];
                   }
                 }
               });
}

}  // namespace

void CpuBackend::index_add(DType dtype, void* dst, const int64_t* idx, const void* src,
                           int64_t outer, int64_t dst_dim, int64_t n, int64_t inner) {
  if (dtype == kFloat32)
    index_add_impl(static_cast<float*>(dst), idx, static_cast<const float*>(src), outer, dst_dim, n, inner);
  else if (dtype == kFloat64)
    index_add_impl(static_cast<double*>(dst), idx, static_cast<const double*>(src), outer, dst_dim, n,
                   inner);
  else
    TERN_FAIL("index_add", "no kernel for ", dtype);
}

}  // namespace tern::cpu
