#pragma once
// Strided N-operand iteration: coalesces dims, splits the flat range across
// OpenMP threads and hands each thread runs along the innermost dim.

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include <omp.h>

#include <tern/backends/backend.h>

namespace tern::cpu {

// Elements below which a loop stays on one thread (threading costs more than it saves).
inline constexpr int64_t kParallelGrain = 32768;

// Runs body(begin, end) over [0, n) on up to num_threads() threads, in chunks of >= grain.
// The range is cut into a few chunks per thread, handed out dynamically: when the
// machine is shared and one thread gets descheduled, the others take its share
// instead of waiting for it (a static split runs at the pace of the slowest thread).
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), (n + grain - 1) / grain));
  if (threads <= 1) {
    body(int64_t{0}, n);
    return;
  }
  constexpr int64_t kChunksPerThread = 8;
  const int64_t chunk = std::max(grain, (n + threads * kChunksPerThread - 1) / (threads * kChunksPerThread));
  const int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) body(c * chunk, std::min(n, (c + 1) * chunk));
}

// body(ptrs, byte_strides, count) handles `count` elements starting at ptrs, each
// operand advancing by byte_strides[i] per element.
template <size_t N, typename F>
void for_each_strided(const Shape& shape, std::array<char*, N> base,
                      const std::array<const Strides*, N>& elem_strides,
                      const std::array<size_t, N>& elem_size, F&& body) {
  // Coalesce: drop size-1 dims, merge dims that are contiguous for every operand.
  std::vector<int64_t> sz;
  std::vector<std::array<int64_t, N>> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    std::array<int64_t, N> s;
    for (size_t i = 0; i < N; ++i) s[i] = (*elem_strides[i])[d] * static_cast<int64_t>(elem_size[i]);
    if (!sz.empty()) {
      bool merge = true;
      for (size_t i = 0; i < N; ++i) merge = merge && st.back()[i] == s[i] * shape[d];
      if (merge) {
        sz.back() *= shape[d];
        st.back() = s;
        continue;
      }
    }
    sz.push_back(shape[d]);
    st.push_back(s);
  }
  int64_t total = 1;
  for (auto s : shape) total *= s;
  if (total == 0) return;
  if (sz.empty()) {  // a single element
    std::array<int64_t, N> zero{};
    body(base, zero, int64_t{1});
    return;
  }
  const size_t nd = sz.size();
  const int64_t inner = sz.back();
  const std::array<int64_t, N> inner_st = st.back();

  parallel_for(total, kParallelGrain, [&](int64_t begin, int64_t end) {
    // Multi-index of `begin`.
    std::vector<int64_t> idx(nd, 0);
    int64_t rem = begin;
    for (size_t d = nd; d-- > 0;) {
      idx[d] = rem % sz[d];
      rem /= sz[d];
    }
    std::array<char*, N> p;
    for (size_t i = 0; i < N; ++i) {
      p[i] = base[i];
      for (size_t d = 0; d < nd; ++d) p[i] += idx[d] * st[d][i];
    }
    int64_t pos = begin;
    while (pos < end) {
      const int64_t run = std::min(inner - idx[nd - 1], end - pos);
      body(p, inner_st, run);
      pos += run;
      // Advance the multi-index by `run` along the inner dim, carrying outward.
      for (size_t i = 0; i < N; ++i) p[i] += run * inner_st[i];
      idx[nd - 1] += run;
      for (size_t d = nd - 1; d > 0 && idx[d] == sz[d]; --d) {
        for (size_t i = 0; i < N; ++i) p[i] += st[d - 1][i] - sz[d] * st[d][i];
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  });
}

}  // namespace tern::cpu
