// The build without MPI (CMake found none, or -DTERN_MPI=OFF).

#include <tern/backends/comm/groups.h>
#include <tern/core/error.h>

namespace tern::dist::detail {

std::shared_ptr<ProcessGroup> make_mpi_process_group() {
  TERN_FAIL("mpi", "tern was built without MPI (install libopenmpi-dev and rebuild with -DTERN_MPI=ON)");
}
bool mpi_built() { return false; }
std::string mpi_version() { return ""; }
void mpi_abort(int) {}

}  // namespace tern::dist::detail
