#pragma once
// tern reads checkpoints through private memory mappings. A program that truncates such a
// file in place while tern runs takes the mapped pages away, and the next read of one
// raises SIGBUS. The process cannot go on, but it can say why instead of dying with
// "Bus error": install_bus_error_report() makes SIGBUS print that and exit with status 1.

namespace tern::cli {

void install_bus_error_report();

}  // namespace tern::cli
