#include <fnmatch.h>
#include <tern/core/error.h>
#include <tern/quant/convert.h>

#include <set>

namespace tern::quant {

std::string pattern_mode_name(PatternMode m) { return m == PatternMode::glob ? "glob" : "substring"; }

PatternMode pattern_mode_from_name(const std::string& s) {
  if (s == "substring") return PatternMode::substring;
  if (s == "glob") return PatternMode::glob;
  TERN_FAIL("pattern_mode", "unknown pattern mode '", s, "' (expected substring or glob)");
}

bool matches_pattern(const std::string& name, const std::string& pattern, PatternMode mode) {
  if (mode == PatternMode::substring) return name.find(pattern) != std::string::npos;
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

namespace {

bool is_plain_linear(const nn::Module& m) {
  return dynamic_cast<const nn::Linear*>(&m) != nullptr && dynamic_cast<const BitLinear*>(&m) == nullptr;
}

bool excluded(const std::string& name, const std::vector<std::string>& patterns, PatternMode mode) {
  for (const auto& p : patterns)
    if (matches_pattern(name, p, mode)) return true;
  return false;
}

}  // namespace

ConversionResult find_linear_layers(const nn::Module& root, const std::vector<std::string>& exclude_patterns,
                                    PatternMode mode) {
  ConversionResult r;
  for (const auto& [name, m] : root.named_modules()) {
    if (name.empty() || !is_plain_linear(*m)) continue;  // the root itself is never replaced
    (excluded(name, exclude_patterns, mode) ? r.excluded : r.replaced).push_back(name);
  }
  return r;
}

ConversionResult replace_linear_with_bitlinear(nn::Module& root, const BitLinearOptions& options,
                                               const std::vector<std::string>& exclude_patterns, PatternMode mode) {
  const char* op = "replace_linear_with_bitlinear";
  ConversionResult plan = find_linear_layers(root, exclude_patterns, mode);
  if (plan.replaced.empty() && plan.excluded.empty()) {
    int64_t already = 0;
    for (const auto& [name, m] : root.named_modules())
      if (!name.empty() && dynamic_cast<const BitLinear*>(m) != nullptr) ++already;
    TERN_FAIL(op, "the model (", root.type_name(), ") has no nn::Linear module to convert",
              already ? " (" + std::to_string(already) + " BitLinear already)" : std::string());
  }
  if (plan.replaced.empty()) {
    std::string pats;
    for (const auto& p : exclude_patterns) pats += (pats.empty() ? "'" : ", '") + p + "'";
    TERN_FAIL(op, "the exclude patterns (", pats, ", ", pattern_mode_name(mode), " mode) exclude all ",
              plan.excluded.size(), " Linear layers; nothing would be quantized");
  }
  if (options.weight_sparsity_threshold) sparsity_zero_count(1, *options.weight_sparsity_threshold, op);
  std::set<std::string> todo(plan.replaced.begin(), plan.replaced.end());
  ConversionResult result;
  result.excluded = plan.excluded;
  auto done = nn::replace_modules(
      root, [&](const std::string& name, const nn::Module& m) { return is_plain_linear(m) && todo.count(name) > 0; },
      [&](const std::string&, const nn::ModulePtr& m) -> nn::ModulePtr {
        return BitLinear::from_linear(static_cast<const nn::Linear&>(*m), options);
      });
  for (const auto& r : done) result.replaced.push_back(r.name);
  return result;
}

ConversionResult replace_linear_with_bitlinear(nn::Module& root, std::optional<double> weight_sparsity_threshold,
                                               const std::vector<std::string>& exclude_patterns, PatternMode mode,
                                               bool input_rmsnorm) {
  BitLinearOptions o;
  o.weight_sparsity_threshold = weight_sparsity_threshold;
  o.input_rmsnorm = input_rmsnorm;
  return replace_linear_with_bitlinear(root, o, exclude_patterns, mode);
}

}  // namespace tern::quant
