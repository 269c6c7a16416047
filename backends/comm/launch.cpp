// Which launcher started this process, and the one process group of the job.

#include <cstdlib>
#include <mutex>
#include <string>

#include <tern/backends/comm/groups.h>
#include <tern/backends/comm/process_group.h>
#include <tern/core/error.h>

namespace tern::dist {

namespace {

bool env_int(const char* name, int& out) {
  const char* v = std::getenv(name);
  if (!v || !*v) return false;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0 || n > 1 << 24) return false;
  out = static_cast<int>(n);
  return true;
}

std::mutex g_mutex;
std::shared_ptr<ProcessGroup> g_group;

}  // namespace

LaunchInfo launch_info() {
  LaunchInfo li;
  struct Source {
    const char *rank, *size, *local_rank, *name;
  };
  // OpenMPI's mpirun first: under `srun --mpi=pmix` Slurm's variables are set too, and agree.
  static constexpr Source kSources[] = {
      {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_*"},
      {"PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK", "PMIX_*"},
      {"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "PMI_*"},
      {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_*"},
  };
  for (const auto& s : kSources) {
    int rank = 0, size = 0;
    if (!env_int(s.rank, rank) || !env_int(s.size, size) || size < 1 || rank >= size) continue;
    int local = 0;
    if (!env_int(s.local_rank, local)) local = rank;
    // A one-task Slurm job (sbatch running tern directly) is not a distributed launch.
    li.launched = size > 1 || s.name[0] == 'O';
    li.rank = rank;
    li.size = size;
    li.local_rank = local;
    li.source = s.name;
    return li;
  }
  return li;
}

bool mpi_compiled() { return detail::mpi_built(); }
std::string mpi_library_version() { return detail::mpi_version(); }
bool nccl_compiled() { return detail::nccl_built(); }
std::string nccl_library_version() { return detail::nccl_version(); }

std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend) {
  std::lock_guard lock(g_mutex);
  if (g_group) {
    TERN_CHECK(backend == "auto" || backend == g_group->backend(), "init_process_group", "the process group is ",
               g_group->backend(), " already; a process has one");
    return g_group;
  }
  std::string b = backend;
  if (b == "auto") {
    const LaunchInfo li = launch_info();
    TERN_CHECK(!li.launched || li.size == 1 || mpi_compiled(), "init_process_group", "this process is rank ", li.rank,
               " of ", li.size, " (", li.source,
               ") but tern was built without MPI, so the ranks cannot talk; rebuild with OpenMPI "
               "(apt-get install libopenmpi-dev, cmake -DTERN_MPI=ON) or run one process");
    b = li.launched ? "mpi" : "single";
  }
  if (b == "mpi")
    g_group = detail::make_mpi_process_group();
  else if (b == "nccl")
    g_group = detail::make_nccl_process_group();
  else if (b == "single")
    g_group = make_single_process_group();
  else
    TERN_FAIL("init_process_group", "unknown backend '", backend, "' (expected auto, mpi, nccl or single)");
  return g_group;
}

std::shared_ptr<ProcessGroup> current_process_group() {
  std::lock_guard lock(g_mutex);
  return g_group;
}

void abort_job(int code) { detail::mpi_abort(code); }

}  // namespace tern::dist
