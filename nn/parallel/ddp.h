#pragma once
// Data-parallel training: each rank runs the same model on its part of the batch, and the gradients are
// averaged across ranks before the optimizer step, so that every rank takes the same step (PyTorch's DDP).
//
//   auto pg = dist::init_process_group();
//   nn::DistributedDataParallel ddp(model, pg);           // rank 0's parameters and buffers go to every rank
//   for (...) {
//     opt.zero_grad();
//     model->forward(x_local, y_local).loss.backward();   // buckets start their all-reduce during backward
//     ddp.finish_gradient_sync();                         // waits; grads are now the mean over ranks
//     nn::optim::clip_grad_norm(params, 1.0);             // the global norm: every rank holds the same grads
//     opt.step();
//   }
//
// The gradients go in buckets of about bucket_bytes, filled in reverse parameter order (roughly the order in
// which backward produces them). A bucket's all-reduce starts, non-blocking, from the autograd engine's
// post-accumulate-grad hook of its last parameter, so it overlaps the rest of backward; buckets start in the
// same order on every rank, as MPI requires of collectives. Gradient accumulation: run the earlier micro-batches
// under no_sync(); their gradients add up locally and travel once, with the last backward.
//
// Unlike torch's DDP this is not a Module that wraps forward: the model is called as it is, and the reducer
// only needs its parameters. A parameter that gets no gradient on a rank contributes zeros; after the sync it
// holds the mean over ranks (zeros when no rank had one).

#include <cstdint>
#include <memory>
#include <vector>

#include <tern/autograd/hooks.h>
#include <tern/backends/comm/process_group.h>
#include <tern/nn/module.h>

namespace tern::nn {

struct DDPOptions {
  int64_t bucket_bytes = 25 << 20;  // torch's default bucket_cap_mb
  bool broadcast_buffers = true;    // at construction, with the parameters
};

// Counters since construction (or reset_stats()), for measuring the overlap.
struct DDPStats {
  int64_t syncs = 0;                 // finish_gradient_sync() calls that reduced
  int64_t buckets = 0;               // buckets per sync
  int64_t bytes = 0;                 // gradient bytes per sync
  int64_t launched_in_backward = 0;  // buckets started from a hook (the rest start in finish)
  double wait_s = 0;                 // time in finish_gradient_sync(): communication not hidden behind backward
  double launch_s = 0;               // time in the hooks: copying grads into buckets and starting all-reduces
};

class DistributedDataParallel {
 public:
  DistributedDataParallel(std::shared_ptr<Module> module, std::shared_ptr<dist::ProcessGroup> group,
                          DDPOptions opts = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  Module& module() { return *module_; }
  dist::ProcessGroup& group() { return *group_; }

  // Starts the buckets no hook started (under no_sync, or parameters without a gradient), waits for all of
  // them, and writes the mean over ranks into each parameter's .grad. Call it after the last backward of a
  // step and before clipping and the optimizer step.
  void finish_gradient_sync();

  // While the guard lives, backward accumulates locally and starts no communication.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& d) : d_(d), prev_(d.sync_) { d.sync_ = false; }
    ~NoSync() { d_.sync_ = prev_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& d_;
    bool prev_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

  // The time one blocking all-reduce of every bucket takes now (the median of five): the communication cost of
  // a step if none of it overlapped backward. Collective: every rank must call it. Leaves the gradients alone.
  double time_allreduce();

  const DDPStats& stats() const { return stats_; }
  void reset_stats();
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Slot {
    Tensor param;
    int64_t offset = 0;  // in elements, within the bucket
  };
  struct Bucket {
    std::vector<Slot> slots;
    Tensor flat;              // 1-D, the bucket's gradients back to back
    std::vector<bool> ready;  // per slot, this step
    int64_t pending = 0;      // slots not ready yet
    std::unique_ptr<dist::Work> work;
  };

  void on_grad_ready(size_t bucket, size_t slot);
  void launch(Bucket& b);
  void reset_step();

  std::shared_ptr<Module> module_;
  std::shared_ptr<dist::ProcessGroup> group_;
  DDPOptions opts_;
  std::vector<Bucket> buckets_;
  std::vector<autograd::HookHandle> hooks_;
  size_t next_launch_ = 0;
  bool sync_ = true;
  DDPStats stats_;
};

}  // namespace tern::nn
