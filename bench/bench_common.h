#pragma once
// Shared plumbing for tern's Google Benchmark programs.
//
// Every benchmark times a tern op against its ceiling (raw cblas_sgemm, memcpy)
// measured in the same binary. The machine is noisy (2 shared cores), so the two are
// not run as separate benchmarks seconds apart: each benchmark iteration calls both,
// alternating which goes first (ABBA), and times each call. Both sides see the same
// load, and their ratio is reported per repetition. Several repetitions run in random
// interleaved order (--benchmark_enable_random_interleaving); the summary table gives
// the median of each counter over them.
//
// Counters of every paired benchmark:
//   tern     tern's throughput (GFLOP/s or GB/s)
//   ceiling  the ceiling's throughput, same unit
//   ratio    tern / ceiling over that repetition's calls

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <tern/backends/backend.h>

namespace tern_bench {

// Seconds one call of f takes.
template <typename F>
double seconds(F& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  benchmark::ClobberMemory();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs tern_fn and ceiling_fn alternately, once each per iteration, in ABBA order so
// that neither always runs second (on warmer caches). `tern_work` and `ceiling_work`
// are the flops or bytes of one call; `scale` converts work/s to the reported unit.
template <typename A, typename B>
void run_paired(benchmark::State& state, A&& tern_fn, B&& ceiling_fn, double tern_work,
                double ceiling_work, double scale) {
  double t_tern = 0, t_ceil = 0;
  int64_t k = 0;
  for (auto _ : state) {
    if (k++ & 1) {
      t_ceil += seconds(ceiling_fn);
      t_tern += seconds(tern_fn);
    } else {
      t_tern += seconds(tern_fn);
      t_ceil += seconds(ceiling_fn);
    }
  }
  if (k == 0) return;
  const double tern = tern_work * static_cast<double>(k) / t_tern * scale;
  const double ceil = ceiling_work * static_cast<double>(k) / t_ceil * scale;
  state.counters["tern"] = tern;
  state.counters["ceiling"] = ceil;
  state.counters["ratio"] = tern / ceil;
}

// Forwards to the usual display reporter, and keeps every repetition's counters.
class RecordingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit RecordingReporter(benchmark::BenchmarkReporter* display) : display_(display) {}
  bool ReportContext(const Context& c) override { return display_->ReportContext(c); }
  void ReportRuns(const std::vector<Run>& runs) override {
    // Every repetition is recorded; the display shows the aggregates (mean, median,
    // stddev, cv) unless there is only one repetition.
    std::vector<Run> shown;
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Iteration && !r.error_occurred)
        for (const auto& [name, counter] : r.counters) samples_[r.run_name.function_name][name].push_back(counter.value);
      if (r.run_type == Run::RT_Aggregate || r.repetitions <= 1 || r.error_occurred) shown.push_back(r);
    }
    if (!shown.empty()) display_->ReportRuns(shown);
  }
  void Finalize() override { display_->Finalize(); }

  // Median of `counter` over the repetitions of benchmark `name`; 0 if never run.
  double median(const std::string& name, const std::string& counter) const {
    const std::vector<double>* v = find(name, counter);
    if (!v || v->empty()) return 0;
    std::vector<double> s = *v;
    std::sort(s.begin(), s.end());
    const size_t n = s.size();
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  }
  size_t repetitions(const std::string& name, const std::string& counter) const {
    const std::vector<double>* v = find(name, counter);
    return v ? v->size() : 0;
  }

 private:
  const std::vector<double>* find(const std::string& name, const std::string& counter) const {
    auto b = samples_.find(name);
    if (b == samples_.end()) return nullptr;
    auto c = b->second.find(counter);
    return c == b->second.end() ? nullptr : &c->second;
  }

  benchmark::BenchmarkReporter* display_;
  std::map<std::string, std::map<std::string, std::vector<double>>> samples_;
};

// Parses tern's own flag (--tern_strict) and initialises Google Benchmark with
// noise-resistant defaults, which flags on the command line override.
class Harness {
 public:
  Harness(int argc, char** argv, const std::vector<std::string>& defaults) : owned_(defaults) {
    args_.push_back(argv[0]);
    for (auto& d : owned_) args_.push_back(d.data());
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--tern_strict") == 0)
        strict_ = true;
      else
        args_.push_back(argv[i]);  // later flags win, so these override the defaults
    }
    int n = static_cast<int>(args_.size());
    args_.push_back(nullptr);
    benchmark::Initialize(&n, args_.data());
    bad_args_ = benchmark::ReportUnrecognizedArguments(n, args_.data());
  }
  bool bad_args() const { return bad_args_; }
  bool strict() const { return strict_; }

  // Runs the registered benchmarks; their counters end up in the returned reporter.
  const RecordingReporter& run() {
    std::printf("tern threads: %d (TERN_NUM_THREADS)\n", tern::num_threads());
    display_.reset(benchmark::CreateDefaultDisplayReporter());
    rec_ = std::make_unique<RecordingReporter>(display_.get());
    benchmark::RunSpecifiedBenchmarks(rec_.get());
    benchmark::Shutdown();
    return *rec_;
  }

 private:
  std::vector<std::string> owned_;
  std::vector<char*> args_;
  bool strict_ = false, bad_args_ = false;
  std::unique_ptr<benchmark::BenchmarkReporter> display_;
  std::unique_ptr<RecordingReporter> rec_;
};

// One row of a paired summary (see run_paired).
struct Row {
  std::string label;  // e.g. "256x768x2304 fwd"
  std::string bench;  // the paired benchmark's name
  double goal;        // the ratio aimed for; 0 for a reference row
};

// The last column of a summary row: the goal, and by how much the measured ratio falls short of it.
inline std::string goal_note(double ratio, double goal, const char* reference = "(reference)") {
  if (goal == 0) return reference;
  char buf[64];
  if (ratio >= goal) std::snprintf(buf, sizeof buf, "goal >= %.2f", goal);
  else std::snprintf(buf, sizeof buf, "goal >= %.2f, %.3f below it", goal, goal - ratio);
  return buf;
}

// Runs the registered paired benchmarks, prints the summary table, and returns the
// exit code: non-zero only with --tern_strict when a median ratio is below its goal.
// `columns` names the first three columns, e.g. {"shape variant", "tern_GFLOPs", "blas_GFLOPs"}.
inline int run_and_summarise(int argc, char** argv, const char* title, const std::vector<std::string>& columns,
                             const std::vector<Row>& rows, const std::vector<std::string>& defaults) {
  Harness harness(argc, argv, defaults);
  if (harness.bad_args()) return 1;
  const RecordingReporter& rec = harness.run();
  std::printf("\n%s\nmedians over %s; ratio = median of the per-repetition tern/ceiling ratios\n", title,
              "repetitions");
  std::printf("%-26s %12s %12s %7s\n", columns.at(0).c_str(), columns.at(1).c_str(), columns.at(2).c_str(),
              "ratio");
  bool ok = true;
  for (const Row& r : rows) {
    if (rec.repetitions(r.bench, "ratio") == 0) continue;  // filtered out
    const double ratio = rec.median(r.bench, "ratio");
    ok = ok && ratio >= r.goal;
    std::printf("%-26s %12.2f %12.2f %7.3f  %s\n", r.label.c_str(), rec.median(r.bench, "tern"),
                rec.median(r.bench, "ceiling"), ratio, goal_note(ratio, r.goal).c_str());
  }
  std::fflush(stdout);
  return harness.strict() && !ok ? 1 : 0;
}

// One row of an unpaired summary: two separate benchmarks reporting the same counter.
struct Pair {
  std::string label;
  std::string tern;     // benchmark names
  std::string ceiling;
  double goal;          // the tern/ceiling ratio of the medians aimed for; 0 for a reference row
};

// For benchmarks that cannot be paired call by call (a step too long to alternate):
// compares the medians of `counter` (times `scale`) of two separate benchmarks.
inline int run_and_summarise(int argc, char** argv, const char* title, const std::string& counter,
                             const std::string& unit, double scale, const std::vector<Pair>& pairs,
                             const std::vector<std::string>& defaults) {
  Harness harness(argc, argv, defaults);
  if (harness.bad_args()) return 1;
  const RecordingReporter& rec = harness.run();
  std::printf("\n%s (medians; %s)\n", title, unit.c_str());
  std::printf("%-28s %12s %12s %8s\n", "case", "tern", "ceiling", "ratio");
  bool ok = true;
  for (const Pair& p : pairs) {
    const double t = rec.median(p.tern, counter), c = rec.median(p.ceiling, counter);
    if (t == 0 || c == 0) continue;  // filtered out
    const double ratio = t / c;
    ok = ok && ratio >= p.goal;
    std::printf("%-28s %12.2f %12.2f %8.3f  %s  (%zu reps)\n", p.label.c_str(), t * scale, c * scale, ratio,
                goal_note(ratio, p.goal, "(reference)").c_str(), rec.repetitions(p.tern, counter));
  }
  std::fflush(stdout);
  return harness.strict() && !ok ? 1 : 0;
}

}  // namespace tern_bench
