#pragma once
// The CUDA backend's entry point for backends/backend.cpp, free of CUDA headers so that a
// CPU-only build compiles it too (stub.cpp answers there).

#include <tern/backends/backend.h>

namespace tern::gpu {

// The backend of CUDA device `index`, which the caller has checked exists.
Backend& device_backend(int index);

}  // namespace tern::gpu
