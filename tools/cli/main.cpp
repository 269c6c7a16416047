// The `tern` command-line tool. Each subcommand lives in its own file and registers
// itself here (see commands.h):
//   tern inspect FILE [--json]     tensors, totals and metadata of a safetensors file
//   tern train [options]           train a GPT-2 (progress, metrics.csv, atomic checkpoints, --resume)
//   tern generate CHECKPOINT       stream samples from a checkpoint
//   tern eval CHECKPOINT           val loss and perplexity of a checkpoint
//   tern quantize --model CKPT     Phase 4: BitNet b1.58 conversion, QAT, packed + FP16 outputs
//   tern tokenize [--decode]       text <-> token ids (GPT-2 BPE or char), as a JSON array
//   tern info [--json]             version, BLAS, threads, CPU features and kernels, GPUs

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include <tern/backends/comm/process_group.h>
#include <tern/core/error.h>

#include "bus_error.h"
#include "commands.h"
#include "ranks.h"
#include "suggest.h"

namespace {
// A command line that cannot be parsed exits with 2, as other command-line tools do (CLI11 would use 104-109).
constexpr int kUsageError = 2;

// OpenMP threads that run out of work spin for a while before they sleep (libgomp: about 300,000 iterations).
// Where other processes want the cores, the spinning threads take them from the threads that have work. On 2
// cores, 40 steps of the tiny GPT took 3.0 s passive, 2.7 s active and 3.0 s by default when the machine was
// idle, but 5-7 s passive, 27-31 s active and 52 s by default under other builds, and with two more busy
// processes 12 s passive against over 150 s by default. So tern waits passively unless the user chose. libgomp reads OMP_WAIT_POLICY once, as it
// loads, before main, so setting it here takes effect only in a fresh image of this program: tern sets it and
// executes itself again. A program linking the library chooses for itself, in its environment.
void default_to_passive_waiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::setenv(tern::cli::kWaitPolicyDefaulted, "1", 1);
  ::execv("/proc/self/exe", argv);
  // No re-execution (no /proc): run on with the runtime's default; `tern info` shows which.
  ::unsetenv("OMP_WAIT_POLICY");
  ::unsetenv(tern::cli::kWaitPolicyDefaulted);
}

}  // namespace

int main(int argc, char** argv) {
  default_to_passive_waiting(argv);
  tern::cli::install_bus_error_report();
  CLI::App app{"tern: a small deep-learning framework's command-line tool"};
  app.require_subcommand(1);
  tern::cli::add_inspect(app);
  tern::cli::add_train(app);
  tern::cli::add_generate(app);
  tern::cli::add_eval(app);
  tern::cli::add_quantize(app);
  tern::cli::add_tokenize(app);
  tern::cli::add_info(app);
  app.set_version_flag("--version", tern::cli::version_line());
  if (argc > 1 && argv[1][0] != '-') {
    if (const auto unknown = tern::cli::unknown_command(app, argv[1])) {
      std::cerr << "tern: " << *unknown << "\nRun with --help for the list of commands.\n";
      return kUsageError;
    }
  }
  try {
    app.parse(argc, argv);  // runs the chosen subcommand's callback
  } catch (const CLI::RuntimeError& e) {
    return app.exit(e);  // a subcommand's own exit code (train's 130 after Ctrl-C)
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints the help, or the error with a pointer to --help
    return rc == 0 ? 0 : kUsageError;
  } catch (const tern::Error& e) {
    std::cerr << "tern " << (app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name()) << ": "
              << tern::cli::rank_prefix() << e.what() << "\n";
    // The other ranks may be waiting on this one in a collective: stop them all now.
    tern::dist::abort_job(1);
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "tern: " << tern::cli::rank_prefix() << "unexpected error: " << e.what() << "\n";
    tern::dist::abort_job(2);
    return 2;
  }
  return 0;
}
