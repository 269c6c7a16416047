#pragma once
// Kernel-level profile: with TERN_PROFILE=1 in the environment, every backend kernel call is
// timed (the device is waited for before and after it, so each time is the kernel's own) and a
// table of calls, total and mean time per kernel is printed to stderr at exit:
//
//   TERN_PROFILE=1 tern train --device cuda --steps 20 ...
//
// Waiting around every kernel removes the overlap of launches with work, so a profiled run is
// slower than a plain one; the shares between kernels are what it measures.

#include <string>

namespace tern {

bool profiling_enabled();      // TERN_PROFILE set (and not "0") when tern started
std::string profile_report();  // the table so far
void profile_reset();          // forgets what was timed so far (e.g. the warm-up steps)

}  // namespace tern
