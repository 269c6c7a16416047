#pragma once
// CUDA-specific controls of the library: the caching allocator's counters and waiting for a
// device. Everything here raises a clear tern::Error in a build without CUDA or without a GPU.

#include <cstdint>

namespace tern {

// Bytes on one device, as the stream-ordered caching allocator sees them.
struct CudaMemoryStats {
  int64_t allocated = 0;  // held by live tensors
  int64_t reserved = 0;   // taken from the driver, including cached free blocks
  int64_t peak = 0;       // the largest `allocated` since start-up or cuda_reset_peak_memory_stats
};

CudaMemoryStats cuda_memory_stats(int device = 0);
void cuda_reset_peak_memory_stats(int device = 0);

// Waits until every kernel and copy queued on the device has run; raises an error a kernel
// recorded (an index out of range) the way the CPU would have raised it.
void cuda_synchronize(int device = 0);

}  // namespace tern
