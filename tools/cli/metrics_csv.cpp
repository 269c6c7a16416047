#include "metrics_csv.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include <tern/core/error.h>
#include <tern/core/io/file.h>

#include "checkpoint.h"
#include "run_common.h"

namespace tern::cli {

namespace {

// The step of a complete row: six fields and a leading integer; nullopt for anything else.
std::optional<int64_t> row_step(std::string_view line) {
  size_t commas = 0;
  for (char c : line) commas += c == ',';
  const size_t end = line.find(',');
  if (commas != 5 || end == 0 || end > 18) return std::nullopt;
  int64_t step = 0;
  for (size_t i = 0; i < end; ++i) {
    if (line[i] < '0' || line[i] > '9') return std::nullopt;
    step = step * 10 + (line[i] - '0');
  }
  return step;
}

// "3" or "3-5".
std::string range(int64_t a, int64_t b) {
  return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
}

// The rows of `text` worth keeping when resuming at `upto`, with what was wrong said on `note`.
std::string repaired(const std::string& path, const std::string& text, int64_t upto, std::ostream& note) {
  std::string kept = std::string(kMetricsHeader) + "\n";
  int64_t past = 0, malformed = 0;
  std::vector<bool> seen(static_cast<size_t>(upto) + 1, false);
  size_t pos = text.find('\n');  // the header line is rewritten, whatever it held
  pos = pos == std::string::npos ? text.size() : pos + 1;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty()) continue;
    const auto step = nl == std::string::npos ? std::nullopt : row_step(line);  // no newline: cut short
    if (!step) {
      ++malformed;
    } else if (*step > upto) {
      ++past;
    } else {
      kept.append(line).push_back('\n');
      seen[static_cast<size_t>(*step)] = true;
    }
  }
  if (past > 0 || malformed > 0)
    note << "metrics.csv: dropped " << (past > 0 ? std::to_string(past) + " row(s) past the checkpoint's step" : "")
         << (past > 0 && malformed > 0 ? " and " : "")
         << (malformed > 0 ? std::to_string(malformed) + " partial or malformed row(s)" : "")
         << "; it now ends at step " << upto << " (" << path << ")\n";
  // Steps 1..upto each had a row; step 0's is written only when the run evaluated there.
  std::string missing;
  int64_t n_missing = 0;
  for (int64_t s = 1; s <= upto; ++s) {
    if (seen[static_cast<size_t>(s)]) continue;
    int64_t e = s;
    while (e + 1 <= upto && !seen[static_cast<size_t>(e + 1)]) ++e;
    missing += (missing.empty() ? "" : ", ") + range(s, e);
    n_missing += e - s + 1;
    s = e;
  }
  if (n_missing > 0)
    note << "note: metrics.csv has no row for " << n_missing << " step(s) up to the checkpoint: " << missing
         << " (they were never written)\n";
  return kept;
}

}  // namespace

MetricsCsv::MetricsCsv(std::string path, std::optional<int64_t> resume_step, std::ostream& note)
    : path_(std::move(path)) {
  std::string kept = std::string(kMetricsHeader) + "\n";
  std::error_code ec;
  if (resume_step && std::filesystem::exists(path_, ec))
    kept = repaired(path_, io::read_file(path_, path_), *resume_step, note);
  io::write_file_atomic(path_, kept, path_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  TERN_CHECK(fd_ >= 0, path_, "cannot open: ", std::strerror(errno));
  size_ = static_cast<int64_t>(kept.size());
}

MetricsCsv::~MetricsCsv() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsCsv::row(int64_t step, double lr, double train_loss, double val_loss, double tokens_per_s,
                     double elapsed) {
  auto num = [](const char* f, double v) { return std::isnan(v) ? std::string() : fmt(f, v); };
  const std::string line = std::to_string(step) + "," + num("%.6g", lr) + "," + num("%.6f", train_loss) + "," +
                           num("%.6f", val_loss) + "," + num("%.1f", tokens_per_s) + "," + fmt("%.3f", elapsed) +
                           "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t w = ::write(fd_, line.data() + done, line.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : ENOSPC;
      (void)::ftruncate(fd_, size_);  // best effort: no partial row left behind
      TERN_FAIL(path_, "cannot write the row of step ", step, ": ", std::strerror(err));
    }
    done += static_cast<size_t>(w);
  }
  size_ += static_cast<int64_t>(line.size());
}

void MetricsCsv::sync() { TERN_CHECK(::fsync(fd_) == 0, path_, "cannot sync: ", std::strerror(errno)); }

}  // namespace tern::cli
