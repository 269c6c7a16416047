#pragma once
// The loop of optimizer steps that `tern train` and `tern quantize`'s QAT share, so that both behave alike:
//  - every step appends a row to a metrics.csv (MetricsCsv);
//  - a progress line shows loss, val loss, lr, tokens/s, elapsed time and ETA; on a terminal it is redrawn in
//    place (at most 10 times a second) and a step with a val loss leaves its line behind; otherwise a line is
//    printed every `log_interval` steps;
//  - Ctrl-C or SIGTERM ends the loop after the step in progress (StopSignals), for the caller to save.

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <tern/core/device.h>
#include <tern/core/error.h>
#include <tern/core/tensor.h>

#include "metrics_csv.h"
#include "run_common.h"
#include "stop_signals.h"

namespace tern::gpt2 {
class GPT2;
}
namespace tern::nn::optim {
class Optimizer;
}
namespace tern::data {
class BatchSampler;
}

namespace tern::cli {

class TrainRanks;

// What one optimizer step does; optimizer_step() runs it.
struct StepParts {
  gpt2::GPT2& model;
  nn::optim::Optimizer& opt;
  const std::vector<Tensor>& params;
  data::BatchSampler& sampler;
  Device device = kCPU;
  int64_t grad_accum = 1;  // micro-batches per step; their mean loss is backpropagated
  double grad_clip = 0;    // global gradient norm limit; 0: off
  // Under mpirun: this rank's rows of each batch, the gradient all-reduce and the mean loss over ranks.
  TrainRanks* ranks = nullptr;
  // Mixed precision: the forward pass under AutocastGuard with this dtype (core/autocast.h).
  std::optional<DType> autocast;
};

// zero_grad, the micro-batches' forward and backward, clipping, and the update at `lr`. Returns the mean loss,
// which the caller checks (its advice on a diverged run differs).
double optimizer_step(const StepParts& p, double lr);

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

struct StepLoopOptions {
  std::string label = "step";  // begins the progress line: "step 40/2000 | loss ..."
  int64_t steps = 0;           // the step the loop ends after
  int64_t tokens_per_step = 0;
  int64_t log_interval = 10;   // steps between progress lines when the output is not a terminal
  double last_val = kNoValue;  // the val loss before the loop (a resumed run's)
};

// The loop's work, step by step. `step(s)` performs step s and returns its lr and mean train loss; `evaluate(s)`
// (optional) returns the val loss after step s, or NaN when none is due, outside the step's timing; `after(s)`
// (optional) runs once the row and the progress line of step s are out: checkpoints, test hooks.
struct StepHooks {
  struct Result {
    double lr = kNoValue;
    double train_loss = kNoValue;
  };
  std::function<Result(int64_t)> step;
  std::function<double(int64_t)> evaluate;
  std::function<void(int64_t)> after;
};

class StepLoop {
 public:
  // `elapsed` is the run's wall time so far (the time before a --resume included), as metrics.csv records it.
  // `csv` may be null: the ranks of a multi-process run other than the one that writes.
  StepLoop(StepLoopOptions o, std::ostream& out, MetricsCsv* csv, std::function<double()> elapsed);

  // Runs steps first+1, first+2, ... up to the last step, or until a stop signal. Returns the last step done;
  // stop_signal() tells whether a signal ended it.
  int64_t run(int64_t first, const StepHooks& hooks);

  // A metrics row for a val loss measured outside any step (step 0's).
  void record_val(int64_t step, double val);
  // Prints `s` as a line of its own, first clearing a progress line drawn in place.
  void line(const std::string& s);

  double last_val() const { return last_val_; }

  // Whether to stop before the next step (default: a stop signal was caught). Under mpirun the ranks agree on it,
  // so that their collectives stay in step.
  std::function<bool()> should_stop;

  // Called with the error when a metrics row cannot be written, in place of rethrowing it; it must not return
  // normally (train saves a checkpoint, then fails).
  std::function<void(const Error&)> on_metrics_failure;

 private:
  void write_row(int64_t step, double lr, double train_loss, double val, double tokens_per_s);
  std::string progress(int64_t step, double lr, double loss, double rate, double eta) const;

  StepLoopOptions o_;
  std::ostream& out_;
  MetricsCsv* csv_;
  std::function<double()> elapsed_;
  bool tty_ = false;
  double last_val_;
};

}  // namespace tern::cli
