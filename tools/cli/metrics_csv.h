#pragma once
// <out>/metrics.csv of `tern train` (and of `tern quantize`'s QAT): a header, then one row per optimizer step (and a row for step 0's val loss).
// A row either reaches the file whole or the run stops with an error naming the file; a resumed run first cuts
// the file back to the checkpoint's step.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace tern::cli {

inline constexpr const char* kMetricsHeader = "step,lr,train_loss,val_loss,tokens_per_s,elapsed_s";

class MetricsCsv {
 public:
  // A fresh run (`resume_step` empty) starts the file anew. Resuming keeps the header and the complete rows at or
  // before `resume_step`; rows past it, a partial row and steps with no row are reported on `note`.
  MetricsCsv(std::string path, std::optional<int64_t> resume_step, std::ostream& note);
  ~MetricsCsv();
  MetricsCsv(const MetricsCsv&) = delete;
  MetricsCsv& operator=(const MetricsCsv&) = delete;

  // NaN values are written as empty fields. Throws tern::Error "[path] cannot write ..." when the row cannot be
  // written whole; the file is then cut back to its last complete row where the file system allows.
  void row(int64_t step, double lr, double train_loss, double val_loss, double tokens_per_s, double elapsed);

  // fsync: the rows written so far survive a crash, as the files of a directory committed after it must.
  void sync();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;  // bytes of complete rows
};

}  // namespace tern::cli
