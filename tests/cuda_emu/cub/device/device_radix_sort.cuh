#pragma once
// A stand-in for cub::DeviceRadixSort with the contract the kernels rely on: a stable ascending sort of the keys
// by their bits [begin_bit, end_bit), carrying the values along. Not cub's algorithm: see ../../cuda_runtime.h.
#include <algorithm>
#include <numeric>
#include <type_traits>
#include <vector>

#include <cuda_runtime.h>

namespace cub {

template <typename T>
struct DoubleBuffer {
  T* d_buffers[2];
  int selector = 0;
  DoubleBuffer(T* current, T* alternate) : d_buffers{current, alternate} {}
  T* Current() { return d_buffers[selector]; }
  T* Alternate() { return d_buffers[selector ^ 1]; }
};

struct DeviceRadixSort {
  template <typename K, typename V, typename N>
  static cudaError_t SortPairs(void* temp, size_t& bytes, const K* keys_in, K* keys_out, const V* values_in,
                               V* values_out, N n, int begin_bit = 0, int end_bit = sizeof(K) * 8,
                               cudaStream_t = nullptr) {
    if (!temp) {
      bytes = 16;
      return cudaSuccess;
    }
    // Only unsigned keys are ever sorted on part of their bits; signed ones order as cub orders them, by value.
    auto key = [&](K k) {
      if constexpr (std::is_unsigned_v<K>) {
        if (end_bit < static_cast<int>(sizeof(K) * 8)) k &= (K{1} << end_bit) - 1;
        return static_cast<K>(k >> begin_bit);
      }
      return k;
    };
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return key(keys_in[a]) < key(keys_in[b]); });
    std::vector<K> k(order.size());
    std::vector<V> v(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
      k[i] = keys_in[order[i]];
      v[i] = values_in[order[i]];
    }
    std::copy(k.begin(), k.end(), keys_out);
    std::copy(v.begin(), v.end(), values_out);
    return cudaSuccess;
  }

  template <typename K, typename V, typename N>
  static cudaError_t SortPairs(void* temp, size_t& bytes, DoubleBuffer<K>& keys, DoubleBuffer<V>& values, N n,
                               int begin_bit = 0, int end_bit = sizeof(K) * 8, cudaStream_t stream = nullptr) {
    if (!temp) {
      bytes = 16;
      return cudaSuccess;
    }
    SortPairs(temp, bytes, keys.Current(), keys.Alternate(), values.Current(), values.Alternate(), n, begin_bit,
              end_bit, stream);
    keys.selector ^= 1;
    values.selector ^= 1;
    return cudaSuccess;
  }
};

}  // namespace cub
