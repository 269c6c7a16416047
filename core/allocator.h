#pragma once
// The allocator interface every backend plugs into. CPU memory is 64-byte
// aligned; the CUDA backend supplies a caching allocator behind the same interface.

#include <cstddef>

#include <tern/core/device.h>

namespace tern {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
};

inline constexpr size_t kCpuAlignment = 64;

}  // namespace tern
