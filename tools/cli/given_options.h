#pragma once
// Which options the user gave on the command line: train's --resume and quantize's
// --config must tell a given flag from its default.

#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tern::cli {

class GivenOptions {
 public:
  // Tracks `opt` and passes it through, so it wraps an add_option call.
  CLI::Option* operator()(CLI::Option* opt) {
    opts_.push_back(opt);
    return opt;
  }
  // The tracked options that were given, named without their dashes ("--batch" -> "batch").
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const CLI::Option* opt : opts_)
      if (opt->count() > 0) out.insert(opt->get_name().substr(2));
    return out;
  }

 private:
  std::vector<CLI::Option*> opts_;
};

}  // namespace tern::cli
