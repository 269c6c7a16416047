// Linked when tern is built without CUDA: every CUDA request fails clearly.

#include <tern/backends/backend.h>
#include <tern/core/error.h>

#include "../cpu/cpu_backend.h"

namespace tern {

Backend& backend_for(Device device, const char* op) {
  if (device.is_cpu()) return cpu::cpu_backend();
  TERN_FAIL(op, "tern was built without CUDA support (device ", device, ")");
}

bool cuda_available() { return false; }
int cuda_device_count() { return 0; }

}  // namespace tern
