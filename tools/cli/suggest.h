#pragma once
// "unknown command 'trian'; did you mean 'train'?" for a first argument that names no subcommand.

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tern::cli {

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b.
inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The error for `word` when it names none of app's subcommands, with the closest name when one is near.
inline std::optional<std::string> unknown_command(CLI::App& app, const std::string& word) {
  std::string best;
  size_t best_d = 3;  // suggest only within two edits
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->check_name(word)) return std::nullopt;
    const size_t d = edit_distance(word, sub->get_name());
    if (d < best_d) {
      best_d = d;
      best = sub->get_name();
    }
  }
  std::string msg = "unknown command '" + word + "'";
  if (!best.empty()) msg += "; did you mean '" + best + "'?";
  return msg;
}

}  // namespace tern::cli
