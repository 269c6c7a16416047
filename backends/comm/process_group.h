#pragma once
// Collectives across the processes of one training job, on tensors (tern::dist).
//
//   auto pg = dist::init_process_group();          // MPI under mpirun/srun, else a group of one
//   dist::all_reduce(pg, grad, dist::ReduceOp::avg);
//
// Every rank must call the same collectives in the same order with tensors of the same shape and dtype, as
// MPI and NCCL require. Tensors are reduced in place where the collective allows it; they must be contiguous
// (a view that is not is refused, not copied, so that an in-place result cannot silently land in a copy).
// Implementations:
//   MpiProcessGroup (mpi_group.cpp)      CPU tensors, f32/f64/i64; built when CMake finds MPI (TERN_MPI)
//   NcclProcessGroup (nccl_group.cpp)    CUDA tensors, f32/f64/f16/bf16/i32/i64/i8/u8; built when the CUDA
//                                        backend, MPI and NCCL are all found (TERN_NCCL), else creating one throws
//   a group of one (single_group.cpp)    every collective is the identity: the default outside a launcher

#include <memory>
#include <string>

#include <tern/core/tensor.h>

namespace tern::dist {

enum class ReduceOp { sum, avg };

// A collective in flight. wait() returns once its result is in the tensor it was given.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // Drives progress without blocking; true once complete. MPI moves a non-blocking collective forward only
  // inside MPI calls, so callers poke test() between pieces of computation.
  virtual bool test() = 0;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank among the processes of this machine: which GPU a rank takes.
  virtual int local_rank() const = 0;
  virtual std::string backend() const = 0;  // "mpi", "nccl", "single"

  // In place: every rank ends with the sum (or mean) of all ranks' `t`.
  virtual void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  // Starts the all-reduce and returns at once; `t` must stay alive and untouched until wait().
  virtual std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  // In place: every rank ends with rank `root`'s `t`.
  virtual void broadcast(Tensor& t, int root = 0) = 0;
  // Rank r's `t` becomes rows [r·n, (r+1)·n) of the result, shape [size()·n, ...] for `t` of shape [n, ...].
  virtual Tensor all_gather(const Tensor& t) = 0;
  // `t` of shape [size()·n, ...]: rank r gets rows [r·n, (r+1)·n) of the sum (or mean) over ranks.
  virtual Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  virtual void barrier() = 0;
};

// Where the launcher put this process: OpenMPI's OMPI_COMM_WORLD_*, else PMIx/PMI's, else Slurm's
// SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID (srun). `launched` is false when none of them is set.
struct LaunchInfo {
  bool launched = false;
  int rank = 0, size = 1, local_rank = 0;
  std::string source;  // the variables read, e.g. "OMPI_COMM_WORLD_*"
};
LaunchInfo launch_info();

// True when this tern was built with MPI (CMake option TERN_MPI).
bool mpi_compiled();
// The MPI library's own version line ("Open MPI v4.1.4, ..."), or "" without MPI.
std::string mpi_library_version();
// True when this tern was built with the NCCL process group (CMake option TERN_NCCL).
bool nccl_compiled();
// "NCCL 2.28.9" when libnccl loads, why it does not otherwise, or "" without NCCL.
std::string nccl_library_version();

// The process group of this job, made once per process and shared:
//   "auto"   MPI when launched by mpirun/srun (launch_info().launched), else a group of one
//   "mpi"    MPI; an error when tern was built without it
//   "single" a group of one
//   "nccl"   NCCL, one GPU per rank (cuda:local_rank), bootstrapped over MPI; an error when tern was built
//            without it or no GPU is visible
std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend = "auto");
// The group init_process_group made, or null.
std::shared_ptr<ProcessGroup> current_process_group();

// Stops every process of the job at once with `code` (MPI_Abort), after the caller has printed why. Does
// nothing when the job has one process; the caller then exits as usual.
void abort_job(int code);

// A group of one process; every collective leaves its tensors as they are.
std::shared_ptr<ProcessGroup> make_single_process_group();

}  // namespace tern::dist
