// tern info: what this build and this machine run with, the first thing a bug report needs.
//
//   tern info          human-readable
//   tern info --json   one JSON object

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tern/backends/backend.h>
#include <tern/backends/comm/process_group.h>

#include "commands.h"

namespace tern::cli {

namespace {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Where mpirun or srun put this process (read from the environment; MPI itself is not started).
nlohmann::json launch_json() {
  const dist::LaunchInfo li = dist::launch_info();
  if (!li.launched) return nullptr;
  return {{"rank", li.rank}, {"size", li.size}, {"local_rank", li.local_rank}, {"from", li.source}};
}

std::string mpi_line(const nlohmann::json& j) {
  if (!j["mpi"]) return "unavailable: not compiled in (install libopenmpi-dev and rebuild; one process only)";
  std::string s = j["mpi_library"].get<std::string>();
  const auto& l = j["launch"];
  return s + (l.is_null() ? "; not launched by mpirun/srun"
                          : "; rank " + std::to_string(l["rank"].get<int>()) + " of " +
                                std::to_string(l["size"].get<int>()) + " (" + l["from"].get<std::string>() + ")");
}

std::string nccl_line(const nlohmann::json& j) {
  if (!j["nccl"]) return "not compiled in (needs the CUDA backend, MPI and NCCL at build time)";
  return j["nccl_library"].get<std::string>() + " (process group \"nccl\": CUDA tensors, one GPU per rank)";
}

// The OpenMP wait policy this process runs with: the runtime read OMP_WAIT_POLICY when it loaded, and tern's main
// sets it (passive) before that when the user has not.
std::string wait_policy() {
  const std::string v = env_or("OMP_WAIT_POLICY", "");
  if (v.empty()) return "unset: the OpenMP runtime's default (spin, then sleep)";
  return v + (std::getenv(kWaitPolicyDefaulted) ? " (tern's default; set OMP_WAIT_POLICY to choose)" : " (OMP_WAIT_POLICY)");
}

nlohmann::json info_json() {
  const BuildInfo b = build_info();
  const int gpus = cuda_available() ? cuda_device_count() : 0;
  return {{"version", b.version},
          {"git_revision", b.git_revision},
          {"native", b.native},
          {"blas", b.blas},
          {"blas_threading", b.blas_threading},
          {"threads", num_threads()},
          {"tern_num_threads", env_or("TERN_NUM_THREADS", "")},
          {"omp_wait_policy", env_or("OMP_WAIT_POLICY", "")},
          {"omp_wait_policy_is_default", std::getenv(kWaitPolicyDefaulted) != nullptr},
          {"cpu", cpu_model()},
          {"cpu_features", b.cpu_features},
          {"cpu_kernels", b.cpu_kernels},
          {"cuda_compiled", b.cuda},
          {"cuda_devices", gpus},
          {"mpi", dist::mpi_compiled()},
          {"mpi_library", dist::mpi_library_version()},
          {"nccl", dist::nccl_compiled()},
          {"nccl_library", dist::nccl_library_version()},
          {"launch", launch_json()}};
}

}  // namespace

std::string version_line() {
  const BuildInfo b = build_info();
  return "tern " + b.version + (b.git_revision.empty() ? "" : " (" + b.git_revision + ")");
}

void add_info(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "info",
      "Print the version, the BLAS and its threading, the thread count, the CPU features and kernels in use, "
      "the GPUs the CUDA backend sees, MPI and NCCL (start a bug report with this)");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([json] {
    const nlohmann::json j = info_json();
    if (*json) {
      std::cout << j.dump() << "\n";
      return;
    }
    std::string features;
    for (const auto& f : j["cpu_features"]) features += (features.empty() ? "" : " ") + f.get<std::string>();
    std::cout << version_line() << (j["native"] ? ", built for this CPU (-march=native)" : ", portable build") << "\n"
              << "BLAS      " << j["blas"].get<std::string>() << " (" << j["blas_threading"].get<std::string>()
              << " threading)\n"
              << "threads   " << j["threads"].get<int>() << " (TERN_NUM_THREADS="
              << (j["tern_num_threads"] == "" ? "unset" : j["tern_num_threads"].get<std::string>()) << ")\n"
              << "waiting   OpenMP wait policy " << wait_policy() << "\n"
              << "CPU       " << j["cpu"].get<std::string>() << "\n"
              << "features  " << (features.empty() ? "none of avx2/avx512" : features)
              << "; ternary/int8 kernels: " << j["cpu_kernels"].get<std::string>() << "\n"
              << "CUDA      "
              << (j["cuda_compiled"] ? std::to_string(j["cuda_devices"].get<int>()) + " device(s) visible"
                                     : std::string("not compiled in"))
              << "\n"
              << "MPI       " << mpi_line(j) << "\n"
              << "NCCL      " << nccl_line(j) << "\n";
  });
}

}  // namespace tern::cli
