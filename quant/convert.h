#pragma once
// The replacement pass: every nn::Linear in a module tree (that is not already a BitLinear
// and not excluded by name) becomes a BitLinear sharing its weight and bias. Built on
// nn::replace_modules, so it works on any tree. Parameter names and shapes do not change,
// so state dicts load across.
//
// A Linear is excluded when any pattern matches its dotted name (e.g. "h.0.mlp.c_fc"):
//   substring  the pattern occurs anywhere in the name;
//   glob       fnmatch-style over the whole name: '*' matches any run (dots included),
//              '?' one character, [...] a set.
// In tern's GPT-2 the lm_head is tied to wte and is not a Linear module, so wte, wpe and the
// head are never converted; the default excludes name them for models that do have them.

#include <tern/nn/module.h>
#include <tern/quant/bitlinear.h>

#include <optional>
#include <string>
#include <vector>

namespace tern::quant {

enum class PatternMode { substring, glob };

std::string pattern_mode_name(PatternMode m);              // "substring" / "glob"
PatternMode pattern_mode_from_name(const std::string& s);  // throws [pattern_mode]
bool matches_pattern(const std::string& name, const std::string& pattern, PatternMode mode);

struct ConversionResult {
  std::vector<std::string> replaced, excluded;  // dotted names, in tree order
};

// Errors ("[replace_linear_with_bitlinear] ...") when the tree has no Linear to convert or
// when the patterns exclude every one.
ConversionResult replace_linear_with_bitlinear(nn::Module& root, std::optional<double> weight_sparsity_threshold = 0.1,
                                               const std::vector<std::string>& exclude_patterns = {},
                                               PatternMode mode = PatternMode::substring, bool input_rmsnorm = false);
ConversionResult replace_linear_with_bitlinear(nn::Module& root, const BitLinearOptions& options,
                                               const std::vector<std::string>& exclude_patterns = {},
                                               PatternMode mode = PatternMode::substring);

// Dotted names of the plain nn::Linear modules (not BitLinear) in tree order, split into those
// the patterns keep and those they exclude (no replacement).
ConversionResult find_linear_layers(const nn::Module& root, const std::vector<std::string>& exclude_patterns,
                                    PatternMode mode);

}  // namespace tern::quant
