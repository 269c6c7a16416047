#include "ranks.h"

#include <cmath>
#include <streambuf>

#include <tern/core/error.h>
#include <tern/core/ops.h>

#include "run_common.h"

namespace tern::cli {

TrainRanks::TrainRanks(std::shared_ptr<dist::ProcessGroup> group) : group_(std::move(group)) {
  TERN_CHECK(group_, "train", "no process group");
}

void TrainRanks::check_batch(int64_t batch, const char* where) const {
  TERN_CHECK(batch % size() == 0, where, "--batch ", batch, " (the global batch) must divide among the ", size(),
             " ranks");
}

void TrainRanks::before_setup() {
  if (!writer()) group_->barrier();
}

void TrainRanks::after_setup() {
  if (writer()) group_->barrier();
}

void TrainRanks::attach(const std::shared_ptr<nn::Module>& model) {
  if (size() > 1) ddp_ = std::make_unique<nn::DistributedDataParallel>(model, group_);
}

data::Batch TrainRanks::shard(const data::Batch& global) const {
  if (size() == 1) return global;
  const int64_t n = global.x.size(0) / size();
  return {global.x.narrow(0, rank() * n, n).contiguous(), global.y.narrow(0, rank() * n, n).contiguous()};
}

void TrainRanks::backward(const Tensor& loss, bool last_micro_batch) {
  if (ddp_ && !last_micro_batch) {
    auto guard = ddp_->no_sync();
    loss.backward();
    return;
  }
  loss.backward();
}

void TrainRanks::finish_gradients() {
  if (ddp_) ddp_->finish_gradient_sync();
}

double TrainRanks::mean(double v) {
  if (size() == 1) return v;
  Tensor t = scalar_tensor(v, kFloat64).reshape({1});
  group_->all_reduce(t, dist::ReduceOp::avg);
  return t.item<double>();
}

bool TrainRanks::any(bool v) {
  if (size() == 1) return v;
  Tensor t = scalar_tensor(v ? 1 : 0, kInt64).reshape({1});
  group_->all_reduce(t, dist::ReduceOp::sum);
  return t.item<int64_t>() > 0;
}

std::string TrainRanks::describe(int64_t batch) const {
  if (size() == 1) return "";
  return ", " + std::to_string(size()) + " ranks (" + group_->backend() + ") x " + std::to_string(batch / size()) +
         " sequences";
}

std::string TrainRanks::comm_summary() {
  if (!ddp_) return "";
  const nn::DDPStats s = ddp_->stats();
  if (s.syncs == 0) return "";
  const double alone = ddp_->time_allreduce();
  const double wait = s.wait_s / static_cast<double>(s.syncs);
  const double hooks = s.launch_s / static_cast<double>(s.syncs);
  return "gradients: " + std::to_string(s.buckets) + " bucket(s), " + fmt("%.1f", static_cast<double>(s.bytes) / 1e6) +
         " MB per step; an all-reduce alone takes " + fmt("%.1f", alone * 1e3) + " ms; per step " +
         fmt("%.1f", hooks * 1e3) + " ms in backward hooks and " + fmt("%.1f", wait * 1e3) +
         " ms waiting after backward (" + fmt("%.0f", alone > 0 ? 100.0 * std::max(0.0, 1.0 - wait / alone) : 0.0) +
         "% of the all-reduce hidden)\n";
}

std::ostream& null_stream() {
  struct Discard : std::streambuf {
    int overflow(int c) override { return traits_type::not_eof(c); }
  };
  static Discard buf;
  static std::ostream os(&buf);
  return os;
}

std::string rank_prefix() {
  const auto pg = dist::current_process_group();
  if (!pg || pg->size() == 1) return "";
  return "rank " + std::to_string(pg->rank()) + " of " + std::to_string(pg->size()) + ": ";
}

}  // namespace tern::cli
