#pragma once
// TERN_HD marks a function that both the CPU loops and the CUDA kernels call, so that a scalar
// formula is written once (backends/scalar_math.h, backends/kernel_math.h, the f16/bf16 conversions of
// core/dtype.h) and the two backends cannot drift.

#ifdef __CUDACC__
#define TERN_HD __host__ __device__ __forceinline__
#else
#define TERN_HD inline
#endif
