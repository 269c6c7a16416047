// The `tern` command-line tool. Each subcommand lives in its own file and registers
// itself here (see commands.h):
//   tern inspect FILE [--json]     tensors, totals and metadata of a safetensors file
//   tern train [options]           train a GPT-2 (progress, metrics.csv, atomic checkpoints, --resume)
//   tern generate CHECKPOINT       stream samples from a checkpoint
//   tern eval CHECKPOINT           val loss and perplexity of a checkpoint
//   tern quantize --model CKPT     Phase 4: BitNet b1.58 conversion, QAT, packed + FP16 outputs
//   tern tokenize [--decode]       text <-> token ids (GPT-2 BPE or char), as a JSON array
//   tern info [--json]             version, BLAS, threads, CPU features and kernels, GPUs

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
}  // namespace

int main(int argc, char** argv) {
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
