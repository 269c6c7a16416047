// The build without the NCCL process group. It needs the CUDA backend (its tensors live on the GPU), MPI (rank 0
// hands its ncclUniqueId to the others over MPI_Bcast) and NCCL itself; CMake names the missing ones in
// TERN_NCCL_MISSING. The implementation is nccl_group.cpp.

#include <tern/backends/comm/groups.h>
#include <tern/core/error.h>

namespace tern::dist::detail {

std::shared_ptr<ProcessGroup> make_nccl_process_group() {
  TERN_FAIL("nccl", "NCCL is not compiled into this tern: the build lacks ", TERN_NCCL_MISSING,
            " (the NCCL group needs the CUDA backend, MPI and NCCL); use the mpi backend for CPU tensors");
}
bool nccl_built() { return false; }
std::string nccl_version() { return ""; }

}  // namespace tern::dist::detail
