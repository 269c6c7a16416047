#pragma once
// `tern train` across processes (mpirun -np N, srun): what differs from one process, in one place.
//   - --batch stays the global batch: every rank draws the same seeded global batch and trains on its own rows
//     (rank r takes rows [r·B/N, (r+1)·B/N)), so the shards are disjoint and the sampler's state is the same on
//     every rank: a checkpoint resumes at any world size.
//   - Gradients are averaged by nn::DistributedDataParallel; losses are averaged here. With equal shards the mean
//     of the rank means is the global mean, so the run matches one process up to summation order.
//   - Rank 0 alone writes (metrics.csv, the progress lines, checkpoints); the others wait for its setup first,
//     so the token cache is built once and --overwrite removes the old run once.
//   - The ranks agree each step on whether to stop (a signal on any rank stops all at the same step).
// A group of one (no launcher) makes each of these the identity.

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <tern/backends/comm/process_group.h>
#include <tern/models/data/text_dataset.h>
#include <tern/nn/parallel/ddp.h>

namespace tern::cli {

class TrainRanks {
 public:
  explicit TrainRanks(std::shared_ptr<dist::ProcessGroup> group);

  int rank() const { return group_->rank(); }
  int size() const { return group_->size(); }
  bool writer() const { return group_->rank() == 0; }

  // The global batch must split evenly, or the mean of rank means would weigh rows unequally.
  void check_batch(int64_t batch, const char* where) const;
  // Rank 0 sets up alone, then the others: call before_setup() before and after_setup() after (both on every
  // rank). An error on rank 0 aborts the job (abort_on_error), so nobody waits forever.
  void before_setup();
  void after_setup();

  // Broadcasts rank 0's parameters and starts reducing gradients from now on.
  void attach(const std::shared_ptr<nn::Module>& model);
  // This rank's rows of a global batch.
  data::Batch shard(const data::Batch& global) const;
  // Backward of one micro-batch; only the step's last one starts the all-reduce.
  void backward(const Tensor& loss, bool last_micro_batch);
  // The mean gradient on every rank; before clipping (whose norm is then the global one) and the step.
  void finish_gradients();
  double mean(double v);
  bool any(bool v);

  // ", 2 ranks (mpi) x 6 sequences" or "".
  std::string describe(int64_t batch) const;
  // After training: the all-reduce cost and how much of it backward hid ("" for one process).
  std::string comm_summary();

 private:
  std::shared_ptr<dist::ProcessGroup> group_;
  std::unique_ptr<nn::DistributedDataParallel> ddp_;
};

// Where output goes on ranks that do not write: nowhere.
std::ostream& null_stream();

// For a fatal error: "rank 1 of 2: " when the job has several processes, else "".
std::string rank_prefix();

}  // namespace tern::cli
