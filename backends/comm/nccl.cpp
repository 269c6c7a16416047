// NCCL process groups need nccl.h and libnccl, which this build does not use: tern's CUDA backend links the
// CUDA runtime only. The seam is ProcessGroup (process_group.h); an NCCL group would take its unique id
// from rank 0 over MPI (MPI_Bcast of ncclUniqueId, as llm.c does) and pick its GPU by local_rank().

#include <tern/backends/comm/groups.h>
#include <tern/core/error.h>

namespace tern::dist::detail {

std::shared_ptr<ProcessGroup> make_nccl_process_group() {
  TERN_FAIL("nccl", "NCCL is not compiled into this tern; use the mpi backend (CPU tensors)");
}

}  // namespace tern::dist::detail
