#pragma once
// Shared plumbing for tern's Google Benchmark programs.
//
// Every tern benchmark is paired with a ceiling measured in the same binary (raw
// cblas_sgemm, memcpy). The machine is noisy, so each benchmark runs several
// repetitions in random interleaved order (--benchmark_enable_random_interleaving):
// a slow spell hits tern and its ceiling alike. A recording reporter keeps each
// repetition's counter, and the summary compares the *medians*.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <tern/backends/backend.h>

namespace tern_bench {

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
    auto b = samples_.find(name);
    if (b == samples_.end()) return 0;
    auto c = b->second.find(counter);
    if (c == b->second.end() || c->second.empty()) return 0;
    std::vector<double> v = c->second;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
  size_t repetitions(const std::string& name, const std::string& counter) const {
    auto b = samples_.find(name);
    if (b == samples_.end()) return 0;
    auto c = b->second.find(counter);
    return c == b->second.end() ? 0 : c->second.size();
  }

 private:
  benchmark::BenchmarkReporter* display_;
  std::map<std::string, std::map<std::string, std::vector<double>>> samples_;
};

// One row of the summary: tern's benchmark against its ceiling.
struct Pair {
  std::string label;    // first columns of the row, e.g. "256x768x2304 fwd"
  std::string tern;     // benchmark names
  std::string ceiling;
  double target;        // required tern/ceiling ratio
};

// Runs the registered benchmarks with noise-resistant defaults (which flags on the
// command line override), prints the table (counter values times `scale`), and returns the process exit code:
// non-zero only with --tern_strict when a ratio misses its target.
inline int run_and_summarise(int argc, char** argv, const char* title, const std::string& counter,
                             const std::string& unit, double scale, const std::vector<Pair>& pairs,
                             const std::vector<std::string>& defaults) {
  bool strict = false;
  std::vector<char*> args{argv[0]};
  std::vector<std::string> owned(defaults);
  for (auto& d : owned) args.push_back(d.data());
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tern_strict") == 0)
      strict = true;
    else
      args.push_back(argv[i]);  // later flags win, so the user overrides the defaults
  }
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  std::printf("tern threads: %d (TERN_NUM_THREADS)\n", tern::num_threads());
  std::unique_ptr<benchmark::BenchmarkReporter> display(benchmark::CreateDefaultDisplayReporter());
  RecordingReporter rec(display.get());
  benchmark::RunSpecifiedBenchmarks(&rec);
  benchmark::Shutdown();

  std::printf("\n%s (medians; %s)\n", title, unit.c_str());
  std::printf("%-28s %12s %12s %8s %7s %s\n", "case", "tern", "ceiling", "ratio", "target", "");
  bool ok = true;
  for (const Pair& p : pairs) {
    const double t = rec.median(p.tern, counter), c = rec.median(p.ceiling, counter);
    if (t == 0 || c == 0) continue;  // filtered out
    const double ratio = t / c;
    const bool pass = ratio >= p.target;
    ok = ok && pass;
    std::printf("%-28s %12.2f %12.2f %8.3f %7.2f %s  (%zu reps)\n", p.label.c_str(), t * scale, c * scale,
                ratio, p.target,
                p.target == 0 ? "ref" : pass ? "PASS" : "BELOW", rec.repetitions(p.tern, counter));
  }
  std::fflush(stdout);
  return strict && !ok ? 1 : 0;
}

}  // namespace tern_bench
