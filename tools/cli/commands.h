#pragma once
// Subcommands of the `tern` tool: each add_* registers one on the app, with its --help,
// and does its work in the subcommand's callback. Failures throw tern::Error; main()
// prints the message and exits non-zero.

#include <string>

namespace CLI {
class App;
}

namespace tern::cli {

void add_inspect(CLI::App& app);
void add_train(CLI::App& app);     // train.cpp
void add_generate(CLI::App& app);  // generate.cpp
void add_eval(CLI::App& app);      // eval.cpp
void add_quantize(CLI::App& app);  // quantize.cpp
void add_tokenize(CLI::App& app);
void add_info(CLI::App& app);  // info.cpp
// "tern 0.1.0 (revision)", for --version.
std::string version_line();

// In the environment when OMP_WAIT_POLICY is tern's choice rather than the user's (main.cpp), for `tern info`.
inline constexpr const char* kWaitPolicyDefaulted = "TERN_OMP_WAIT_POLICY_DEFAULTED";

}  // namespace tern::cli
