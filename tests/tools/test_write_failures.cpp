// Writes that fail during `tern train` and `tern generate`: the run stops with an error naming the file and what
// is still on disk, and --resume repairs a metrics.csv that a crash or a full disk left short or ragged.
// A full disk is played by RLIMIT_FSIZE: a write past the limit fails with EFBIG, as one on a full disk fails with
// ENOSPC, and it needs neither root nor a mount.

#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <tern/core/error.h>

#include "driver_test_util.h"
#include "metrics_csv.h"

namespace fs = std::filesystem;
using namespace tern;
using namespace tern::cli;
using namespace tern::cli::testing;

namespace {

// Files this process writes cannot grow past `bytes` while it lives.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_signal_ = std::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead of killing the process
    getrlimit(RLIMIT_FSIZE, &old_);
    rlimit lim = old_;
    lim.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_signal_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  void (*old_signal_)(int) = nullptr;
};

// The step column of every row of a metrics.csv.
std::vector<int64_t> steps_of(const std::string& path) {
  std::vector<int64_t> out;
  const auto ls = lines(read_file(path));
  for (size_t i = 1; i < ls.size(); ++i) out.push_back(std::stoll(ls[i].substr(0, ls[i].find(','))));
  return out;
}

std::vector<int64_t> iota(int64_t a, int64_t b) {
  std::vector<int64_t> v;
  for (int64_t i = a; i <= b; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST(WriteFailures, AMetricsRowThatCannotBeWrittenStopsTheRun) {
  TempDir dir("metrics_full");
  const std::string data = small_text(dir);
  const std::string out = dir / "run";
  TrainOptions o = small_run(data, out, 12);  // checkpoints at steps 4 and 8
  std::optional<FileSizeLimit> full;
  o.on_step = [&](int64_t s) {
    if (s == 6) full.emplace(fs::file_size(out + "/metrics.csv") + 10);  // step 7's row does not fit
  };
  std::string what;
  try {
    train(o);
  } catch (const Error& e) {
    what = e.what();
  }
  full.reset();
  EXPECT_NE(what.find("[train] stopped at step 7: [" + out + "/metrics.csv] cannot write the row of step 7: "),
            std::string::npos)
      << what;
  // The checkpoint of step 7 does not fit either; the message says what is still there.
  EXPECT_NE(what.find("cannot save the checkpoint of step 7"), std::string::npos) << what;
  EXPECT_NE(what.find("the previous checkpoint, at step 4, is intact in " + out + "/checkpoint"), std::string::npos)
      << what;
  EXPECT_EQ(nlohmann::json::parse(read_file(out + "/checkpoint/tern_state.json"))["step"], 4);
  EXPECT_EQ(steps_of(out + "/metrics.csv"), iota(0, 6));  // no partial row of step 7
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();

  // --resume cuts metrics.csv back to the checkpoint's step and says so.
  TrainOptions r = small_run(data, out, 12);
  r.resume = true;
  std::string log;
  ASSERT_EQ(0, train(r, &log));
  EXPECT_NE(log.find("metrics.csv: dropped 2 row(s) past the checkpoint's step; it now ends at step 4"),
            std::string::npos)
      << log;
  EXPECT_EQ(steps_of(out + "/metrics.csv"), iota(0, 12));
}

TEST(WriteFailures, ResumeRepairsAPartialRowAndReportsMissingSteps) {
  TempDir dir("metrics_repair");
  const std::string path = dir / "metrics.csv";
  std::string rows = std::string(kMetricsHeader) + "\n0,,,4.1,,0.1\n";
  for (int s = 1; s <= 6; ++s)
    if (s != 3) rows += std::to_string(s) + ",0.001,4.0,,1000.0,0." + std::to_string(s) + "\n";
  write_file(path, rows + "7,0.001,3.9");  // cut short by a crash, its step still readable
  std::ostringstream note;
  {
    MetricsCsv csv(path, 6, note);
    csv.row(7, 0.001, 3.8, 3.7, 1000, 0.7);
  }
  EXPECT_NE(note.str().find("dropped 1 partial or malformed row(s); it now ends at step 6"), std::string::npos)
      << note.str();
  EXPECT_NE(note.str().find("no row for 1 step(s) up to the checkpoint: 3"), std::string::npos) << note.str();
  EXPECT_EQ(steps_of(path), (std::vector<int64_t>{0, 1, 2, 4, 5, 6, 7}));
  EXPECT_EQ(lines(read_file(path)).back(), "7,0.001,3.800000,3.700000,1000.0,0.700");

  // A fresh run starts the file anew; resuming a complete file says nothing.
  std::ostringstream quiet;
  {
    MetricsCsv csv(path, std::nullopt, quiet);
    EXPECT_EQ(read_file(path), std::string(kMetricsHeader) + "\n");
    csv.row(1, 0.001, 4.0, NAN, 1000, 0.1);
    csv.row(2, 0.001, 3.9, NAN, 1000, 0.2);
  }
  { MetricsCsv csv(path, 2, quiet); }
  EXPECT_EQ(quiet.str(), "");
  EXPECT_EQ(steps_of(path), (std::vector<int64_t>{1, 2}));
}
