// tern.cuda: the GPU's availability, memory counters and waits, the fp32 product precision,
// and autocast (bf16 products) as context managers, as torch names them.
#include <tern/backends/backend.h>
#include <tern/backends/cuda.h>
#include <tern/core/autocast.h>

#include <memory>
#include <optional>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "bindings.h"

namespace tern::py {

namespace {

// Holds an AutocastGuard between __enter__ and __exit__.
struct Autocast {
  std::optional<DType> dtype;
  std::unique_ptr<AutocastGuard> guard;
};

}  // namespace

void bind_cuda(nb::module_& m, nb::module_& cuda) {
  cuda.def("is_available", &cuda_available, "Whether this build has CUDA and a GPU is visible");
  cuda.def("device_count", &cuda_device_count);
  cuda.def(
      "memory_stats",
      [](int device) {
        const CudaMemoryStats s = cuda_memory_stats(device);
        nb::dict d;
        d["allocated_bytes"] = s.allocated;
        d["reserved_bytes"] = s.reserved;
        d["peak_allocated_bytes"] = s.peak;
        return d;
      },
      "device"_a = 0, "Bytes held by tensors, taken from the driver, and the peak held since the last reset");
  cuda.def("reset_peak_memory_stats", &cuda_reset_peak_memory_stats, "device"_a = 0);
  cuda.def("synchronize", &cuda_synchronize, "device"_a = 0,
           "Waits for the device's queued work; raises an error a kernel recorded (an index out of range)");

  m.def("set_float32_matmul_precision", &set_matmul_precision, "precision"_a,
        "'highest' (fp32 products in fp32, the default) or 'high' (TF32 tensor cores on a GPU)");
  m.def("get_float32_matmul_precision", &matmul_precision);

  nb::class_<Autocast>(m, "_Autocast")
      .def("__enter__", [](Autocast& a) { a.guard = std::make_unique<AutocastGuard>(a.dtype); })
      .def("__exit__", [](Autocast& a, nb::args) { a.guard.reset(); });
  m.def(
      "autocast",
      [](std::optional<DType> dtype, bool enabled) {
        return Autocast{enabled ? dtype : std::nullopt, nullptr};
      },
      "dtype"_a = std::optional<DType>(kBFloat16), "enabled"_a = true,
      "A context manager in which f32 matrix products on a GPU read their operands in dtype (bf16 or f16) and "
      "accumulate in f32; nothing changes on the CPU");
}

}  // namespace tern::py
