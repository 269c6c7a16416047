#pragma once
// What launch.cpp needs from the implementations, each compiled or replaced by its build's twin.

#include <memory>

#include <tern/backends/comm/process_group.h>

namespace tern::dist::detail {

// mpi_group.cpp with MPI; mpi_absent.cpp without (throws).
std::shared_ptr<ProcessGroup> make_mpi_process_group();
bool mpi_built();
std::string mpi_version();
void mpi_abort(int code);  // no-op unless MPI is initialised with more than one process
// Initialises MPI once per process (mpi_group.cpp only): the NCCL group bootstraps over it.
void mpi_init();

// nccl_group.cpp with CUDA, MPI and NCCL; nccl.cpp without (throws, saying which is missing).
std::shared_ptr<ProcessGroup> make_nccl_process_group();
bool nccl_built();
std::string nccl_version();

}  // namespace tern::dist::detail
